/*
 * jobs_worker.c: the worker side of the job queue: claiming a job, the one
 * function that writes a claimed job's state (fenced by id and attempt), lease
 * renewal, the next due time for idle workers, and the certificate a job issues.
 * See jobs_worker.h for the contracts.
 *
 * The claim is one statement (a data-modifying CTE): it picks the job with
 * FOR UPDATE SKIP LOCKED, so concurrent workers of every replica skip each
 * other's candidates instead of queueing on them, takes it, and records the
 * claim event, atomically. Every later write is one statement too: UPDATE ...
 * WHERE id = $1 AND attempt = $2 AND state = running RETURNING, with the events
 * inserted from the updated row (none when no row matched) and the NOTIFY in the
 * same statement; a second claim (after a lease expired) raises the attempt, so
 * the first worker's writes match no row. Only a write with a hook (the final one,
 * which stores the version) opens a transaction, around that statement and the
 * hook.
 */
#include "store/jobs_worker.h"

#include "store/db.h"
#include "store/rows.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The claim, with the certificate row the job issues (its names, alias, providers,
 * key type: what the worker would otherwise read next) and whether another job is
 * runnable now (more: the caller wakes another worker). */
static const char claim_sql[] =
	"WITH c AS ("
	"  SELECT id, state AS prev_state, coalesce(lease_owner, '') AS prev_owner"
	"  FROM jobs"
	"  WHERE (state IN " CF_SQL_JOB_DUE " AND run_after <= now())"
	"     OR (state = " CF_SQL_JOB_RUNNING " AND lease_expires_at < now())"
	"  ORDER BY run_after, created_at LIMIT 1"
	"  FOR UPDATE SKIP LOCKED),"
	" u AS ("
	"  UPDATE jobs j SET state = " CF_SQL_JOB_RUNNING ", attempt = j.attempt + 1,"
	"    lease_owner = $1,"
	"    lease_expires_at = now() + make_interval(secs => $2::int), updated_at = now()"
	"  FROM c WHERE j.id = c.id"
	"  RETURNING j.id, j.certificate_id, j.attempt, j.step, j.order_url,"
	"    coalesce(j.account_id, 0) AS account_id, j.data::text AS data, j.failures,"
	"    c.prev_state, c.prev_owner, j.kind, extract(epoch FROM j.created_at) AS created),"
	" e AS ("
	"  INSERT INTO job_events (job_id, attempt, step, message)"
	"  SELECT id, attempt, 'claim', format('claimed by %s (attempt %s)%s', $1::text, attempt,"
	"    CASE WHEN prev_state = " CF_SQL_JOB_RUNNING " THEN format("
	"      ' after the lease of %s expired; resuming at step %s', prev_owner, step)"
	"    WHEN attempt > 1 THEN format('; continuing at step %s', step) ELSE '' END)"
	"  FROM u)"
	"SELECT u.id, u.certificate_id, u.attempt, u.step, u.order_url, u.account_id, u.data,"
	" u.failures, u.prev_state, u.prev_owner, u.kind, u.created,"
	" array_to_json(ce.domains)::text, ce.dns_alias::text, ce.provider::text, ce.key_type,"
	" array_to_json(ce.issuers)::text, ce.profile,"
	" EXISTS (SELECT 1 FROM jobs m WHERE m.id <> u.id AND"
	"  ((m.state IN " CF_SQL_JOB_DUE " AND m.run_after <= now())"
	"   OR (m.state = " CF_SQL_JOB_RUNNING " AND m.lease_expires_at < now())))"
	" FROM u LEFT JOIN certificates ce ON ce.id = u.certificate_id";

static int domains_from_json(const char *text, cf_job_cert *out)
{
	json_t *a = json_loads(text, 0, NULL), *v;
	size_t i;
	int rc = -1;

	if (!json_is_array(a))
		goto out;
	if ((out->domains = calloc(json_array_size(a) + 1, sizeof(char *))) == NULL)
		goto out;
	json_array_foreach(a, i, v) {
		if (!json_is_string(v) || (out->domains[i] = strdup(json_string_value(v))) == NULL)
			goto out;
		out->ndomains++;
	}
	rc = 0;
out:
	json_decref(a);
	return rc;
}

/* The certificate columns of row 0 from column c on (domains, dns_alias, provider,
 * key_type, issuers, profile). 1 found, 0 gone (NULL: the row was deleted), -1
 * unreadable. */
static int cert_from_row(const PGresult *r, int c, cf_job_cert *out)
{
	memset(out, 0, sizeof(*out));
	if (PQgetisnull(r, 0, c))
		return 0;
	snprintf(out->key_type, sizeof(out->key_type), "%s", PQgetvalue(r, 0, c + 3));
	out->dns_alias = cf_row_json(r, 0, c + 1);
	out->provider = cf_row_json(r, 0, c + 2);
	out->issuers = cf_row_json(r, 0, c + 4);
	if (!PQgetisnull(r, 0, c + 5))
		snprintf(out->profile, sizeof(out->profile), "%s", PQgetvalue(r, 0, c + 5));
	if (domains_from_json(PQgetvalue(r, 0, c), out) != 0 || out->dns_alias == NULL ||
	    out->provider == NULL || !json_is_array(out->issuers)) {
		cf_job_cert_free(out);
		return -1;
	}
	return 1;
}

int cf_jobs_claim(PGconn *c, const char *owner, int lease_s, cf_job_claim *out, cf_err *err)
{
	char lease[16];
	const char *p[2] = {owner, lease};
	PGresult *r;
	int rc = -1, k;

	memset(out, 0, sizeof(*out));
	snprintf(lease, sizeof(lease), "%d", lease_s);
	if ((r = cf_db_execp(c, "claim a job", claim_sql, 2, p, err)) == NULL)
			     return -1;
	if (PQntuples(r) == 0) {
		rc = 0;
		goto out;
	}
	cf_col_copy(out->ref.id, sizeof(out->ref.id), r, 0, 0);
	cf_col_copy(out->certificate_id, sizeof(out->certificate_id), r, 0, 1);
	out->ref.attempt = (int)cf_col_int(r, 0, 2, 0);
	cf_col_copy(out->step_name, sizeof(out->step_name), r, 0, 3);
	k = cf_job_step_parse(out->step_name);
	out->step = k < 0 ? CF_STEP__MAX : (cf_job_step)k;
	out->account_id = cf_col_int(r, 0, 5, 0);
	out->failures = (int)cf_col_int(r, 0, 7, 0);
	k = cf_job_state_parse(PQgetvalue(r, 0, 8));
	out->prev_state = k < 0 ? CF_JOB_STATE__MAX : (cf_job_state)k;
	cf_col_copy(out->prev_owner, sizeof(out->prev_owner), r, 0, 9);
	k = cf_job_kind_parse(PQgetvalue(r, 0, 10));
	out->kind = k < 0 ? CF_JOB_KIND__MAX : (cf_job_kind)k;
	out->created_at = cf_col_double(r, 0, 11, 0);
	out->cert_found = cert_from_row(r, 12, &out->cert);
	out->more = cf_col_bool(r, 0, 18);
	if (cf_col_dup(r, 0, 4, &out->order_url) != 0 || cf_col_dup(r, 0, 6, &out->data) != 0 ||
	    out->data == NULL) {
		cf_job_claim_free(out);
		cf_err_oom(err, "claim");
		goto out;
	}
	rc = 1;
out:
	PQclear(r);
	return rc;
}

void cf_job_claim_free(cf_job_claim *cl)
{
	free(cl->order_url);
	free(cl->data);
	cf_job_cert_free(&cl->cert);
	memset(cl, 0, sizeof(*cl));
}

/* The fenced write, one statement: the row (u), its events (e, in order, each
 * dated ago_ms before now) and the NOTIFY (n), all or nothing. $1 id, $2 attempt,
 * $3-$12 the change, $13-$17 the events as arrays, $18 notify. */
static const char write_sql[] =
	"WITH u AS (UPDATE jobs SET state = coalesce($3::text, state),"
	" step = coalesce($4::text, step), data = coalesce($5::jsonb, data),"
	" order_url = CASE WHEN $6::text = '' THEN NULL ELSE coalesce($6::text, order_url) END,"
	" account_id = coalesce($7::bigint, account_id),"
	" run_after = coalesce(now() + make_interval(secs => $8::float8), run_after),"
	" problem = coalesce($9::jsonb, problem), failures = coalesce($10::int, failures),"
	" finished_at = CASE WHEN $11::bool THEN now() ELSE finished_at END,"
	" lease_owner = CASE WHEN coalesce($3::text, state) = " CF_SQL_JOB_RUNNING
	"   THEN lease_owner END,"
	" lease_expires_at = CASE WHEN coalesce($3::text, state) <> " CF_SQL_JOB_RUNNING
	"   THEN NULL"
	"   WHEN $12::bool THEN now() ELSE lease_expires_at END,"
	" updated_at = now()"
	" WHERE id = $1 AND attempt = $2 AND state = " CF_SQL_JOB_RUNNING
	" RETURNING id, attempt),"
	" e AS (INSERT INTO job_events (job_id, attempt, step, message, duration_ms, problem, at)"
	"  SELECT u.id, u.attempt, v.step, v.message, v.ms, v.problem,"
	"   clock_timestamp() - make_interval(secs => v.ago / 1000.0)"
	"  FROM u, unnest($13::text[], $14::text[], $15::int[], $16::jsonb[], $17::bigint[])"
	"   WITH ORDINALITY AS v(step, message, ms, problem, ago, n)"
	"  ORDER BY v.n),"
	" n AS (SELECT pg_notify('" CF_JOBS_CHANNEL "', u.id::text) FROM u WHERE $18::bool)"
	" SELECT (SELECT count(*) FROM u), (SELECT count(*) FROM n)";

/* problem as JSON text for a jsonb column: itself when it parses, else a string. */
static char *as_json(const char *problem)
{
	json_t *j = json_loads(problem, JSON_DECODE_ANY, NULL);
	char *s;

	if (j == NULL)
		j = json_string(problem);
	if (j == NULL) /* not UTF-8 */
		j = json_string("(problem document not valid UTF-8)");
	s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
	json_decref(j);
	return s;
}

/* The events as the five array parameters p[0..5): step, message, duration_ms,
 * problem and age. 0, or -1 on OOM (whatever was made is freed by the caller). */
static int event_arrays(const cf_job_event *ev, size_t nev, char *p[5])
{
	size_t m = nev ? nev : 1;
	const char **col = calloc(m, sizeof(*col));
	char **problems = calloc(m, sizeof(*problems));
	char (*num)[24] = calloc(m, sizeof(*num));
	int rc = -1;

	if (col == NULL || problems == NULL || num == NULL)
		goto out;
	for (size_t i = 0; i < nev; i++)
		col[i] = ev[i].step;
	p[0] = cf_sql_array(col, nev);
	for (size_t i = 0; i < nev; i++)
		col[i] = ev[i].message;
	p[1] = cf_sql_array(col, nev);
	for (size_t i = 0; i < nev; i++) {
		snprintf(num[i], sizeof(num[i]), "%ld", ev[i].duration_ms);
		col[i] = ev[i].duration_ms >= 0 ? num[i] : NULL;
	}
	p[2] = cf_sql_array(col, nev);
	for (size_t i = 0; i < nev; i++)
		col[i] = problems[i] = ev[i].problem ? as_json(ev[i].problem) : NULL;
	p[3] = cf_sql_array(col, nev);
	for (size_t i = 0; i < nev; i++) {
		snprintf(num[i], sizeof(num[i]), "%lld", ev[i].ago_ms > 0 ? ev[i].ago_ms : 0);
		col[i] = num[i];
	}
	p[4] = cf_sql_array(col, nev);
	rc = p[0] && p[1] && p[2] && p[3] && p[4] ? 0 : -1;
out:
	for (size_t i = 0; problems != NULL && i < nev; i++)
		free(problems[i]);
	free(problems);
	free(num);
	free(col);
	return rc;
}

/* The fenced statement. Returns 0 (one row), 1 (lost) or -1. */
static int write_row(PGconn *c, const cf_job_ref *job, const cf_job_change *ch,
		     const cf_job_event *ev, size_t nev, cf_err *err)
{
	char attempt[16], account[24], after[32], failures[16];
	char *arr[5] = {0};
	const char *p[18] = {job->id, attempt};
	PGresult *r = NULL;
	int rc = -1;

	if (event_arrays(ev, nev, arr) != 0) {
		cf_err_oom(err, "update job");
		goto out;
	}
	snprintf(attempt, sizeof(attempt), "%d", job->attempt);
	snprintf(account, sizeof(account), "%lld", ch->account_id);
	snprintf(after, sizeof(after), "%.3f", ch->run_after_s);
	snprintf(failures, sizeof(failures), "%d", ch->failures);
	p[2] = ch->state < CF_JOB_STATE__MAX ? cf_job_state_name(ch->state) : NULL;
	p[3] = ch->step < CF_STEP__MAX ? cf_job_step_name(ch->step) : NULL;
	p[4] = ch->data;
	p[5] = ch->order_url;
	p[6] = ch->account_id > 0 ? account : NULL;
	p[7] = ch->run_after_s >= 0 ? after : NULL;
	p[8] = ch->problem;
	p[9] = ch->failures >= 0 ? failures : NULL;
	p[10] = ch->finished ? "true" : "false";
	p[11] = ch->expire_lease ? "true" : "false";
	for (int i = 0; i < 5; i++)
		p[12 + i] = arr[i];
	p[17] = ch->notify ? "true" : "false";
	if ((r = cf_db_execp(c, "update job", write_sql, 18, p, err)) == NULL)
			     goto out;
	rc = strcmp(PQgetvalue(r, 0, 0), "1") == 0 ? 0 : 1;
out:
	PQclear(r);
	for (int i = 0; i < 5; i++)
		free(arr[i]);
	return rc;
}

int cf_job_write(PGconn *c, const cf_job_ref *job, const cf_job_change *ch,
		 const cf_job_event *ev, size_t nev, cf_err *err)
{
	cf_job_change keep = CF_JOB_KEEP;
	int rc = -1, w;

	if (ch == NULL || ch->hook == NULL) /* one autocommit statement */
		return write_row(c, job, ch ? ch : &keep, ev, nev, err);
	if (cf_db_begin(c, err) != 0)
		return -1;
	if ((w = write_row(c, job, ch, ev, nev, err)) != 0) {
		rc = w;
		goto out;
	}
	if (ch->hook(c, job, ch->hook_arg, err) != 0)
		goto out;
	if (cf_db_commit(c, err) != 0)
		return -1;
	return 0;
out:
	cf_db_rollback(c);
	return rc;
}

int cf_job_renew(PGconn *c, const cf_job_ref *job, int lease_s, cf_err *err)
{
	char attempt[16], lease[16];
	const char *p[3] = {job->id, attempt, lease};
	PGresult *r;
	int rc;

	snprintf(attempt, sizeof(attempt), "%d", job->attempt);
	snprintf(lease, sizeof(lease), "%d", lease_s);
	r = cf_db_execp(c, "renew lease",
			"UPDATE jobs SET lease_expires_at = now() + make_interval(secs => $3::int)"
			" WHERE id = $1 AND attempt = $2 AND state = " CF_SQL_JOB_RUNNING,
			3, p, err);
	if (r == NULL)
		return -1;
	rc = strcmp(PQcmdTuples(r), "1") == 0 ? 0 : 1;
	PQclear(r);
	return rc;
}

double cf_jobs_next_due(PGconn *c, double max_s, cf_err *err)
{
	char max[32];
	const char *p[1] = {max};
	PGresult *r;
	double v;

	snprintf(max, sizeof(max), "%.3f", max_s);
	r = cf_db_execp(c, "next due job",
			"SELECT least($1::float8, greatest(0, coalesce(extract(epoch FROM least("
			" min(run_after) FILTER (WHERE state IN " CF_SQL_JOB_DUE "),"
			" min(lease_expires_at) FILTER (WHERE state = " CF_SQL_JOB_RUNNING "))"
			" - now()), $1::float8)))::float8"
			" FROM jobs WHERE state IN " CF_SQL_JOB_ACTIVE,
			1, p, err);
	if (r == NULL)
		return -1;
	v = cf_col_double(r, 0, 0, max_s);
	PQclear(r);
	return v;
}

void cf_job_cert_free(cf_job_cert *jc)
{
	for (size_t i = 0; jc->domains && jc->domains[i]; i++)
		free(jc->domains[i]);
	free(jc->domains);
	json_decref(jc->dns_alias);
	json_decref(jc->provider);
	json_decref(jc->issuers);
	memset(jc, 0, sizeof(*jc));
}
