/*
 * certificates.h: the certificates rows behind /v1/certificates: the definition
 * of a managed certificate (what to issue: names, alias map, provider map, key
 * type; who may fetch it: hosts) and its API representation with the status and
 * current version that the workers maintain.
 *
 * A definition ("doc") is the normalised JSON object that cf_cert_validate
 * returns: {"id","domains","dns_alias","provider","key_type","hosts",
 * "admin_keys"}. In the row, domains and hosts are text[], dns_alias is SQL NULL
 * or jsonb ("auto", "fqdn" or {name: fqdn}), provider is jsonb ("name" or
 * {name: provider}), admin_keys a boolean (may an admin token fetch the key?).
 * Every function runs on the caller's connection, inside its transaction.
 *
 * cf_cert_fetch_load reads what a host fetch needs (the policy and the current
 * version, its key still sealed) for the fetch cache (http/cache.c).
 */
#ifndef CERTFLEET_STORE_CERTIFICATES_H
#define CERTFLEET_STORE_CERTIFICATES_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"
#include "store/paging.h"

#define CF_JOB_ID_LEN 36 /* a UUID in text form */

/* Inserts doc. Returns 1 inserted, 0 when the id is taken, -1 on error. */
CF_MUST_CHECK int cf_cert_insert(PGconn *conn, const json_t *doc, cf_err *err);

/* Replaces the definition of doc's id. Returns 1, 0 when there is no such
 * certificate, -1 on error. */
CF_MUST_CHECK int cf_cert_update(PGconn *conn, const json_t *doc, cf_err *err);

/* The definition of certificate id, its row locked (FOR NO KEY UPDATE) until the
 * transaction ends. *doc is NULL when there is no such certificate. */
CF_MUST_CHECK int cf_cert_get_doc_locked(PGconn *conn, const char *id, json_t **doc, cf_err *err);

/* 1 when certificate id exists, 0 when not, -1 on error. Takes no lock: a job
 * is queued after this without holding the certificate row, because a worker
 * finishing the active job locks the job and then the certificate, and the
 * queueing INSERT may have to wait for that worker. */
CF_MUST_CHECK int cf_cert_exists(PGconn *conn, const char *id, cf_err *err);

/* The API representation {"id","domains","dns_alias","provider","key_type","hosts",
 * "admin_keys","status","current_version":{"version","serial","not_before","not_after"}|null,
 * "created_at","updated_at"}; *out NULL when there is no such certificate. */
CF_MUST_CHECK int cf_cert_get_json(PGconn *conn, const char *id, json_t **out, cf_err *err);



/* Deletes certificate id with its versions and jobs, unless one of its jobs is
 * running or waiting (a worker may hold an order and TXT values for it); a queued
 * job is deleted with it (it is locked first, so no worker claims it meanwhile).
 * Returns 1 deleted, 0 no such certificate, 2 busy (busy_job and busy_state name
 * the job), -1 on error. */
CF_MUST_CHECK int cf_cert_delete(PGconn *conn, const char *id, char busy_job[CF_JOB_ID_LEN + 1],
		   char busy_state[16], cf_err *err);

/* The status of certificate id into status: 1 found, 0 none, -1 on error. */
CF_MUST_CHECK int cf_cert_status(PGconn *conn, const char *id, char status[16], cf_err *err);

/* Lifts the pause of certificate id (status paused after repeated failed
 * validations): status back to valid (or pending without a version), the count
 * of failed validations reset. 1 lifted, 0 not paused (or no such certificate),
 * -1 on error. */
CF_MUST_CHECK int cf_cert_resume(PGconn *conn, const char *id, cf_err *err);

/* What a fetch of certificate id needs: who may fetch it and its current
 * version. Owned by whoever loaded it; release with cf_cert_fetch_free. */
typedef struct cf_cert_fetch {
	bool exists;        /* false: no such certificate (nothing else set) */
	char **hosts;       /* the host names that may fetch it */
	size_t nhosts;
	bool admin_keys;    /* admin tokens may fetch its private key */
	int version;        /* 0: no version issued yet (nothing below set) */
	char etag[72];      /* strong ETag of the version, quotes included */
	char serial[128];
	char not_before[32], not_after[32]; /* RFC 3339 UTC */
	char *cert_pem, *chain_pem;
	uint8_t *key_sealed; /* AES-256-GCM blob, AAD certificate_versions:<id>:<version> */
	size_t key_sealed_len;
	char revoked_at[32]; /* RFC 3339 UTC, "" while the version is not revoked */
	int revocation_reason; /* RFC 5280 code, -1 when revoked without one (or not) */
} cf_cert_fetch;

/* Reads certificate id into *f (zeroed first; f->exists false when there is no
 * such certificate). Returns 0, or -1 (nothing to free). */
CF_MUST_CHECK int cf_cert_fetch_load(PGconn *conn, const char *id, cf_cert_fetch *f, cf_err *err);
void cf_cert_fetch_free(cf_cert_fetch *f);

/* One page of the certificates (by id), or with within_s >= 0 of those whose
 * current version expires within within_s seconds (by expiry, then id), as
 * {"certificates": [...]}; q's key: (id) or (not_after, id). */
CF_MUST_CHECK int cf_cert_page_json(PGconn *conn, long within_s, cf_page_q *q, json_t **out,
				    cf_err *err);
#endif
