/*
 * tokens.c: the tokens table: create, verify, revoke, list; see tokens.h.
 *
 * The secret part of a token exists in memory only while it is made or checked;
 * the full token string handed to the caller must be wiped with cf_secret_free.
 * The stored value is HMAC-SHA-256(token key, secret), the token key derived from
 * the master key once per process (cf_tokens_init): a copy of the tokens table
 * alone does not let anyone test guesses of a secret. Rows made before 0011_keys
 * hold SHA-256(secret) and still verify; the first use of such a token re-hashes
 * its row (cf_token_rehash, called with the throttled last-use record). Verification does the same work (an
 * HMAC, a SHA-256 and a constant-time compare) whether or not the id exists and
 * whichever hash the row holds, so the answer time does not tell a guessed id
 * from a guessed secret. Expiry is judged by the caller's clock (cf_token_check's
 * now), so that a cached row expires on time without asking the database.
 */
#include "store/tokens.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "store/db.h"
#include "store/paging.h"
#include "store/rows.h"
#include "util/buf.h"

#define SECRET_BYTES 32
#define TOKEN_KEY_INFO "certfleet token hmac v1"

/* The token HMAC key: set once by cf_tokens_init before threads start, only
 * read afterwards (cf_mac_key_sha256 works on a copy); freed by cf_tokens_done. */
static cf_mac_key *token_mac;

int cf_tokens_init(const uint8_t master_key[32])
{
	uint8_t k[32];
	int rc = -1;

	cf_tokens_done();
	if (cf_derive_key(master_key, TOKEN_KEY_INFO, k) == 0 &&
	    (token_mac = cf_mac_key_new(k)) != NULL)
		rc = 0;
	cf_wipe(k, sizeof(k));
	return rc;
}

void cf_tokens_done(void)
{
	cf_mac_key_free(token_mac);
	token_mac = NULL;
}

bool cf_token_name_reserved(const char *name)
{
	return name != NULL && (strcmp(name, "cli") == 0 || strcmp(name, "worker") == 0 ||
				strncmp(name, "db:", 3) == 0);
}

/* HMAC-SHA-256(token key, secret) into out; -1 (out zeroed) without a key, after
 * the same work with a zero key. */
static int secret_hmac(const char *secret, uint8_t out[32])
{
	static const uint8_t zero[32];

	if (token_mac == NULL) {
		if (cf_hmac_sha256(zero, sizeof(zero), secret, strlen(secret), out) != 0) {
			/* out is zeroed below either way */
		}
		memset(out, 0, 32);
		return -1;
	}
	if (cf_mac_key_sha256(token_mac, secret, strlen(secret), out) != 0) {
		memset(out, 0, 32);
		return -1;
	}
	return 0;
}

static const char *const role_names[CF_ROLE_COUNT] = {
	[CF_ROLE_NONE] = "none",
	[CF_ROLE_ADMIN] = "admin",
	[CF_ROLE_HOST] = "host",
	[CF_ROLE_KEYS] = "keys",
	[CF_ROLE_OPERATOR] = "operator",
	[CF_ROLE_VIEWER] = "viewer",
};

cf_role cf_role_parse(const char *s)
{
	for (int r = CF_ROLE_NONE + 1; s != NULL && r < CF_ROLE_COUNT; r++)
		if (strcmp(s, role_names[r]) == 0)
			return (cf_role)r;
	return CF_ROLE_NONE;
}

const char *cf_role_name(cf_role r)
{
	return r > CF_ROLE_NONE && r < CF_ROLE_COUNT ? role_names[r] : "none";
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
		    char **token, char id[CF_TOKEN_ID_LEN + 1], cf_err *err)
{
	uint8_t rid[CF_TOKEN_ID_LEN / 2], hash[32];
	char expires[32], *secret = NULL, *full = NULL;
	const char *params[5];
	int lengths[5] = { 0, 0, 0, sizeof(hash), 0 }, formats[5] = { 0, 0, 0, 1, 0 };
	PGresult *res = NULL;
	size_t i, flen;
	int rc = -1;

	*token = NULL;
	if (token_mac == NULL) {
		cf_err_set(err, CF_ERR_PERMANENT, "token: the master key is needed to create a "
			   "token (CERTFLEET_MASTER_KEY or CERTFLEET_MASTER_KEY_FILE)");
		goto out;
	}
	if (cf_random_bytes(rid, sizeof(rid)) != 0 || (secret = cf_random_token(SECRET_BYTES)) == NULL) {
		cf_err_set(err, CF_ERR_TRANSIENT, "token: no random bytes");
		goto out;
	}
	for (i = 0; i < sizeof(rid); i++)
		snprintf(id + 2 * i, 3, "%02x", rid[i]);
	flen = 3 + CF_TOKEN_ID_LEN + 1 + strlen(secret) + 1;
	if ((full = malloc(flen)) == NULL) {
		cf_err_oom(err, "token");
		goto out;
	}
	snprintf(full, flen, "cf_%s_%s", id, secret);
	if (secret_hmac(secret, hash) != 0) {
		cf_err_set(err, CF_ERR_PERMANENT, "token: HMAC failed");
		goto out;
	}
	snprintf(expires, sizeof(expires), "%ld", expires_s);
	params[0] = id;
	params[1] = name;
	params[2] = cf_role_name(role);
	params[3] = (const char *)hash;
	params[4] = expires;
	res = cf_db_execb(conn, "creating a token",
			  "INSERT INTO tokens (id, name, role, secret_hmac, expires_at) "
			  "VALUES ($1, $2, $3, $4, CASE WHEN $5::bigint > 0 "
			  "THEN now() + $5::bigint * interval '1 second' END)",
			  5, params, lengths, formats, err);
	if (res == NULL)
		goto out;
	*token = full;
	full = NULL;
	rc = 0;
out:
	PQclear(res);
	cf_wipe(hash, sizeof(hash));
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

int cf_token_lookup(PGconn *conn, const char *id, cf_token_row *row, bool *found, cf_err *err)
{
	const char *params[1] = { id };
	PGresult *res;

	*found = false;
	memset(row, 0, sizeof(*row));
	res = cf_db_exec(conn, "checking a token",
			 "SELECT name, role, COALESCE(secret_hmac, secret_sha256), "
			 "ceil(extract(epoch FROM expires_at - now()))::bigint, "
			 "revoked_at IS NOT NULL, secret_hmac IS NOT NULL FROM tokens "
			 "WHERE id = $1",
			 1, params, err);
	if (res == NULL)
		return -1;
	if (PQntuples(res) == 1 && stored_hash(res, 2, row->secret_sha256) == 0) {
		snprintf(row->id, sizeof(row->id), "%s", id);
		cf_col_copy(row->name, sizeof(row->name), res, 0, 0);
		row->role = cf_role_parse(PQgetvalue(res, 0, 1));
		/* the time left on the database's clock, from now on this replica's */
		if (!PQgetisnull(res, 0, 3))
			row->expires_at = time(NULL) + (time_t)cf_col_int(res, 0, 3, 0);
		row->revoked = cf_col_bool(res, 0, 4);
		row->hmac = cf_col_bool(res, 0, 5);
		*found = true;
	}
	PQclear(res);
	return 0;
}

void cf_token_check(const cf_token_row *row, const char *token, time_t now,
		    cf_principal *who, cf_token_status *status)
{
	static const uint8_t none[32] = { 0 };
	char id[CF_TOKEN_ID_LEN + 1] = "000000000000";
	const char *secret = "";
	uint8_t mac[32], sha[32];
	bool shaped, keyed, match;

	*status = CF_TOKEN_INVALID;
	memset(who, 0, sizeof(*who));
	shaped = cf_token_split(token, id, &secret) == 0;
	/* the same work whether or not the id exists, and whichever hash it has */
	keyed = secret_hmac(secret, mac) == 0;
	cf_sha256(secret, strlen(secret), sha);
	match = cf_ct_equal(row && !row->hmac ? sha : mac, sizeof(mac),
			    row ? row->secret_sha256 : none, sizeof(mac)) &&
		shaped && row != NULL && (keyed || !row->hmac) && strcmp(row->id, id) == 0;
	cf_wipe(mac, sizeof(mac));
	cf_wipe(sha, sizeof(sha));
	if (!match)
		return;
	if (row->revoked) {
		*status = CF_TOKEN_REVOKED;
		return;
	}
	if (row->expires_at != 0 && row->expires_at <= now) {
		*status = CF_TOKEN_EXPIRED;
		return;
	}
	snprintf(who->token_id, sizeof(who->token_id), "%s", row->id);
	snprintf(who->name, sizeof(who->name), "%s", row->name);
	who->role = row->role;
	who->legacy_hash = !row->hmac;
	*status = CF_TOKEN_OK;
}

int cf_token_verify(PGconn *conn, const char *token, cf_principal *who,
		    cf_token_status *status, cf_err *err)
{
	char id[CF_TOKEN_ID_LEN + 1];
	const char *secret;
	cf_token_row row;
	bool found = false;

	if (cf_token_split(token, id, &secret) == 0 &&
	    cf_token_lookup(conn, id, &row, &found, err) != 0)
		return -1;
	cf_token_check(found ? &row : NULL, token, time(NULL), who, status);
	cf_wipe(&row, sizeof(row));
	return 0;
}

int cf_token_touch(PGconn *conn, const char *id, cf_err *err)
{
	const char *params[1] = { id };

	return cf_db_run(conn, "recording a token's use",
			 "UPDATE tokens SET last_used_at = now() WHERE id = $1 AND "
			 "(last_used_at IS NULL OR last_used_at < now() - interval '60 seconds')",
			 1, params, err);
}

int cf_token_rehash(PGconn *conn, const char *token, cf_err *err)
{
	char id[CF_TOKEN_ID_LEN + 1];
	const char *secret, *params[3];
	const int lengths[3] = { 0, 32, 32 }, formats[3] = { 0, 1, 1 };
	uint8_t mac[32], sha[32];
	PGresult *res = NULL;
	int rc = -1;

	if (cf_token_split(token, id, &secret) != 0) {
		cf_err_set(err, CF_ERR_PERMANENT, "token: malformed");
		goto out;
	}
	if (secret_hmac(secret, mac) != 0) {
		cf_err_set(err, CF_ERR_PERMANENT, "token %s: no token key to re-hash with", id);
		goto out;
	}
	cf_sha256(secret, strlen(secret), sha);
	params[0] = id;
	params[1] = (const char *)mac;
	params[2] = (const char *)sha;
	res = cf_db_execb(conn, "re-hashing a token",
			  "UPDATE tokens SET secret_hmac = $2, secret_sha256 = NULL WHERE id = $1 "
			  "AND secret_hmac IS NULL AND secret_sha256 = $3",
			  3, params, lengths, formats, err);
	if (res != NULL)
		rc = 0;
out:
	PQclear(res);
	cf_wipe(mac, sizeof(mac));
	cf_wipe(sha, sizeof(sha));
	return rc;
}

int cf_token_revoke(PGconn *conn, const char *name, const char *id, cf_role role,
		    json_t **ids, cf_err *err)
{
	const char *params[3] = { name ? name : "", id ? id : "",
				  role == CF_ROLE_NONE ? "" : cf_role_name(role) };
	PGresult *res;
	int n;

	if (ids != NULL)
		*ids = NULL;
	res = cf_db_exec(conn, "revoking tokens",
			 "UPDATE tokens SET revoked_at = now() WHERE revoked_at IS NULL AND "
			 "($1 <> '' OR $2 <> '') AND ($1 = '' OR name = $1) AND "
			 "($2 = '' OR id = $2) AND ($3 = '' OR role = $3) RETURNING id",
			 3, params, err);
	if (res == NULL)
		return -1;
	n = PQntuples(res);
	if (ids != NULL && (*ids = json_array()) != NULL)
		for (int r = 0; r < n; r++)
			json_array_append_new(*ids, json_string(PQgetvalue(res, r, 0)));
	PQclear(res);
	return n;
}

#define TOKEN_COLUMNS                                                                     \
	"id, name, role, CASE WHEN secret_hmac IS NULL THEN 'sha256' ELSE 'hmac' END, "     \
	CF_SQL_TS("created_at") ", " CF_SQL_TS("expires_at") ", "      \
	CF_SQL_TS("revoked_at") ", " CF_SQL_TS("last_used_at")

/* Row r of a TOKEN_COLUMNS result as its representation. */
static json_t *token_json(const PGresult *res, int r)
{
	return json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "id",
			 cf_row_str(res, r, 0), "name", cf_row_str(res, r, 1), "role",
			 cf_row_str(res, r, 2), "hash", cf_row_str(res, r, 3), "created_at",
			 cf_row_str(res, r, 4), "expires_at", cf_row_str(res, r, 5),
			 "revoked_at", cf_row_str(res, r, 6), "last_used_at",
			 cf_row_str(res, r, 7));
}

int cf_token_list(PGconn *conn, json_t **out, cf_err *err)
{
	PGresult *res;
	json_t *list;

	*out = NULL;
	res = cf_db_exec(conn, "listing tokens",
			 "SELECT " TOKEN_COLUMNS " FROM tokens ORDER BY created_at, id", 0, NULL,
			 err);
	if (res == NULL)
		return -1;
	list = json_array();
	for (int r = 0; list != NULL && r < PQntuples(res); r++)
		json_array_append_new(list, token_json(res, r));
	PQclear(res);
	if (list == NULL)
		return cf_err_oom(err, NULL);
	*out = list;
	return 0;
}

int cf_token_get_json(PGconn *conn, const char *id, json_t **out, cf_err *err)
{
	const char *params[1] = { id };
	PGresult *res;
	int rc = 0;

	*out = NULL;
	res = cf_db_exec(conn, "reading a token", "SELECT " TOKEN_COLUMNS " FROM tokens "
			 "WHERE id = $1", 1, params, err);
	if (res == NULL)
		return -1;
	if (PQntuples(res) == 1 && (*out = token_json(res, 0)) == NULL)
		rc = cf_err_oom(err, NULL);
	PQclear(res);
	return rc;
}

int cf_token_page(PGconn *conn, cf_page_q *q, json_t **out, cf_err *err)
{
	char lim[16];
	const char *p[3] = { cf_page_after_param(q, 0), cf_page_after_param(q, 1),
			     cf_page_limit_param(q, lim) };
	PGresult *res;
	json_t *list;
	int n;

	*out = NULL;
	res = cf_db_exec(conn, "listing tokens",
			 /* the key's created_at, full precision, is the last column */
			 "SELECT " TOKEN_COLUMNS ", created_at::text FROM tokens WHERE $1 = '' OR "
			 "(created_at, id) > (NULLIF($1, '')::timestamptz, $2) ORDER BY created_at, id "
			 "LIMIT $3::int", 3, p, err);
	if (res == NULL)
		return -1;
	n = PQntuples(res);
	list = json_array();
	for (int r = 0; list != NULL && r < n && r < q->limit; r++)
		json_array_append_new(list, token_json(res, r));
	q->more = n > q->limit;
	if (list == NULL || (q->more && (cf_col_dup(res, q->limit - 1, PQnfields(res) - 1, &q->next[0]) != 0 ||
					 cf_col_dup(res, q->limit - 1, 0, &q->next[1]) != 0))) {
		json_decref(list);
		PQclear(res);
		return cf_err_oom(err, NULL);
	}
	PQclear(res);
	*out = list;
	return 0;
}
