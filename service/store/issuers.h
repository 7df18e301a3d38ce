/*
 * issuers.h: the CAs certificates are issued by (table issuers, 0007_issuers):
 * their definitions behind /v1/issuers, what a worker needs to talk to one (its
 * EAB HMAC key unsealed), and the state every worker of every replica shares in
 * PostgreSQL: the pause (a CA that answered 429 or failed), and the budgets of
 * its rate limits (rows of issuer_usage, taken atomically).
 *
 * A definition ("doc") is the normalised object of h_issuers.c:
 * {"name","directory","email","ca_file"|null,"eab":{"kid"}|null,"profile"|null,
 *  "limits":{limit:{"count","per_seconds"}},"renewals_exempt"}. The EAB HMAC key
 * is never part of it: it is sealed apart, cf_seal(master key, aad
 * "issuers:<name>:eab", the key as the CA handed it out), and never returned.
 *
 * Budgets: a limit {"count": N, "per_seconds": S} allows at most N units in any S
 * seconds (a window, which never exceeds the CA's refilling bucket of the same
 * figures). cf_issuer_take() counts the window and inserts the unit under a
 * transaction-scoped advisory lock of (issuer, limit, key), for every unit a
 * newOrder needs at once, or takes none.
 */
#ifndef CERTFLEET_STORE_ISSUERS_H
#define CERTFLEET_STORE_ISSUERS_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>

#include "util/buf.h"
#include "util/err.h"
#include "store/paging.h"

#define CF_ISSUER_DEFAULT "default"
/* Longest AAD: "issuers:" + a 63-character name + ":eab" + NUL. */
#define CF_ISSUER_AAD_MAX 80

/* The limits, in the order they are shown. */
#define CF_LIMIT_ORDERS "orders"
#define CF_LIMIT_PER_DOMAIN "certificates_per_domain"
#define CF_LIMIT_DUP_SETS "duplicate_sets"
#define CF_LIMIT_FAILED_AUTHZ "failed_authorizations_per_name"
/* Activity rows (not limits): an order sent, a failure of the CA seen. */
#define CF_USAGE_ORDER_SENT "orders_sent"
#define CF_USAGE_FAILURE "failures"
/* A pseudo-limit of one unit that never frees: an ARI certID "replaces"d once. */
#define CF_USAGE_REPLACED "replaced"

/* ---- the definitions (HTTP side; conn inside the caller's transaction) ---- */

/* Seals the EAB HMAC key of issuer name into out. */
CF_MUST_CHECK int cf_issuer_eab_seal(const uint8_t key[32], const char *name, const char *hmac,
		       cf_buf *out, cf_err *err);
/* Inserts doc (sealed: the EAB blob, or NULL / empty when there is no EAB).
 * Returns 1 inserted, 0 when the name is taken, -1 on error. */
CF_MUST_CHECK int cf_issuer_insert(PGconn *conn, const json_t *doc, const cf_buf *sealed,
				   cf_err *err);
/* Replaces the definition of doc's name; sealed NULL keeps the EAB key (doc's eab
 * null drops it). Returns 1, 0 when there is no such issuer, -1 on error. */
CF_MUST_CHECK int cf_issuer_update(PGconn *conn, const json_t *doc, const cf_buf *sealed,
				   cf_err *err);
/* The definition of issuer name, its row locked until the transaction ends;
 * *doc NULL when there is none. */
CF_MUST_CHECK int cf_issuer_get_doc_locked(PGconn *conn, const char *name, json_t **doc,
					   cf_err *err);
/* The API representation: the doc (with "eab":{"kid","hmac_key_set":true}),
 * "state": {"paused": {"until","reason","problem"}|null, "last_hour":
 * {"orders","failures"}, "budgets": {limit: {"count","per_seconds","used","left",
 * "next_at"|null}}}, "created_at", "updated_at". *out NULL when there is none. */
CF_MUST_CHECK int cf_issuer_get_json(PGconn *conn, const char *name, json_t **out, cf_err *err);
/* 1 when issuer name exists (locked FOR SHARE until the transaction ends), 0 when
 * not, -1 on error. */
CF_MUST_CHECK int cf_issuer_exists_locked(PGconn *conn, const char *name, cf_err *err);
/* Deletes issuer name unless a certificate names it: 1 deleted, 0 none, 2 in use
 * (*users: up to 10 certificate ids), -1 on error. */
CF_MUST_CHECK int cf_issuer_delete(PGconn *conn, const char *name, json_t **users, cf_err *err);
/* Creates or updates the issuer "default" from CERTFLEET_ACME_DIRECTORY (+ its
 * CA file's PEM, NULL for the system store, and email); limits, profile and EAB
 * set through the API are kept. */
CF_MUST_CHECK int cf_issuer_upsert_default(PGconn *conn, const char *directory, const char *ca_pem,
			     const char *email, cf_err *err);

/* The duplicate_sets limit of a certificate's first issuer, for a manual issue:
 * how often its exact name set was issued there within the window. */
typedef struct cf_dup_check {
	char issuer[64];
	long count, per_seconds; /* the limit */
	long issued;             /* issuances of the set within the window */
} cf_dup_check;
/* 1 when the set reached the limit (out filled), 0 when not (or no such limit),
 * -1 on error. */
CF_MUST_CHECK int cf_issuer_duplicate_check(PGconn *conn, const char *certificate_id,
					    cf_dup_check *out,
			      cf_err *err);

/* ---- what a worker reads ---- */
typedef struct cf_issuer {
	char name[64];
	char *directory;
	char *email;       /* "" when none */
	char *ca_pem;      /* NULL: the system's trust */
	char *eab_kid;     /* NULL when no EAB */
	char *eab_hmac;    /* unsealed; wiped by cf_issuer_free */
	char *profile;     /* the issuer's default profile, NULL when none */
	json_t *limits;    /* {limit: {"count","per_seconds"}} */
	bool renewals_exempt;
} cf_issuer;

/* Loads issuer name. Returns 1 found, 0 none, -1 on error (a blob that does not
 * open is a permanent error). */
CF_MUST_CHECK int cf_issuer_load(PGconn *conn, const uint8_t key[32], const char *name,
				 cf_issuer *out,
		   cf_err *err);
void cf_issuer_free(cf_issuer *is);

/* The issuer's pause now: 1 paused (*left_s, reason filled), 0 not, -1 error. */
CF_MUST_CHECK int cf_issuer_paused(PGconn *conn, const char *name, double *left_s, char *reason,
		     size_t len, cf_err *err);

/* Pauses issuer name for every worker after a request sent sent_ago_s seconds
 * ago failed: rate_limited: until now() + retry_after_s (60 s when the CA sent
 * none); otherwise (503, 5xx, no connection) a capped exponential backoff,
 * 2^streak seconds up to cap_s, at least retry_after_s, and the streak grows by
 * one. A later pause never shortens an earlier one. A 503/5xx/no answer of a
 * request sent before the last pause ended (concurrent requests of one storm)
 * changes nothing: it neither extends nor escalates the pause. problem (may be NULL) is kept
 * verbatim. *until_s gets the seconds until the pause ends (0 when none). Also
 * counts a failure. Returns 1 paused, 0 left as it was, -1 on error. */
CF_MUST_CHECK int cf_issuer_pause(PGconn *conn, const char *name, bool rate_limited,
				  long retry_after_s, double cap_s, double sent_ago_s,
				  const char *reason, const char *problem, double *until_s,
				  cf_err *err);
/* A request went through: the backoff streak starts again (a write only when the
 * streak is not 0). */
CF_MUST_CHECK int cf_issuer_recovered(PGconn *conn, const char *name, cf_err *err);

/* One unit of a budget: limit (CF_LIMIT_*) and key ("" for orders). */
typedef struct cf_unit {
	const char *limit;
	const char *key;
} cf_unit;

/* What an empty budget tells. */
typedef struct cf_budget_wait {
	double wait_s;     /* until the next unit frees */
	char msg[512];     /* "orders budget at le: 3 per 2m used, next at 12:03:10" */
	char limit[48];
} cf_budget_wait;

/* Takes every unit in units (those whose limit the issuer does not set are
 * skipped) in one transaction on conn: 1 taken, 0 one budget is empty (nothing
 * taken; *w says which and until when), -1 on error. job_id may be NULL. */
CF_MUST_CHECK int cf_issuer_take(PGconn *conn, const char *issuer, const json_t *limits,
		   const cf_unit *units, size_t n, const char *job_id, cf_budget_wait *w,
		   cf_err *err);
/* Whether one unit of limit/key is free now, without taking it: 1 yes (or the
 * limit is not set), 0 no (*w filled), -1 on error. */
CF_MUST_CHECK int cf_issuer_check(PGconn *conn, const char *issuer, const json_t *limits,
				  const char *limit,
		    const char *key, cf_budget_wait *w, cf_err *err);
/* Deletes the usage rows of issuer name that no window counts any more. */
CF_MUST_CHECK int cf_issuer_prune(PGconn *conn, const char *name, cf_err *err);
/* Records a row of activity or use (CF_USAGE_* or a limit) without a check. */
CF_MUST_CHECK int cf_issuer_record(PGconn *conn, const char *issuer, const char *what,
				   const char *key,
		     const char *job_id, cf_err *err);

/* One page of the issuers, by name, as {"issuers": [...]}; q's key: (name). */
CF_MUST_CHECK int cf_issuer_page_json(PGconn *conn, cf_page_q *q, json_t **out, cf_err *err);
#endif
