/*
 * tokens.c: the tokens table: create, verify, revoke, list; see tokens.h.
 *
 * The secret part of a token exists in memory only while it is made or checked;
 * the full token string handed to the caller must be wiped with cf_secret_free.
 * Verification does the same work (a SHA-256 and a constant-time compare) whether
 * or not the id exists, so the answer time does not tell a guessed id from a
 * guessed secret.
 */
#include "store/tokens.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "store/db.h"
#include "store/rows.h"

#define SECRET_BYTES 32

cf_role cf_role_parse(const char *s)
{
	if (s != NULL && strcmp(s, "admin") == 0)
		return CF_ROLE_ADMIN;
	if (s != NULL && strcmp(s, "host") == 0)
		return CF_ROLE_HOST;
	return CF_ROLE_NONE;
}

const char *cf_role_name(cf_role r)
{
	return r == CF_ROLE_ADMIN ? "admin" : r == CF_ROLE_HOST ? "host" : "none";
}

static bool b64url_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_';
}

int cf_token_split(const char *token, char id[CF_TOKEN_ID_LEN + 1], const char **secret)
{
	size_t i, n;

	if (token == NULL || strncmp(token, "cf_", 3) != 0)
		return -1;
	for (i = 0; i < CF_TOKEN_ID_LEN; i++) {
		char c = token[3 + i];

		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return -1;
	}
	if (token[3 + CF_TOKEN_ID_LEN] != '_')
		return -1;
	*secret = token + 3 + CF_TOKEN_ID_LEN + 1;
	n = strlen(*secret);
	if (n == 0 || n > CF_TOKEN_SECRET_MAX)
		return -1;
	for (i = 0; i < n; i++)
		if (!b64url_char((*secret)[i]))
			return -1;
	memcpy(id, token + 3, CF_TOKEN_ID_LEN);
	id[CF_TOKEN_ID_LEN] = '\0';
	return 0;
}

int cf_parse_duration(const char *s, long *seconds)
{
	char *end = NULL;
	long v, mult = 1;

	if (s == NULL || s[0] < '0' || s[0] > '9')
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || v <= 0)
		return -1;
	if (*end == 'd')
		mult = 86400;
	else if (*end == 'h')
		mult = 3600;
	else if (*end == 'm')
		mult = 60;
	else if (*end != 's' && *end != '\0')
		return -1;
	if (*end != '\0' && end[1] != '\0')
		return -1;
	if (v > 100L * 366 * 86400 / mult)
		return -1;
	*seconds = v * mult;
	return 0;
}

int cf_token_create(PGconn *conn, const char *name, cf_role role, long expires_s,
		    char **token, char id[CF_TOKEN_ID_LEN + 1], bool *broken, cf_err *err)
{
	uint8_t rid[CF_TOKEN_ID_LEN / 2], hash[32];
	char expires[32], *secret = NULL, *full = NULL;
	const char *params[5];
	int lengths[5] = { 0, 0, 0, sizeof(hash), 0 }, formats[5] = { 0, 0, 0, 1, 0 };
	PGresult *res = NULL;
	size_t i, flen;
	int rc = -1;

	*token = NULL;
	if (cf_random_bytes(rid, sizeof(rid)) != 0 || (secret = cf_random_token(SECRET_BYTES)) == NULL) {
		cf_err_set(err, CF_ERR_TRANSIENT, "token: no random bytes");
		goto out;
	}
	for (i = 0; i < sizeof(rid); i++)
		snprintf(id + 2 * i, 3, "%02x", rid[i]);
	flen = 3 + CF_TOKEN_ID_LEN + 1 + strlen(secret) + 1;
	if ((full = malloc(flen)) == NULL) {
		cf_err_set(err, CF_ERR_TRANSIENT, "token: out of memory");
		goto out;
	}
	snprintf(full, flen, "cf_%s_%s", id, secret);
	cf_sha256(secret, strlen(secret), hash);
	snprintf(expires, sizeof(expires), "%ld", expires_s);
	params[0] = id;
	params[1] = name;
	params[2] = cf_role_name(role);
	params[3] = (const char *)hash;
	params[4] = expires;
	res = cf_db_execb(conn, "creating a token",
			  "INSERT INTO tokens (id, name, role, secret_sha256, expires_at) "
			  "VALUES ($1, $2, $3, $4, CASE WHEN $5::bigint > 0 "
			  "THEN now() + $5::bigint * interval '1 second' END)",
			  5, params, lengths, formats, broken, err);
	if (res == NULL)
		goto out;
	*token = full;
	full = NULL;
	rc = 0;
out:
	PQclear(res);
	OPENSSL_cleanse(hash, sizeof(hash));
	cf_secret_free(secret);
	cf_secret_free(full);
	return rc;
}

/* The stored hash of column c (bytea in text form) into out; -1 when malformed. */
static int stored_hash(const PGresult *res, int c, uint8_t out[32])
{
	unsigned char *raw;
	size_t len = 0;

	raw = PQunescapeBytea((const unsigned char *)PQgetvalue(res, 0, c), &len);
	if (raw == NULL)
		return -1;
	if (len == 32)
		memcpy(out, raw, 32);
	PQfreemem(raw);
	return len == 32 ? 0 : -1;
}

int cf_token_verify(PGconn *conn, const char *token, cf_principal *who,
		    cf_token_status *status, bool *broken, cf_err *err)
{
	char id[CF_TOKEN_ID_LEN + 1] = "000000000000";
	uint8_t want[32] = { 0 }, got[32];
	const char *secret = "", *params[1] = { id };
	PGresult *res = NULL;
	bool found = false, match;
	int rc = -1;

	*status = CF_TOKEN_INVALID;
	memset(who, 0, sizeof(*who));
	if (cf_token_split(token, id, &secret) == 0) {
		res = cf_db_exec(conn, "checking a token",
				 "SELECT name, role, secret_sha256, "
				 "expires_at IS NOT NULL AND expires_at <= now(), "
				 "revoked_at IS NOT NULL FROM tokens WHERE id = $1",
				 1, params, broken, err);
		if (res == NULL)
			goto out;
		found = PQntuples(res) == 1 && stored_hash(res, 2, want) == 0;
	}
	/* the same work whether or not the id exists */
	cf_sha256(secret, strlen(secret), got);
	match = cf_ct_equal(got, sizeof(got), want, sizeof(want)) && found;
	rc = 0;
	if (!match)
		goto out;
	if (PQgetvalue(res, 0, 4)[0] == 't') {
		*status = CF_TOKEN_REVOKED;
		goto out;
	}
	if (PQgetvalue(res, 0, 3)[0] == 't') {
		*status = CF_TOKEN_EXPIRED;
		goto out;
	}
	snprintf(who->token_id, sizeof(who->token_id), "%s", id);
	snprintf(who->name, sizeof(who->name), "%s", PQgetvalue(res, 0, 0));
	who->role = cf_role_parse(PQgetvalue(res, 0, 1));
	*status = CF_TOKEN_OK;
	/* the last use, at most once a minute per token */
	if (cf_db_run(conn, "recording a token's use",
		      "UPDATE tokens SET last_used_at = now() WHERE id = $1 AND "
		      "(last_used_at IS NULL OR last_used_at < now() - interval '60 seconds')",
		      1, params, broken, err) != 0)
		rc = -1;
out:
	OPENSSL_cleanse(got, sizeof(got));
	PQclear(res);
	return rc;
}

int cf_token_revoke(PGconn *conn, const char *name, const char *id, json_t **ids,
		    bool *broken, cf_err *err)
{
	const char *params[2] = { name ? name : "", id ? id : "" };
	PGresult *res;
	int n;

	if (ids != NULL)
		*ids = NULL;
	res = cf_db_exec(conn, "revoking tokens",
			 "UPDATE tokens SET revoked_at = now() WHERE revoked_at IS NULL AND "
			 "(($1 <> '' AND name = $1) OR ($2 <> '' AND id = $2)) RETURNING id",
			 2, params, broken, err);
	if (res == NULL)
		return -1;
	n = PQntuples(res);
	if (ids != NULL && (*ids = json_array()) != NULL)
		for (int r = 0; r < n; r++)
			json_array_append_new(*ids, json_string(PQgetvalue(res, r, 0)));
	PQclear(res);
	return n;
}

int cf_token_list(PGconn *conn, json_t **out, bool *broken, cf_err *err)
{
	PGresult *res;
	json_t *list;

	*out = NULL;
	res = cf_db_exec(conn, "listing tokens",
			 "SELECT id, name, role, " CF_SQL_TS("created_at") ", "
			 CF_SQL_TS("expires_at") ", " CF_SQL_TS("revoked_at") ", "
			 CF_SQL_TS("last_used_at") " FROM tokens ORDER BY created_at, id",
			 0, NULL, broken, err);
	if (res == NULL)
		return -1;
	list = json_array();
	for (int r = 0; list != NULL && r < PQntuples(res); r++)
		json_array_append_new(list, json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o}",
						      "id", cf_row_str(res, r, 0),
						      "name", cf_row_str(res, r, 1),
						      "role", cf_row_str(res, r, 2),
						      "created_at", cf_row_str(res, r, 3),
						      "expires_at", cf_row_str(res, r, 4),
						      "revoked_at", cf_row_str(res, r, 5),
						      "last_used_at", cf_row_str(res, r, 6)));
	PQclear(res);
	if (list == NULL)
		return cf_err_set(err, CF_ERR_TRANSIENT, "out of memory");
	*out = list;
	return 0;
}
