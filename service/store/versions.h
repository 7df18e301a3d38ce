/*
 * versions.h: certificate versions as the API lists them, and their revocation.
 *
 * Revoking is a job (kind 'revoke', data {"version", "reason", "replace"}): the
 * API queues it (cf_revoke_enqueue, in the request's transaction, subject to the
 * one-active-job rule like an issuance), a worker calls the CA's revokeCert and
 * then runs cf_revoked_hook inside the job's final fenced transaction, so the
 * version's revoked_at/revocation_reason, the certificate's status ('revoked'
 * when the current version is the one revoked), the replacement job (when asked
 * for) and the webhook event commit together with the job's end, or not at all.
 */
#ifndef CERTFLEET_STORE_VERSIONS_H
#define CERTFLEET_STORE_VERSIONS_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>

#include "store/jobs_worker.h"
#include "util/err.h"
#include "store/paging.h"


/* What the API must know before queueing a revocation: 1 with *revoked set when
 * the version exists, 0 when it (or the certificate) does not, -1. */
CF_MUST_CHECK int cf_version_state(PGconn *c, const char *cert_id, int version, bool *revoked, cf_err *err);

/* Queues the revocation job and notifies the workers. Returns 1 with job_id set,
 * 0 when another job of the certificate is active (job_id names it), -1. */
CF_MUST_CHECK int cf_revoke_enqueue(PGconn *c, const char *cert_id, int version, int reason, bool replace,
		      char job_id[40], cf_err *err);

/* The leaf PEM of a version (caller frees) and whether it is revoked already;
 * NULL with err (permanent when the version is gone). */
char *cf_version_pem(PGconn *c, const char *cert_id, int version, bool *revoked, cf_err *err);

/* cf_revoked_hook's argument. */
typedef struct cf_revoked {
	const char *certificate_id;
	int version;
	int reason;             /* -1: none given */
	bool replace;           /* queue a new issuance (kind issue) */
	const char *webhook_urls; /* CERTFLEET_WEBHOOK_URLS of the worker */
	char replacement[40];   /* out: the replacement job's id, "" when none */
} cf_revoked;

/* arg: cf_revoked *. */
CF_MUST_CHECK int cf_revoked_hook(PGconn *c, const cf_job_ref *job, void *arg, cf_err *err);

/* One page of {"versions": [{"version","serial","not_before","not_after",
 * "issuer_cn"?,"created_at","revoked_at"?,"revocation_reason"?,"current"}]},
 * newest first; *out NULL when there is no such certificate; q's key: (version). */
CF_MUST_CHECK int cf_versions_page_json(PGconn *c, const char *cert_id, cf_page_q *q,
					json_t **out, cf_err *err);
#endif
