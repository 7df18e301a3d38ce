/*
 * jobs.c: queueing jobs and reading them for the API; see jobs.h.
 *
 * Queueing relies on the partial unique index jobs_one_active: the INSERT names
 * it as its conflict target (ON CONFLICT ... WHERE state IN (...) DO NOTHING), so
 * a second active job is refused without an error that would abort the caller's
 * transaction, and two concurrent requests cannot both queue one.
 */
#include "store/jobs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/db.h"
#include "store/rows.h"

bool cf_job_state_valid(const char *s)
{
	static const char *const states[] = { "queued", "running", "waiting", "issued",
					      "failed", "done" };

	for (size_t i = 0; s != NULL && i < sizeof(states) / sizeof(states[0]); i++)
		if (strcmp(s, states[i]) == 0)
			return true;
	return false;
}

int cf_job_enqueue(PGconn *conn, const char *cert_id, const char *kind,
		   char job_id[CF_JOB_ID_LEN + 1], cf_err *err)
{
	const char *params[2] = { cert_id, kind };
	const char *notify[1] = { job_id };
	PGresult *res = NULL;
	int rc = -1;

	job_id[0] = '\0';
	/* Twice at most: when the active job ends between the INSERT and the look-up,
	 * the second INSERT succeeds. */
	for (int tries = 0; tries < 2 && rc < 0; tries++) {
		res = cf_db_exec(conn, "queueing a job",
				 "INSERT INTO jobs (certificate_id, kind, state, step, attempt, "
				 "run_after) VALUES ($1, $2, 'queued', 'account', 0, now()) "
				 "ON CONFLICT (certificate_id) WHERE state IN ('queued', 'running', "
				 "'waiting') DO NOTHING RETURNING id",
				 2, params, err);
		if (res == NULL)
			return -1;
		if (PQntuples(res) == 1) {
			snprintf(job_id, CF_JOB_ID_LEN + 1, "%s", PQgetvalue(res, 0, 0));
			PQclear(res);
			if (cf_db_run(conn, "notifying the workers",
				      "SELECT pg_notify('certfleet_jobs', $1)", 1, notify,
				      err) != 0)
				return -1;
			return 1;
		}
		PQclear(res);
		res = cf_db_exec(conn, "finding the active job",
				 "SELECT id FROM jobs WHERE certificate_id = $1 AND state IN "
				 "('queued', 'running', 'waiting')",
				 1, params, err);
		if (res == NULL)
			return -1;
		if (PQntuples(res) == 1) {
			snprintf(job_id, CF_JOB_ID_LEN + 1, "%s", PQgetvalue(res, 0, 0));
			rc = 0;
		}
		PQclear(res);
	}
	if (rc < 0)
		cf_err_set(err, CF_ERR_TRANSIENT, "queueing a job for %s: the active job "
			   "keeps changing; try again", cert_id);
	return rc;
}

#define JOB_JSON                                                                           \
	"json_build_object('id', j.id, 'certificate', j.certificate_id, 'kind', j.kind, "  \
	"'state', j.state, 'step', j.step, 'attempt', j.attempt, 'created_at', "           \
	CF_SQL_TS("j.created_at") ", 'updated_at', " CF_SQL_TS("j.updated_at") ")::text, " \
	"j.problem::text"

/* Row r (JOB_JSON's two columns) as a job object. */
static json_t *job_json(const PGresult *res, int r)
{
	json_t *o = cf_row_json(res, r, 0);

	if (o != NULL && cf_json_set_optional(o, "problem", cf_row_json(res, r, 1)) != 0) {
		json_decref(o);
		o = NULL;
	}
	return o;
}

static json_t *events_json(PGconn *conn, const char *id, cf_err *err)
{
	const char *params[1] = { id };
	PGresult *res;
	json_t *list, *e;

	res = cf_db_exec(conn, "reading a job's events",
			 "SELECT " CF_SQL_TS("at") ", attempt, step, message, duration_ms, "
			 "problem::text FROM job_events WHERE job_id = $1 ORDER BY id",
			 1, params, err);
	if (res == NULL)
		return NULL;
	list = json_array();
	for (int r = 0; list != NULL && r < PQntuples(res); r++) {
		e = json_pack("{s:o, s:o, s:o, s:o}", "at", cf_row_str(res, r, 0), "attempt",
			      cf_row_int(res, r, 1), "step", cf_row_str(res, r, 2), "message",
			      cf_row_str(res, r, 3));
		if (e == NULL || cf_json_set_optional(e, "duration_ms", cf_row_int(res, r, 4)) ||
		    cf_json_set_optional(e, "problem", cf_row_json(res, r, 5)) ||
		    json_array_append_new(list, e) != 0) {
			json_decref(list);
			list = NULL;
		}
	}
	PQclear(res);
	if (list == NULL)
		cf_err_set(err, CF_ERR_TRANSIENT, "reading a job's events: out of memory");
	return list;
}

int cf_job_get_json(PGconn *conn, const char *id, bool with_events, json_t **out, cf_err *err)
{
	const char *params[1] = { id };
	PGresult *res;
	json_t *job = NULL, *events;
	int rc = -1;

	*out = NULL;
	res = cf_db_exec(conn, "reading a job", "SELECT " JOB_JSON " FROM jobs j WHERE j.id = $1",
			 1, params, err);
	if (res == NULL)
		return -1;
	if (PQntuples(res) == 0) {
		rc = 0;
		goto out;
	}
	if ((job = job_json(res, 0)) == NULL) {
		cf_err_set(err, CF_ERR_TRANSIENT, "reading a job: out of memory");
		goto out;
	}
	if (with_events) {
		if ((events = events_json(conn, id, err)) == NULL)
			goto out;
		json_object_set_new(job, "events", events);
	}
	*out = job;
	job = NULL;
	rc = 0;
out:
	json_decref(job);
	PQclear(res);
	return rc;
}

int cf_jobs_list_json(PGconn *conn, const char *certificate, const char *state, int limit,
		      json_t **out, cf_err *err)
{
	char lim[16];
	const char *params[3] = { certificate, state, lim };
	PGresult *res;
	json_t *list;

	*out = NULL;
	snprintf(lim, sizeof(lim), "%d", limit);
	res = cf_db_exec(conn, "listing jobs",
			 "SELECT " JOB_JSON " FROM jobs j WHERE ($1::text IS NULL OR "
			 "j.certificate_id = $1) AND ($2::text IS NULL OR j.state = $2) "
			 "ORDER BY j.created_at DESC, j.id LIMIT $3::int",
			 3, params, err);
	if (res == NULL)
		return -1;
	list = json_array();
	for (int r = 0; list != NULL && r < PQntuples(res); r++)
		if (json_array_append_new(list, job_json(res, r)) != 0) {
			json_decref(list);
			list = NULL;
		}
	PQclear(res);
	if (list == NULL || (*out = json_pack("{s:o}", "jobs", list)) == NULL)
		return cf_err_set(err, CF_ERR_TRANSIENT, "listing jobs: out of memory");
	return 0;
}
