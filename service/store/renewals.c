/*
 * renewals.c: the renewal scheduler's queries; see renewals.h.
 *
 * Times cross the boundary as epoch seconds (extract(epoch ...), to_timestamp)
 * so the C side does its arithmetic in time_t whatever the session's TimeZone.
 * Each candidate carries the database's now() (db_now): the scheduler compares
 * plans and backoffs with that clock, never with its own host's.
 * The failed renewals of the current version are counted with a LATERAL
 * sub-query over the jobs_cert_kind index; no state of its own is kept for the
 * backoff, so it survives any restart and any change of scheduler.
 * A certificate whose renewal is due but which has an active job (queued,
 * running, waiting: a renewal already on its way) is no candidate for that
 * reason alone: within the pass's LIMIT, due certificates behind a storm of
 * waiting renewals would otherwise never get their turn.
 */
#include "store/renewals.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/db.h"
#include "store/jobs.h"
#include "store/rows.h"

static const char cands_sql[] =
	"SELECT c.id, v.version, v.cert_pem, v.serial,"
	" extract(epoch FROM v.not_before)::bigint, extract(epoch FROM v.not_after)::bigint,"
	" c.renew_fraction, p.certificate_id IS NOT NULL, p.version, p.source, p.renew_fraction,"
	" extract(epoch FROM p.renew_at)::bigint, p.ari_cert_id,"
	" extract(epoch FROM p.window_start)::bigint, extract(epoch FROM p.window_end)::bigint,"
	" p.explanation_url, extract(epoch FROM p.ari_next_fetch)::bigint, p.ari_error,"
	" f.n, extract(epoch FROM f.last)::bigint,"
	" EXISTS (SELECT 1 FROM jobs a WHERE a.certificate_id = c.id"
	"   AND a.state IN " CF_SQL_JOB_ACTIVE "),"
	" v.expiring_notified_at IS NOT NULL, floor(extract(epoch FROM now()))::bigint"
	" FROM certificates c"
	" JOIN certificate_versions v ON v.certificate_id = c.id AND v.version = c.current_version"
	" LEFT JOIN renewal_plans p ON p.certificate_id = c.id"
	" LEFT JOIN LATERAL (SELECT count(*) AS n, max(j.finished_at) AS last FROM jobs j"
	"   WHERE j.certificate_id = c.id AND j.kind = " CF_SQL_LIT(CF_JOB_K_RENEW)
	"   AND j.state = " CF_SQL_LIT(CF_JOB_S_FAILED)
	"   AND j.created_at > v.created_at) f ON true"
	" WHERE c.status = 'valid' AND v.revoked_at IS NULL AND ("
	"   p.certificate_id IS NULL OR p.version <> v.version"
	"   OR (p.source = 'fraction' AND p.renew_fraction <> c.renew_fraction)"
	"   OR (p.renew_at <= now() AND NOT EXISTS (SELECT 1 FROM jobs a"
	"       WHERE a.certificate_id = c.id AND a.state IN " CF_SQL_JOB_ACTIVE "))"
	"   OR p.ari_next_fetch <= now()"
	"   OR (v.expiring_notified_at IS NULL"
	"       AND v.not_after <= now() + make_interval(secs => $1::int)))"
	" ORDER BY v.not_after, c.id LIMIT $2::int";

/* An epoch-seconds column; 0 for SQL NULL. */
static time_t col_time(const PGresult *r, int row, int col)
{
	return (time_t)cf_col_int(r, row, col, 0);
}

static int cand_from_row(const PGresult *r, int i, cf_renew_cand *k)
{
	cf_renew_plan *p = &k->plan;

	cf_col_copy(k->id, sizeof(k->id), r, i, 0);
	k->version = (int)cf_col_int(r, i, 1, 0);
	if (cf_col_dup(r, i, 2, &k->cert_pem) != 0 || k->cert_pem == NULL)
		return -1;
	cf_col_copy(k->serial, sizeof(k->serial), r, i, 3);
	k->not_before = col_time(r, i, 4);
	k->not_after = col_time(r, i, 5);
	k->fraction = cf_col_double(r, i, 6, 0);
	p->exists = cf_col_bool(r, i, 7);
	if (p->exists) {
		p->version = (int)cf_col_int(r, i, 8, 0);
		cf_col_copy(p->source, sizeof(p->source), r, i, 9);
		p->fraction = cf_col_double(r, i, 10, 0);
		p->renew_at = col_time(r, i, 11);
		cf_col_copy(p->ari_cert_id, sizeof(p->ari_cert_id), r, i, 12);
		p->window_start = col_time(r, i, 13);
		p->window_end = col_time(r, i, 14);
		cf_col_copy(p->explanation_url, sizeof(p->explanation_url), r, i, 15);
		p->ari_next_fetch = col_time(r, i, 16);
		cf_col_copy(p->ari_error, sizeof(p->ari_error), r, i, 17);
	}
	k->failures = (int)cf_col_int(r, i, 18, 0);
	k->last_failure = col_time(r, i, 19);
	k->active_job = cf_col_bool(r, i, 20);
	k->expiring_notified = cf_col_bool(r, i, 21);
	k->db_now = col_time(r, i, 22);
	return 0;
}

int cf_renew_candidates(PGconn *c, int expiring_soon_s, int limit, cf_renew_cand **out,
			size_t *n, cf_err *err)
{
	char horizon[16], lim[16];
	const char *p[2] = {horizon, lim};
	PGresult *r;
	int rows, rc = -1;

	*out = NULL;
	*n = 0;
	snprintf(horizon, sizeof(horizon), "%d", expiring_soon_s);
	snprintf(lim, sizeof(lim), "%d", limit);
	if ((r = cf_db_exec(c, "finding certificates to renew", cands_sql, 2, p, err)) ==
	    NULL)
		return -1;
	rows = PQntuples(r);
	if (rows > 0 && (*out = calloc((size_t)rows, sizeof(**out))) == NULL)
		goto oom;
	for (int i = 0; i < rows; i++) {
		*n = (size_t)i + 1;
		if (cand_from_row(r, i, &(*out)[i]) != 0)
			goto oom;
	}
	rc = 0;
	goto out;
oom:
	cf_renew_cands_free(*out, *n);
	*out = NULL;
	*n = 0;
	cf_err_oom(err, "finding certificates to renew");
out:
	PQclear(r);
	return rc;
}

void cf_renew_cands_free(cf_renew_cand *v, size_t n)
{
	for (size_t i = 0; v != NULL && i < n; i++)
		free(v[i].cert_pem);
	free(v);
}

static const char save_sql[] =
	"INSERT INTO renewal_plans (certificate_id, version, source, renew_fraction, renew_at,"
	" ari_cert_id, window_start, window_end, explanation_url, ari_next_fetch, ari_error,"
	" updated_at)"
	" VALUES ($1, $2::int, $3, $4::real, to_timestamp($5::float8), nullif($6, ''),"
	" to_timestamp(nullif($7, '0')::float8), to_timestamp(nullif($8, '0')::float8),"
	" nullif($9, ''), to_timestamp(nullif($10, '0')::float8), nullif($11, ''), now())"
	" ON CONFLICT (certificate_id) DO UPDATE SET version = EXCLUDED.version,"
	" source = EXCLUDED.source, renew_fraction = EXCLUDED.renew_fraction,"
	" renew_at = EXCLUDED.renew_at, ari_cert_id = EXCLUDED.ari_cert_id,"
	" window_start = EXCLUDED.window_start, window_end = EXCLUDED.window_end,"
	" explanation_url = EXCLUDED.explanation_url, ari_next_fetch = EXCLUDED.ari_next_fetch,"
	" ari_error = EXCLUDED.ari_error, updated_at = now()";

int cf_renew_plan_save(PGconn *c, const char *id, const cf_renew_plan *pl, cf_err *err)
{
	char ver[16], frac[32], at[24], ws[24], we[24], nf[24];
	const char *p[11] = {id, ver, pl->source, frac, at, pl->ari_cert_id, ws, we,
			     pl->explanation_url, nf, pl->ari_error};

	snprintf(ver, sizeof(ver), "%d", pl->version);
	snprintf(frac, sizeof(frac), "%.6f", pl->fraction);
	snprintf(at, sizeof(at), "%lld", (long long)pl->renew_at);
	snprintf(ws, sizeof(ws), "%lld", (long long)pl->window_start);
	snprintf(we, sizeof(we), "%lld", (long long)pl->window_end);
	snprintf(nf, sizeof(nf), "%lld", (long long)pl->ari_next_fetch);
	return cf_db_run(c, "saving a renewal plan", save_sql, 11, p, err);
}

int cf_renew_enqueue(PGconn *c, const char *id, const char *data, const char *message,
		     char job_id[40], cf_err *err)
{
	cf_job_new nj = { .certificate_id = id, .kind = CF_JOB_KIND_RENEW,
			  .step = CF_STEP_PREFLIGHT, .data = data, .event = message };

	return cf_job_insert(c, &nj, job_id, err);
}

int cf_renew_mark_expiring(PGconn *c, const char *id, int version, cf_err *err)
{
	char ver[16];
	const char *p[2] = {id, ver};
	PGresult *r;
	int rc;

	snprintf(ver, sizeof(ver), "%d", version);
	r = cf_db_exec(c, "marking a version expiring",
		       "UPDATE certificate_versions SET expiring_notified_at = now()"
		       " WHERE certificate_id = $1 AND version = $2::int"
		       " AND expiring_notified_at IS NULL",
		       2, p, err);
	if (r == NULL)
		return -1;
	rc = strcmp(PQcmdTuples(r), "1") == 0 ? 1 : 0;
	PQclear(r);
	return rc;
}
