/*
 * resume.h: where a claimed issuance job continues, as a pure function of what
 * was persisted and what the CA says, so that the rule that must never be wrong
 * has a table of tests (tests/unit/test_worker_resume.c).
 *
 * A job is resumed against its order only when it has one (jobs.order_url) and
 * its persisted step is present or later: the steps before present are re-run
 * as they are (order, with an order URL, reads that order instead of making a
 * new one). Otherwise job.c reads the order first (after ensuring the account):
 * a transient read error is retried later, a permanent one (the CA forgot the
 * order) makes a new order; then wk_resume_decide() picks the action from the
 * order's status.
 */
#ifndef CERTFLEET_WORKER_RESUME_H
#define CERTFLEET_WORKER_RESUME_H

#include <stdbool.h>

#include "acme/acme.h"
#include "store/lifecycle.h"

typedef enum wk_resume_action {
	WK_RESUME_RUN = 0, /* run step (the persisted one or another) */
	WK_RESUME_REORDER, /* make a new order (at most once per job), then run order */
	WK_RESUME_FAIL,    /* the order is invalid: the job fails (permanent) */
} wk_resume_action;

typedef struct wk_resume {
	wk_resume_action action;
	cf_job_step step; /* WK_RESUME_RUN: where to continue */
} wk_resume;

/* True when the job continues an order and must read it before deciding. */
bool wk_resume_reads_order(cf_job_step persisted, bool has_order);

/* The decision for a job at step persisted (present or later) whose order is in
 * status, has_key telling whether jobs.data holds the sealed certificate key:
 *   pending      steps up to validate stay; later ones go back to respond
 *   ready        steps before cleanup go on at cleanup; later ones stay
 *   processing,
 *   valid        with the key: steps before finalize go on at finalize, later
 *                ones stay; without it: a new order (the certificate could not
 *                be used)
 *   invalid      the job fails
 *   any other    a new order */
wk_resume wk_resume_decide(cf_job_step persisted, cf_acme_status status, bool has_key);

#endif
