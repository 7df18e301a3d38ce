/*
 * issuer.c: the job's issuer, as a limited and fallible resource shared by every
 * worker of every replica (store/issuers.h):
 *
 *  - wk_issuer_select: which issuer the job orders from (jobs.data "issuer", else
 *    the first of the certificate's list) and its definition; a thread whose ACME
 *    client belongs to another issuer drops it.
 *  - wk_issuer_gate, before every step that talks to the CA: a paused issuer gets
 *    no request; the job waits (state waiting, run_after = the pause's end) with
 *    an event naming the pause. Before newOrder it also takes the budget units
 *    (orders, certificates_per_domain per registered domain) and checks each
 *    name's failed-authorization budget; an empty budget is a wait too, with an
 *    event naming the limit, the issuer and when the next unit frees. A renewal
 *    that sends ARI "replaces" takes no unit where renewals_exempt is true, and a
 *    predecessor is "replaces"d at most once (a unit of the pseudo-limit
 *    "replaced" per certID, which never frees).
 *  - wk_issuer_fault, from the runner's retry path: a 429 pauses the issuer until
 *    Retry-After, a 503, other 5xx or a connection failure with a capped backoff,
 *    for everyone (persisted); the job waits for the pause without counting a
 *    failure.
 *  - fallback: a wait that would last longer than the certificate's slack
 *    (CERTFLEET_FALLBACK_AFTER for a new certificate; for a renewal, the time
 *    left before its deadline, the last sixth of the current version's lifetime)
 *    asks the runner (job.c, j->move_to) to move the job to the next issuer of
 *    its list: an event, the old order's authorizations released (unless that
 *    issuer is paused: no request goes to it) and its TXT values removed, and a
 *    new order at the new issuer.
 */
#include "worker/worker_int.h"

#include <libpsl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "log.h"
#include "store/alerts.h"
#include "store/rows.h"
#include "util/clock.h"
#include "util/files.h"

#define WK_PRUNE_EVERY 64      /* a thread prunes old usage rows every 64 orders */

/* The issuer named by the job: data.issuer, else the certificate's first. */
static const char *job_issuer_name(const wk_job *j)
{
	const char *n = json_string_value(json_object_get(j->data, "issuer"));

	if (n == NULL)
		n = json_string_value(json_array_get(j->cert.issuers, 0));
	return n ? n : CF_ISSUER_DEFAULT;
}

wk_rc wk_issuer_select(wk_job *j)
{
	const char *name = job_issuer_name(j);
	PGconn *db;
	int r;

	if (j->iss_loaded && strcmp(j->iss.name, name) == 0)
		return WK_NEXT;
	cf_issuer_free(&j->iss);
	j->iss_loaded = false;
	if ((db = wk_db(j)) == NULL)
		return wk_db_err(j);
	if ((r = cf_issuer_load(db, j->w->app->master_key, name, &j->iss, &j->err)) < 0)
		return j->err.cls == CF_ERR_PERMANENT && !cf_db_lost(db) ? wk_err(j) : wk_db_err(j);
	if (r == 0)
		return wk_fail(j, CF_ERR_PERMANENT, "issuer \"%s\" does not exist (GET /v1/issuers)",
			       name);
	j->iss_loaded = true;
	if (json_object_get(j->data, "issuer") == NULL) /* kept with the next write */
		json_object_set_new(j->data, "issuer", json_string(j->iss.name));
	if (strcmp(j->w->issuer, name) != 0) {
		wk_thread_acme_drop(j->w);
		snprintf(j->w->issuer, sizeof(j->w->issuer), "%s", name);
	}
	return WK_NEXT;
}

/* The client's HTTP events: remembers whether the last exchange got an answer,
 * and when it was sent. */
static void on_ca_event(const cf_acme_event *ev, void *arg)
{
	wk_thread *w = arg;

	if (ev->kind == CF_ACME_EV_HTTP) {
		w->ca_transport_failed = ev->http_status == 0;
		w->ca_sent_mono = cf_clock_mono_s() - (ev->duration_ms > 0 ? ev->duration_ms : 0) /
							       1000.0;
	}
}

/* The issuer's CA PEM as a file for libcurl, the thread's own
 * ($TMPDIR/certfleet-ca-<sha256>-<pid>-w<idx>.pem, mode 0644: public trust, not a
 * secret), removed when the thread drops the issuer (wk_thread_acme_drop). */
static int ca_file(wk_job *j, cf_err *err)
{
	const char *dir = getenv("TMPDIR");
	uint8_t h[32];
	char name[96], *path;
	size_t n;

	if (j->iss.ca_pem == NULL || j->w->ca_path != NULL)
		return 0;
	if (dir == NULL || dir[0] == '\0')
		dir = "/tmp";
	cf_sha256(j->iss.ca_pem, strlen(j->iss.ca_pem), h);
	n = (size_t)snprintf(name, sizeof(name), "certfleet-ca-");
	for (int i = 0; i < 12; i++)
		n += (size_t)snprintf(name + n, sizeof(name) - n, "%02x", h[i]);
	snprintf(name + n, sizeof(name) - n, "-%ld-w%d.pem", (long)getpid(), j->w->idx);
	if (cf_write_file_atomic(dir, name, j->iss.ca_pem, strlen(j->iss.ca_pem), 0644, err) != 0)
		return cf_err_wrap(err, "issuer %s: writing its CA file", j->iss.name);
	if ((path = malloc(strlen(dir) + strlen(name) + 2)) == NULL)
		return cf_err_oom(err, NULL);
	sprintf(path, "%s/%s", dir, name);
	j->w->ca_path = path;
	return 0;
}

int wk_issuer_client_options(wk_job *j, cf_acme_options *o, cf_err *err)
{
	if (ca_file(j, err) != 0)
		return -1;
	o->directory_url = j->iss.directory;
	o->ca_file = j->w->ca_path;
	o->on_event = on_ca_event;
	o->event_arg = j->w;
	return 0;
}

/* ---- waiting, and moving to the next issuer ---- */

/* Seconds the job may wait at one issuer before it moves on. */
static double slack_s(wk_job *j)
{
	const char *p[1] = {j->cl.certificate_id};
	double slack = j->w->app->cfg->fallback_after;
	PGresult *r;
	PGconn *db;

	if (j->cl.kind != CF_JOB_KIND_RENEW || (db = wk_db(j)) == NULL)
		return slack;
	/* a renewal: until its deadline, when a sixth of the lifetime is left */
	r = cf_db_exec(db, "a renewal's slack",
		       "SELECT extract(epoch FROM v.not_after - now()) - extract(epoch FROM "
		       "v.not_after - v.not_before) / 6 FROM certificates c JOIN "
		       "certificate_versions v ON v.certificate_id = c.id AND v.version = "
		       "c.current_version WHERE c.id = $1",
		       1, p, NULL);
	if (r != NULL && PQntuples(r) == 1)
		slack = cf_col_double(r, 0, 0, slack);
	PQclear(r);
	return slack > 0 ? slack : 0;
}

/* The next issuer of the certificate's list after the current one, or NULL. */
static const char *next_issuer(const wk_job *j)
{
	const json_t *v;
	size_t i;

	json_array_foreach(j->cert.issuers, i, v)
		if (strcmp(json_string_value(v), j->iss.name) == 0)
			return json_string_value(json_array_get(j->cert.issuers, i + 1));
	return NULL;
}

/* The database's clock (epoch seconds) into *now: wait_since is compared across
 * replicas, so never a replica's own clock. 0, or -1 with j->err set. */
static int db_now_s(wk_job *j, double *now)
{
	PGconn *db = wk_db(j);
	PGresult *r;

	if (db == NULL || (r = cf_db_exec(db, "the database's clock",
					  "SELECT extract(epoch FROM now())::float8", 0, NULL,
					  &j->err)) == NULL)
		return -1;
	*now = cf_col_double(r, 0, 0, 0);
	PQclear(r);
	return 0;
}

/* The job must wait wait_s for its issuer (what says why): waits, or asks the
 * runner to move it to the next issuer when the wait would end beyond the slack.
 * WK_WAIT when the wait is written, WK_NEXT with j->move_to set for a move. */
static wk_rc wait_or_move(wk_job *j, double wait_s, const char *what)
{
	cf_job_change ch = CF_JOB_KEEP;
	double now = 0, since;
	const json_t *ws = json_object_get(j->data, "wait_since");
	const char *next = next_issuer(j);

	if (db_now_s(j, &now) != 0)
		return wk_db_err(j);
	since = json_is_number(ws) ? json_number_value(ws) : now;
	if (next != NULL && now + wait_s - since > slack_s(j)) {
		snprintf(j->move_to, sizeof(j->move_to), "%s", next);
		snprintf(j->move_why, sizeof(j->move_why), "%s, longer than the certificate's "
			 "slack", what);
		return WK_NEXT;
	}
	if (ws == NULL)
		json_object_set_new(j->data, "wait_since", json_real(now));
	ch.state = CF_JOB_WAITING;
	ch.run_after_s = wait_s > 0.5 ? wait_s : 0.5;
	if (wk_write(j, &ch, "issuer", false, NULL, "waiting for %s", what) != WK_NEXT)
		return WK_LOST;
	cf_log(CF_LOG_INFO, "issuer.wait", "waiting %.1f s for %s", wait_s, what);
	return WK_WAIT;
}

/* "23:59:01" of at (epoch seconds), UTC. */
static void clock_text(double at, char *out, size_t len)
{
	time_t t = (time_t)(at + 0.999);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, len, "%H:%M:%S", &tm);
}

/* 1 when the issuer is paused (the job then waits or moves: *rc), 0 when not. */
static int pause_check(wk_job *j, wk_rc *rc)
{
	char reason[512], until[16], what[700];
	double left = 0, now = 0;
	PGconn *db = wk_db(j);
	int r;

	if (db == NULL) {
		*rc = wk_db_err(j);
		return 1;
	}
	if ((r = cf_issuer_paused(db, j->iss.name, &left, reason, sizeof(reason), &j->err)) < 0) {
		*rc = wk_db_err(j);
		return 1;
	}
	if (r == 0)
		return 0;
	if (db_now_s(j, &now) != 0) {
		*rc = wk_db_err(j);
		return 1;
	}
	clock_text(now + left, until, sizeof(until));
	snprintf(what, sizeof(what), "issuer %s, paused until %s: %s", j->iss.name, until, reason);
	*rc = wait_or_move(j, left, what);
	return 1;
}

/* ---- budgets before newOrder ---- */

/* The registered domain of name (the Public Suffix List, its default rule "*"
 * for TLDs it does not list); "" when there is none. */
static void registered_domain(const char *name, char *out, size_t len)
{
	const char *rd;

	if (strncmp(name, "*.", 2) == 0)
		name += 2;
	rd = psl_registrable_domain(psl_builtin(), name);
	snprintf(out, len, "%s", rd ? rd : name);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The ARI replaces of a renewal, when it may still be sent: the "replaced" unit
 * of its certID taken (once ever). 1 exempt, 0 not (replaces dropped), -1 error. */
static int take_replaces(wk_job *j, PGconn *db)
{
	const char *rep = json_string_value(json_object_get(j->data, "replaces"));
	json_t *lim = json_pack("{s:{s:i, s:i}}", CF_USAGE_REPLACED, "count", 1, "per_seconds",
				315360000);
	cf_unit u = {CF_USAGE_REPLACED, rep};
	cf_budget_wait w;
	int r;

	if (rep == NULL || lim == NULL) {
		json_decref(lim);
		return 0;
	}
	r = cf_issuer_take(db, j->iss.name, lim, &u, 1, j->cl.ref.id, &w, &j->err);
	json_decref(lim);
	if (r == 0) {
		cf_log(CF_LOG_WARN, "issuer.replaced_once", "%s was already replaced once; "
		       "ordering without \"replaces\"", rep);
		json_object_del(j->data, "replaces");
	}
	return r;
}

/* Takes the order's units: 1 taken, 0 empty (w filled), -1 error. */
static int take_units(wk_job *j, PGconn *db, cf_budget_wait *w)
{
	char **rd = calloc(j->nnames ? j->nnames : 1, sizeof(char *));
	cf_unit *u = calloc(j->nnames + 1, sizeof(cf_unit));
	size_t n = 0, k = 0;
	int r = -1;

	if (rd == NULL || u == NULL) {
		cf_err_oom(&j->err, NULL);
		goto out;
	}
	for (size_t i = 0; i < j->nnames; i++) {
		char d[256];

		registered_domain(j->names[i], d, sizeof(d));
		if ((rd[n] = strdup(d)) == NULL) {
			cf_err_oom(&j->err, NULL);
			goto out;
		}
		n++;
	}
	qsort(rd, n, sizeof(char *), cmp_str);
	u[k++] = (cf_unit){CF_LIMIT_ORDERS, ""};
	for (size_t i = 0; i < n; i++)
		if (i == 0 || strcmp(rd[i], rd[i - 1]) != 0)
			u[k++] = (cf_unit){CF_LIMIT_PER_DOMAIN, rd[i]};
	r = cf_issuer_take(db, j->iss.name, j->iss.limits, u, k, j->cl.ref.id, w, &j->err);
out:
	for (size_t i = 0; rd != NULL && i < n; i++)
		free(rd[i]);
	free(rd);
	free(u);
	return r;
}

/* Before newOrder: the failed-authorization budget of each name, then the
 * units. WK_NEXT when the order may be sent. */
static wk_rc budget(wk_job *j)
{
	cf_budget_wait w = {0};
	PGconn *db = wk_db(j);
	int r = 1;

	if (db == NULL)
		return wk_db_err(j);
	for (size_t i = 0; i < j->nnames && r == 1; i++)
		r = cf_issuer_check(db, j->iss.name, j->iss.limits, CF_LIMIT_FAILED_AUTHZ,
				    j->names[i], &w, &j->err);
	if (r == 1 && j->iss.renewals_exempt) {
		if ((r = take_replaces(j, db)) == 1)
			return WK_NEXT; /* an ARI renewal: exempt */
		if (r == 0)
			r = 1;
	}
	if (r == 1)
		r = take_units(j, db, &w);
	if (r < 0)
		return wk_db_err(j);
	if (r == 1)
		return WK_NEXT;
	return wait_or_move(j, w.wait_s, w.msg);
}

/* Whether step s sends requests to the CA. */
static bool talks_to_ca(cf_job_step s)
{
	return s == CF_STEP_ACCOUNT || s == CF_STEP_ORDER || s == CF_STEP_RESPOND ||
	       s == CF_STEP_VALIDATE || s == CF_STEP_FINALIZE || s == CF_STEP_DOWNLOAD;
}

wk_rc wk_issuer_gate(wk_job *j, bool reads_order)
{
	wk_rc rc;

	j->move_to[0] = '\0';
	if (!reads_order && !talks_to_ca(j->step))
		return WK_NEXT;
	if ((rc = wk_issuer_select(j)) != WK_NEXT)
		return rc;
	if (pause_check(j, &rc))
		return rc;
	if (j->move_to[0])
		return WK_NEXT;
	if (j->step == CF_STEP_ORDER && j->cl.order_url == NULL && !reads_order &&
	    ((rc = budget(j)) != WK_NEXT || j->move_to[0]))
		return rc;
	/* written with the step's event; kept for wk_issuer_fault, so a probe the CA
	 * fails does not start the wait (and the slack) again */
	j->wait_since = json_number_value(json_object_get(j->data, "wait_since"));
	json_object_del(j->data, "wait_since");
	return WK_NEXT;
}

/* ---- the CA refused or failed ---- */

/* The CA failed a step after the gate ended the job's wait (wait_since): the
 * wait goes on from its start, so a probe the CA fails does not restart it (and
 * the slack with it). */
static void wait_goes_on(wk_job *j)
{
	if (j->wait_since > 0 && json_object_get(j->data, "wait_since") == NULL)
		json_object_set_new(j->data, "wait_since", json_real(j->wait_since));
}

/* Another worker paused the issuer while this job was at it (a step that stops
 * polling a paused issuer ends with a transient error): the job waits for that
 * pause, which is no failure of its own. */
static bool paused_meanwhile(wk_job *j)
{
	cf_err keep = j->err;
	wk_rc rc = WK_ERR;
	int r;

	memset(&j->err, 0, sizeof(j->err));
	j->move_to[0] = '\0';
	wait_goes_on(j);
	r = pause_check(j, &rc);
	if (r == 1 && (rc == WK_WAIT || rc == WK_LOST || j->move_to[0])) {
		cf_err_clear(&keep);
		return true;
	}
	json_object_del(j->data, "wait_since"); /* no wait: the gate had ended it */
	cf_err_clear(&j->err);
	j->err = keep;
	return false;
}

/* The issuer_paused alerts (store/alerts.h: once per rule, issuer and day); a
 * failure to record them is logged, never the job's. */
static void issuer_alert(wk_job *j, PGconn *db, double until_s, const char *reason)
{
	cf_err e = {0};

	if (cf_alert_issuer_paused(db, j->iss.name, until_s, reason, &e) < 0)
		cf_log(CF_LOG_WARN, "alerts.issuer_paused", "%s", e.msg);
	cf_err_clear(&e);
}

bool wk_issuer_fault(wk_job *j)
{
	cf_acme_failure f = {0};
	char reason[600], until[16], what[700];
	double until_s = 0, sent_ago_s;
	PGconn *db;
	bool rl;
	int r;

	if (!j->iss_loaded || j->err.cls != CF_ERR_TRANSIENT || !talks_to_ca(j->err_step))
		return false;
	if (j->w->client != NULL)
		cf_acme_client_last_failure(j->w->client, &f);
	rl = f.rate_limited;
	if (!rl && !f.unavailable && f.http_status < 500 && !j->w->ca_transport_failed)
		return paused_meanwhile(j);
	if ((db = wk_db(j)) == NULL)
		return false;
	if (rl)
		snprintf(reason, sizeof(reason), "rate limited (HTTP %ld): %.500s", f.http_status,
			 j->err.msg);
	else if (f.http_status > 0)
		snprintf(reason, sizeof(reason), "HTTP %ld: %.500s", f.http_status, j->err.msg);
	else
		snprintf(reason, sizeof(reason), "no answer: %.500s", j->err.msg);
	/* unknown (no exchange seen): as if sent just now, so it pauses */
	sent_ago_s = j->w->ca_sent_mono > 0 ? cf_clock_mono_s() - j->w->ca_sent_mono : 0;
	if ((r = cf_issuer_pause(db, j->iss.name, rl, f.retry_after_s,
				 j->w->app->cfg->issuer_backoff_max, sent_ago_s > 0 ? sent_ago_s : 0,
				 reason, j->err.problem, &until_s, &j->err)) < 0) {
		wk_db_err(j);
		return false;
	}
	if (r == 1) {
		cf_log(CF_LOG_WARN, "issuer.paused", "issuer %s paused for %.1f s: %s",
		       j->iss.name, until_s, reason);
		issuer_alert(j, db, until_s, reason);
	} else {
		cf_log(CF_LOG_INFO, "issuer.paused", "issuer %s: a request sent before its "
		       "pause failed (%.1f s of the pause left): %s", j->iss.name, until_s, reason);
	}
	j->w->ca_transport_failed = false;
	clock_text(until_s, until, sizeof(until));
	snprintf(what, sizeof(what), "issuer %s, paused until %s: %s", j->iss.name, until, reason);
	j->move_to[0] = '\0';
	wait_goes_on(j);
	wait_or_move(j, until_s, what); /* a move (j->move_to) is the runner's */
	return true;
}

void wk_issuer_order_sent(wk_job *j)
{
	PGconn *db = wk_db(j);
	cf_err e = {0};

	if (db == NULL || !j->iss_loaded)
		return;
	if (cf_issuer_record(db, j->iss.name, CF_USAGE_ORDER_SENT, "", j->cl.ref.id, &e) != 0 ||
	    cf_issuer_recovered(db, j->iss.name, &e) != 0 ||
	    (++j->w->orders_sent % WK_PRUNE_EVERY == 0 && cf_issuer_prune(db, j->iss.name, &e) != 0))
		cf_log(CF_LOG_WARN, "issuer.record", "%s", e.msg);
	cf_err_clear(&e);
}

void wk_issuer_validation_failed(wk_job *j, const char *name)
{
	const char *p[1] = {j->cl.certificate_id};
	PGconn *db = wk_db(j);
	cf_err e = {0};
	PGresult *r;

	snprintf(j->failed_name, sizeof(j->failed_name), "%s", name);
	if (db == NULL)
		return;
	if (j->iss_loaded &&
	    cf_issuer_record(db, j->iss.name, CF_LIMIT_FAILED_AUTHZ, name, j->cl.ref.id, &e) != 0)
		cf_log(CF_LOG_WARN, "issuer.record", "%s", e.msg);
	cf_err_clear(&e);
	r = cf_db_exec(db, "counting failed validations",
		       "UPDATE certificates SET validation_failures = validation_failures + 1 "
		       "WHERE id = $1 RETURNING validation_failures",
		       1, p, &e);
	if (r != NULL && PQntuples(r) == 1 &&
	    cf_col_int(r, 0, 0, 0) >= j->w->app->cfg->validation_pause_after)
		j->pause_cert = true;
	if (r == NULL)
		cf_log(CF_LOG_WARN, "issuer.record", "%s", e.msg);
	PQclear(r);
	cf_err_clear(&e);
}

bool wk_issuer_is_paused(wk_job *j)
{
	double left = 0;
	PGconn *db;

	if (!j->iss_loaded || (db = wk_db(j)) == NULL)
		return false;
	return cf_issuer_paused(db, j->iss.name, &left, NULL, 0, NULL) == 1;
}
