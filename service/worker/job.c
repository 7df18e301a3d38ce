/*
 * job.c: the runner of one claimed job: load it, find where to resume
 * (resume.h), run its steps from the step table, and turn the result into the
 * job's next state. The steps are in worker_int.h; their toolkit, and wk_write(),
 * the only way a job's state changes, in step_kit.c.
 *
 * The step table says, for each persisted step, the function that runs it, the
 * step that follows, and whether the step's end is written at once. A step closes
 * itself with wk_step_done() (its event); the runner writes that event and the
 * next step in one fenced write, or holds both for the next write when the step
 * may safely run again after a crash, so the order of the steps lives in the
 * table alone.
 *
 * Outcomes: a transient error puts the job in waiting with run_after = now() +
 * a capped exponential backoff with jitter (at least the CA's Retry-After), until
 * CERTFLEET_MAX_ATTEMPTS transient failures; a permanent error (or too many
 * transient ones) deactivates the order's pending authorizations, removes every
 * TXT value and fails the job, with a summary in jobs.problem and the CA's problem
 * document verbatim in the event. A stopping process puts its job back in
 * queued so another worker resumes it at once.
 */
#include "worker/job.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "dns/alias_check.h"
#include "log.h"
#include "metrics.h"
#include "store/cert_issued.h"
#include "store/providers.h"
#include "util/clock.h"
#include "worker/resume.h"
#include "worker/worker_int.h"

/* The step table: which function runs a persisted step, the step after it
 * (CF_STEP__MAX: the step finishes the job itself), and whether its end is
 * written at once (save) or held for the job's next write: a step whose work a
 * resumed claim may safely do again (resume.h decides where it continues) needs
 * no write of its own. The writes that remain on the way to a certificate: the
 * order URL (newOrder), the values written (present), the sealed key (before
 * the CSR leaves) and the final one. Indexed by cf_job_step. */
static const struct {
	wk_step_fn fn;
	cf_job_step next;
	bool save;
} steps[CF_STEP__MAX] = {
	[CF_STEP_PREFLIGHT] = {wk_st_preflight, CF_STEP_ACCOUNT, false},
	[CF_STEP_ACCOUNT] = {wk_st_account, CF_STEP_ORDER, false},
	[CF_STEP_ORDER] = {wk_st_order, CF_STEP_PRESENT, false},
	[CF_STEP_PRESENT] = {wk_st_present, CF_STEP_PROPAGATE, true},
	[CF_STEP_PROPAGATE] = {wk_st_propagate, CF_STEP_RESPOND, false},
	[CF_STEP_RESPOND] = {wk_st_respond, CF_STEP_VALIDATE, false},
	[CF_STEP_VALIDATE] = {wk_st_validate, CF_STEP_CLEANUP, false},
	[CF_STEP_CLEANUP] = {wk_st_cleanup, CF_STEP_FINALIZE, false},
	[CF_STEP_FINALIZE] = {wk_st_finalize, CF_STEP_DOWNLOAD, false},
	[CF_STEP_DOWNLOAD] = {wk_st_download, CF_STEP__MAX, true},
	[CF_STEP_REVOKE] = {NULL, CF_STEP__MAX, true}, /* kind revoke: revoke.c, not a step */
};

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
	if (cf_random_bytes(&r, sizeof(r)) != 0)
		r = 0; /* jitter is best effort: without random bytes, none */
	d = d / 2 + (d / 2) * ((double)r / 4294967295.0);
	if (j->w->client != NULL)
		ra = cf_acme_client_retry_after_ms(j->w->client) / 1000.0;
	if (ra > d)
		d = ra < 3600 ? ra : 3600;
	return d;
}

/* A failed validation: the name, the alias check's verdict for it (what the CA
 * saw at its challenge record), and whether the certificate is now paused. */
static void failed_name_check(const wk_job *j, json_t *p)
{
	const char *names[1] = {j->failed_name};
	cf_alias_check_req req = {.names = names, .n = 1,
				  .spec = j->alias.mode != CF_ALIAS_NONE ? &j->alias : NULL,
				  .resolvers = &j->w->app->resolvers};
	json_t *out = NULL, *r;
	cf_err e = {0};

	json_object_set_new(p, "name", json_string(j->failed_name));
	if (j->pause_cert)
		json_object_set_new(p, "certificate_paused", json_true());
	if (cf_alias_check_run(&req, &out, &e) == 0 && (r = json_array_get(out, 0)) != NULL)
		json_object_set_new(p, "alias_check", json_pack(
			"{s:O, s:O, s:O}", "verdict", json_object_get(r, "verdict"), "detail",
			json_object_get(r, "detail"), "target", json_object_get(r, "target")));
	else
		json_object_set_new(p, "alias_check", json_pack("{s:s, s:s}", "verdict", "error",
								"detail", e.msg));
	json_decref(out);
	cf_err_clear(&e);
}

/* A preflight that failed with an alias: the first name whose alias check is
 * not ok, and that verdict (so the problem, and the alert, say which record is
 * missing or wrong). */
static void preflight_check(const wk_job *j, json_t *p)
{
	const char **names = cf_issue_name_ptrs(j->names, j->nnames);
	cf_alias_check_req req = {.names = names, .n = j->nnames, .spec = &j->alias,
				  .resolvers = &j->w->app->resolvers};
	json_t *out = NULL, *r;
	cf_err e = {0};
	size_t i;

	if (names != NULL && cf_alias_check_run(&req, &out, &e) == 0)
		json_array_foreach(out, i, r) {
			const char *v = json_string_value(json_object_get(r, "verdict"));

			if (v == NULL || strcmp(v, "ok") == 0)
				continue;
			json_object_set_new(p, "name", json_copy(json_object_get(r, "name")));
			json_object_set_new(p, "alias_check", json_pack(
				"{s:O, s:O, s:O}", "verdict", json_object_get(r, "verdict"),
				"detail", json_object_get(r, "detail"), "target",
				json_object_get(r, "target")));
			break;
		}
	json_decref(out);
	free(names);
	cf_err_clear(&e);
}

/* jobs.problem of a failed job: an RFC 9457-style summary, with the CA's problem
 * document (when there was one) inside. Caller frees. */
static char *problem_summary(const wk_job *j)
{
	json_t *p = json_pack("{s:s, s:s, s:s, s:s, s:i}", "type",
			      "https://certfleet.dev/problems/issuance-failed", "title",
			      "Issuance failed", "detail", j->err.msg, "step",
			      wk_step_name(j, j->err_step),
			      "attempt", j->cl.ref.attempt);
	json_t *ca = j->err.problem ? json_loads(j->err.problem, 0, NULL) : NULL;
	char *s;

	if (p != NULL && ca != NULL)
		json_object_set_new(p, "ca_problem", ca);
	else
		json_decref(ca);
	if (p != NULL && j->failed_name[0])
		failed_name_check(j, p);
	else if (p != NULL && j->err_step == CF_STEP_PREFLIGHT && j->alias.mode != CF_ALIAS_NONE)
		preflight_check(j, p);
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
	cf_job_step keep_step = j->err_step;
	char *problem = NULL;
	wk_rc rc;

	memset(&j->err, 0, sizeof(j->err));
	/* no request to a paused issuer: its authorizations then expire on their own */
	if (j->cl.order_url != NULL && wk_check(j) != WK_LOST && !wk_issuer_is_paused(j) &&
	    wk_account_ensure(j) == WK_NEXT)
		wk_deactivate(j);
	rc = wk_cleanup_values(j, false);
	cf_err_clear(&j->err);
	j->err = keep;
	j->err_step = keep_step;
	if (rc == WK_LOST)
		return;
	json_object_del(j->data, "key");
	problem = problem_summary(j);
	ch.state = CF_JOB_FAILED;
	ch.finished = true;
	ch.problem = problem;
	ch.hook = wk_failed_hook; /* cf_issued_failed_hook + the "failed" webhook event */
	ch.hook_arg = j;
	if (wk_write(j, &ch, wk_step_name(j, j->err_step), false, j->err.problem, "failed: %s",
		     j->err.msg) == WK_NEXT)
		cf_log(CF_LOG_WARN, "job.failed", "step %s: %s", wk_step_name(j, j->err_step),
		       j->err.msg);
	free(problem);
}

/* Leaves the current issuer for j->move_to (issuer.c found the wait too long):
 * the old order's authorizations released (unless that issuer is paused: no
 * request goes to it), its TXT values removed; the job goes on at step account
 * with the new issuer and makes a new order there. */
static wk_rc job_move(wk_job *j)
{
	cf_job_change ch = CF_JOB_KEEP;
	char from[64], to[64], left[48] = "";
	double paused_s = 0;
	PGconn *db;
	wk_rc rc;

	snprintf(from, sizeof(from), "%s", j->iss.name);
	snprintf(to, sizeof(to), "%s", j->move_to);
	j->move_to[0] = '\0';
	if ((db = wk_db(j)) == NULL)
		return wk_db_err(j);
	if (j->cl.order_url != NULL) {
		if (cf_issuer_paused(db, from, &paused_s, NULL, 0, &j->err) < 0)
			return wk_db_err(j);
		if (paused_s > 0)
			snprintf(left, sizeof(left), "; its authorizations left to expire");
		else if (wk_account_ensure(j) == WK_NEXT)
			wk_deactivate(j); /* cf_acme_authz_release of each authorization */
		cf_err_clear(&j->err);
	}
	if ((rc = wk_cleanup_values(j, false)) != WK_NEXT)
		return rc;
	json_object_del(j->data, "challenges");
	json_object_del(j->data, "key");
	json_object_del(j->data, "replaces"); /* a certID of the old CA */
	json_object_del(j->data, "wait_since");
	json_object_set_new(j->data, "issuer", json_string(to));
	ch.step = CF_STEP_ACCOUNT;
	ch.order_url = "";
	if ((rc = wk_write(j, &ch, "fallback", false, NULL, "%s; moving from issuer %s to %s%s",
			   j->move_why, from, to, left)) != WK_NEXT)
		return rc;
	free(j->cl.order_url);
	j->cl.order_url = NULL;
	cf_acme_order_free(&j->order);
	cf_log(CF_LOG_WARN, "issuer.fallback", "certificate %s: moving from %s to %s",
	       j->cl.certificate_id, from, to);
	return wk_issuer_select(j);
}

static void job_retry(wk_job *j)
{
	cf_job_change ch = CF_JOB_KEEP;
	int n = j->cl.failures + 1, max = j->w->app->cfg->max_attempts;
	double d;

	if (wk_issuer_fault(j)) {
		/* the CA refused or failed: its issuer is paused, the job waits, or moves
		 * to its next issuer and is queued for it at once */
		if (j->move_to[0] && job_move(j) == WK_NEXT) {
			ch.state = CF_JOB_QUEUED;
			ch.run_after_s = 0;
			ch.notify = true;
			wk_write(j, &ch, "fallback", false, NULL, "queued for issuer %s",
				 j->iss.name);
		}
		return;
	}
	if (n >= max) {
		char msg[sizeof(j->err.msg)];

		snprintf(msg, sizeof(msg), "%s", j->err.msg);
		snprintf(j->err.msg, sizeof(j->err.msg), "gave up after %d transient failures; "
			 "the last: %.900s", n, msg);
		job_fail(j);
		return;
	}
	d = backoff_s(j, n);
	ch.state = CF_JOB_WAITING;
	ch.run_after_s = d;
	ch.failures = n;
	if (wk_write(j, &ch, wk_step_name(j, j->err_step), false, j->err.problem,
		     "transient failure %d of %d, retrying in %.1f s: %s", n, max, d,
		     j->err.msg) == WK_NEXT)
		cf_log(CF_LOG_INFO, "job.retry", "step %s, retry in %.1f s: %s",
		       wk_step_name(j, j->err_step), d,
		       j->err.msg);
}

/* The process stops: the job goes back to the queue, to be resumed at once. */
static void job_release(wk_job *j)
{
	cf_job_change ch = CF_JOB_KEEP;

	ch.state = CF_JOB_QUEUED;
	ch.run_after_s = 0;
	ch.notify = true;
	wk_write(j, &ch, wk_step_name(j, j->step), false, NULL,
		 "released: %s is stopping; another worker resumes at step %s", j->w->owner,
		 wk_step_name(j, j->step));
}

/* The issuance histogram of /metrics: from the job's creation to now. */
static void job_issued(const wk_job *j)
{
	cf_metrics_issue_observe(cf_clock_real_s() - j->cl.created_at);
	cf_log(CF_LOG_INFO, "job.issued", "certificate %s issued (%s)", j->cl.certificate_id,
	       cf_job_kind_name(j->cl.kind));
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
	if ((rc = wk_cleanup_values(j, false)) != WK_NEXT)
		return rc;
	json_object_del(j->data, "challenges");
	json_object_del(j->data, "key");
	json_object_set_new(j->data, "reorders", json_integer(n + 1));
	ch.step = CF_STEP_ORDER;
	ch.order_url = "";
	if ((rc = wk_write(j, &ch, cf_job_step_name(CF_STEP_ORDER), false, NULL,
			   "%s: making a new order", why)) == WK_NEXT) {
		free(j->cl.order_url);
		j->cl.order_url = NULL;
	}
	return rc;
}

/* After a claim that continues an order: re-read it and apply wk_resume_decide. */
static wk_rc resume_order(wk_job *j)
{
	cf_job_change ch = CF_JOB_KEEP;
	wk_resume r;
	wk_rc rc;

	if ((rc = wk_account_ensure(j)) != WK_NEXT)
		return rc;
	if ((rc = wk_order_read(j)) != WK_NEXT)
		return j->err.cls == CF_ERR_PERMANENT ? reorder(j, "the order cannot be read") : rc;
	r = wk_resume_decide(j->step, j->order.status,
			     json_object_get(j->data, "key") != NULL);
	if (r.action == WK_RESUME_FAIL) {
		cf_err_set(&j->err, CF_ERR_PERMANENT, "order %s is invalid", j->order.url);
		cf_err_set_problem(&j->err, j->order.problem);
		return wk_err(j);
	}
	if (r.action == WK_RESUME_REORDER)
		/* the message predates the statuses beyond the five of RFC 8555's order
		 * (deactivated, expired...), which take this path too */
		return reorder(j, "the order is past finalization but its key is gone");
	if (r.step == j->step && j->cl.prev_state != CF_JOB_RUNNING)
		return WK_NEXT; /* a planned return (a wait, a retry): nothing to tell */
	ch.step = r.step;
	return wk_write(j, &ch, "claim", false, NULL, "order %s is %s; continuing at step %s",
			j->order.url, cf_acme_status_name(j->order.status),
			cf_job_step_name(r.step));
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
	j->step = j->cl.step;
	if (json_object_get(j->data, "targets") == NULL)
		j->step = CF_STEP_PREFLIGHT; /* a fresh job */
	j->resumed = j->cl.ref.attempt > 1;
	if ((rc = wk_spec_load(j)) != WK_NEXT)
		return rc;
	if (j->step >= CF_STEP__MAX || steps[j->step].fn == NULL)
		return wk_fail(j, CF_ERR_PERMANENT, "unknown step '%s'", wk_step_name(j, j->step));
	if (wk_resume_reads_order(j->step, j->cl.order_url != NULL)) {
		/* no request to a paused issuer; a move to the next drops the order */
		if ((rc = wk_issuer_gate(j, true)) != WK_NEXT)
			return rc;
		if (j->move_to[0])
			return job_move(j);
		return resume_order(j);
	}
	return WK_NEXT;
}

/* Closes the step that just ended: its event and the step after it, written at
 * once (*saved) or held for the next write (steps[].save). */
static wk_rc step_next(wk_job *j, bool *saved)
{
	cf_job_change ch = CF_JOB_KEEP;
	const char *ev = j->end.ev_step ? j->end.ev_step : cf_job_step_name(j->step);
	wk_rc rc;

	*saved = steps[j->step].save;
	if (!j->end.set || steps[j->step].next >= CF_STEP__MAX)
		return wk_fail(j, CF_ERR_PERMANENT, "step %s ended without a next step",
			       cf_job_step_name(j->step));
	if (!*saved) {
		if ((rc = wk_note(j, ev, true, "%s", j->end.msg)) != WK_NEXT)
			return rc;
		if (j->end.account_id > 0)
			j->unsaved_account_id = j->end.account_id;
		j->step = steps[j->step].next;
		j->step_unsaved = true;
		return WK_NEXT;
	}
	ch.step = steps[j->step].next;
	ch.account_id = j->end.account_id;
	return wk_write(j, &ch, ev, true, NULL, "%s", j->end.msg);
}

static wk_rc job_steps(wk_job *j)
{
	bool saved;
	wk_rc rc;

	for (;;) {
		if (j->step >= CF_STEP__MAX || steps[j->step].fn == NULL)
			return wk_fail(j, CF_ERR_PERMANENT, "unknown step '%s'",
				       wk_step_name(j, j->step));
		if ((rc = wk_check(j)) != WK_NEXT)
			return rc;
		if ((rc = wk_issuer_gate(j, false)) != WK_NEXT)
			return rc;
		if (j->move_to[0]) {
			if ((rc = job_move(j)) != WK_NEXT)
				return rc;
			continue; /* at step account of the next issuer */
		}
		j->t0 = cf_clock_mono_ms();
		memset(&j->end, 0, sizeof(j->end));
		cf_log(CF_LOG_DEBUG, "job.step", "step %s", cf_job_step_name(j->step));
		if ((rc = steps[j->step].fn(j)) != WK_NEXT || (rc = step_next(j, &saved)) != WK_NEXT)
			return rc;
		/* the claim's own progress is saved: what follows was not started before;
		 * until then a resumed claim may be doing again what the last one did */
		if (saved)
			j->resumed = false;
	}
}

static void job_free(wk_job *j)
{
	for (size_t i = 0; i < j->nprovs; i++) {
		free(j->provs[i].name);
		cf_provider_settings_free(j->provs[i].settings);
	}
	wk_spec_free(j);
	wk_notes_free(j);
	cf_acme_order_free(&j->order);
	cf_issuer_free(&j->iss);
	cf_key_free(j->cert_key);
	cf_secret_free(j->cert_key_pem);
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
	       j.cl.certificate_id, j.cl.ref.attempt, j.cl.step_name,
	       j.cl.prev_owner[0] ? ", lease of " : "", j.cl.prev_owner);
	if (j.cl.kind == CF_JOB_KIND_REVOKE)
		rc = wk_revoke_run(&j); /* revoke.c: not an issuance */
	else if ((rc = job_prepare(&j)) == WK_NEXT)
		rc = job_steps(&j);
	if (rc == WK_ERR && j.err.cls == CF_ERR_PERMANENT)
		job_fail(&j);
	else if (rc == WK_ERR)
		job_retry(&j);
	else if (rc == WK_YIELD)
		job_release(&j);
	else if (rc == WK_DONE && j.cl.kind != CF_JOB_KIND_REVOKE)
		job_issued(&j);
	wk_unhold(w);
	cf_log_set_job(NULL);
	job_free(&j);
}
