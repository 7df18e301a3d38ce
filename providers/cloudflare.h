/*
 * cloudflare.h: the pure parts of the cloudflare provider (providers/cloudflare.c),
 * exported for its unit tests: the API v4 envelope, the record match used by
 * cleanup, the body of a create, and the api_url rule. The provider itself is
 * reached through the registry as cf_provider_cloudflare; nothing else should
 * call these.
 */
#ifndef CERTFLEET_PROVIDERS_CLOUDFLARE_H
#define CERTFLEET_PROVIDERS_CLOUDFLARE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "util/err.h"

/* Checks an answer: the HTTP status and the envelope {success, errors[{code,
 * message}], messages, result, result_info}. 0 when the status is 2xx and success
 * is true. Otherwise -1 and a message "cloudflare: <what>: HTTP <status>: [code]
 * message; ..." (401/403 permanent and naming api_token, never its value; 429 and
 * 5xx transient; other statuses permanent). *root is the parsed envelope whenever
 * the body is one, also on failure so the caller can look at the codes; the caller
 * decrefs it. */
CF_MUST_CHECK int cf_cloudflare_envelope(long status, const char *body, size_t len, const char *what,
			   json_t **root, cf_err *err);
/* true when errors[] of an envelope holds code. */
bool cf_cloudflare_has_code(const json_t *root, long long code);
/* result_info.total_pages of a list envelope, 1 when absent or nonsense. */
long cf_cloudflare_total_pages(const json_t *root);
/* true when a listed record is exactly (TXT, name, value): name compared without
 * case or trailing dot, content equal to value or to value in double quotes. */
bool cf_cloudflare_record_matches(const json_t *record, const char *name, const char *value);
/* The JSON text of POST dns_records for one TXT record. Caller frees; NULL when
 * the value is not UTF-8 (JSON cannot carry it) or out of memory. */
char *cf_cloudflare_create_body(const char *name, const char *value, long ttl);
/* The api_url rule of the SaaS providers: https://, or http:// only when the host
 * is a loopback address (127.0.0.0/8, [::1], localhost), for fakes in tests.
 * url has passed cf_api_url_check(). */
bool cf_cloudflare_url_allowed(const char *url);

#endif
