/*
 * audit.h: what the service remembers about the requests it served: the audit
 * trail (who did what to which object, from where) and the results of POSTs
 * made with an Idempotency-Key, replayed when the same request comes again.
 *
 * Both are written in the caller's transaction, together with the effect they
 * describe, so neither can exist without the other. (The audit event of an
 * issuance is written by a trigger on certificate_versions, migrations/0004.)
 */
#ifndef CERTFLEET_STORE_AUDIT_H
#define CERTFLEET_STORE_AUDIT_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>

#include "util/err.h"
#include "store/paging.h"

/* Appends an audit event. actor is a token's name ("cli" for the command line),
 * token_id that token's id (NULL when no token acted: the CLI), action e.g.
 * "certificate.create", target the object's id (may be NULL), address the
 * client's (may be NULL), detail an object or NULL (borrowed). The caller
 * guarantees detail holds no secret. */
CF_MUST_CHECK int cf_audit_write(PGconn *conn, const char *actor, const char *token_id,
				 const char *action, const char *target, const char *address,
				 const json_t *detail, cf_err *err);


/* ---- Idempotency-Key ---- */

/* A key is 1-255 printable ASCII characters. */
bool cf_idem_key_valid(const char *key);

/* The info of the Idempotency-Key fingerprint key (cf_derive_key of the master
 * key). */
#define CF_IDEM_KEY_INFO "certfleet idempotency v1"

/* HMAC-SHA-256(key, method NUL path NUL body): what makes two requests "the
 * same". key is derived from the master key with CF_IDEM_KEY_INFO. */
void cf_idem_fingerprint(const uint8_t key[32], const char *method, const char *path,
			 const void *body, size_t len, uint8_t out[32]);

typedef enum cf_idem_state {
	CF_IDEM_NEW = 0,  /* first use of the key: go on, then cf_idem_store */
	CF_IDEM_REPLAY,   /* same request seen: *status and *body are the stored answer */
	CF_IDEM_MISMATCH, /* the key was used for another request */
} cf_idem_state;

/* Inside a transaction: serialises requests with the same (token, key) with a
 * transaction-level advisory lock, forgets a record older than 24 hours, then
 * looks the key up. *body (REPLAY only) is malloc'd; the caller frees it. */
CF_MUST_CHECK int cf_idem_begin(PGconn *conn, const char *token_id, const char *key,
		  const uint8_t fingerprint[32], cf_idem_state *state, int *status, char **body,
		  cf_err *err);

/* Records the answer to a CF_IDEM_NEW request, in the same transaction. */
CF_MUST_CHECK int cf_idem_store(PGconn *conn, const char *token_id, const char *key, const char *method,
		  const char *path, const uint8_t fingerprint[32], int status, const char *body,
		  cf_err *err);

/* One page of the audit events in the order they happened (at, then id):
 * {"events":[{"id","at","actor","token_id","action","target","address","detail"}]},
 * where token_id, target, address and detail are null when unset. since (RFC 3339, may be NULL)
 * keeps events at or after that time; actor and action (may be NULL) keep events
 * with exactly that actor or action. The caller has checked since's syntax.
 * q's key: (at, id). */
CF_MUST_CHECK int cf_audit_page_json(PGconn *conn, const char *since, const char *actor,
				     const char *action, cf_page_q *q, json_t **out, cf_err *err);

/* Deletes every record older than 24 hours (they no longer replay); *purged
 * gets how many. The workers' janitor calls it. */
CF_MUST_CHECK int cf_idem_purge(PGconn *conn, long *purged, cf_err *err);

#endif
