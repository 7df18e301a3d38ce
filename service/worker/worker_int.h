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
 *   alerts.c      alerts for people: rendering, the channels, the periodic pass
 *                 (alerts.h), for the webhook sender
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
/* The job's names sorted and joined by ' ' (the duplicate_sets key); caller frees. */
char *wk_name_set(const wk_job *j);

/* ---- issuer.c: the job's issuer: pauses, budgets, fallback ---- */
/* Loads the job's issuer into j->iss (data.issuer, else the certificate's
 * first); drops the thread's client when it belongs to another issuer. */
wk_rc wk_issuer_select(wk_job *j);
/* Before a step that talks to the CA (or, reads_order, before a claim re-reads
 * its order): a paused issuer, or before newOrder an empty budget, makes the job
 * wait (WK_WAIT, written) or move to its next issuer (WK_NEXT with j->move_to
 * set: the runner moves it). WK_NEXT to go on. */
wk_rc wk_issuer_gate(wk_job *j, bool reads_order);
/* The client options of the job's issuer (directory, CA file, events). */
int wk_issuer_client_options(wk_job *j, cf_acme_options *o, cf_err *err);
/* The runner's retry path: when the CA refused (429) or failed (503, 5xx, no
 * answer), pauses the issuer for everyone and writes the job's wait (or sets
 * j->move_to for the runner): true; the same when another worker paused the
 * issuer meanwhile. false: not the CA's doing, retry as usual. */
bool wk_issuer_fault(wk_job *j);
/* The validation of name failed: a unit of its failed-authorization budget at
 * the issuer, and one more failed validation of the certificate in a row (at
 * CERTFLEET_VALIDATION_PAUSE_AFTER: j->pause_cert, the certificate is paused
 * with the job's failure). Sets j->failed_name. */
void wk_issuer_validation_failed(wk_job *j, const char *name);
/* Whether the job's issuer is paused now (no request may go to it). */
bool wk_issuer_is_paused(wk_job *j);
/* A newOrder was sent: counted in the issuer's activity; its backoff resets. */
void wk_issuer_order_sent(wk_job *j);

/* ---- the janitor, run by idle workers (pool.c) ---- */
/* steps_dns.c: cleans up to a few orphan TXT values (live, but their job is
 * finished or gone) and purges Idempotency-Key records older than 24 h; runs at
 * most every other poll interval per process. */
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
