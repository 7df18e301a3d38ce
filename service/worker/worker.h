/*
 * worker.h: the issuance worker pool of `certfleet serve`.
 *
 * CERTFLEET_WORKERS threads per process claim jobs from PostgreSQL (see
 * store/jobs_worker.h) and run each as a persisted state machine that any worker
 * of any replica can resume (worker_int.h describes the steps). Besides the
 * workers the pool runs a listener thread (LISTEN CF_JOBS_CHANNEL on its own
 * connection (store/listen.h): a NOTIFY wakes the idle workers; they poll every
 * CERTFLEET_POLL_SECONDS anyway) and a lease keeper thread that renews the lease
 * of every job this process holds and tells a worker when its job was taken over.
 *
 * Only workers call the CA and DNS providers; HTTP threads never do.
 */
#ifndef CERTFLEET_WORKER_H
#define CERTFLEET_WORKER_H

#include "app.h"
#include "util/err.h"

typedef struct cf_workers cf_workers;

/* Starts app->cfg->workers workers (the app must outlive the pool). Returns the
 * pool, or NULL with err (nothing left running). */
cf_workers *cf_workers_start(cf_app *app, cf_err *err);

/* Asks every worker to finish or release its current step; returns at once. */
void cf_workers_request_stop(cf_workers *w);

/* Stops the pool: waits until every worker is done or grace_s seconds have passed
 * since cf_workers_request_stop() (or now). A job still running then is released
 * (its lease expires now, so another replica resumes it) and its thread is left
 * behind. Returns the number of threads left behind: 0 means the pool is freed;
 * otherwise the caller must end the process without freeing what the pool uses
 * (the app, libcurl), e.g. with _exit(). NULL is fine (returns 0). */
int cf_workers_stop(cf_workers *w, int grace_s);

#endif
