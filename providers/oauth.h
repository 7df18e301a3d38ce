/*
 * oauth.h: what the cloud providers (azure.c, gcloud.c) share to get and keep an
 * OAuth 2.0 access token:
 *  - form bodies (application/x-www-form-urlencoded) for token requests;
 *  - the token request itself: its answer's access_token and expires_in (a
 *    number, or a string as Azure's managed-identity endpoint sends it), or the
 *    error the endpoint gave ({"error", "error_description"} as RFC 6749 section
 *    5.2 defines it) in a message that never holds a credential;
 *  - a process-wide cache of tokens until shortly before they expire, keyed by a
 *    SHA-256 digest of everything that identifies the credential and endpoints
 *    (the key holds no secret in the clear). Tokens are wiped when replaced.
 */
#ifndef CERTFLEET_PROVIDERS_OAUTH_H
#define CERTFLEET_PROVIDERS_OAUTH_H

#include <stddef.h>

#include "providers/api_http.h"
#include "util/buf.h"
#include "util/err.h"

#define CF_OAUTH_TOKEN_MAX 8192
#define CF_OAUTH_KEY_LEN 32

/* Appends "key=value" (with '&' before it unless b is empty), value
 * percent-encoded as a form value. 0, or -1 when memory runs out. */
CF_MUST_CHECK int cf_oauth_form_add(cf_buf *b, const char *key, const char *value);
/* Appends s percent-encoded (unreserved characters kept) for a URL path segment
 * or query value. 0 / -1. */
CF_MUST_CHECK int cf_oauth_url_escape(cf_buf *b, const char *s);

/* The cache key of parts[0..n) (each part and its length hashed, NULL as ""). */
void cf_oauth_cache_key(const char *const *parts, size_t n,
			unsigned char key[CF_OAUTH_KEY_LEN]);
/* 1 and tok (cap bytes) filled when a token for key has more than a minute
 * left; 0 when there is none. */
CF_MUST_CHECK int cf_oauth_cache_get(const unsigned char key[CF_OAUTH_KEY_LEN], char *tok,
				     size_t cap);
/* Keeps tok for key for expires_in_s seconds (the oldest entry makes room). */
void cf_oauth_cache_put(const unsigned char key[CF_OAUTH_KEY_LEN], const char *tok,
			long expires_in_s);
/* Forgets the token of key (the API refused it). */
void cf_oauth_cache_drop(const unsigned char key[CF_OAUTH_KEY_LEN]);

/* Sends req to a token endpoint. 200 with a JSON access_token: 0, tok (cap
 * bytes) and *expires_in (seconds; 3600 when absent) filled. Otherwise -1 with
 * "<who>: token endpoint (<what>): HTTP <status> <error>: <error_description>
 * (<hint>)": 400, 401 and 403 permanent, 429 and 5xx transient, as is no
 * answer. */
CF_MUST_CHECK int cf_oauth_fetch(const cf_api_req *req, const char *what, const char *hint,
				 char *tok, size_t cap, long *expires_in, cf_err *err);

#endif
