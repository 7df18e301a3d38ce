/*
 * http_client.h: the one libcurl transport setup of certfleet for outgoing
 * requests, shared by the ACME client (acme/http.c), providers/api_http.c (the
 * JSON calls of the powerdns, acme-dns and cloudflare providers and the webhook
 * deliveries of worker/webhooks.c), the Route 53 provider
 * (providers/route53.c) and the host agent (`certfleet fetch`, cmd/fetch_cmd.c),
 * so that every outgoing request gets the same rules:
 *  - a connect timeout and a total timeout, no redirects, no signals;
 *  - the caller's User-Agent and CA file (NULL: the system's bundle);
 *  - a scheme rule: https://, or plain http:// to a loopback host only (127.0.0.0/8,
 *    ::1, localhost: tests run fake servers there), unless the caller passes
 *    CF_HTTP_PLAIN_ANY (powerdns and acme-dns are often reached over plain http on
 *    a private network; `certfleet fetch --allow-http`);
 *  - a capped body sink: a body beyond the buffer's max aborts the transfer
 *    instead of growing without bound; with CF_HTTP_SECRET_BODY the buffer grows
 *    by copy-and-wipe, so no copy of a secret body is left in freed memory;
 *  - optional header capture through a callback;
 *  - one error mapper: a failed transfer becomes a cf_err whose class says
 *    whether a retry can help and whose message reads
 *    "[who: ]METHOD URL: detail", never containing a request header.
 *
 * The request type is cf_outreq (an outgoing request); the incoming requests of
 * the HTTP API are cf_http_req (http/http.h), a different thing.
 *
 * Ownership: the caller owns the CURL easy handle (one handle is used by one
 * thread at a time; cf_http_perform() resets it first, so a handle may be kept
 * for connection reuse or made per request), the header list and the body
 * buffer. Header lists built here are wiped before they are freed, because a
 * credential may travel in a header. curl_global_init() is the program's job.
 */
#ifndef CERTFLEET_UTIL_HTTP_CLIENT_H
#define CERTFLEET_UTIL_HTTP_CLIENT_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>

#include "util/buf.h"
#include "util/err.h"

/* The User-Agent of the providers; the ACME client appends " libcurl". */
#define CF_HTTP_USER_AGENT "certfleet/" CERTFLEET_VERSION

/* cf_outreq.flags: plain http:// to any host (not only loopback). */
#define CF_HTTP_PLAIN_ANY 0x1u
/* cf_outreq.flags: the response body holds a secret (a private key): the body
 * buffer grows by copy-and-wipe, never by realloc(), so the only copy left is
 * the buffer itself, which the caller frees with cf_buf_free_secret(). */
#define CF_HTTP_SECRET_BODY 0x2u

/* Header capture: called for each "Name: value" line of a response head, with
 * the value trimmed of blanks and the line end; with name NULL (nlen 0, value
 * NULL) when a new response head begins (after a 1xx, or a proxy's answer), so
 * that what was kept from the earlier head can be dropped. Returns 0, or -1 to
 * abort the transfer (out of memory). */
typedef int (*cf_http_header_fn)(void *arg, const char *name, size_t nlen,
				 const char *value, size_t vlen);

typedef struct cf_outreq {
	const char *method;        /* "GET", "HEAD", "POST", or any (custom) method */
	const char *url;
	const char *body;          /* sent when not NULL; POST without one sends "" */
	struct curl_slist *headers; /* borrowed, may be NULL */
	const char *ca_file;       /* PEM bundle, or NULL for the system's */
	const char *user_agent;
	long connect_timeout_ms;
	long timeout_ms;           /* total */
	unsigned flags;            /* CF_HTTP_PLAIN_ANY, CF_HTTP_SECRET_BODY */
	cf_http_header_fn on_header; /* may be NULL */
	void *header_arg;
	const char *who;           /* message prefix (never a secret), or NULL */
} cf_outreq;

/* One exchange on the caller's handle c. The body goes to *body (reset first;
 * body->max, when set, is the cap). 0 when a complete response arrived, whatever
 * its status (*status); -1 with err set otherwise: a URL the scheme rule refuses
 * or a handle that cannot be set up (permanent), or a failed transfer (class and
 * message by the mapper). *curl_code (may be NULL) gets the transfer's CURLcode,
 * CURLE_OK when none ran. */
CF_MUST_CHECK int cf_http_perform(CURL *c, const cf_outreq *req, cf_buf *body, long *status,
		    int *curl_code, cf_err *err);

/* The scheme rule: true for https://, and for http:// when flags has
 * CF_HTTP_PLAIN_ANY or the host is a loopback one (127.0.0.0/8, [::1],
 * localhost; no user info). Scheme letters in any case. */
bool cf_http_url_allowed(const char *url, unsigned flags);

/* The class of a failed transfer: transient for what a later attempt may not
 * meet (no name, no connection, a timeout, a reset, a TLS handshake failure),
 * permanent for the rest (a bad URL, a certificate that does not verify...). */
cf_err_class cf_http_curl_class(CURLcode code);
/* The class of an HTTP error status: 429 and 5xx transient, the rest permanent. */
cf_err_class cf_http_status_class(long status);
/* true when a failed transfer may have reached the server: false only for the
 * failures that happen before a byte of the request is sent (no name, no
 * connection, no TLS session). */
bool cf_http_maybe_delivered(CURLcode code);

/* Appends the header line "name: value" (value "" gives "name:", which stops
 * curl from sending a header of its own by that name) or, with value NULL, the
 * line name as it is. Temporary copies are wiped. -1 (list unchanged) when
 * memory runs out. */
CF_MUST_CHECK int cf_http_header_add(struct curl_slist **h, const char *name, const char *value);
/* Appends "Authorization: Bearer <token>". Temporary copies are wiped. -1 (list
 * unchanged) when memory runs out. */
CF_MUST_CHECK int cf_http_header_bearer(struct curl_slist **h, const char *token);
/* Wipes every line of h, then frees it. NULL is fine. */
void cf_http_headers_free(struct curl_slist *h);

#endif
