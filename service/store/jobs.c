/*
 * jobs.c: queueing jobs and reading them for the API; see jobs.h.
 *
 * Queueing relies on the partial unique index jobs_one_active: the INSERT names
 * it as its conflict target (ON CONFLICT ... WHERE state IN CF_SQL_JOB_ACTIVE DO
 * NOTHING), so a second active job is refused without an error that would abort
 * the caller's transaction, and two concurrent requests cannot both queue one.
 * The first event and the NOTIFY ride in the same statement (data-modifying
 * CTEs), one round trip per job created.
 */
#include "store/jobs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/db.h"
#include "store/paging.h"
#include "store/rows.h"

static const char insert_sql[] =
	"WITH j AS ("
	"  INSERT INTO jobs (certificate_id, kind, step, data)"
	"  VALUES ($1, $2, $3, coalesce($4::jsonb, '{}'::jsonb))"
	"  ON CONFLICT (certificate_id) WHERE state IN " CF_SQL_JOB_ACTIVE " DO NOTHING"
	"  RETURNING id),"
	" e AS ("
	"  INSERT INTO job_events (job_id, attempt, step, message)"
	"  SELECT id, 0, 'schedule', $5 FROM j WHERE $5::text IS NOT NULL)"
	"SELECT id, pg_notify('" CF_JOBS_CHANNEL "', id::text) FROM j";

/* Runs sql and copies the first column of its one row into job_id ("" when no
 * row): 1, 0, or -1 on error. */
static int job_id_of(PGconn *conn, const char *what, const char *sql, int n,
		     const char *const *params, char job_id[CF_JOB_ID_LEN + 1], cf_err *err)
{
	PGresult *res;
	int rc;

	job_id[0] = '\0';
	if ((res = cf_db_exec(conn, what, sql, n, params, err)) == NULL)
		return -1;
	rc = PQntuples(res) == 1;
	if (rc)
		snprintf(job_id, CF_JOB_ID_LEN + 1, "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	return rc;
}

int cf_job_insert(PGconn *conn, const cf_job_new *nj, char job_id[CF_JOB_ID_LEN + 1],
		  cf_err *err)
{
	const char *params[5] = { nj->certificate_id, cf_job_kind_name(nj->kind),
				  cf_job_step_name(nj->step), nj->data, nj->event };

	return job_id_of(conn, "queueing a job", insert_sql, 5, params, job_id, err);
}

int cf_job_active_id(PGconn *conn, const char *cert_id, char job_id[CF_JOB_ID_LEN + 1],
		     cf_err *err)
{
	const char *params[1] = { cert_id };

	return job_id_of(conn, "finding the active job",
			 "SELECT id FROM jobs WHERE certificate_id = $1 AND state IN "
			 CF_SQL_JOB_ACTIVE, 1, params, job_id, err);
}

int cf_job_enqueue(PGconn *conn, const char *cert_id, cf_job_kind kind,
		   char job_id[CF_JOB_ID_LEN + 1], cf_err *err)
{
	/* step account, as the API has always queued it (the worker starts a job
	 * without targets at the preflight anyway) */
	cf_job_new nj = { .certificate_id = cert_id, .kind = kind, .step = CF_STEP_ACCOUNT };
	int rc;

	/* Twice at most: when the active job ends between the INSERT and the look-up,
	 * the second INSERT succeeds. */
	for (int tries = 0; tries < 2; tries++) {
		if ((rc = cf_job_insert(conn, &nj, job_id, err)) != 0)
			return rc;
		if ((rc = cf_job_active_id(conn, cert_id, job_id, err)) != 0)
			return rc < 0 ? -1 : 0;
	}
	cf_err_set(err, CF_ERR_TRANSIENT, "queueing a job for %s: the active job "
		   "keeps changing; try again", cert_id);
	return -1;
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
		cf_err_oom(err, "reading a job's events");
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
		cf_err_oom(err, "reading a job");
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

int cf_jobs_page_json(PGconn *conn, const char *certificate, const char *state, cf_page_q *q,
		      json_t **out, cf_err *err)
{
	char lim[16];
	const char *p[5] = { certificate, state, cf_page_limit_param(q, lim),
			     cf_page_after_param(q, 0), cf_page_after_param(q, 1) };

	return cf_page_query(conn, "listing jobs",
			  "SELECT (json_build_object('id', j.id, 'certificate', j.certificate_id, "
			  "'kind', j.kind, 'state', j.state, 'step', j.step, 'attempt', j.attempt, "
			  "'created_at', " CF_SQL_TS("j.created_at") ", 'updated_at', "
			  CF_SQL_TS("j.updated_at") ")::jsonb || CASE WHEN j.problem IS NULL THEN "
			  "'{}'::jsonb ELSE jsonb_build_object('problem', j.problem) END)::text, "
			  "j.created_at::text, j.id::text FROM jobs j "
			  "WHERE ($1::text IS NULL OR j.certificate_id = $1) AND "
			  "($2::text IS NULL OR j.state = $2) AND ($4 = '' OR "
			  "j.created_at < NULLIF($4, '')::timestamptz OR (j.created_at = NULLIF($4, '')::timestamptz AND "
			  "j.id::text > $5)) "
			  "ORDER BY j.created_at DESC, j.id::text LIMIT $3::int",
			  5, p, 2, q, "jobs", out, err);
}
