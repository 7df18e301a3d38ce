/*
 * audit.c: the audit_events and idempotency_keys tables; see audit.h.
 *
 * Idempotency: requests that carry the same (token, key) are serialised by a
 * transaction-level advisory lock on a hash of the pair, so two identical POSTs
 * racing each other cannot both take effect: the second waits for the first to
 * commit, then finds its record and replays it. A record expires after 24 hours;
 * a key may then be used again, and the workers' janitor purges it
 * (cf_idem_purge). The fingerprint is keyed (HMAC with a key derived from the
 * master key), so the stored value does not let a reader of the table test
 * guesses of a request body.
 */
#include "store/audit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "store/db.h"
#include "store/paging.h"
#include "store/rows.h"

int cf_audit_write(PGconn *conn, const char *actor, const char *token_id, const char *action,
		   const char *target, const char *address, const json_t *detail, cf_err *err)
{
	char *d = detail ? json_dumps(detail, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	const char *params[6] = { actor, action, target, address, d, token_id };
	int rc;

	if (detail != NULL && d == NULL)
		return cf_err_oom(err, "audit");
	rc = cf_db_run(conn, "writing an audit event",
		       "INSERT INTO audit_events (actor, action, target, address, detail, token_id) "
		       "VALUES ($1, $2, $3, $4, $5::jsonb, $6)",
		       6, params, err);
	free(d);
	return rc;
}

bool cf_idem_key_valid(const char *key)
{
	size_t i, n = key ? strlen(key) : 0;

	if (n == 0 || n > 255)
		return false;
	for (i = 0; i < n; i++)
		if (key[i] < 0x21 || key[i] > 0x7e)
			return false;
	return true;
}

void cf_idem_fingerprint(const uint8_t key[32], const char *method, const char *path,
			 const void *body, size_t len, uint8_t out[32])
{
	cf_buf b = { 0 };

	/* NUL after method and path: neither can hold one, so no two requests share
	 * the bytes that are hashed */
	if (cf_buf_append(&b, method, strlen(method) + 1) != 0 ||
	    cf_buf_append(&b, path, strlen(path) + 1) != 0 ||
	    (len > 0 && cf_buf_append(&b, body, len) != 0)) {
		memset(out, 0, 32); /* never equal to a real fingerprint's stored value */
		cf_buf_free_secret(&b);
		return;
	}
	if (cf_hmac_sha256(key, 32, b.data, b.len, out) != 0)
		memset(out, 0, 32);
	cf_buf_free_secret(&b); /* the body may hold provider credentials */
}

int cf_idem_begin(PGconn *conn, const char *token_id, const char *key,
		  const uint8_t fingerprint[32], cf_idem_state *state, int *status, char **body,
		  cf_err *err)
{
	const char *params[2] = { token_id, key };
	unsigned char *stored = NULL;
	PGresult *res = NULL;
	size_t len = 0;
	int rc = -1;

	*state = CF_IDEM_NEW;
	*body = NULL;
	if (cf_db_run(conn, "locking an Idempotency-Key",
		      "SELECT pg_advisory_xact_lock(hashtextextended($1 || '/' || $2, 7))", 2,
		      params, err) != 0 ||
	    cf_db_run(conn, "expiring an Idempotency-Key",
		      "DELETE FROM idempotency_keys WHERE token_id = $1 AND key = $2 "
		      "AND created_at < now() - interval '24 hours'",
		      2, params, err) != 0)
		goto out;
	res = cf_db_exec(conn, "looking up an Idempotency-Key",
			 "SELECT body_sha256, status, response FROM idempotency_keys "
			 "WHERE token_id = $1 AND key = $2",
			 2, params, err);
	if (res == NULL)
		goto out;
	rc = 0;
	if (PQntuples(res) == 0)
		goto out;
	stored = PQunescapeBytea((const unsigned char *)PQgetvalue(res, 0, 0), &len);
	if (stored == NULL || !cf_ct_equal(stored, len, fingerprint, 32)) {
		*state = CF_IDEM_MISMATCH;
		goto out;
	}
	*body = strdup(PQgetvalue(res, 0, 2));
	if (*body == NULL) {
		rc = cf_err_oom(err, NULL);
		goto out;
	}
	*status = atoi(PQgetvalue(res, 0, 1));
	*state = CF_IDEM_REPLAY;
out:
	if (stored)
		PQfreemem(stored);
	PQclear(res);
	return rc;
}

int cf_idem_store(PGconn *conn, const char *token_id, const char *key, const char *method,
		  const char *path, const uint8_t fingerprint[32], int status, const char *body,
		  cf_err *err)
{
	char st[16];
	const char *params[7] = { token_id, key, method, path, (const char *)fingerprint, st,
				  body };
	const int lengths[7] = { 0, 0, 0, 0, 32, 0, 0 }, formats[7] = { 0, 0, 0, 0, 1, 0, 0 };
	PGresult *res;

	snprintf(st, sizeof(st), "%d", status);
	res = cf_db_execb(conn, "recording an Idempotency-Key",
			  "INSERT INTO idempotency_keys (token_id, key, method, path, "
			  "body_sha256, status, response) VALUES ($1, $2, $3, $4, $5, $6, $7)",
			  7, params, lengths, formats, err);
	if (res == NULL)
		return -1;
	PQclear(res);
	return 0;
}

int cf_audit_page_json(PGconn *conn, const char *since, const char *actor, const char *action,
		       cf_page_q *q, json_t **out, cf_err *err)
{
	char lim[16];
	const char *p[6] = { since ? since : "", actor ? actor : "", action ? action : "",
			     cf_page_limit_param(q, lim), cf_page_after_param(q, 0),
			     cf_page_after_param(q, 1) };

	return cf_page_query(conn, "listing audit events",
			  "SELECT json_build_object('id', e.id, 'at', " CF_SQL_TS("e.at") ", "
			  "'actor', e.actor, 'token_id', e.token_id, 'action', e.action, "
			  "'target', e.target, 'address', e.address, 'detail', e.detail)::text, "
			  "e.at::text, e.id::text FROM audit_events e "
			  "WHERE ($1 = '' OR e.at >= $1::timestamptz) "
			  "AND ($2 = '' OR e.actor = $2) AND ($3 = '' OR e.action = $3) "
			  "AND ($5 = '' OR (e.at, e.id) > (NULLIF($5, '')::timestamptz, "
			  "NULLIF($6, '')::bigint)) ORDER BY e.at, e.id LIMIT $4::int",
			  6, p, 2, q, "events", out, err);
}

int cf_idem_purge(PGconn *conn, long *purged, cf_err *err)
{
	PGresult *res;

	*purged = 0;
	res = cf_db_exec(conn, "purging old Idempotency-Key records",
			 "DELETE FROM idempotency_keys WHERE created_at < now() - "
			 "interval '24 hours'", 0, NULL, err);
	if (res == NULL)
		return -1;
	*purged = atol(PQcmdTuples(res));
	PQclear(res);
	return 0;
}
