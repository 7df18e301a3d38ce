/*
 * job.h: the runner of one claimed job (job.c), the layer above the steps and
 * below the pool: pool.c hands it each job it claims.
 */
#ifndef CERTFLEET_WORKER_JOB_H
#define CERTFLEET_WORKER_JOB_H

#include "store/jobs_worker.h"
#include "worker/thread.h"

/* Runs one claimed job to an outcome; takes ownership of cl. */
void wk_job_run(wk_thread *w, cf_job_claim *cl);

#endif
