/*
 * key_fetch.h: the database's decision on a private-key fetch, taken and
 * recorded in one statement.
 *
 * The fetch routes answer from the fetch cache (http/cache.h), which can lag
 * behind the database (a notification lost, a listener offline). A private key
 * is therefore never sent on the cache's word: the audit event that every key
 * fetch writes (certificate.fetch_key) is a single INSERT ... SELECT that inserts
 * only when, at that moment, in the database,
 *   - the token exists, is not revoked and has not expired;
 *   - the certificate lists the token's name in "hosts" (host tokens), or says
 *     "admin_keys": true (admin tokens);
 *   - the version about to be sent is still the certificate's current one, and
 *     is not revoked for the reason that stops it being served (keyCompromise).
 * No row inserted means no key sent; the statement also says which condition
 * failed, so the caller answers 401, 404, 403 or 410, or reloads a stale entry.
 * Whatever the state of the cache, a revocation or a de-listing committed before
 * the fetch's statement began is obeyed.
 */
#ifndef CERTFLEET_STORE_KEY_FETCH_H
#define CERTFLEET_STORE_KEY_FETCH_H

#include <libpq-fe.h>
#include <stdbool.h>

#include "util/err.h"

typedef enum cf_key_verdict {
	CF_KEY_GRANTED = 0,    /* recorded: the key may be sent */
	CF_KEY_TOKEN_UNKNOWN,  /* no such token (any more) */
	CF_KEY_TOKEN_REVOKED,
	CF_KEY_TOKEN_EXPIRED,
	CF_KEY_NOT_LISTED,     /* no such certificate, or it does not list the token */
	CF_KEY_NOT_GRANTED,    /* an admin token, and "admin_keys": false */
	CF_KEY_STALE,          /* the version is not the current one (any more) */
	CF_KEY_REVOKED,        /* the version is revoked with the refused reason */
	CF_KEY__MAX
} cf_key_verdict;

/* One key fetch as it is to be recorded. */
typedef struct cf_key_fetch {
	const char *token_id;       /* the caller's token */
	const char *certificate_id;
	int version;                /* the version whose key would be sent */
	int refused_reason;         /* a revocation reason code that stops serving */
	const char *address;        /* the client's address */
	const char *detail;         /* the event's detail, a JSON object (no secret) */
} cf_key_fetch;

/* Decides and records kf (in one statement, on conn, committed with the
 * caller's transaction or at once outside one): 0 with *verdict (the event was
 * written only for CF_KEY_GRANTED), or -1 when the database failed (err). */
CF_MUST_CHECK int cf_key_fetch_record(PGconn *conn, const cf_key_fetch *kf,
				      cf_key_verdict *verdict, cf_err *err);

/* The verdict's name as the statement spells it ("granted", "token-revoked"...). */
const char *cf_key_verdict_name(cf_key_verdict v);

#endif
