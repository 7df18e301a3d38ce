/*
 * jobs_worker.h: the job queue as the workers see it, in PostgreSQL.
 *
 *  - cf_jobs_claim() takes one runnable job with FOR UPDATE SKIP LOCKED: queued or
 *    waiting with run_after <= now(), or running with an expired lease (its worker
 *    died). It sets state running, the lease (owner, now() + lease) and
 *    attempt = attempt + 1, and records a "claim" event, in one statement, which
 *    also returns the certificate row the job issues and whether more jobs are
 *    runnable.
 *  - cf_job_write() is THE writer of a claimed job's state: every later change
 *    (step, data, order URL, state, problem, run_after...) and every event goes
 *    through it, as one statement (several events in one INSERT), fenced by (id,
 *    attempt): a worker whose job was claimed again (its lease expired) updates 0
 *    rows and is told it lost the job. A hook runs more statements in the same
 *    transaction (the issued certificate): only then is there a BEGIN / COMMIT.
 *  - cf_job_renew() only extends the lease of a job still held (same fence).
 *
 * Functions return -1 with err on database errors; cf_db_lost(c) then tells
 * whether the connection itself is gone.
 */
#ifndef CERTFLEET_STORE_JOBS_WORKER_H
#define CERTFLEET_STORE_JOBS_WORKER_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>

#include "store/lifecycle.h"
#include "util/err.h"

/* The managed certificate a job issues. */
typedef struct cf_job_cert {
	char **domains;    /* as stored */
	size_t ndomains;
	json_t *dns_alias; /* null | "auto" | "fqdn" | {name: fqdn} */
	json_t *provider;  /* "name" | {name: provider} */
	char key_type[16];
	json_t *issuers;   /* ["name", ...]: in the order they are tried */
	char profile[72];  /* "" when none (the issuer's default) */
} cf_job_cert;

/* A claimed job: the fence of every write. */
typedef struct cf_job_ref {
	char id[40];
	int attempt;
} cf_job_ref;

typedef struct cf_job_claim {
	cf_job_ref ref;
	char certificate_id[72];
	cf_job_step step;     /* CF_STEP__MAX when step_name names no step */
	char step_name[24];   /* as stored */
	cf_job_state prev_state; /* queued, waiting, or running (a lease that expired) */
	char prev_owner[128]; /* the expired lease's owner, "" when none */
	char *order_url;      /* NULL until newOrder */
	char *data;           /* the step state, JSON text */
	long long account_id; /* 0 = none yet */
	int failures;         /* transient failures so far */
	cf_job_kind kind;     /* CF_JOB_KIND__MAX when the row names no kind */
	double created_at;    /* when the job was queued, epoch seconds */
	cf_job_cert cert;     /* the certificate the job issues, read with the claim */
	int cert_found;       /* 1 read, 0 deleted, -1 unreadable row */
	bool more;            /* another job was runnable at the claim */
} cf_job_claim;

/* Claims the most overdue runnable job for owner with a lease of lease_s seconds.
 * Returns 1 with out filled (free with cf_job_claim_free), 0 when none is runnable,
 * -1 on error. */
CF_MUST_CHECK int cf_jobs_claim(PGconn *c, const char *owner, int lease_s, cf_job_claim *out, cf_err *err);
void cf_job_claim_free(cf_job_claim *cl);

/* One entry of the job's timeline. problem is a JSON text kept as is (a CA problem
 * document), or NULL; text that is not JSON is stored as a JSON string. */
typedef struct cf_job_event {
	const char *step;
	const char *message;
	long duration_ms; /* < 0: none */
	const char *problem;
	long long ago_ms; /* it happened this long before the write (0: now) */
} cf_job_event;

/* More statements inside cf_job_write()'s transaction, after the fenced update. */
typedef int (*cf_job_hook)(PGconn *c, const cf_job_ref *job, void *arg, cf_err *err);

/* A change of a claimed job; NULL / negative fields stay as they are. */
typedef struct cf_job_change {
	cf_job_state state;     /* CF_JOB_STATE__MAX: unchanged (running) */
	cf_job_step step;       /* CF_STEP__MAX: unchanged */
	const char *data;       /* the whole step state, JSON text */
	const char *order_url;  /* "" clears it (a new order will be made) */
	long long account_id;   /* 0: unchanged */
	double run_after_s;     /* < 0: unchanged; else run_after = now() + this */
	const char *problem;    /* jobs.problem, JSON text */
	int failures;           /* < 0: unchanged */
	bool finished;          /* finished_at = now() */
	bool expire_lease;      /* lease_expires_at = now(): another worker may resume */
	bool notify;            /* NOTIFY CF_JOBS_CHANNEL with the change */
	cf_job_hook hook;
	void *hook_arg;
} cf_job_change;

/* An unchanged job: use as `cf_job_change ch = CF_JOB_KEEP;` then set fields. */
#define CF_JOB_KEEP                                                                 \
	((cf_job_change){.state = CF_JOB_STATE__MAX, .step = CF_STEP__MAX, .run_after_s = -1, \
			 .failures = -1})

/* Applies ch (may be NULL: events only) and records nev events in order, fenced by
 * (job->id, job->attempt, state running), atomically (one statement; a
 * transaction when ch has a hook). Returns 0 when
 * written, 1 when the job is no longer held by this attempt (nothing written), -1 on
 * error (nothing written). Leaving state running clears the lease. */
CF_MUST_CHECK int cf_job_write(PGconn *c, const cf_job_ref *job, const cf_job_change *ch,
		 const cf_job_event *ev, size_t nev, cf_err *err);

/* Extends the lease to now() + lease_s. Returns 0, 1 when lost, -1 on error. */
CF_MUST_CHECK int cf_job_renew(PGconn *c, const cf_job_ref *job, int lease_s, cf_err *err);

/* Seconds until the next queued or waiting job is due, or the next lease expires
 * (0 when that is now), at most max_s; max_s when there is none; -1 on error. */
double cf_jobs_next_due(PGconn *c, double max_s, cf_err *err);

/* Frees a certificate row read by the claim (and zeroes it). */
void cf_job_cert_free(cf_job_cert *jc);

#endif
