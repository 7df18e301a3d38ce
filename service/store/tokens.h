/*
 * tokens.h: API tokens: creation (the secret is shown once), verification of a
 * bearer token, revocation and listing.
 *
 * A token reads "cf_<id>_<secret>": <id> is 12 lower-case hex digits, public, the
 * primary key used to find the row; <secret> is 256 random bits in base64url (43
 * characters). Only an HMAC-SHA-256 of the secret is stored, keyed by a key
 * derived from the master key (cf_tokens_init), and it is compared in constant
 * time; rows made before 0011_keys hold a plain SHA-256, keep working, and are
 * re-hashed at their first use (cf_token_rehash; README "Tokens"). A token has a role (admin: manages
 * everything but key grants; host: fetches the certificates that name it; keys:
 * grants keys: host tokens, a certificate's hosts and admin_keys), an optional
 * expiry and a revocation time; the time of last use is recorded (at most once a
 * minute, to keep reads cheap).
 *
 * Verification is split so that the fetch cache (http/cache.c) can hold rows:
 * cf_token_lookup reads a row, cf_token_check decides on it without a database.
 */
#ifndef CERTFLEET_STORE_TOKENS_H
#define CERTFLEET_STORE_TOKENS_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "util/err.h"
#include "store/paging.h"

#define CF_TOKEN_ID_LEN 12     /* hex digits */
#define CF_TOKEN_SECRET_MAX 64 /* base64url characters accepted when parsing */
#define CF_TOKEN_NAME_MAX 128

typedef enum cf_role {
	CF_ROLE_NONE = 0,
	CF_ROLE_ADMIN,
	CF_ROLE_HOST,
	CF_ROLE_KEYS,
	CF_ROLE_OPERATOR, /* runs certificates (README "Roles"); never keys */
	CF_ROLE_VIEWER,   /* reads certificates, versions and jobs; never keys */
	CF_ROLE_COUNT     /* not a role: the number of values above */
} cf_role;

/* Who a verified token belongs to. */
typedef struct cf_principal {
	char token_id[CF_TOKEN_ID_LEN + 1];
	char name[CF_TOKEN_NAME_MAX + 1];
	cf_role role;
	bool legacy_hash; /* its row holds a plain SHA-256: re-hash it (cf_token_rehash) */
} cf_principal;

typedef enum cf_token_status {
	CF_TOKEN_OK = 0,
	CF_TOKEN_INVALID, /* malformed, unknown id, or wrong secret */
	CF_TOKEN_EXPIRED,
	CF_TOKEN_REVOKED,
} cf_token_status;

/* "admin" | "host" | "keys" | "operator" | "viewer" <-> role; parse returns
 * CF_ROLE_NONE for anything else, name "none" for CF_ROLE_NONE. */
cf_role cf_role_parse(const char *s);
const char *cf_role_name(cf_role r);

/* Derives the token HMAC key from the master key (cf_derive_key, "certfleet
 * token hmac v1") for this process. Call once, before any thread checks a token;
 * until it is called, tokens cannot be created and only legacy (SHA-256) rows
 * verify. cf_tokens_done wipes the key. Returns 0 / -1. */
CF_MUST_CHECK int cf_tokens_init(const uint8_t master_key[32]);
void cf_tokens_done(void);

/* Names no token may have: "cli" and "worker" (the actors of the command line
 * and of the workers in the audit trail) and any name starting with "db:" (a
 * database user writing directly). */
bool cf_token_name_reserved(const char *name);

/* Splits "cf_<id>_<secret>": id gets the 12 hex digits, *secret points into token.
 * Returns 0, or -1 when the token does not have that shape. */
CF_MUST_CHECK int cf_token_split(const char *token, char id[CF_TOKEN_ID_LEN + 1], const char **secret);

/* "90d", "12h", "30m", "45s" or plain seconds -> seconds (1 s .. 100 years). */
CF_MUST_CHECK int cf_parse_duration(const char *s, long *seconds);

/* Creates a token (in the caller's transaction, if any). expires_s 0 = never.
 * *token is the full "cf_<id>_<secret>" (caller releases it with
 * cf_secret_free); id gets the public id. */
CF_MUST_CHECK int cf_token_create(PGconn *conn, const char *name, cf_role role, long expires_s,
		    char **token, char id[CF_TOKEN_ID_LEN + 1], cf_err *err);

/* What the service keeps of one token row (never the secret). */
typedef struct cf_token_row {
	char id[CF_TOKEN_ID_LEN + 1];
	char name[CF_TOKEN_NAME_MAX + 1];
	cf_role role;
	uint8_t secret_sha256[32]; /* HMAC-SHA-256 of the secret (hmac), else SHA-256 */
	bool hmac;                 /* false: a legacy row (before 0011_keys) */
	time_t expires_at; /* 0 = never; on this replica's clock: the time left on the
			    * database's (now()) added to time(NULL) at the look-up */
	bool revoked;
} cf_token_row;

/* Reads token id. Returns 0 with *found (and *row when found), or -1. */
CF_MUST_CHECK int cf_token_lookup(PGconn *conn, const char *id, cf_token_row *row, bool *found, cf_err *err);

/* Checks a bearer token against the row of its id (row NULL: no such id, or the
 * token is malformed) at time now: *status, and *who when CF_TOKEN_OK. Does the
 * same work (a SHA-256 and a constant-time compare) whether or not the row
 * exists (an HMAC, a SHA-256 and a constant-time compare), so the answer time
 * does not tell a guessed id from a guessed secret, nor a legacy row from a new
 * one.
 * Expired and revoked are told apart only for a token whose secret matched. */
void cf_token_check(const cf_token_row *row, const char *token, time_t now,
		    cf_principal *who, cf_token_status *status);

/* Checks a bearer token against the database (cf_token_lookup + cf_token_check).
 * Returns 0 with *status (and *who when CF_TOKEN_OK), or -1 when the database
 * fails. Does not record the use: see cf_token_touch. */
CF_MUST_CHECK int cf_token_verify(PGconn *conn, const char *token, cf_principal *who,
		    cf_token_status *status, cf_err *err);

/* Records a use of token id (last_used_at), unless one was recorded in the last
 * 60 seconds (by any replica). The callers also throttle it in memory
 * (http/cache.c), so the write happens at most once a minute per token and
 * process. Writes no NOTIFY (migrations/0004_hosts.sql). */
CF_MUST_CHECK int cf_token_touch(PGconn *conn, const char *id, cf_err *err);

/* Replaces the plain SHA-256 of a legacy row (made before 0011_keys) by the HMAC
 * of the secret, given the full token that just verified against it (its
 * cf_principal says legacy_hash). The row changes only if it still holds that
 * SHA-256, so a concurrent rotation or a second replica doing the same is
 * harmless. The tokens trigger's NOTIFY drops the cached row everywhere.
 * Returns 0 (also when nothing changed), or -1. */
CF_MUST_CHECK int cf_token_rehash(PGconn *conn, const char *token, cf_err *err);

/* Revokes the live tokens called name (id NULL), the one token id (name NULL),
 * or token id only if it is called name (both given); with role other than
 * CF_ROLE_NONE, only tokens of that role. Returns how many were revoked (0: none
 * matched), or -1. *ids (may be NULL) gets a new array of the revoked ids. */
CF_MUST_CHECK int cf_token_revoke(PGconn *conn, const char *name, const char *id, cf_role role,
				  json_t **ids, cf_err *err);

/* Every token as {"id","name","role","hash","created_at","expires_at",
 * "revoked_at","last_used_at"} (null where unset; hash "hmac", or "sha256" for a
 * legacy row to rotate), oldest first. Never a secret or hash value. */
CF_MUST_CHECK int cf_token_list(PGconn *conn, json_t **out, cf_err *err);

/* The representation of token id (as in cf_token_list); *out NULL when none. */
CF_MUST_CHECK int cf_token_get_json(PGconn *conn, const char *id, json_t **out, cf_err *err);

/* One page of the tokens, oldest first (as cf_token_list: an array);
 * q's key: (created_at, id). */
CF_MUST_CHECK int cf_token_page(PGconn *conn, cf_page_q *q, json_t **out, cf_err *err);
#endif
