/*
 * fleet.h: the worker-side threads of fleet operations that `certfleet serve`
 * runs beside the issuance workers (worker.h):
 *
 *  - the renewal scheduler (scheduler.c): one thread per process; the process
 *    whose thread holds a PostgreSQL advisory lock (on a connection of its own)
 *    is the only active scheduler across all replicas; the others try to take the
 *    lock every CERTFLEET_RENEW_INTERVAL seconds. It queues ordinary issuance jobs
 *    (kind 'renew') for the certificates that are due, at a fraction of their
 *    lifetime with jitter or inside the CA's ARI window (RFC 9773), backs off
 *    after failed renewals, and announces expiring_soon;
 *  - the webhook sender (webhooks.c): one thread per process, delivering the
 *    recorded events to CERTFLEET_WEBHOOK_URLS, signed with HMAC-SHA256, retried
 *    with backoff, from the webhook_deliveries table (so a restart resumes them).
 *
 * HTTP threads never run any of this.
 */
#ifndef CERTFLEET_WORKER_FLEET_H
#define CERTFLEET_WORKER_FLEET_H

#include "app.h"
#include "util/err.h"

typedef struct cf_scheduler cf_scheduler;
typedef struct cf_webhooks cf_webhooks;

/* Starts the scheduler thread (the app must outlive it). NULL without an error
 * when CERTFLEET_RENEW_INTERVAL is 0 or no CA is configured; NULL with err when
 * the thread cannot start. */
cf_scheduler *cf_scheduler_start(cf_app *app, cf_err *err);
/* Stops the thread (at its next check, within a second unless it waits on the CA's
 * renewalInfo, which has a 10 s timeout) and frees it; the lock is released with
 * its connection. NULL is fine. */
void cf_scheduler_stop(cf_scheduler *s);

/* Checks CERTFLEET_WEBHOOK_URLS and the secret, and starts the sender, which
 * also delivers the alerts of the alert rules and runs their periodic pass
 * (worker/alerts.h) every CERTFLEET_ALERT_INTERVAL seconds, with or without
 * URLs. NULL with err (naming the setting) when a URL is malformed, the secret
 * is missing, or the thread cannot start. */
cf_webhooks *cf_webhooks_start(cf_app *app, cf_err *err);
/* Stops the sender (a POST in flight finishes or times out, 10 s at most) and
 * wipes the secret. NULL is fine. */
void cf_webhooks_stop(cf_webhooks *w);

#endif
