/*
 * sigv4.h: AWS Signature Version 4 (header form), for the route53 provider.
 *
 * One call turns a request (method, decoded path, decoded query parameters, the
 * headers to sign, the payload) and a credential scope into the three published
 * stages of the algorithm, so the unit test can hold each one against the AWS
 * SigV4 test suite: the canonical request, the string to sign and the signature,
 * plus the Authorization header value built from them.
 *
 * Canonical forms (as the suite's vectors show them):
 *  - URI: the decoded path, every byte but the unreserved ones and '/' written
 *    as %XX (upper-case hex), "" becomes "/"; no dot-segment normalisation. This
 *    single encoding equals the "double encoding" of non-S3 services as long as
 *    the wire path holds no '%' (Route 53's paths hold [A-Za-z0-9/-] only);
 *  - query: names and values encoded the same way ('/' too), sorted by encoded
 *    name then encoded value, "name=value" joined by '&';
 *  - headers: names lower-cased and sorted, values trimmed with inner runs of
 *    blanks collapsed to one space, repeated names joined by ',' in the order
 *    given; every header passed in is signed (host and x-amz-date included: the
 *    caller sends exactly the headers it signed);
 *  - payload: hex SHA-256 of the bytes.
 *
 * The signing key (HMAC chain from "AWS4" + secret) and its intermediates are
 * wiped before return; nothing here logs. Results are owned by the caller and
 * released with cf_sigv4_result_free().
 */
#ifndef CERTFLEET_SIGV4_H
#define CERTFLEET_SIGV4_H

#include <stddef.h>
#include <time.h>

#include "util/buf.h"
#include "util/err.h"

#define CF_SIGV4_ALGORITHM "AWS4-HMAC-SHA256"
#define CF_SIGV4_AMZ_DATE_LEN 16 /* YYYYMMDDTHHMMSSZ */

typedef struct cf_sigv4_kv {
	const char *name;
	const char *value;
} cf_sigv4_kv;

typedef struct cf_sigv4_request {
	const char *method;           /* "GET", "POST" */
	const char *path;             /* decoded, e.g. "/2013-04-01/change/C1" */
	const cf_sigv4_kv *query;     /* decoded names and values; may be NULL */
	size_t nquery;
	const cf_sigv4_kv *headers;   /* all signed: include host and x-amz-date */
	size_t nheaders;
	const void *payload;          /* may be NULL when payload_len is 0 */
	size_t payload_len;
} cf_sigv4_request;

typedef struct cf_sigv4_scope {
	const char *access_key_id;
	const char *secret_access_key; /* a secret: only fed to HMAC */
	const char *amz_date;          /* YYYYMMDDTHHMMSSZ, the same as the x-amz-date header */
	const char *region;            /* "us-east-1" */
	const char *service;           /* "route53" */
} cf_sigv4_scope;

typedef struct cf_sigv4_result {
	char *canonical_request; /* owned */
	char *string_to_sign;    /* owned */
	char *signed_headers;    /* owned: "host;x-amz-date" */
	char *authorization;     /* owned: the Authorization header's value */
	char signature[65];      /* lower-case hex */
} cf_sigv4_result;

/* Signs req for scope. Returns 0 and fills out, or -1 (permanent error naming the
 * bad input: a malformed date, a header name with a blank, ...) and leaves out
 * empty. */
CF_MUST_CHECK int cf_sigv4_sign(const cf_sigv4_request *req, const cf_sigv4_scope *scope,
		  cf_sigv4_result *out, cf_err *err);
void cf_sigv4_result_free(cf_sigv4_result *r);

/* Appends s percent-encoded as SigV4 wants (unreserved A-Z a-z 0-9 - . _ ~ kept,
 * '/' kept when keep_slash). Returns 0 / -1 (out of memory). */
CF_MUST_CHECK int cf_sigv4_uri_encode(cf_buf *b, const char *s, int keep_slash);
/* The canonical query string of q[0..n), which is also a valid wire query (no
 * leading '?'); "" when n is 0. Caller frees; NULL when out of memory. */
char *cf_sigv4_canonical_query(const cf_sigv4_kv *q, size_t n);
/* Formats t (UTC) as YYYYMMDDTHHMMSSZ into out. */
void cf_sigv4_amz_date(time_t t, char out[CF_SIGV4_AMZ_DATE_LEN + 1]);

#endif
