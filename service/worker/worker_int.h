/*
 * worker_int.h: the inside of the worker pool, shared by its files:
 *
 *   pool.c        threads: workers, the NOTIFY listener, the lease keeper, start
 *                 and stop
 *   job.c         running one claimed job: loading it, resuming it, the step loop,
 *                 and its outcomes (retry with backoff, failure, waiting, release);
 *                 wk_write(), the worker's only way to change job state
 *   spec.c        the certificate row as an issuance: names, alias map, providers
 *   steps_order.c preflight, account, order (+ authorizations)
 *   steps_dns.c   present (TXT budget), propagate, cleanup; provider settings;
 *                 the janitor of orphan TXT values
 *   steps_cert.c  respond, validate, finalize, download + store
 *   revoke.c      a revocation job (kind 'revoke'): revokeCert, then done
 *   webhooks.c    the webhook sender thread, and the job outcomes as events
 *   scheduler.c   the renewal scheduler thread (fleet.h)
 *
 * The persisted steps, in order (jobs.step; event names as in issue/engine.c):
 *   preflight -> account -> order -> present -> propagate -> respond -> validate
 *   -> cleanup -> finalize -> download (download + store commit the version)
 * Step state lives in jobs.data (JSON):
 *   targets    [{record, target, provider, names[]}]  from the preflight
 *   challenges [{name, authz, chall, fqdn, value, provider}]  pending at ordering
 *   key        the certificate key, sealed (aad "jobs:<id>:certificate_key"),
 *              from finalize until the version is stored (then removed)
 *   reorders   new orders made because the old one could not be continued
 *
 * A step function returns a wk_rc. On WK_NEXT it has written the transition to
 * the next step (wk_advance); on WK_ERR, j->err holds the error and the runner
 * retries (transient) or fails the job (permanent).
 */
#ifndef CERTFLEET_WORKER_INT_H
#define CERTFLEET_WORKER_INT_H

#include <jansson.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "acme/acme.h"
#include "app.h"
#include "issue/common.h"
#include "providers/provider.h"
#include "store/acme_accounts.h"
#include "store/jobs_worker.h"
#include "worker/worker.h"

#define WK_MAX_PROVIDERS 16
#define WK_CHUNK_S 2          /* longest uninterrupted wait inside a step */
#define WK_VALIDATE_S 300     /* validation / finalization deadline per claim */
#define WK_BUDGET_WAIT_S 1.0  /* re-check of a full TXT budget (plus jitter) */
#define WK_PROVIDER_TIMEOUT_MS 10000

typedef enum wk_rc {
	WK_NEXT = 0, /* the step is done and the next one recorded */
	WK_DONE,     /* the job reached a final state (written) */
	WK_WAIT,     /* the job waits (written), e.g. for the TXT budget */
	WK_ERR,      /* failed: j->err (transient: retry; permanent: fail the job) */
	WK_LOST,     /* the job was taken over: touch nothing more */
	WK_YIELD,    /* the process is stopping: release the job */
} wk_rc;

/* One worker thread; lives as long as the pool. */
typedef struct wk_thread {
	cf_workers *pool;
	const cf_app *app;
	int idx;
	char owner[128]; /* "<host>:<pid>:<random>/w<idx>", the lease owner */
	pthread_t th;
	bool started;
	atomic_bool exited;
	PGconn *db;      /* the worker's own connection; NULL until needed */
	/* the ACME account and client, kept across jobs */
	cf_account_row acct;
	cf_acme_client *client;
	/* the job held, for the lease keeper */
	pthread_mutex_t mu;
	cf_job_ref held;
	bool holding;
	atomic_bool lost;
} wk_thread;

typedef struct wk_provider {
	char *name;
	const cf_provider_ops *ops;
	json_t *settings; /* unsealed: released with cf_provider_settings_free */
} wk_provider;

/* One claimed job, for the duration of the claim. */
typedef struct wk_job {
	wk_thread *w;
	cf_job_claim cl;       /* ref (the fence), certificate id, ... (owned) */
	char step[24];         /* the persisted step */
	json_t *data;          /* the persisted step state */
	cf_job_cert cert;      /* the certificate row */
	cf_issue_name *names;  /* normalised, in the order of cert.domains */
	size_t nnames;
	const char **prov_of;  /* provider name per name (borrowed from cert.provider) */
	cf_alias_spec alias;
	cf_key_type key_type;
	wk_provider provs[WK_MAX_PROVIDERS];
	size_t nprovs;
	cf_acme_order order;   /* when read in this claim */
	bool resumed;          /* the step was started by an earlier attempt */
	cf_key *cert_key;
	long long t0;          /* start of the current step, ms */
	cf_err err;
	char err_step[24];     /* the step that failed */
} wk_job;

typedef wk_rc (*wk_step_fn)(wk_job *j);

/* ---- job.c ---- */
long long wk_now_ms(void);
/* Checks the stop flag and the lost flag: WK_NEXT to go on, WK_YIELD or WK_LOST. */
wk_rc wk_check(wk_job *j);
/* Sets j->err (class, message) for the current step; returns WK_ERR. */
wk_rc wk_fail(wk_job *j, cf_err_class cls, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Marks the error already in j->err as belonging to the current step: WK_ERR. */
wk_rc wk_err(wk_job *j);
/* Writes ch (NULL: none; data is always written) with one event of step ev_step
 * (duration since j->t0 when timed), fenced. WK_NEXT, WK_LOST or WK_ERR. */
wk_rc wk_write(wk_job *j, cf_job_change *ch, const char *ev_step, bool timed,
	       const char *problem, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
/* Moves to step next, recording an event of ev_step with the step's duration. */
wk_rc wk_advance(wk_job *j, const char *next, const char *ev_step, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* The thread's database connection (reconnects), or NULL with j->err set. */
PGconn *wk_db(wk_job *j);
/* Records a database error into j->err as transient (retried); drops the
 * thread's connection when it is lost (cf_db_lost). */
wk_rc wk_db_err(wk_job *j);
/* Runs one claimed job to an outcome; takes ownership of cl. */
void wk_job_run(wk_thread *w, cf_job_claim *cl);

/* ---- spec.c ---- */
/* Loads the certificate of the job into names, alias spec, providers, key type. */
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
 * success and failure, and records a "cleanup" event (moving to step next when not
 * NULL). A value that cannot be removed is recorded on its row (the janitor tries
 * again later), not returned. WK_LOST when taken over; WK_ERR on database errors. */
wk_rc wk_cleanup_values(wk_job *j, const char *next);
/* The provider called name (settings unsealed once per claim), or NULL (err). */
const wk_provider *wk_provider_get(wk_job *j, const char *name, cf_err *err);
/* steps_cert.c: deactivates the authorizations listed in data.challenges
 * (releasing a failed order's pending authorizations). */
void wk_deactivate(wk_job *j);

/* ---- pool.c ---- */
bool wk_pool_stopping(const cf_workers *pool);
/* The thread's own connection, (re)connected when needed; NULL with err. */
PGconn *wk_thread_db(wk_thread *w, cf_err *err);
/* Drops the thread's connection (after it broke). */
void wk_thread_db_drop(wk_thread *w);
/* Publishes the job held by the thread to the lease keeper, or none. */
void wk_hold(wk_thread *w, const cf_job_ref *ref);
void wk_unhold(wk_thread *w);
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
