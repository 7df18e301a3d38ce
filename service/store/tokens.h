/*
 * tokens.h: API tokens: creation (the secret is shown once), verification of a
 * bearer token, revocation and listing.
 *
 * A token reads "cf_<id>_<secret>": <id> is 12 lower-case hex digits, public, the
 * primary key used to find the row; <secret> is 256 random bits in base64url (43
 * characters). Only SHA-256 of the secret is stored, and it is compared in
 * constant time. A token has a role (admin: everything; host: fetches the
 * certificates that name it), an optional expiry and a revocation time; the time
 * of last use is recorded (at most once a minute, to keep reads cheap).
 */
#ifndef CERTFLEET_STORE_TOKENS_H
#define CERTFLEET_STORE_TOKENS_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>

#include "util/err.h"

#define CF_TOKEN_ID_LEN 12     /* hex digits */
#define CF_TOKEN_SECRET_MAX 64 /* base64url characters accepted when parsing */
#define CF_TOKEN_NAME_MAX 128

typedef enum cf_role {
	CF_ROLE_NONE = 0,
	CF_ROLE_ADMIN,
	CF_ROLE_HOST,
} cf_role;

/* Who a verified token belongs to. */
typedef struct cf_principal {
	char token_id[CF_TOKEN_ID_LEN + 1];
	char name[CF_TOKEN_NAME_MAX + 1];
	cf_role role;
} cf_principal;

typedef enum cf_token_status {
	CF_TOKEN_OK = 0,
	CF_TOKEN_INVALID, /* malformed, unknown id, or wrong secret */
	CF_TOKEN_EXPIRED,
	CF_TOKEN_REVOKED,
} cf_token_status;

/* "admin" | "host" <-> role; parse returns CF_ROLE_NONE for anything else. */
cf_role cf_role_parse(const char *s);
const char *cf_role_name(cf_role r);

/* Splits "cf_<id>_<secret>": id gets the 12 hex digits, *secret points into token.
 * Returns 0, or -1 when the token does not have that shape. */
int cf_token_split(const char *token, char id[CF_TOKEN_ID_LEN + 1], const char **secret);

/* "90d", "12h", "30m", "45s" or plain seconds -> seconds (1 s .. 100 years). */
int cf_parse_duration(const char *s, long *seconds);

/* Creates a token (in the caller's transaction, if any). expires_s 0 = never.
 * *token is the full "cf_<id>_<secret>" (caller releases it with
 * cf_secret_free); id gets the public id. */
int cf_token_create(PGconn *conn, const char *name, cf_role role, long expires_s,
		    char **token, char id[CF_TOKEN_ID_LEN + 1], bool *broken, cf_err *err);

/* Checks a bearer token. Returns 0 with *status (and *who when CF_TOKEN_OK), or
 * -1 when the database fails. Expired and revoked are told apart only for a
 * token whose secret matched. Records the use (last_used_at) of a good token. */
int cf_token_verify(PGconn *conn, const char *token, cf_principal *who,
		    cf_token_status *status, bool *broken, cf_err *err);

/* Revokes the live tokens called name (id NULL), or the one token id (name NULL).
 * Returns how many were revoked (0: none matched), or -1. *ids (may be NULL)
 * gets a new array of the revoked ids. */
int cf_token_revoke(PGconn *conn, const char *name, const char *id, json_t **ids,
		    bool *broken, cf_err *err);

/* Every token as {"id","name","role","created_at","expires_at","revoked_at",
 * "last_used_at"} (null where unset), oldest first. Never a secret or hash. */
int cf_token_list(PGconn *conn, json_t **out, bool *broken, cf_err *err);

#endif
