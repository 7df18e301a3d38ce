/*
 * thread.h: one worker thread as the layers above it see it: its identity (the
 * lease owner), its own PostgreSQL connection, its ACME account and client kept
 * across jobs, and the job it holds (read by the lease keeper).
 *
 * The bottom layer of service/worker/: thread.c includes nothing else of the
 * worker; step_kit.c, the steps, job.c and pool.c build on it.
 *
 *   thread.h   <- step_kit.h <- worker_int.h (the steps) <- job.h <- pool.c
 */
#ifndef CERTFLEET_WORKER_THREAD_H
#define CERTFLEET_WORKER_THREAD_H

#include <libpq-fe.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "acme/acme.h"
#include "app.h"
#include "store/acme_accounts.h"
#include "store/jobs_worker.h"
#include "util/err.h"
#include "util/waiter.h"
#include "worker/worker.h"

/* One worker thread; lives as long as the pool. */
typedef struct wk_thread {
	cf_workers *pool; /* opaque here: only pool.c looks inside */
	const cf_app *app;
	cf_waiter *stop;  /* the pool's: stopped when the process stops */
	int idx;
	char owner[128]; /* "<host>:<pid>:<random>/w<idx>", the lease owner */
	pthread_t th;
	bool started;
	atomic_bool exited;
	PGconn *db;      /* the worker's own connection; NULL until needed */
	/* the ACME account and client, kept across jobs of the same issuer (named
	 * here; a job of another issuer drops them: wk_thread_acme_drop) */
	cf_account_row acct;
	cf_acme_client *client;
	char issuer[64];
	char *ca_path;          /* the issuer's CA PEM written to a file, or NULL */
	bool ca_transport_failed; /* the client's last HTTP exchange got no answer */
	double ca_sent_mono;      /* when it was sent (cf_clock_mono_s) */
	unsigned orders_sent;     /* by this thread: every WK_PRUNE_EVERY, a prune */
	/* the job held, for the lease keeper */
	pthread_mutex_t mu;
	cf_job_ref held;
	bool holding;
	atomic_bool lost;
} wk_thread;

/* The thread's own connection, (re)connected when needed; NULL with err (may be
 * NULL). */
PGconn *wk_thread_db(wk_thread *w, cf_err *err);
/* Drops the thread's connection (after it broke). */
void wk_thread_db_drop(wk_thread *w);
/* Drops the thread's ACME client, account and issuer (another issuer's job, or
 * the thread ends). */
void wk_thread_acme_drop(wk_thread *w);
/* Publishes the job held by the thread to the lease keeper (clearing `lost`), or
 * none. */
void wk_hold(wk_thread *w, const cf_job_ref *ref);
void wk_unhold(wk_thread *w);
/* Copies the job held into *ref: true when there is one. */
bool wk_held(wk_thread *w, cf_job_ref *ref);
/* The process is stopping: release the job. */
bool wk_thread_stopping(const wk_thread *w);

#endif
