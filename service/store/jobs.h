/*
 * jobs.h: the API's side of the jobs table: queueing an issuance and reading
 * jobs with their timelines. Workers (service/worker/, store/jobs_worker*.c)
 * claim, run and finish the jobs; the API never changes a job after queueing it.
 *
 * The contract with the workers: a new job is inserted with state 'queued', step
 * 'account', attempt 0, run_after now(), and announced with
 * NOTIFY certfleet_jobs, '<job id>' in the same transaction (so the notification
 * is delivered when, and only if, the job is committed). At most one job per
 * certificate is active (queued, running or waiting): the unique index
 * jobs_one_active enforces it.
 */
#ifndef CERTFLEET_STORE_JOBS_H
#define CERTFLEET_STORE_JOBS_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>

#include "store/certificates.h"
#include "util/err.h"

/* true for queued running waiting issued failed. */
bool cf_job_state_valid(const char *s);

/* Queues a job of kind ("issue" or "renew") for certificate cert_id and notifies
 * the workers. Returns 1 with job_id set, 0 when another job of the certificate
 * is active (job_id names it), -1 on error. */
int cf_job_enqueue(PGconn *conn, const char *cert_id, const char *kind,
		   char job_id[CF_JOB_ID_LEN + 1], cf_err *err);

/* A job as {"id","certificate","kind","state","step","attempt","created_at",
 * "updated_at","events"?:[{"at","attempt","step","message","duration_ms"?,
 * "problem"?}],"problem"?}; events are included when with_events. *out is NULL
 * when there is no such job (id must be a UUID: see cf_is_uuid). */
int cf_job_get_json(PGconn *conn, const char *id, bool with_events, json_t **out, cf_err *err);

/* {"jobs":[...]} without events, newest first, at most limit, filtered by
 * certificate and state when those are not NULL. */
int cf_jobs_list_json(PGconn *conn, const char *certificate, const char *state, int limit,
		      json_t **out, cf_err *err);

#endif
