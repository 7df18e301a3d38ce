/*
 * issuers.c: the issuers table and the state shared through it (pauses, budget
 * units in issuer_usage); see issuers.h.
 *
 * Definitions travel as one jsonb parameter and are taken apart in SQL, as
 * certificates.c does; the sealed EAB key travels as a binary bytea parameter.
 * The live state of GET /v1/issuers/{name} is computed in one statement from the
 * usage rows of each limit's window. A budget unit is taken under
 * pg_advisory_xact_lock of a hash of (issuer, limit, key): two replicas taking the
 * last unit serialise on that lock, and the second counts the first's row.
 */
#include "store/issuers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "store/db.h"
#include "store/paging.h"
#include "store/rows.h"

static int issuer_aad(const char *name, char out[CF_ISSUER_AAD_MAX])
{
	int n = snprintf(out, CF_ISSUER_AAD_MAX, "issuers:%s:eab", name ? name : "");

	return (name == NULL || n < 0 || n >= CF_ISSUER_AAD_MAX) ? -1 : 0;
}

int cf_issuer_eab_seal(const uint8_t key[32], const char *name, const char *hmac,
		       cf_buf *out, cf_err *err)
{
	char aad[CF_ISSUER_AAD_MAX];

	if (issuer_aad(name, aad) != 0)
		return cf_err_set(err, CF_ERR_PERMANENT, "issuer name too long");
	if (cf_seal(key, aad, hmac, strlen(hmac), out, err) != 0)
		return cf_err_wrap(err, "issuer %s: sealing the EAB key", name);
	return 0;
}

/* The ca_file member as a column value (NULL for json null or absent). */
#define DOC_COLS                                                                           \
	"$1::jsonb ->> 'directory', COALESCE($1::jsonb ->> 'email', ''), "                 \
	"$1::jsonb ->> 'ca_file', $1::jsonb #>> '{eab,kid}', $1::jsonb ->> 'profile', "    \
	"COALESCE($1::jsonb -> 'limits', '{}'::jsonb), "                                   \
	"COALESCE(($1::jsonb -> 'renewals_exempt')::boolean, true)"

/* Runs sql with the doc ($1) and the sealed blob ($2, binary, may be NULL);
 * 1 when a row came back, 0 when none, -1 on error. */
static int doc_exec(PGconn *conn, const char *what, const char *sql, const json_t *doc,
		    const cf_buf *sealed, cf_err *err)
{
	char *text = json_dumps(doc, JSON_COMPACT);
	const char *p[2] = {text, sealed && sealed->len ? (const char *)sealed->data : NULL};
	const int lens[2] = {0, sealed ? (int)sealed->len : 0}, fmts[2] = {0, 1};
	PGresult *res;
	int rc = -1;

	if (text == NULL)
		return cf_err_oom(err, NULL);
	res = cf_db_execb(conn, what, sql, 2, p, lens, fmts, err);
	if (res != NULL)
		rc = PQntuples(res) >= 1 ? 1 : 0;
	PQclear(res);
	free(text);
	return rc;
}

int cf_issuer_insert(PGconn *conn, const json_t *doc, const cf_buf *sealed, cf_err *err)
{
	return doc_exec(conn, "creating an issuer",
			"INSERT INTO issuers (name, directory, email, ca_pem, eab_kid, profile, "
			"limits, renewals_exempt, eab_hmac_sealed) SELECT $1::jsonb ->> 'name', "
			DOC_COLS ", $2::bytea ON CONFLICT (name) DO NOTHING RETURNING name",
			doc, sealed, err);
}

int cf_issuer_update(PGconn *conn, const json_t *doc, const cf_buf *sealed, cf_err *err)
{
	/* sealed NULL keeps the blob while eab stays; eab null drops both */
	return doc_exec(conn, "updating an issuer",
			"UPDATE issuers SET (directory, email, ca_pem, eab_kid, profile, limits, "
			"renewals_exempt) = (SELECT " DOC_COLS "), eab_hmac_sealed = CASE "
			"WHEN $1::jsonb #>> '{eab,kid}' IS NULL THEN NULL "
			"WHEN $2::bytea IS NOT NULL THEN $2::bytea ELSE eab_hmac_sealed END, "
			"updated_at = now() WHERE name = $1::jsonb ->> 'name' RETURNING name",
			doc, sealed, err);
}

/* One-parameter query whose single column is JSON text; *out NULL when no row. */
static int json_query(PGconn *conn, const char *what, const char *sql, const char *param,
		      json_t **out, cf_err *err)
{
	const char *params[1] = {param};
	PGresult *res;
	int rc = 0;

	*out = NULL;
	res = cf_db_exec(conn, what, sql, param ? 1 : 0, param ? params : NULL, err);
	if (res == NULL)
		return -1;
	if (PQntuples(res) > 0 && (*out = cf_row_json(res, 0, 0)) == NULL)
		rc = cf_err_oom(err, what);
	PQclear(res);
	return rc;
}

#define DOC_JSON                                                                           \
	"json_build_object('name', i.name, 'directory', i.directory, 'email', i.email, "   \
	"'ca_file', i.ca_pem, 'eab', CASE WHEN i.eab_kid IS NULL THEN NULL ELSE "          \
	"json_build_object('kid', i.eab_kid) END, 'profile', i.profile, 'limits', "        \
	"i.limits, 'renewals_exempt', i.renewals_exempt)"

int cf_issuer_get_doc_locked(PGconn *conn, const char *name, json_t **doc, cf_err *err)
{
	return json_query(conn, "reading an issuer",
			  "SELECT " DOC_JSON "::text FROM issuers i WHERE i.name = $1 "
			  "FOR NO KEY UPDATE",
			  name, doc, err);
}

/* The window of limit l (a jsonb_each row) as an interval. */
#define WINDOW_OF(l) "make_interval(secs => (" l ".value ->> 'per_seconds')::float8)"

/* Per limit: the units in use in its window (the busiest key's), what is left,
 * and when the oldest unit of the busiest key frees. */
#define BUDGETS_JSON                                                                       \
	"(SELECT COALESCE(json_object_agg(l.key, json_build_object('count', "              \
	"(l.value ->> 'count')::int, 'per_seconds', (l.value ->> 'per_seconds')::int, "     \
	"'used', COALESCE(u.n, 0), 'left', GREATEST((l.value ->> 'count')::int - "         \
	"COALESCE(u.n, 0), 0), 'next_at', " CF_SQL_TS("u.first + " WINDOW_OF("l")) "))," \
	" '{}'::json) FROM jsonb_each(i.limits) l LEFT JOIN LATERAL (SELECT count(*) n, "  \
	"min(g.at) first FROM issuer_usage g WHERE g.issuer = i.name AND g.limit_name = "  \
	"l.key AND g.at > now() - " WINDOW_OF("l") " GROUP BY g.key ORDER BY count(*) DESC " \
	"LIMIT 1) u ON true)"

#define LAST_HOUR(what)                                                                    \
	"(SELECT count(*) FROM issuer_usage g WHERE g.issuer = i.name AND g.limit_name = " \
	"'" what "' AND g.at > now() - interval '1 hour')"

#define ISSUER_JSON                                                                        \
	"(" DOC_JSON "::jsonb || jsonb_build_object('eab', CASE WHEN i.eab_kid IS NULL "   \
	"THEN NULL ELSE jsonb_build_object('kid', i.eab_kid, 'hmac_key_set', true) END, "   \
	"'state', json_build_object('paused', CASE WHEN i.paused_until > now() THEN "      \
	"json_build_object('until', " CF_SQL_TS("i.paused_until") ", 'reason', "            \
	"i.pause_reason, 'problem', i.pause_problem) END, 'last_hour', json_build_object(" \
	"'orders', " LAST_HOUR(CF_USAGE_ORDER_SENT) ", 'failures', "                       \
	LAST_HOUR(CF_USAGE_FAILURE) "), 'budgets', " BUDGETS_JSON "), 'created_at', "       \
	CF_SQL_TS("i.created_at") ", 'updated_at', " CF_SQL_TS("i.updated_at") "))"

int cf_issuer_get_json(PGconn *conn, const char *name, json_t **out, cf_err *err)
{
	return json_query(conn, "reading an issuer",
			  "SELECT " ISSUER_JSON "::text FROM issuers i WHERE i.name = $1", name,
			  out, err);
}

int cf_issuer_exists_locked(PGconn *conn, const char *name, cf_err *err)
{
	const char *p[1] = {name};
	PGresult *res = cf_db_exec(conn, "finding an issuer",
				   "SELECT 1 FROM issuers WHERE name = $1 FOR SHARE", 1, p, err);
	int rc;

	if (res == NULL)
		return -1;
	rc = PQntuples(res) == 1 ? 1 : 0;
	PQclear(res);
	return rc;
}

int cf_issuer_delete(PGconn *conn, const char *name, json_t **users, cf_err *err)
{
	const char *p[1] = {name};
	PGresult *res = NULL;
	int rc = -1;

	*users = NULL;
	/* the row lock first: a certificate write holding it FOR SHARE commits
	 * before the users are looked for */
	res = cf_db_exec(conn, "locking an issuer",
			 "SELECT 1 FROM issuers WHERE name = $1 FOR UPDATE", 1, p, err);
	if (res == NULL)
		goto out;
	if (PQntuples(res) == 0) {
		rc = 0;
		goto out;
	}
	PQclear(res);
	res = cf_db_exec(conn, "finding the users of an issuer",
			 "SELECT id FROM certificates WHERE $1 = ANY(issuers) ORDER BY id LIMIT 10",
			 1, p, err);
	if (res == NULL)
		goto out;
	if (PQntuples(res) > 0) {
		*users = json_array();
		for (int r = 0; *users != NULL && r < PQntuples(res); r++)
			json_array_append_new(*users, json_string(PQgetvalue(res, r, 0)));
		rc = 2;
		goto out;
	}
	PQclear(res);
	res = NULL;
	rc = cf_db_run(conn, "deleting an issuer", "DELETE FROM issuers WHERE name = $1", 1, p,
		       err) == 0 ? 1 : -1;
out:
	PQclear(res);
	return rc;
}

int cf_issuer_upsert_default(PGconn *conn, const char *directory, const char *ca_pem,
			     const char *email, cf_err *err)
{
	const char *p[4] = {CF_ISSUER_DEFAULT, directory, ca_pem, email ? email : ""};

	return cf_db_run(conn, "creating the default issuer",
			 "INSERT INTO issuers (name, directory, ca_pem, email) VALUES ($1, $2, $3, $4) "
			 "ON CONFLICT (name) DO UPDATE SET directory = EXCLUDED.directory, "
			 "ca_pem = EXCLUDED.ca_pem, email = EXCLUDED.email, updated_at = now() "
			 "WHERE (issuers.directory, issuers.ca_pem, issuers.email) IS DISTINCT FROM "
			 "(EXCLUDED.directory, EXCLUDED.ca_pem, EXCLUDED.email)",
			 4, p, err);
}

/* ---- the worker's side ---- */

static int unseal_eab(const PGresult *res, int r, int c, const uint8_t key[32],
		      const char *name, char **out, cf_err *err)
{
	char aad[CF_ISSUER_AAD_MAX];
	unsigned char *blob;
	cf_buf plain = {0};
	size_t len = 0;
	int rc = -1;

	*out = NULL;
	if (PQgetisnull(res, r, c))
		return 0;
	if (issuer_aad(name, aad) != 0)
		return cf_err_set(err, CF_ERR_PERMANENT, "issuer name too long");
	if ((blob = PQunescapeBytea((const unsigned char *)PQgetvalue(res, r, c), &len)) == NULL)
		return cf_err_set(err, CF_ERR_TRANSIENT, "issuer %s: bad bytea", name);
	if (cf_unseal(key, aad, blob, len, &plain, err) != 0) {
		cf_err_wrap(err, "issuer %s: the sealed EAB key does not open", name);
		err->cls = CF_ERR_PERMANENT;
		goto out;
	}
	if ((*out = strndup((const char *)plain.data, plain.len)) == NULL) {
		cf_err_oom(err, NULL);
		goto out;
	}
	rc = 0;
out:
	cf_buf_free_secret(&plain);
	PQfreemem(blob);
	return rc;
}

int cf_issuer_load(PGconn *conn, const uint8_t key[32], const char *name, cf_issuer *out,
		   cf_err *err)
{
	const char *p[1] = {name};
	PGresult *res;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	res = cf_db_exec(conn, "loading an issuer",
			 "SELECT directory, email, ca_pem, eab_kid, eab_hmac_sealed, profile, "
			 "limits::text, renewals_exempt FROM issuers WHERE name = $1",
			 1, p, err);
	if (res == NULL)
		return -1;
	if (PQntuples(res) == 0) {
		rc = 0;
		goto out;
	}
	snprintf(out->name, sizeof(out->name), "%s", name);
	if (cf_col_dup(res, 0, 0, &out->directory) != 0 || cf_col_dup(res, 0, 1, &out->email) != 0 ||
	    (!PQgetisnull(res, 0, 2) && cf_col_dup(res, 0, 2, &out->ca_pem) != 0) ||
	    (!PQgetisnull(res, 0, 3) && cf_col_dup(res, 0, 3, &out->eab_kid) != 0) ||
	    (!PQgetisnull(res, 0, 5) && cf_col_dup(res, 0, 5, &out->profile) != 0) ||
	    (out->limits = cf_row_json(res, 0, 6)) == NULL) {
		cf_err_oom(err, "loading an issuer");
		goto fail;
	}
	if (unseal_eab(res, 0, 4, key, name, &out->eab_hmac, err) != 0)
		goto fail;
	out->renewals_exempt = cf_col_bool(res, 0, 7);
	rc = 1;
	goto out;
fail:
	cf_issuer_free(out);
out:
	PQclear(res);
	return rc;
}

void cf_issuer_free(cf_issuer *is)
{
	free(is->directory);
	free(is->email);
	free(is->ca_pem);
	free(is->eab_kid);
	cf_secret_free(is->eab_hmac);
	free(is->profile);
	json_decref(is->limits);
	memset(is, 0, sizeof(*is));
}

int cf_issuer_paused(PGconn *conn, const char *name, double *left_s, char *reason,
		     size_t len, cf_err *err)
{
	const char *p[1] = {name};
	PGresult *res;
	int rc = 0;

	*left_s = 0;
	res = cf_db_exec(conn, "reading an issuer's pause",
			 "SELECT extract(epoch FROM paused_until - now()), COALESCE(pause_reason, '') "
			 "FROM issuers WHERE name = $1 AND paused_until > now()",
			 1, p, err);
	if (res == NULL)
		return -1;
	if (PQntuples(res) == 1) {
		*left_s = cf_col_double(res, 0, 0, 0);
		if (reason != NULL)
			cf_col_copy(reason, len, res, 0, 1);
		rc = 1;
	}
	PQclear(res);
	return rc;
}

int cf_issuer_pause(PGconn *conn, const char *name, bool rate_limited, long retry_after_s,
		    double cap_s, double sent_ago_s, const char *reason, const char *problem,
		    double *until_s, cf_err *err)
{
	char ra[24], cap[32], ago[32], rl[2] = {rate_limited ? 't' : 'f', 0};
	const char *p[7] = {name, rl, ra, cap, reason, problem, ago};
	json_t *pj = problem ? json_loads(problem, 0, NULL) : NULL;
	PGresult *res;
	int rc;

	if (pj == NULL)
		p[5] = NULL; /* not JSON: kept out of the jsonb column */
	json_decref(pj);
	snprintf(ra, sizeof(ra), "%ld", retry_after_s > 0 ? retry_after_s : 0);
	snprintf(cap, sizeof(cap), "%.3f", cap_s > 1 ? cap_s : 1);
	snprintf(ago, sizeof(ago), "%.3f", sent_ago_s > 0 ? sent_ago_s : 0);
	/* rate limited: Retry-After (60 s without one); else 2^streak s, capped, at
	 * least Retry-After; never shorter than a pause already in force. Of the
	 * others, only a request sent after the last pause ended (or with none)
	 * pauses: the others failed in the storm that pause answers (a 429 always
	 * counts: its Retry-After is the CA's word). The condition is on the
	 * row UPDATE locks, so of two racing failures the second sees the first's
	 * pause (READ COMMITTED re-checks it on the updated row). */
	res = cf_db_exec(conn, "pausing an issuer",
			 "WITH u AS (UPDATE issuers SET paused_until = GREATEST(COALESCE("
			 "paused_until, now()), now() + make_interval(secs => CASE WHEN $2::boolean "
			 "THEN (CASE WHEN $3::int > 0 THEN $3::int ELSE 60 END)::float8 ELSE "
			 "GREATEST(LEAST(power(2, LEAST(pause_streak, 30)), $4::float8), $3::int) "
			 "END)), pause_reason = $5, pause_problem = $6::jsonb, pause_streak = "
			 "pause_streak + 1 WHERE name = $1 AND ($2::boolean OR paused_until IS NULL "
			 "OR paused_until <= now() - make_interval(secs => $7::float8)) "
			 "RETURNING paused_until) "
			 "SELECT (SELECT count(*) FROM u), GREATEST(0, extract(epoch FROM COALESCE("
			 "(SELECT paused_until FROM u), (SELECT paused_until FROM issuers WHERE "
			 "name = $1)) - now()))",
			 7, p, err);
	if (res == NULL)
		return -1;
	rc = PQntuples(res) == 1 && cf_col_int(res, 0, 0, 0) == 1 ? 1 : 0;
	*until_s = PQntuples(res) == 1 ? cf_col_double(res, 0, 1, 0) : 0;
	PQclear(res);
	if (cf_issuer_record(conn, name, CF_USAGE_FAILURE, "", NULL, err) != 0)
		return -1;
	return rc;
}

int cf_issuer_recovered(PGconn *conn, const char *name, cf_err *err)
{
	const char *p[1] = {name};

	return cf_db_run(conn, "an issuer recovered",
			 "UPDATE issuers SET pause_streak = 0 WHERE name = $1 AND pause_streak > 0 "
			 "AND (paused_until IS NULL OR paused_until <= now())",
			 1, p, err);
}

int cf_issuer_record(PGconn *conn, const char *issuer, const char *what, const char *key,
		     const char *job_id, cf_err *err)
{
	const char *p[4] = {issuer, what, key ? key : "", job_id};

	return cf_db_run(conn, "recording an issuer's use",
			 "INSERT INTO issuer_usage (issuer, limit_name, key, job_id) "
			 "VALUES ($1, $2, $3, $4::uuid)",
			 4, p, err);
}

/* "3h", "2m", "45s": a window for messages. */
static void span_text(long s, char *out, size_t len)
{
	if (s % 86400 == 0)
		snprintf(out, len, "%ldd", s / 86400);
	else if (s % 3600 == 0)
		snprintf(out, len, "%ldh", s / 3600);
	else if (s % 60 == 0)
		snprintf(out, len, "%ldm", s / 60);
	else
		snprintf(out, len, "%lds", s);
}

/* Counts the window of one unit under its advisory lock (held until the
 * transaction ends): 1 free, 0 full (*w filled), -1 error. With take, a free unit
 * is inserted. */
static int unit_check(PGconn *conn, const char *issuer, const json_t *limit_def,
		      const char *limit, const char *key, bool take, const char *job_id,
		      cf_budget_wait *w, cf_err *err)
{
	long count = (long)json_integer_value(json_object_get(limit_def, "count"));
	long per = (long)json_integer_value(json_object_get(limit_def, "per_seconds"));
	char cnt[24], ps[24], span[24], at[16];
	const char *p[6] = {issuer, limit, key, cnt, ps, job_id};
	PGresult *res;
	int rc = -1;

	snprintf(cnt, sizeof(cnt), "%ld", count);
	snprintf(ps, sizeof(ps), "%ld", per);
	/* the lock in a statement of its own: the count's snapshot, taken after it,
	 * sees every unit committed by the taker before us */
	if (cf_db_run(conn, "locking a budget",
		      "SELECT pg_advisory_xact_lock(hashtextextended($1 || '/' || $2 || '/' || $3, "
		      "11))", 3, p, err) != 0)
		return -1;
	/* the $4-th newest row of the window: when it leaves, a unit frees */
	res = cf_db_exec(conn, "counting a budget",
			 "WITH w AS (SELECT at FROM issuer_usage WHERE issuer = $1 "
			 "AND limit_name = $2 AND key = $3 AND at > now() - make_interval(secs => "
			 "$5::float8) ORDER BY at DESC LIMIT $4::int) SELECT count(*), "
			 "GREATEST(extract(epoch FROM min(at) + make_interval(secs => $5::float8) - "
			 "now()), 0), to_char(min(at) + make_interval(secs => $5::float8), "
			 "'HH24:MI:SS') FROM w",
			 5, p, err);
	if (res == NULL)
		return -1;
	if (cf_col_int(res, 0, 0, 0) >= count) {
		w->wait_s = cf_col_double(res, 0, 1, 1);
		cf_col_copy(at, sizeof(at), res, 0, 2);
		span_text(per, span, sizeof(span));
		snprintf(w->limit, sizeof(w->limit), "%s", limit);
		snprintf(w->msg, sizeof(w->msg), "%s budget at %s%s%s%s: %ld per %s used, next "
			 "at %s", limit, issuer, key[0] ? " for \"" : "", key, key[0] ? "\"" : "",
			 count, span, at);
		rc = 0;
		goto out;
	}
	rc = 1;
	if (take && cf_issuer_record(conn, issuer, limit, key, job_id, err) != 0)
		rc = -1;
out:
	PQclear(res);
	return rc;
}

int cf_issuer_take(PGconn *conn, const char *issuer, const json_t *limits,
		   const cf_unit *units, size_t n, const char *job_id, cf_budget_wait *w,
		   cf_err *err)
{
	int rc = 1, r;

	memset(w, 0, sizeof(*w));
	if (cf_db_begin(conn, err) != 0)
		return -1;
	/* units come in a fixed order (orders, then domains sorted): locks are always
	 * taken in the same order, so two takers cannot deadlock */
	for (size_t i = 0; i < n && rc == 1; i++) {
		const json_t *def = json_object_get(limits, units[i].limit);

		if (def == NULL)
			continue;
		r = unit_check(conn, issuer, def, units[i].limit, units[i].key, true, job_id, w,
			       err);
		if (r < 0) {
			cf_db_rollback(conn);
			return -1;
		}
		rc = r;
	}
	if (rc == 0) {
		cf_db_rollback(conn);
		return 0;
	}
	return cf_db_commit(conn, err) == 0 ? 1 : -1;
}

int cf_issuer_check(PGconn *conn, const char *issuer, const json_t *limits, const char *limit,
		    const char *key, cf_budget_wait *w, cf_err *err)
{
	const json_t *def = json_object_get(limits, limit);

	memset(w, 0, sizeof(*w));
	if (def == NULL)
		return 1;
	return unit_check(conn, issuer, def, limit, key, false, NULL, w, err);
}

int cf_issuer_duplicate_check(PGconn *conn, const char *certificate_id, cf_dup_check *out,
			      cf_err *err)
{
	const char *p[1] = {certificate_id};
	PGresult *res;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	/* the name set as the worker keys it: sorted bytewise, joined by ' ' */
	res = cf_db_exec(conn, "counting a certificate's name set",
			 "SELECT i.name, (i.limits #>> '{duplicate_sets,count}')::int, "
			 "(i.limits #>> '{duplicate_sets,per_seconds}')::int, (SELECT count(*) FROM "
			 "issuer_usage u WHERE u.issuer = i.name AND u.limit_name = '"
			 CF_LIMIT_DUP_SETS "' AND u.key = (SELECT string_agg(d, ' ' ORDER BY d "
			 "COLLATE \"C\") FROM unnest(c.domains) d) AND u.at > now() - "
			 "make_interval(secs => (i.limits #>> '{duplicate_sets,per_seconds}')::float8))"
			 " FROM certificates c JOIN issuers i ON i.name = c.issuers[1] "
			 "WHERE c.id = $1 AND i.limits ? '" CF_LIMIT_DUP_SETS "'",
			 1, p, err);
	if (res == NULL)
		return -1;
	if (PQntuples(res) == 1) {
		cf_col_copy(out->issuer, sizeof(out->issuer), res, 0, 0);
		out->count = (long)cf_col_int(res, 0, 1, 0);
		out->per_seconds = (long)cf_col_int(res, 0, 2, 0);
		out->issued = (long)cf_col_int(res, 0, 3, 0);
		rc = out->issued >= out->count ? 1 : 0;
	}
	PQclear(res);
	return rc;
}

int cf_issuer_prune(PGconn *conn, const char *name, cf_err *err)
{
	const char *p[1] = {name};

	/* rows older than the issuer's longest window (and the hour of activity);
	 * the "replaced" units of ARI certIDs are kept: a predecessor is replaced once */
	return cf_db_run(conn, "pruning an issuer's usage",
			 "DELETE FROM issuer_usage u USING issuers i WHERE i.name = $1 AND "
			 "u.issuer = i.name AND u.limit_name <> '" CF_USAGE_REPLACED "' AND u.at < now() - "
			 "make_interval(secs => GREATEST(3600, COALESCE((SELECT max((l.value ->> "
			 "'per_seconds')::float8) FROM jsonb_each(i.limits) l), 0)))",
			 1, p, err);
}

int cf_issuer_page_json(PGconn *conn, cf_page_q *q, json_t **out, cf_err *err)
{
	char lim[16];
	const char *p[2] = { cf_page_after_param(q, 0), cf_page_limit_param(q, lim) };

	return cf_page_query(conn, "listing issuers",
			  "SELECT " ISSUER_JSON "::text, i.name FROM issuers i "
			  "WHERE $1 = '' OR i.name > $1 ORDER BY i.name LIMIT $2::int",
			  2, p, 1, q, "issuers", out, err);
}
