/*
 * alerts.h: the worker side of alerts (store/alerts.h has the rules and the
 * firing): rendering an alert for a person (e-mail text, a Slack message, a
 * Teams card) and sending it through its rule's channel, for the webhook sender
 * thread (webhooks.c), which claims, retries and records alert deliveries like
 * any other webhook delivery; and the periodic pass that thread runs.
 */
#ifndef CERTFLEET_WORKER_ALERTS_H
#define CERTFLEET_WORKER_ALERTS_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

#include "app.h"
#include "store/webhooks.h"
#include "util/err.h"

/* A signed webhook POST of d's body to url with the HMAC key (the sender's own
 * post(), handed down so a webhook-channel alert is signed the same way). */
typedef void (*wk_signed_post_fn)(const uint8_t *key, size_t keylen, const char *url,
				  const cf_webhook_delivery *d, int *status, cf_err *err);

/* Sends alert delivery d (d->alert_event != 0) by its rule's channel, loaded
 * (secrets unsealed) from db. *status: the HTTP status, or the SMTP reply code; 0
 * when none. err is set on failure, with a message that never holds a secret
 * (no password, no Slack/Teams URL). */
void wk_alert_send(cf_app *app, PGconn *db, const cf_webhook_delivery *d,
		   wk_signed_post_fn post, int *status, cf_err *err);

/* The periodic pass (expiring, digests): store/alerts.h cf_alert_sweep, logged. */
void wk_alert_sweep(PGconn *db);

/* ---- rendering (pure; unit-tested) ---- */
/* The one-line title of an alert body (the JSON the delivery carries); caller
 * frees. */
char *wk_alert_title(const json_t *alert);
/* The facts of an alert as [[name, value], ...] (new reference). */
json_t *wk_alert_facts(const json_t *alert);
/* The plain-text body (title, facts, the rule); caller frees. */
char *wk_alert_text(const json_t *alert);
/* A Slack incoming-webhook payload {"text", "blocks"} (new reference). */
json_t *wk_alert_slack(const json_t *alert);
/* A Teams payload: format "messagecard" (an Office 365 connector MessageCard)
 * or anything else (a message with an Adaptive Card attachment, which the
 * Workflows webhooks accept). New reference. */
json_t *wk_alert_teams(const json_t *alert, const char *format);
/* The RFC 5322 message (headers + text body, CRLF, lines cut at 900 bytes) from
 * from to to (comma-joined) with Message-ID <id@certfleet>; caller frees. */
char *wk_alert_email(const json_t *alert, const char *from, const char *to, const char *id,
		     long long now);

#endif
