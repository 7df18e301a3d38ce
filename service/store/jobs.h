/*
 * jobs.h: the API's side of the jobs table: queueing an issuance and reading
 * jobs with their timelines. Workers (service/worker/, store/jobs_worker*.c)
 * claim, run and finish the jobs; the API never changes a job after queueing it.
 *
 * The contract with the workers: every job is created by cf_job_insert(), state
 * queued, attempt 0, run_after now(), and announced with NOTIFY CF_JOBS_CHANNEL,
 * '<job id>' in the same statement (so, inside a transaction, the notification is
 * delivered when, and only if, the job is committed). At most one job per
 * certificate is active (queued, running or waiting): the unique index
 * jobs_one_active enforces it. States, kinds and steps: store/lifecycle.h.
 */
#ifndef CERTFLEET_STORE_JOBS_H
#define CERTFLEET_STORE_JOBS_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>

#include "store/certificates.h"
#include "store/lifecycle.h"
#include "util/err.h"
#include "store/paging.h"

/* A job to create. */
typedef struct cf_job_new {
	const char *certificate_id;
	cf_job_kind kind;
	cf_job_step step;    /* where the worker starts */
	const char *data;    /* the step state, a JSON object text; NULL: {} */
	const char *event;   /* the message of a first "schedule" event, or NULL */
} cf_job_new;

/* THE way a job is created: inserts it (queued, run_after now()) unless the
 * certificate has an active job, records the event, and sends NOTIFY
 * CF_JOBS_CHANNEL with its id, in one statement (in the caller's transaction when
 * one is open). Returns 1 with job_id set, 0 when another job is active (job_id
 * ""), -1 on error. */
CF_MUST_CHECK int cf_job_insert(PGconn *conn, const cf_job_new *nj, char job_id[CF_JOB_ID_LEN + 1],
		  cf_err *err);

/* The id of the certificate's active job: 1 with job_id set, 0 none, -1 error. */
CF_MUST_CHECK int cf_job_active_id(PGconn *conn, const char *cert_id, char job_id[CF_JOB_ID_LEN + 1],
		     cf_err *err);

/* Queues a job of kind (issue or renew) for certificate cert_id and notifies
 * the workers. Returns 1 with job_id set, 0 when another job of the certificate
 * is active (job_id names it), -1 on error. */
CF_MUST_CHECK int cf_job_enqueue(PGconn *conn, const char *cert_id, cf_job_kind kind,
		   char job_id[CF_JOB_ID_LEN + 1], cf_err *err);

/* A job as {"id","certificate","kind","state","step","attempt","created_at",
 * "updated_at","events"?:[{"at","attempt","step","message","duration_ms"?,
 * "problem"?}],"problem"?}; events are included when with_events. *out is NULL
 * when there is no such job (id must be a UUID: see cf_is_uuid). */
CF_MUST_CHECK int cf_job_get_json(PGconn *conn, const char *id, bool with_events, json_t **out, cf_err *err);


/* One page of {"jobs":[...]} without events, newest first, filtered by
 * certificate and state when those are not NULL; q's key: (created_at, id). */
CF_MUST_CHECK int cf_jobs_page_json(PGconn *conn, const char *certificate, const char *state,
				    cf_page_q *q, json_t **out, cf_err *err);
#endif
