/*
 * dns_records.c: the TXT values certfleet writes, and the TXT budget; see
 * dns_records.h.
 *
 * The budget check is count-then-insert, which two replicas could interleave. It
 * runs in a transaction of two statements: the first locks the job row (the fence:
 * only the attempt holding the job records values for it) and takes one
 * transaction-level advisory lock per target FQDN, keyed by (CF_TXT_LOCK_CLASS,
 * hashtext(fqdn)), in ascending key order so two jobs that share targets cannot
 * deadlock; the second, whose snapshot is taken once the locks are held, counts and
 * inserts only when every target is within its limit. The locks are released by the
 * COMMIT that makes the new rows visible, so the next counter sees them. Lists
 * travel as PostgreSQL array literals (text[] parameters), still parameterised.
 * created_at and removed_at take clock_timestamp(), the moment of the statement
 * rather than of the transaction's start, so the rows' intervals show exactly how
 * many values were live at once. A target's limit is the budget, or the
 * max_values_per_name of the provider type writing there when that is smaller.
 *
 * The provider calls themselves are serialised per target with a second class of
 * advisory locks (CF_TXT_WRITE_LOCK_CLASS), session-level, taken by
 * cf_txt_write_lock around the call (one statement when free, no transaction held
 * open across the call) and released by cf_txt_write_unlock: a separate class, so
 * a budget check never waits for a provider call in progress at one of its
 * targets.
 *
 * The janitor's outcome (cf_txt_orphan_done) is one statement: the row, and an
 * event of the value's job when the job still exists, so the job's timeline shows
 * a removal that keeps failing; janitor_failures counts the failures (migration
 * 0005, read by the txt_cleanup_stats view).
 */
#include "store/dns_records.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/db.h"
#include "store/lifecycle.h"
#include "store/rows.h"

/* The first key of the advisory locks of TXT targets ("CFTX"). */
#define CF_TXT_LOCK_CLASS "1128682584"
/* The first key of the advisory locks around provider writes at a target ("CFTW"). */
#define CF_TXT_WRITE_LOCK_CLASS "1128682583"

enum field { F_PROVIDER, F_FQDN, F_VALUE };

static const char *field_of(const cf_txt_value *v, enum field f)
{
	return f == F_PROVIDER ? v->provider : f == F_FQDN ? v->fqdn : v->value;
}

/* A text[] literal of one field of every value (cf_sql_array). Caller frees; NULL
 * on OOM. */
static char *text_array(const cf_txt_value *v, size_t n, enum field f)
{
	const char **items = calloc(n ? n : 1, sizeof(*items));
	char *s;

	if (items == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++)
		items[i] = field_of(&v[i], f);
	s = cf_sql_array(items, n);
	free(items);
	return s;
}

/* The fence and the locks, one statement: the job row locked if this attempt
 * holds it (f), then one transaction-level lock per target, in key order (l). */
static const char lock_sql[] =
	"SELECT (SELECT count(*) FROM (SELECT 1 FROM jobs WHERE id = $1 AND attempt = $2"
	"   AND state = " CF_SQL_JOB_RUNNING " FOR UPDATE) AS f),"
	" (SELECT count(pg_advisory_xact_lock(" CF_TXT_LOCK_CLASS ", h)) FROM (SELECT DISTINCT"
	"   hashtext(x) AS h FROM unnest($3::text[]) AS x ORDER BY 1) AS l)";

/* Fences the job and locks every target: 0 held, 2 lost, -1 error. */
static int fence_and_lock(PGconn *c, const cf_job_ref *job, const char *fqdns, cf_err *err)
{
	char attempt[16];
	const char *p[3] = {job->id, attempt, fqdns};
	PGresult *r;
	int rc;

	snprintf(attempt, sizeof(attempt), "%d", job->attempt);
	if ((r = cf_db_execp(c, "lock TXT targets", lock_sql, 3, p, err)) == NULL)
			     return -1;
	rc = strcmp(PQgetvalue(r, 0, 0), "1") == 0 ? 0 : 2;
	PQclear(r);
	return rc;
}

/* Under the locks (a statement of its own, so its snapshot sees every value
 * committed before they were granted): the first target over its limit (o), and
 * the values recorded as pending only when there is none (i). $5: each value's
 * limit (the budget, or a smaller max_live there). */
static const char reserve_sql[] =
	"WITH t AS (SELECT * FROM unnest($2::text[], $3::text[], $4::text[], $5::int[])"
	"   AS t(p, f, v, lim)),"
	" b AS (SELECT t.f AS fqdn, min(t.lim) AS lim,"
	"   (SELECT count(*) FROM dns_records d WHERE d.fqdn = t.f"
	"     AND d.state IN ('pending','present')) AS live,"
	"   count(*) FILTER (WHERE NOT EXISTS (SELECT 1 FROM dns_records d"
	"     WHERE d.fqdn = t.f AND d.value = t.v AND d.job_id = $1"
	"     AND d.state IN ('pending','present'))) AS need"
	"   FROM t GROUP BY t.f),"
	" o AS (SELECT fqdn, live, need, lim FROM b WHERE need > 0 AND live + need > lim"
	"   ORDER BY fqdn LIMIT 1),"
	" i AS (INSERT INTO dns_records (job_id, provider, fqdn, value, state, created_at)"
	"   SELECT $1, t.p, t.f, t.v, 'pending', clock_timestamp() FROM t"
	"   WHERE NOT EXISTS (SELECT 1 FROM o)"
	"   ON CONFLICT (fqdn, value) DO UPDATE SET job_id = EXCLUDED.job_id,"
	"     provider = EXCLUDED.provider, state = 'pending', attempts = 0,"
	"     last_error = NULL, removed_at = NULL, created_at = EXCLUDED.created_at"
	"   WHERE dns_records.state IN ('removed','failed')"
	"     OR dns_records.job_id = EXCLUDED.job_id)"
	" SELECT fqdn, live, need, lim FROM o";

/* The limit at fqdn: the budget, or the smallest max_live of the values there. */
static long limit_at(const cf_txt_value *v, size_t n, const char *fqdn, int budget)
{
	long limit = budget;

	for (size_t i = 0; i < n; i++)
		if (v[i].max_live > 0 && v[i].max_live < limit && strcmp(v[i].fqdn, fqdn) == 0)
			limit = v[i].max_live;
	return limit;
}

/* The int[] literal of each value's limit. Caller frees; NULL on OOM. */
static char *limits_array(const cf_txt_value *v, size_t n, int budget)
{
	const char **items = calloc(n ? n : 1, sizeof(*items));
	char (*num)[24] = calloc(n ? n : 1, sizeof(*num));
	char *s = NULL;

	if (items != NULL && num != NULL) {
		for (size_t i = 0; i < n; i++) {
			snprintf(num[i], sizeof(num[i]), "%ld", limit_at(v, n, v[i].fqdn, budget));
			items[i] = num[i];
		}
		s = cf_sql_array(items, n);
	}
	free(items);
	free(num);
	return s;
}

/* Counts and records: 0 recorded, 1 over (over filled, nothing recorded), -1. */
static int count_and_record(PGconn *c, const char *const p[5], cf_txt_over *over,
			    cf_err *err)
{
	PGresult *r = cf_db_execp(c, "record TXT values", reserve_sql, 5, p, err);
	int rc;

	if (r == NULL)
		return -1;
	rc = PQntuples(r) > 0;
	if (rc == 1) {
		snprintf(over->fqdn, sizeof(over->fqdn), "%s", PQgetvalue(r, 0, 0));
		over->live = atol(PQgetvalue(r, 0, 1));
		over->need = atol(PQgetvalue(r, 0, 2));
		over->limit = atol(PQgetvalue(r, 0, 3));
	}
	PQclear(r);
	return rc;
}

int cf_txt_reserve(PGconn *c, const cf_job_ref *job, const cf_txt_value *v, size_t n,
		   int budget, cf_txt_over *over, cf_err *err)
{
	char *provs = text_array(v, n, F_PROVIDER);
	char *fqdns = text_array(v, n, F_FQDN);
	char *values = text_array(v, n, F_VALUE);
	char *limits = limits_array(v, n, budget);
	const char *p[5] = {job->id, provs, fqdns, values, limits};
	int rc = -1, st;

	if (provs == NULL || fqdns == NULL || values == NULL || limits == NULL) {
		cf_err_oom(err, NULL);
		goto done;
	}
	if (cf_db_begin(c, err) != 0)
		goto done;
	if ((st = fence_and_lock(c, job, fqdns, err)) != 0 ||
	    (st = count_and_record(c, p, over, err)) != 0) {
		rc = st;
		goto out;
	}
	if (cf_db_commit(c, err) == 0)
		rc = 0;
	goto done;
out:
	cf_db_rollback(c);
done:
	free(provs);
	free(fqdns);
	free(values);
	free(limits);
	return rc;
}

static const char set_state_sql[] =
	"WITH j AS (SELECT 1 FROM jobs WHERE id = $1 AND attempt = $2"
	"  AND state = " CF_SQL_JOB_RUNNING "),"
	" u AS (UPDATE dns_records SET state = coalesce($5::text, state), last_error = $6::text,"
	"   removed_at = CASE WHEN $5::text = 'removed' THEN clock_timestamp() ELSE removed_at END,"
	"   attempts = attempts + CASE WHEN $6::text IS NULL THEN 0 ELSE 1 END"
	"   WHERE job_id = $1 AND fqdn = $3 AND value = $4 AND EXISTS (SELECT 1 FROM j)"
	"   RETURNING 1)"
	" SELECT (SELECT count(*) FROM j), (SELECT count(*) FROM u)";

int cf_txt_set_state(PGconn *c, const cf_job_ref *job, const cf_txt_value *v,
		     const char *state, const char *error, cf_err *err)
{
	char attempt[16];
	const char *p[6] = {job->id, attempt, v->fqdn, v->value, state, error};
	PGresult *r;
	int rc;

	snprintf(attempt, sizeof(attempt), "%d", job->attempt);
	if ((r = cf_db_execp(c, "set TXT value state", set_state_sql, 6, p, err)) == NULL)
			     return -1;
	rc = strcmp(PQgetvalue(r, 0, 0), "1") == 0 ? 0 : 1;
	PQclear(r);
	return rc;
}

static int rows_from(const PGresult *r, cf_txt_row **rows, size_t *n, cf_err *err)
{
	size_t m = (size_t)PQntuples(r);

	*rows = calloc(m ? m : 1, sizeof(**rows));
	*n = 0;
	if (*rows == NULL)
		return cf_err_oom(err, NULL);
	for (size_t i = 0; i < m; i++) {
		cf_txt_row *x = &(*rows)[i];

		x->id = cf_col_int(r, (int)i, 0, 0);
		*n = i + 1;
		if (cf_col_dup(r, (int)i, 1, &x->provider) != 0 ||
		    cf_col_dup(r, (int)i, 2, &x->fqdn) != 0 ||
		    cf_col_dup(r, (int)i, 3, &x->value) != 0 || !x->provider || !x->fqdn ||
		    !x->value)
			return cf_err_oom(err, NULL);
	}
	return 0;
}

int cf_txt_live_of_job(PGconn *c, const char *job_id, cf_txt_row **rows, size_t *n, cf_err *err)
{
	const char *p[1] = {job_id};
	PGresult *r;
	int rc;

	*rows = NULL;
	*n = 0;
	r = cf_db_execp(c, "live TXT values of job",
			"SELECT id, provider, fqdn, value FROM dns_records WHERE job_id = $1"
			" AND state IN ('pending','present') ORDER BY id",
			1, p, err);
	if (r == NULL)
		return -1;
	rc = rows_from(r, rows, n, err);
	PQclear(r);
	if (rc != 0) {
		cf_txt_rows_free(*rows, *n);
		*rows = NULL;
		*n = 0;
	}
	return rc;
}

void cf_txt_rows_free(cf_txt_row *rows, size_t n)
{
	for (size_t i = 0; rows && i < n; i++) {
		free(rows[i].provider);
		free(rows[i].fqdn);
		free(rows[i].value);
	}
	free(rows);
}

int cf_txt_write_lock(PGconn *c, const char *fqdn, long wait_ms, cf_err *err)
{
	char ms[32];
	const char *p[1] = {ms};
	const char *q[1] = {fqdn};
	const char *state;
	PGresult *r;
	int rc = -1;

	r = cf_db_execp(c, "lock TXT target", "SELECT pg_try_advisory_lock("
			CF_TXT_WRITE_LOCK_CLASS ", hashtext($1))", 1, q, err);
	if (r == NULL)
		return -1;
	rc = strcmp(PQgetvalue(r, 0, 0), "t") == 0 ? 0 : 1;
	PQclear(r);
	if (rc == 0)
		return 0;
	/* taken: wait for it, at most wait_ms; the session lock outlives the COMMIT */
	rc = -1;
	snprintf(ms, sizeof(ms), "%ldms", wait_ms > 0 ? wait_ms : 1);
	if (cf_db_begin(c, err) != 0)
		return -1;
	if (cf_db_run(c, "lock timeout", "SELECT set_config('lock_timeout', $1, true)", 1, p,
		      err) != 0)
		goto out;
	/* libpq directly: a lock timeout (55P03) is an answer here, not a failure */
	r = PQexecParams(c, "SELECT pg_advisory_lock(" CF_TXT_WRITE_LOCK_CLASS
			 ", hashtext($1))", 1, NULL, q, NULL, NULL, 0);
	if (PQresultStatus(r) == PGRES_TUPLES_OK) {
		PQclear(r);
		return cf_db_commit(c, err);
	}
	state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
	if (state != NULL && strcmp(state, "55P03") == 0)
		rc = 1;
	else
		cf_err_set(err, CF_ERR_TRANSIENT, "lock TXT target %s: %s", fqdn,
			   PQerrorMessage(c));
	PQclear(r);
out:
	cf_db_rollback(c);
	return rc;
}

int cf_txt_write_unlock(PGconn *c, const char *fqdn, cf_err *err)
{
	const char *q[1] = {fqdn};
	PGresult *r = cf_db_execp(c, "unlock TXT target", "SELECT pg_advisory_unlock("
				  CF_TXT_WRITE_LOCK_CLASS ", hashtext($1))", 1, q, err);
	int rc = -1;

	if (r == NULL)
		return -1;
	if (strcmp(PQgetvalue(r, 0, 0), "t") == 0)
		rc = 0;
	else
		cf_err_set(err, CF_ERR_TRANSIENT, "unlock TXT target %s: not held", fqdn);
	PQclear(r);
	return rc;
}

static const char orphan_sql[] =
	"UPDATE dns_records SET attempts = attempts + 1 WHERE id = ("
	" SELECT r.id FROM dns_records r LEFT JOIN jobs j ON j.id = r.job_id"
	" WHERE r.state IN ('pending','present') AND r.attempts < $1"
	"   AND (r.next_attempt_at IS NULL OR r.next_attempt_at <= now())"
	"   AND (j.id IS NULL OR j.state IN (" CF_SQL_LIT(CF_JOB_S_ISSUED) ","
	"     " CF_SQL_LIT(CF_JOB_S_FAILED) "))"
	" ORDER BY r.attempts, r.id LIMIT 1 FOR UPDATE OF r SKIP LOCKED)"
	" RETURNING id, provider, fqdn, value";

int cf_txt_orphan_take(PGconn *c, int max_attempts, cf_txt_row *out, cf_err *err)
{
	char max[16];
	const char *p[1] = {max};
	cf_txt_row *rows = NULL;
	size_t n = 0;
	PGresult *r;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	snprintf(max, sizeof(max), "%d", max_attempts);
	if ((r = cf_db_exec(c, "take orphan TXT value", orphan_sql, 1, p, err)) == NULL)
		return -1;
	if (rows_from(r, &rows, &n, err) == 0) {
		rc = n > 0;
		if (n > 0) {
			*out = rows[0];
			memset(&rows[0], 0, sizeof(rows[0]));
		}
	}
	cf_txt_rows_free(rows, n);
	PQclear(r);
	return rc;
}

/* The row, then (when the value's job still exists) the event of the outcome. In
 * SET, janitor_failures is the count before this try: the first retry waits
 * backoff_s, each later one twice the one before, at most an hour. */
static const char orphan_done_sql[] =
	"WITH u AS (UPDATE dns_records SET"
	"   state = CASE WHEN $2::text IS NULL THEN 'removed'"
	"     WHEN attempts >= $3::int THEN 'failed' ELSE state END,"
	"   removed_at = CASE WHEN $2::text IS NULL THEN clock_timestamp() END,"
	"   last_error = $2::text,"
	"   janitor_failures = janitor_failures + CASE WHEN $2::text IS NULL THEN 0 ELSE 1 END,"
	"   next_attempt_at = CASE WHEN $2::text IS NULL THEN NULL ELSE now() +"
	"     make_interval(secs => least(3600, $4::float8 * power(2, least(janitor_failures, 20))))"
	"     END"
	"   WHERE id = $1::bigint"
	"   RETURNING job_id, fqdn, value, state, attempts, next_attempt_at)"
	" INSERT INTO job_events (job_id, attempt, step, message)"
	" SELECT u.job_id, j.attempt, 'janitor', CASE"
	"   WHEN $2::text IS NULL THEN format('removed the orphan TXT \"%s\" at %s (try %s)',"
	"     u.value, u.fqdn, u.attempts)"
	"   WHEN u.state = 'failed' THEN format('gave up removing the TXT \"%s\" at %s after ' ||"
	"     '%s tries; remove it by hand: %s', u.value, u.fqdn, u.attempts, $2::text)"
	"   ELSE format('removing the orphan TXT \"%s\" at %s failed (try %s of %s; next in ' ||"
	"     '%s s): %s', u.value, u.fqdn, u.attempts, $3::int,"
	"     ceil(extract(epoch FROM u.next_attempt_at - now())), $2::text) END"
	" FROM u JOIN jobs j ON j.id = u.job_id";

int cf_txt_orphan_done(PGconn *c, long long id, const char *error, int max_attempts,
		       double backoff_s, cf_err *err)
{
	char sid[24], max[16], backoff[32];
	const char *p[4] = {sid, error, max, backoff};

	snprintf(sid, sizeof(sid), "%lld", id);
	snprintf(max, sizeof(max), "%d", max_attempts);
	snprintf(backoff, sizeof(backoff), "%.3f", backoff_s > 0 ? backoff_s : 1.0);
	return cf_db_run(c, "record orphan cleanup", orphan_done_sql, 4, p, err);
}
