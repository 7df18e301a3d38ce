/*
 * webhooks.h: the webhook_deliveries table (migration 0006): recording events
 * for delivery and the senders' queue.
 *
 *  - cf_webhook_enqueue() runs inside the transaction of the event itself (a
 *    job's final fenced write, the scheduler's expiring_soon mark), so an event is
 *    recorded exactly when its cause commits. One row per configured URL, all with
 *    one event_id; the body is built here once and never changes, so every
 *    attempt sends (and signs) the same bytes.
 *  - Senders claim one due delivery at a time with FOR UPDATE SKIP LOCKED; the
 *    claim raises attempts and pushes next_attempt_at out by a lease, so a sender
 *    that dies mid-request leaves a delivery that is simply retried later. The
 *    outcome is written fenced by (id, attempts).
 *
 * Functions return -1 with err on database errors; cf_db_lost(c) then tells
 * whether the connection itself is gone.
 */
#ifndef CERTFLEET_STORE_WEBHOOKS_H
#define CERTFLEET_STORE_WEBHOOKS_H

#include <libpq-fe.h>
#include <stdbool.h>

#include "util/err.h"

/* Records event (issued | failed | expiring_soon | revoked) about certificate_id
 * for every URL in urls (comma-separated; blanks around each are dropped; "" =
 * none, nothing is written). data is a JSON object text merged into the body
 * {"id": event uuid, "event", "at", "certificate", ...data}. Returns the number of
 * deliveries recorded, or -1. */
CF_MUST_CHECK int cf_webhook_enqueue(PGconn *c, const char *urls, const char *event,
		       const char *certificate_id, const char *data, cf_err *err);

typedef struct cf_webhook_delivery {
	long long id;
	int attempts;          /* including this one */
	char event[24];
	char event_id[40];
	char *url;             /* owned */
	char *body;            /* owned: the exact bytes to send and sign */
	long long alert_event; /* an alert (store/alerts.h) to send by its rule's
				* channel; 0: a webhook to url */
} cf_webhook_delivery;

/* Claims the most overdue pending delivery for lease_s seconds. Returns 1 with out
 * filled (cf_webhook_delivery_free), 0 when none is due, -1 on error. */
CF_MUST_CHECK int cf_webhook_claim(PGconn *c, int lease_s, cf_webhook_delivery *out, cf_err *err);
void cf_webhook_delivery_free(cf_webhook_delivery *d);

/* Records an attempt's outcome: status is the HTTP status (0: no response), error
 * a short text or NULL. delivered: done; otherwise give_up: failed for good, else
 * pending again in retry_s seconds. Returns 0, 1 when the delivery was claimed
 * again meanwhile (nothing written), -1 on error. */
CF_MUST_CHECK int cf_webhook_finish(PGconn *c, const cf_webhook_delivery *d, int status, const char *error,
		      bool delivered, bool give_up, double retry_s, cf_err *err);

/* Seconds until the next pending delivery is due (0 when one is), at most max_s;
 * -1 on error. */
double cf_webhook_next_due(PGconn *c, double max_s, cf_err *err);

#endif
