/*
 * cert_issued.h: what a finished job writes about its certificate, as hooks that
 * run inside the job's final fenced transaction (cf_job_write), so the outcome and
 * the job's completion commit together or not at all:
 *
 *  - cf_issued_version_hook: the new certificate_versions row (version = max + 1,
 *    serial, validity, issuer CN, cert_pem + chain_pem, the private key sealed with
 *    aad "certificate_versions:<certificate_id>:<version>", a strong ETag over the
 *    full chain, the job id, the issuer and profile; with the issuer's
 *    duplicate_sets unit of the name set) and certificates.status = 'valid' with
 *    current_version pointing at it;
 *  - cf_issued_failed_hook: certificates.status = 'failed' when the certificate has
 *    no valid version (a failed renewal leaves a valid certificate valid).
 */
#ifndef CERTFLEET_STORE_CERT_ISSUED_H
#define CERTFLEET_STORE_CERT_ISSUED_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "crypto/crypto.h"
#include "store/jobs_worker.h"
#include "util/err.h"

typedef struct cf_issued {
	/* in (borrowed) */
	const uint8_t *master_key;
	const char *certificate_id;
	const char *leaf_pem;
	const char *chain_pem;  /* "" when none */
	const char *key_pem;    /* the certificate's private key: sealed, never stored plain */
	const cf_cert_info *info; /* the leaf's fields when already read, else NULL */
	const char *issuer;     /* the issuer's name, or NULL */
	const char *profile;    /* the profile ordered, or NULL */
	const char *name_set;   /* the names sorted, joined by ' ' (duplicate_sets), or NULL */
	/* out, for the job's event */
	int version;
	char serial[128];
	char issuer_cn[256];
	time_t not_before, not_after;
	char etag[70];          /* "\"<64 hex>\"" */
} cf_issued;

/* arg: cf_issued *. */
CF_MUST_CHECK int cf_issued_version_hook(PGconn *c, const cf_job_ref *job, void *arg, cf_err *err);
/* arg: the certificate id (const char *). */
CF_MUST_CHECK int cf_issued_failed_hook(PGconn *c, const cf_job_ref *job, void *arg, cf_err *err);

#endif
