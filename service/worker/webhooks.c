/*
 * webhooks.c: webhook events: the job outcomes recorded as events inside the
 * job's final transaction (wk_issued_hook, wk_failed_hook), and the sender
 * thread that delivers every recorded event (fleet.h).
 *
 * Wire format: POST <url> with the event's JSON body ({"id", "event", "at",
 * "certificate", ...}) and the headers
 *   Content-Type: application/json
 *   X-Certfleet-Event: issued | failed | paused | expiring_soon | revoked
 *   X-Certfleet-Delivery: <event id> (the same for every URL and every attempt:
 *     receivers deduplicate on it)
 *   X-Certfleet-Timestamp: <unix seconds of this attempt>
 *   X-Certfleet-Signature: sha256=<hex HMAC-SHA256(secret, timestamp "." body)>
 * The timestamp is part of the signed material, so a receiver that checks the
 * signature and refuses timestamps older than a few minutes cannot be fed a
 * recorded request again later; every attempt is signed anew with its own time.
 *
 * The sender claims one due delivery at a time from webhook_deliveries (any
 * replica, SKIP LOCKED; the claim is a 60 s lease), POSTs it with a 10 s timeout
 * and no redirects, and records the outcome: a 2xx is delivered; anything else
 * (no answer, 3xx, 4xx, 5xx) is retried after 1 s doubling to an hour (with
 * jitter), until WH_MAX_ATTEMPTS attempts (about 13 hours), then given up
 * ('failed'). Nothing is kept in memory between deliveries, so a restart resumes
 * where the table stands. The secret is loaded once, kept in the sender's own
 * buffer, never logged, and wiped at stop.
 *
 * Alerts (alerts.h, store/alerts.h) travel the same table: a delivery with
 * alert_event set is sent by its rule's channel (e-mail, Slack, Teams, or back
 * through post() with the rule's URL and key) and retried the same way; the
 * sender also runs the alerts' periodic pass every CERTFLEET_ALERT_INTERVAL
 * seconds, and therefore runs even when no webhook URL is configured.
 */
#include "worker/worker_int.h"
#include "worker/fleet.h"
#include "worker/alerts.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crypto/crypto.h"
#include "log.h"
#include "metrics.h"
#include "providers/api_http.h"
#include "store/alerts.h"
#include "store/cert_issued.h"
#include "store/webhooks.h"
#include "util/clock.h"
#include "util/files.h"
#include "util/waiter.h"

#define WH_LEASE_S 60
#define WH_TIMEOUT_MS 10000
#define WH_MAX_ATTEMPTS 25
#define WH_RETRY_CAP_S 3600.0
#define WH_IDLE_MAX_S 2.0
#define WH_SECRET_MAX 4096

struct cf_webhooks {
	cf_app *app;
	pthread_t th;
	cf_waiter waiter; /* the sender's sleep between polls, and its stop */
	cf_buf secret; /* the HMAC key; wiped at stop */
	PGconn *db;
	long long next_sweep_ms; /* the alerts' periodic pass (alerts.h) */
};

/* ---- events from the job's final transaction ---- */

static void iso_time(time_t t, char out[32])
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int wk_issued_hook(PGconn *c, const cf_job_ref *job, void *arg, cf_err *err)
{
	wk_issued_arg *a = arg;
	const char *urls = a->j->w->app->cfg->webhook_urls;
	char nb[32], na[32], *text = NULL;
	json_t *data;
	int rc;

	if (cf_issued_version_hook(c, job, a->in, err) != 0)
		return -1;
	if (urls[0] == '\0')
		return 0;
	iso_time(a->in->not_before, nb);
	iso_time(a->in->not_after, na);
	data = json_pack("{s:s, s:s, s:i, s:s, s:s, s:s, s:s}", "job", job->id, "kind",
			 cf_job_kind_name(a->j->cl.kind), "version", a->in->version, "serial",
			 a->in->serial, "issuer_cn", a->in->issuer_cn, "not_before", nb, "not_after",
			 na);
	if (data == NULL || (text = json_dumps(data, JSON_COMPACT)) == NULL)
		rc = cf_err_oom(err, "issued event");
	else
		rc = cf_webhook_enqueue(c, urls, "issued", a->in->certificate_id, text,
					err) < 0 ? -1 : 0;
	json_decref(data);
	free(text);
	return rc;
}

int wk_failed_hook(PGconn *c, const cf_job_ref *job, void *arg, cf_err *err)
{
	wk_job *j = arg;
	const char *urls = j->w->app->cfg->webhook_urls;
	char *text = NULL;
	json_t *data;
	int rc;

	if (cf_issued_failed_hook(c, job, j->cl.certificate_id, err) != 0 ||
	    cf_alert_job_failed(c, job->id, j->cl.certificate_id, err) < 0)
		return -1;
	/* failed validations in a row reached the setting: the certificate pauses
	 * until POST /v1/certificates/{id}/resume */
	if (j->pause_cert && cf_db_run(c, "pausing a certificate",
				       "UPDATE certificates SET status = 'paused', updated_at = now() "
				       "WHERE id = $1", 1, (const char *[]){j->cl.certificate_id},
				       err) != 0)
		return -1;
	if (urls[0] == '\0')
		return 0;
	data = json_pack("{s:s, s:s, s:s, s:s, s:i}", "job", job->id, "kind",
			 cf_job_kind_name(j->cl.kind), "step", wk_step_name(j, j->err_step),
			 "detail", j->err.msg, "attempt", job->attempt);
	if (data != NULL && j->failed_name[0])
		json_object_set_new(data, "name", json_string(j->failed_name));
	if (data == NULL || (text = json_dumps(data, JSON_COMPACT)) == NULL)
		rc = cf_err_oom(err, "failed event");
	else if ((rc = cf_webhook_enqueue(c, urls, "failed", j->cl.certificate_id, text,
					  err) < 0 ? -1 : 0) == 0 && j->pause_cert)
		rc = cf_webhook_enqueue(c, urls, "paused", j->cl.certificate_id, text,
					err) < 0 ? -1 : 0;
	json_decref(data);
	free(text);
	return rc;
}

/* ---- the sender ---- */

/* The URL for logs and for the recorded error: its query and fragment (which
 * may carry a receiver's token) redacted as "?***". */
static void url_for_log(const char *url, char *out, size_t len)
{
	size_t n = strcspn(url, "?#");

	snprintf(out, len, "%.*s%s", (int)n, url, url[n] != '\0' ? "?***" : "");
}

/* Replaces every occurrence of url in msg (an error message of the HTTP
 * client, which names the URL it called) with its redacted form. */
static void redact_url(char *msg, size_t cap, const char *url)
{
	char where[256], out[sizeof(((cf_err *)0)->msg)];
	size_t ul = strlen(url), o = 0;
	const char *p = msg, *hit;

	if (ul == 0 || strcspn(url, "?#") == ul || cap > sizeof(out))
		return;
	url_for_log(url, where, sizeof(where));
	while ((hit = strstr(p, url)) != NULL && o < sizeof(out)) {
		o += (size_t)snprintf(out + o, sizeof(out) - o, "%.*s%s", (int)(hit - p), p, where);
		p = hit + ul;
	}
	if (o >= sizeof(out))
		o = sizeof(out) - 1;
	snprintf(out + o, sizeof(out) - o, "%s", p);
	snprintf(msg, cap, "%s", out);
	cf_wipe(out, sizeof(out));
}

/* "sha256=<hex>" of HMAC(key, ts "." body) into out (7 + 64 + 1 bytes). */
static int sign(const uint8_t *key, size_t keylen, const char *ts, const char *body,
		char out[80])
{
	cf_buf msg = {0};
	uint8_t mac[32];
	int rc = -1;

	if (cf_buf_append_str(&msg, ts) == 0 && cf_buf_append_str(&msg, ".") == 0 &&
	    cf_buf_append_str(&msg, body) == 0 &&
	    cf_hmac_sha256(key, keylen, msg.data, msg.len, mac) == 0) {
		strcpy(out, "sha256=");
		for (int i = 0; i < 32; i++)
			snprintf(out + 7 + 2 * i, 3, "%02x", mac[i]);
		rc = 0;
	}
	cf_buf_free(&msg);
	return rc;
}

/* One POST of d's body to url signed with key; *status gets the HTTP status (0
 * when none came). A wk_signed_post_fn (alerts.h): webhook-channel alerts come
 * back here with their rule's URL and key. */
static void post(const uint8_t *key, size_t keylen, const char *url,
		 const cf_webhook_delivery *d, int *status, cf_err *err)
{
	char ts[24], sig[80], h_event[64], h_id[80], h_ts[64], h_sig[120];
	const char *headers[] = {h_event, h_id, h_ts, h_sig, NULL};
	cf_api_req req = {.method = "POST", .url = url, .headers = headers, .body = d->body,
			  .timeout_ms = WH_TIMEOUT_MS, .max_body = 65536, .who = "webhook"};
	cf_api_resp resp = {0};

	*status = 0;
	snprintf(ts, sizeof(ts), "%lld", (long long)time(NULL));
	if (sign(key, keylen, ts, d->body, sig) != 0) {
		cf_err_set(err, CF_ERR_TRANSIENT, "webhook: signing failed");
		return;
	}
	snprintf(h_event, sizeof(h_event), "X-Certfleet-Event: %s", d->event);
	snprintf(h_id, sizeof(h_id), "X-Certfleet-Delivery: %s", d->event_id);
	snprintf(h_ts, sizeof(h_ts), "X-Certfleet-Timestamp: %s", ts);
	snprintf(h_sig, sizeof(h_sig), "X-Certfleet-Signature: %s", sig);
	if (cf_api_http(&req, &resp, err) == 0) {
		*status = (int)resp.status;
		if (resp.status < 200 || resp.status > 299)
			cf_err_set(err, CF_ERR_TRANSIENT, "HTTP %ld", resp.status);
	}
	cf_api_resp_free(&resp);
}

/* 1 s doubling per failed attempt, capped, times 0.75 .. 1.25. */
static double retry_after_s(int attempts)
{
	double d = 1;
	uint16_t r = 0;

	for (int i = 1; i < attempts && d < WH_RETRY_CAP_S; i++)
		d *= 2;
	if (d > WH_RETRY_CAP_S)
		d = WH_RETRY_CAP_S;
	if (cf_random_bytes(&r, sizeof(r)) != 0)
		r = 0; /* jitter is best effort: without random bytes, none */
	return d * (0.75 + 0.5 * r / 65535.0);
}

static void deliver(cf_webhooks *w, const cf_webhook_delivery *d)
{
	cf_err e = {0}, dberr = {0};
	char where[256];
	bool ok, give_up;
	double retry;
	int status = 0;

	if (d->alert_event != 0) /* an alert: by its rule's channel (alerts.c) */
		wk_alert_send(w->app, w->db, d, post, &status, &e);
	else
		post(w->secret.data, w->secret.len, d->url, d, &status, &e);
	redact_url(e.msg, sizeof(e.msg), d->url);
	ok = e.cls == CF_ERR_NONE;
	give_up = !ok && d->attempts >= WH_MAX_ATTEMPTS;
	retry = retry_after_s(d->attempts);
	cf_metrics_webhook_attempt(ok);
	url_for_log(d->url, where, sizeof(where));
	if (ok)
		cf_log(CF_LOG_INFO, "webhook.delivered", "%s %s to %s (attempt %d, HTTP %d)",
		       d->event, d->event_id, where, d->attempts, status);
	else
		cf_log(CF_LOG_WARN, "webhook.retry", "%s %s to %s, attempt %d: %s; %s", d->event,
		       d->event_id, where, d->attempts, e.msg,
		       give_up ? "giving up" : "retrying later");
	if (cf_webhook_finish(w->db, d, status, ok ? NULL : e.msg, ok, give_up, retry, &dberr) < 0)
		cf_log(CF_LOG_WARN, "webhook.record", "%s", dberr.msg);
	if (cf_db_lost(w->db)) {
		PQfinish(w->db);
		w->db = NULL;
	}
	cf_err_clear(&e);
	cf_err_clear(&dberr);
}

static void *sender_main(void *arg)
{
	cf_webhooks *w = arg;
	long long last_warn = 0;

	while (!cf_waiter_stopped(&w->waiter)) {
		cf_webhook_delivery d = {0};
		cf_err err = {0};
		double due;
		int rc = -1;

		if (w->db == NULL)
			w->db = cf_db_connect(w->app->cfg->database_url, &err);
		if (w->db != NULL && cf_clock_mono_ms() >= w->next_sweep_ms) {
			wk_alert_sweep(w->db);
			w->next_sweep_ms = cf_clock_mono_ms() + 1000LL * w->app->cfg->alert_interval;
		}
		if (w->db != NULL)
			rc = cf_webhook_claim(w->db, WH_LEASE_S, &d, &err);
		if (rc == 1) {
			deliver(w, &d);
			cf_webhook_delivery_free(&d);
		} else if (rc == 0) {
			due = cf_webhook_next_due(w->db, WH_IDLE_MAX_S, &err);
			cf_waiter_wait(&w->waiter, due < 0.05 ? 0.05 : due);
		} else {
			if (cf_clock_mono_ms() - last_warn > 60000) {
				cf_log(CF_LOG_WARN, "webhook.queue", "%s", err.msg);
				last_warn = cf_clock_mono_ms();
			}
			cf_waiter_wait(&w->waiter, WH_IDLE_MAX_S);
		}
		if (cf_db_lost(w->db)) {
			PQfinish(w->db);
			w->db = NULL;
		}
		cf_err_clear(&err);
	}
	return NULL;
}

/* ---- start and stop ---- */

/* 1-based position of the URL that starts at s in the list. */
static int url_index(const char *urls, const char *s)
{
	int n = 1;

	for (const char *p = urls; p < s; p++)
		n += *p == ',';
	return n;
}

/* Every comma-separated URL is http(s)://HOST..., printable, no blanks, and
 * without user information (user:password@host): a credential in a URL ends up
 * in logs, errors and the deliveries table; a receiver authenticates by the
 * signature. The refusal does not echo the URL. */
static int check_urls(const char *urls, cf_err *err)
{
	const char *p = urls;

	while (*p) {
		size_t n = strcspn(p, ",");
		const char *s = p, *e = p + n;

		while (s < e && (*s == ' ' || *s == '\t'))
			s++;
		while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		if (e > s) {
			bool http = (size_t)(e - s) > 7 && strncmp(s, "http://", 7) == 0;
			bool https = (size_t)(e - s) > 8 && strncmp(s, "https://", 8) == 0;

			if (!http && !https)
				return cf_err_set(err, CF_ERR_PERMANENT, "CERTFLEET_WEBHOOK_URLS: "
						  "\"%.*s\" is not an http:// or https:// URL",
						  (int)(e - s > 80 ? 80 : e - s), s);
			for (const char *q = s; q < e; q++)
				if (*q <= ' ' || *q == 0x7f)
					return cf_err_set(err, CF_ERR_PERMANENT,
							  "CERTFLEET_WEBHOOK_URLS: a URL holds a "
							  "blank or a control character");
			{
				const char *auth = s + (https ? 8 : 7);
				size_t alen = strcspn(auth, "/?#,");

				if ((size_t)(e - auth) < alen)
					alen = (size_t)(e - auth);
				if (memchr(auth, '@', alen) != NULL)
					return cf_err_set(err, CF_ERR_PERMANENT,
							  "CERTFLEET_WEBHOOK_URLS: URL %d holds user "
							  "information (user:password@host): not "
							  "allowed; the receiver checks the "
							  "X-Certfleet-Signature instead",
							  url_index(urls, s));
			}
		}
		p += n + (p[n] == ',');
	}
	return 0;
}

static int load_secret(cf_webhooks *w, const cf_config *cfg, cf_err *err)
{
	char *text = NULL;
	size_t len = 0;
	int rc = 0;

	if (cfg->webhook_secret[0] != '\0') {
		rc = cf_buf_append_str(&w->secret, cfg->webhook_secret);
	} else if (cfg->webhook_secret_file[0] != '\0') {
		if ((text = cf_read_file(cfg->webhook_secret_file, WH_SECRET_MAX, &len, err)) ==
		    NULL)
			return cf_err_wrap(err, "CERTFLEET_WEBHOOK_SECRET_FILE");
		while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r'))
			len--;
		rc = cf_buf_append(&w->secret, text, len);
		cf_secret_free(text);
	}
	if (rc != 0)
		return cf_err_oom(err, "CERTFLEET_WEBHOOK_SECRET");
	if (w->secret.len == 0)
		return cf_err_set(err, CF_ERR_PERMANENT,
				  "CERTFLEET_WEBHOOK_SECRET: required when CERTFLEET_WEBHOOK_URLS "
				  "is set (or CERTFLEET_WEBHOOK_SECRET_FILE)");
	return 0;
}

static void webhooks_free(cf_webhooks *w)
{
	cf_buf_free_secret(&w->secret);
	if (w->db != NULL)
		PQfinish(w->db);
	cf_waiter_destroy(&w->waiter);
	free(w);
}

cf_webhooks *cf_webhooks_start(cf_app *app, cf_err *err)
{
	const cf_config *cfg = app->cfg;
	/* without URLs the sender still runs: it delivers the alerts (alerts.h) */
	bool urls = strspn(cfg->webhook_urls, " ,\t") != strlen(cfg->webhook_urls);
	cf_webhooks *w;

	if (urls && check_urls(cfg->webhook_urls, err) != 0)
		return NULL;
	if ((w = calloc(1, sizeof(*w))) == NULL) {
		cf_err_oom(err, "webhooks");
		return NULL;
	}
	if (cf_waiter_init(&w->waiter) != 0) {
		free(w);
		cf_err_set(err, CF_ERR_PERMANENT, "webhooks: cannot make the sender's waiter");
		return NULL;
	}
	w->app = app;
	if (urls && load_secret(w, cfg, err) != 0) {
		webhooks_free(w);
		return NULL;
	}
	if (pthread_create(&w->th, NULL, sender_main, w) != 0) {
		cf_err_set(err, CF_ERR_PERMANENT, "webhooks: cannot start the sender thread");
		webhooks_free(w);
		return NULL;
	}
	cf_log(CF_LOG_INFO, "webhooks.started", "delivering %salerts",
	       urls ? "events to CERTFLEET_WEBHOOK_URLS, and " : "");
	return w;
}

void cf_webhooks_stop(cf_webhooks *w)
{
	if (w == NULL)
		return;
	cf_waiter_stop(&w->waiter);
	pthread_join(w->th, NULL);
	webhooks_free(w);
}
