/*
 * worker_int.h: the steps of an issuance job, and what they share, for the files
 * of service/worker/. The layers, each including only those below it:
 *
 *   thread.c      a worker thread: its connection, the job it holds (thread.h)
 *   step_kit.c    the steps' toolkit: check, fail, write, close a step (step_kit.h)
 *   spec.c        the certificate row as an issuance: names, alias map, providers
 *   steps_order.c preflight, account, order (+ authorizations)
 *   steps_dns.c   present (TXT budget), propagate, cleanup; provider settings;
 *                 the janitor of orphan TXT values
 *   steps_cert.c  respond, validate, finalize, download + store
 *   revoke.c      a revocation job (kind revoke): revokeCert, then done
 *   webhooks.c    the job outcomes as webhook events; the webhook sender thread
 *   resume.c      where a resumed job continues (pure: resume.h)
 *   job.c         the runner of one claimed job: its step table (step -> function
 *                 -> next step), resuming, and the outcomes (job.h)
 *   pool.c        threads: workers, the NOTIFY listener, the lease keeper, start
 *                 and stop
 *   scheduler.c   the renewal scheduler thread (fleet.h)
 *
 * The persisted steps, in order (jobs.step; names in store/lifecycle.h):
 *   preflight -> account -> order -> present -> propagate -> respond -> validate
 *   -> cleanup -> finalize -> download (download + store commit the version)
 * Step state lives in jobs.data (JSON):
 *   targets    [{record, target, provider, names[]}]  from the preflight
 *   challenges [{name, authz, chall, fqdn, value, provider}]  pending at ordering
 *   key        the certificate key, sealed (aad "jobs:<id>:certificate_key"),
 *              from finalize until the version is stored (then removed)
 *   reorders   new orders made because the old one could not be continued
 */
#ifndef CERTFLEET_WORKER_INT_H
#define CERTFLEET_WORKER_INT_H

#include "worker/step_kit.h"

/* ---- spec.c ---- */
/* Takes the certificate row the claim read (j->cl.cert) into j->cert, and reads it
 * as names, alias spec, providers, key type. */
wk_rc wk_spec_load(wk_job *j);
void wk_spec_free(wk_job *j);
/* The plan of data.targets with indexes into j->names; -1 when it does not fit. */
int wk_plan_from_data(const wk_job *j, cf_alias_plan *plan);
/* The provider name of a target's first name. */
const char *wk_target_provider(const wk_job *j, const cf_challenge_target *t);

/* ---- steps ---- */
wk_rc wk_st_preflight(wk_job *j);
wk_rc wk_st_account(wk_job *j);
wk_rc wk_st_order(wk_job *j);
wk_rc wk_st_present(wk_job *j);
wk_rc wk_st_propagate(wk_job *j);
wk_rc wk_st_respond(wk_job *j);
wk_rc wk_st_validate(wk_job *j);
wk_rc wk_st_cleanup(wk_job *j);
wk_rc wk_st_finalize(wk_job *j);
wk_rc wk_st_download(wk_job *j);

/* steps_order.c: the thread's ACME client for the job's account (registers the
 * account when needed). */
wk_rc wk_account_ensure(wk_job *j);
/* Re-reads the job's order into j->order; WK_ERR on failure. */
wk_rc wk_order_read(wk_job *j);
/* steps_dns.c: removes every live TXT value of the job, the cleanup of both
 * success and failure, and records a "cleanup" event (as_step: closes the step
 * with it, wk_step_done; else holds it, wk_note, for the caller's next write,
 * when there were values). A value that
 * cannot be removed is recorded on its row (the janitor tries again later), not
 * returned. WK_LOST when taken over; WK_ERR on database errors. */
wk_rc wk_cleanup_values(wk_job *j, bool as_step);
/* The provider called name (settings unsealed once per claim), or NULL (err). */
const wk_provider *wk_provider_get(wk_job *j, const char *name, cf_err *err);
/* steps_cert.c: deactivates the authorizations listed in data.challenges
 * (releasing a failed order's pending authorizations). */
void wk_deactivate(wk_job *j);

/* ---- the janitor, run by idle workers (pool.c) ---- */
/* steps_dns.c: cleans up to a few orphan TXT values (live, but their job is
 * finished or gone); runs at most every other poll interval per process. */
void wk_janitor(wk_thread *w);

/* ---- revoke.c: a job of kind 'revoke' (instead of the issuance steps) ---- */
/* Revokes the version named in data at the CA (signed by the account key) and
 * finishes the job (state done) with cf_revoked_hook. WK_DONE, or WK_ERR/LOST/YIELD
 * as a step would return. */
wk_rc wk_revoke_run(wk_job *j);

/* ---- webhooks.c: the job outcomes as webhook events, in the final transaction ---- */
struct cf_issued;
typedef struct wk_issued_arg {
	wk_job *j;
	struct cf_issued *in;
} wk_issued_arg;
/* cf_issued_version_hook, then the "issued" event. arg: wk_issued_arg *. */
int wk_issued_hook(PGconn *c, const cf_job_ref *job, void *arg, cf_err *err);
/* cf_issued_failed_hook, then the "failed" event. arg: the wk_job *. */
int wk_failed_hook(PGconn *c, const cf_job_ref *job, void *arg, cf_err *err);

#endif
