/*
 * job.c: running one claimed job: load it, find where to resume, run its steps,
 * and turn the result into the job's next state. See worker_int.h for the steps.
 *
 * wk_write() is the worker's only way to change a job: it calls cf_job_write(),
 * which updates the row fenced by (id, attempt) and records the event in the same
 * transaction. When it reports the job lost (another worker claimed it after our
 * lease expired), the job is dropped at once: no provider, CA or database call is
 * made for it any more.
 *
 * Outcomes: a transient error puts the job in 'waiting' with run_after = now() +
 * a capped exponential backoff with jitter (at least the CA's Retry-After), until
 * CERTFLEET_MAX_ATTEMPTS transient failures; a permanent error (or too many
 * transient ones) deactivates the order's pending authorizations, removes every
 * TXT value and fails the job, with a summary in jobs.problem and the CA's problem
 * document verbatim in the event. A stopping process puts its job back in
 * 'queued' so another worker resumes it at once.
 */
#include "worker/worker_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crypto/crypto.h"
#include "log.h"
#include "metrics.h"
#include "store/cert_issued.h"
#include "store/providers.h"

static const struct {
	const char *name;
	wk_step_fn fn;
} steps[] = {
	{"preflight", wk_st_preflight}, {"account", wk_st_account},
	{"order", wk_st_order},         {"present", wk_st_present},
	{"propagate", wk_st_propagate}, {"respond", wk_st_respond},
	{"validate", wk_st_validate},   {"cleanup", wk_st_cleanup},
	{"finalize", wk_st_finalize},   {"download", wk_st_download},
};
#define NSTEPS (sizeof(steps) / sizeof(steps[0]))

static int step_index(const char *name)
{
	for (size_t i = 0; i < NSTEPS; i++)
		if (strcmp(steps[i].name, name) == 0)
			return (int)i;
	return -1;
}

long long wk_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

wk_rc wk_check(wk_job *j)
{
	if (atomic_load(&j->w->lost))
		return WK_LOST;
	if (wk_pool_stopping(j->w->pool))
		return WK_YIELD;
	return WK_NEXT;
}

wk_rc wk_err(wk_job *j)
{
	snprintf(j->err_step, sizeof(j->err_step), "%s", j->step);
	if (j->err.cls == CF_ERR_NONE)
		j->err.cls = CF_ERR_TRANSIENT;
	return WK_ERR;
}

wk_rc wk_fail(wk_job *j, cf_err_class cls, const char *fmt, ...)
{
	char msg[sizeof(j->err.msg)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	cf_err_set(&j->err, cls, "%s", msg);
	return wk_err(j);
}

PGconn *wk_db(wk_job *j)
{
	return wk_thread_db(j->w, &j->err);
}

wk_rc wk_db_err(wk_job *j)
{
	if (cf_db_lost(j->w->db))
		wk_thread_db_drop(j->w);
	j->err.cls = CF_ERR_TRANSIENT; /* a database error is never the job's fault */
	return wk_err(j);
}

static wk_rc write_v(wk_job *j, cf_job_change *ch, const char *ev_step, bool timed,
		     const char *problem, const char *fmt, va_list ap)
{
	char msg[1600];
	cf_job_change c = ch ? *ch : CF_JOB_KEEP;
	cf_job_event ev = {ev_step, msg, timed ? (long)(wk_now_ms() - j->t0) : -1, problem};
	char *data = json_dumps(j->data, JSON_COMPACT);
	cf_err e = {0};
	PGconn *db;
	int rc = -1;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	c.data = data;
	if (data != NULL && (db = wk_thread_db(j->w, &e)) != NULL)
		rc = cf_job_write(db, &j->cl.ref, &c, &ev, 1, &e);
	free(data);
	cf_log(CF_LOG_DEBUG, "job.event", "%s: %s", ev_step, msg);
	if (rc == 0)
		return WK_NEXT;
	if (rc == 1) {
		atomic_store(&j->w->lost, true);
		cf_log(CF_LOG_WARN, "job.lost", "attempt %d no longer holds the job",
		       j->cl.ref.attempt);
		return WK_LOST;
	}
	cf_err_clear(&j->err);
	cf_err_set(&j->err, CF_ERR_TRANSIENT, "%s", data ? e.msg : "out of memory");
	cf_err_clear(&e);
	return wk_db_err(j);
}

wk_rc wk_write(wk_job *j, cf_job_change *ch, const char *ev_step, bool timed,
	       const char *problem, const char *fmt, ...)
{
	va_list ap;
	wk_rc rc;

	va_start(ap, fmt);
	rc = write_v(j, ch, ev_step, timed, problem, fmt, ap);
	va_end(ap);
	return rc;
}

wk_rc wk_advance(wk_job *j, const char *next, const char *ev_step, const char *fmt, ...)
{
	cf_job_change ch = CF_JOB_KEEP;
	va_list ap;
	wk_rc rc;

	ch.step = next;
	va_start(ap, fmt);
	rc = write_v(j, &ch, ev_step, true, NULL, fmt, ap);
	va_end(ap);
	if (rc == WK_NEXT)
		snprintf(j->step, sizeof(j->step), "%s", next);
	return rc;
}

/* Backoff after the n-th transient failure: 1 s doubling, capped, with jitter
 * (half to all of it), and at least the CA's Retry-After (up to an hour). */
static double backoff_s(const wk_job *j, int n)
{
	double cap = j->w->app->cfg->retry_max_seconds, d = 1, ra = 0;
	uint32_t r = 0;

	for (int i = 1; i < n && d < cap; i++)
		d *= 2;
	if (d > cap)
		d = cap;
	cf_random_bytes(&r, sizeof(r));
	d = d / 2 + (d / 2) * ((double)r / 4294967295.0);
	if (j->w->client != NULL)
		ra = cf_acme_client_retry_after_ms(j->w->client) / 1000.0;
	if (ra > d)
		d = ra < 3600 ? ra : 3600;
	return d;
}

/* jobs.problem of a failed job: an RFC 9457-style summary, with the CA's problem
 * document (when there was one) inside. Caller frees. */
static char *problem_summary(const wk_job *j)
{
	json_t *p = json_pack("{s:s, s:s, s:s, s:s, s:i}", "type",
			      "https://certfleet.dev/problems/issuance-failed", "title",
			      "Issuance failed", "detail", j->err.msg, "step", j->err_step,
			      "attempt", j->cl.ref.attempt);
	json_t *ca = j->err.problem ? json_loads(j->err.problem, 0, NULL) : NULL;
	char *s;

	if (p != NULL && ca != NULL)
		json_object_set_new(p, "ca_problem", ca);
	else
		json_decref(ca);
	s = p ? json_dumps(p, JSON_COMPACT) : NULL;
	json_decref(p);
	return s;
}

/* The failure path: release the order's authorizations, remove the values, then
 * the final state (and certificates.status) in one transaction. */
static void job_fail(wk_job *j)
{
	cf_job_change ch = CF_JOB_KEEP;
	cf_err keep = j->err; /* the job's error, kept across the clean-up calls */
	char keep_step[sizeof(j->err_step)], *problem = NULL;
	wk_rc rc;

	memcpy(keep_step, j->err_step, sizeof(keep_step));
	memset(&j->err, 0, sizeof(j->err));
	if (j->cl.order_url != NULL && wk_check(j) != WK_LOST && wk_account_ensure(j) == WK_NEXT)
		wk_deactivate(j);
	rc = wk_cleanup_values(j, NULL);
	cf_err_clear(&j->err);
	j->err = keep;
	memcpy(j->err_step, keep_step, sizeof(keep_step));
	if (rc == WK_LOST)
		return;
	json_object_del(j->data, "key");
	problem = problem_summary(j);
	ch.state = "failed";
	ch.finished = true;
	ch.problem = problem;
	ch.hook = wk_failed_hook; /* cf_issued_failed_hook + the "failed" webhook event */
	ch.hook_arg = j;
	if (wk_write(j, &ch, j->err_step, false, j->err.problem, "failed: %s", j->err.msg) ==
	    WK_NEXT)
		cf_log(CF_LOG_WARN, "job.failed", "step %s: %s", j->err_step, j->err.msg);
	free(problem);
}

static void job_retry(wk_job *j)
{
	cf_job_change ch = CF_JOB_KEEP;
	int n = j->cl.failures + 1, max = j->w->app->cfg->max_attempts;
	double d;

	if (n >= max) {
		char msg[sizeof(j->err.msg)];

		snprintf(msg, sizeof(msg), "%s", j->err.msg);
		snprintf(j->err.msg, sizeof(j->err.msg), "gave up after %d transient failures; "
			 "the last: %.900s", n, msg);
		job_fail(j);
		return;
	}
	d = backoff_s(j, n);
	ch.state = "waiting";
	ch.run_after_s = d;
	ch.failures = n;
	if (wk_write(j, &ch, j->err_step, false, j->err.problem,
		     "transient failure %d of %d, retrying in %.1f s: %s", n, max, d,
		     j->err.msg) == WK_NEXT)
		cf_log(CF_LOG_INFO, "job.retry", "step %s, retry in %.1f s: %s", j->err_step, d,
		       j->err.msg);
}

/* The process stops: the job goes back to the queue, to be resumed at once. */
static void job_release(wk_job *j)
{
	cf_job_change ch = CF_JOB_KEEP;

	ch.state = "queued";
	ch.run_after_s = 0;
	ch.notify = true;
	wk_write(j, &ch, j->step, false, NULL,
		 "released: %s is stopping; another worker resumes at step %s", j->w->owner,
		 j->step);
}

/* The issuance histogram of /metrics: from the job's creation to now. */
static void job_issued(const wk_job *j)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	cf_metrics_issue_observe((double)ts.tv_sec + ts.tv_nsec / 1e9 - j->cl.created_at);
	cf_log(CF_LOG_INFO, "job.issued", "certificate %s issued (%s)", j->cl.certificate_id,
	       j->cl.kind);
}

/* A new order is made when the old one cannot be continued, once per job. */
static wk_rc reorder(wk_job *j, const char *why)
{
	cf_job_change ch = CF_JOB_KEEP;
	json_int_t n = json_integer_value(json_object_get(j->data, "reorders"));
	wk_rc rc;

	if (n >= 1)
		return wk_fail(j, CF_ERR_PERMANENT, "%s, and a new order was already made once",
			       why);
	if ((rc = wk_cleanup_values(j, NULL)) != WK_NEXT)
		return rc;
	json_object_del(j->data, "challenges");
	json_object_del(j->data, "key");
	json_object_set_new(j->data, "reorders", json_integer(n + 1));
	ch.step = "order";
	ch.order_url = "";
	if ((rc = wk_write(j, &ch, "order", false, NULL, "%s: making a new order", why)) ==
	    WK_NEXT) {
		snprintf(j->step, sizeof(j->step), "order");
		free(j->cl.order_url);
		j->cl.order_url = NULL;
	}
	return rc;
}

/* The step to continue at, given what the CA says about the order. */
static const char *resume_step(wk_job *j, int idx)
{
	bool key = json_object_get(j->data, "key") != NULL;

	switch (j->order.status) {
	case CF_ACME_PENDING:
		return idx > step_index("validate") ? "respond" : j->step;
	case CF_ACME_READY:
		return idx < step_index("cleanup") ? "cleanup" : j->step;
	case CF_ACME_PROCESSING:
	case CF_ACME_VALID:
		if (!key)
			return NULL;
		return idx < step_index("finalize") ? "finalize" : j->step;
	default:
		return NULL;
	}
}

/* After a claim that continues an order: re-read it and pick the step. */
static wk_rc resume_order(wk_job *j)
{
	cf_job_change ch = CF_JOB_KEEP;
	char step[sizeof(j->step)];
	const char *next;
	wk_rc rc;

	if ((rc = wk_account_ensure(j)) != WK_NEXT)
		return rc;
	if ((rc = wk_order_read(j)) != WK_NEXT)
		return j->err.cls == CF_ERR_PERMANENT ? reorder(j, "the order cannot be read") : rc;
	if (j->order.status == CF_ACME_INVALID) {
		cf_err_set(&j->err, CF_ERR_PERMANENT, "order %s is invalid", j->order.url);
		cf_err_set_problem(&j->err, j->order.problem);
		return wk_err(j);
	}
	if ((next = resume_step(j, step_index(j->step))) == NULL)
		return reorder(j, "the order is past finalization but its key is gone");
	snprintf(step, sizeof(step), "%s", next); /* next may be j->step itself */
	if (strcmp(step, j->step) == 0 && strcmp(j->cl.prev_state, "running") != 0)
		return WK_NEXT; /* a planned return (a wait, a retry): nothing to tell */
	ch.step = step;
	rc = wk_write(j, &ch, "claim", false, NULL, "order %s is %s; continuing at step %s",
		      j->order.url, cf_acme_status_name(j->order.status), step);
	if (rc == WK_NEXT)
		memcpy(j->step, step, sizeof(step));
	return rc;
}

/* Loads the job and decides where it continues. */
static wk_rc job_prepare(wk_job *j)
{
	json_error_t je;
	wk_rc rc;

	j->data = json_loads(j->cl.data, 0, &je);
	if (!json_is_object(j->data)) {
		json_decref(j->data);
		j->data = json_object();
	}
	snprintf(j->step, sizeof(j->step), "%s", j->cl.step);
	if (json_object_get(j->data, "targets") == NULL)
		snprintf(j->step, sizeof(j->step), "preflight"); /* a fresh job */
	j->resumed = j->cl.ref.attempt > 1;
	if ((rc = wk_spec_load(j)) != WK_NEXT)
		return rc;
	if (step_index(j->step) < 0)
		return wk_fail(j, CF_ERR_PERMANENT, "unknown step '%s'", j->step);
	if (j->cl.order_url != NULL && step_index(j->step) >= step_index("present"))
		return resume_order(j);
	return WK_NEXT;
}

static wk_rc job_steps(wk_job *j)
{
	wk_rc rc;

	for (;;) {
		int i = step_index(j->step);

		if (i < 0)
			return wk_fail(j, CF_ERR_PERMANENT, "unknown step '%s'", j->step);
		if ((rc = wk_check(j)) != WK_NEXT)
			return rc;
		j->t0 = wk_now_ms();
		cf_log(CF_LOG_DEBUG, "job.step", "step %s", j->step);
		if ((rc = steps[i].fn(j)) != WK_NEXT)
			return rc;
		j->resumed = false; /* the next step starts in this claim */
	}
}

static void job_free(wk_job *j)
{
	for (size_t i = 0; i < j->nprovs; i++) {
		free(j->provs[i].name);
		cf_provider_settings_free(j->provs[i].settings);
	}
	wk_spec_free(j);
	cf_acme_order_free(&j->order);
	cf_key_free(j->cert_key);
	json_decref(j->data);
	cf_job_claim_free(&j->cl);
	cf_err_clear(&j->err);
}

void wk_job_run(wk_thread *w, cf_job_claim *cl)
{
	wk_job j = {.w = w};
	wk_rc rc;

	j.cl = *cl;
	memset(cl, 0, sizeof(*cl));
	wk_hold(w, &j.cl.ref);
	cf_log_set_job(j.cl.ref.id);
	cf_log(CF_LOG_INFO, "job.claimed", "certificate %s, attempt %d, step %s%s%s",
	       j.cl.certificate_id, j.cl.ref.attempt, j.cl.step,
	       j.cl.prev_owner[0] ? ", lease of " : "", j.cl.prev_owner);
	if (strcmp(j.cl.kind, "revoke") == 0)
		rc = wk_revoke_run(&j); /* revoke.c: not an issuance */
	else if ((rc = job_prepare(&j)) == WK_NEXT)
		rc = job_steps(&j);
	if (rc == WK_ERR && j.err.cls == CF_ERR_PERMANENT)
		job_fail(&j);
	else if (rc == WK_ERR)
		job_retry(&j);
	else if (rc == WK_YIELD)
		job_release(&j);
	else if (rc == WK_DONE && strcmp(j.cl.kind, "revoke") != 0)
		job_issued(&j);
	wk_unhold(w);
	cf_log_set_job(NULL);
	job_free(&j);
}
