/*
 * http_client.c: the shared libcurl transport; see http_client.h for the contract.
 *
 * cf_http_perform() resets the caller's handle, checks the scheme rule, sets the
 * common options (timeouts, protocols, no redirects, User-Agent, CA file, body
 * cap, sinks), performs, and maps a failure to a cf_err. The handle keeps
 * pointers to the caller's header list and to our error buffer until its next
 * reset, so both are unset again before returning. Nothing here keeps state
 * between calls: callers on different threads share nothing but libcurl.
 */
#include "util/http_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* What the sinks learn during one transfer. */
typedef struct xfer {
	const cf_outreq *req;
	cf_buf *body;
	bool overflow; /* the body went past body->max */
	bool oom;
} xfer;

/* ---- sinks ---- */

/* Makes room for n more bytes (and the NUL) by copy-and-wipe: a new block, the
 * old bytes copied, the old block wiped and freed. For CF_HTTP_SECRET_BODY. */
static int grow_wiped(cf_buf *b, size_t n)
{
	size_t cap = b->cap ? b->cap : 8192;
	uint8_t *d;

	if (n > SIZE_MAX / 4 - b->len)
		return -1;
	if (b->len + n + 1 <= b->cap)
		return 0;
	while (cap < b->len + n + 1)
		cap *= 2;
	if ((d = malloc(cap)) == NULL)
		return -1;
	if (b->data != NULL) {
		memcpy(d, b->data, b->len);
		explicit_bzero(b->data, b->cap);
		free(b->data);
	}
	d[b->len] = '\0';
	b->data = d;
	b->cap = cap;
	return 0;
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
	xfer *x = ud;
	size_t n = size * nmemb;

	if (x->body->max != 0 && x->body->len + n > x->body->max) {
		x->overflow = true;
		return 0;
	}
	if (((x->req->flags & CF_HTTP_SECRET_BODY) && grow_wiped(x->body, n) != 0) ||
	    cf_buf_append(x->body, ptr, n) != 0) {
		x->oom = true;
		return 0;
	}
	return n;
}

/* Splits one header line into name and trimmed value for the caller's callback. */
static size_t on_header(char *ptr, size_t size, size_t nmemb, void *ud)
{
	xfer *x = ud;
	size_t n = size * nmemb;
	const char *colon, *v, *end = ptr + n;
	int rc;

	if (n >= 5 && strncmp(ptr, "HTTP/", 5) == 0) {
		rc = x->req->on_header(x->req->header_arg, NULL, 0, NULL, 0);
	} else {
		colon = memchr(ptr, ':', n);
		if (colon == NULL)
			return n; /* the blank line that ends the head */
		v = colon + 1;
		while (v < end && (*v == ' ' || *v == '\t'))
			v++;
		while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' ||
				   end[-1] == '\t'))
			end--;
		rc = x->req->on_header(x->req->header_arg, ptr, (size_t)(colon - ptr), v,
				       (size_t)(end - v));
	}
	if (rc != 0) {
		x->oom = true;
		return 0;
	}
	return n;
}

/* ---- rules and classes ---- */

/* host (up to its end, not NUL-terminated) is localhost, 127.0.0.0/8 or ::1. */
static bool host_is_loopback(const char *host, size_t n)
{
	unsigned char a[16];
	char h[64];

	if (n == 0 || n >= sizeof(h))
		return false;
	memcpy(h, host, n);
	h[n] = '\0';
	if (strcasecmp(h, "localhost") == 0)
		return true;
	if (inet_pton(AF_INET6, h, a) == 1)
		return memcmp(a, &in6addr_loopback, sizeof(in6addr_loopback)) == 0;
	return inet_pton(AF_INET, h, a) == 1 && a[0] == 127;
}

bool cf_http_url_allowed(const char *url, unsigned flags)
{
	const char *auth, *end;
	size_t alen;

	if (url == NULL)
		return false;
	if (strncasecmp(url, "https://", 8) == 0)
		return true;
	if (strncasecmp(url, "http://", 7) != 0)
		return false;
	if (flags & CF_HTTP_PLAIN_ANY)
		return true;
	auth = url + 7;
	alen = strcspn(auth, "/?#");
	if (memchr(auth, '@', alen) != NULL)
		return false; /* user info: the host is not what it seems */
	if (auth[0] == '[') { /* [v6] or [v6]:port */
		end = memchr(auth, ']', alen);
		if (end == NULL || (end + 1 < auth + alen && end[1] != ':'))
			return false;
		return host_is_loopback(auth + 1, (size_t)(end - auth - 1));
	}
	return host_is_loopback(auth, strcspn(auth, ":/?#"));
}

cf_err_class cf_http_curl_class(CURLcode code)
{
	switch (code) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
	case CURLE_AGAIN:
		return CF_ERR_TRANSIENT;
	default:
		return CF_ERR_PERMANENT;
	}
}

cf_err_class cf_http_status_class(long status)
{
	return status == 429 || status >= 500 ? CF_ERR_TRANSIENT : CF_ERR_PERMANENT;
}

bool cf_http_maybe_delivered(CURLcode code)
{
	switch (code) {
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
		return false;
	default:
		return true;
	}
}

/* ---- header lists ---- */

int cf_http_header_add(struct curl_slist **h, const char *name, const char *value)
{
	struct curl_slist *t = NULL;
	size_t n;
	char *line;

	if (value == NULL) {
		t = curl_slist_append(*h, name);
	} else {
		n = strlen(name) + strlen(value) + 3;
		if ((line = malloc(n)) == NULL)
			return -1;
		snprintf(line, n, value[0] ? "%s: %s" : "%s:%s", name, value);
		t = curl_slist_append(*h, line);
		explicit_bzero(line, n);
		free(line);
	}
	if (t == NULL)
		return -1;
	*h = t;
	return 0;
}

int cf_http_header_bearer(struct curl_slist **h, const char *token)
{
	size_t n = strlen(token) + sizeof("Bearer ");
	char *v;
	int rc;

	if ((v = malloc(n)) == NULL)
		return -1;
	snprintf(v, n, "Bearer %s", token);
	rc = cf_http_header_add(h, "Authorization", v);
	explicit_bzero(v, n);
	free(v);
	return rc;
}

void cf_http_headers_free(struct curl_slist *h)
{
	struct curl_slist *p;

	for (p = h; p != NULL; p = p->next)
		if (p->data != NULL)
			explicit_bzero(p->data, strlen(p->data));
	curl_slist_free_all(h);
}

/* ---- one exchange ---- */

static int set_options(CURL *c, const cf_outreq *req, xfer *x, char *errbuf)
{
	const char *m = req->method;
	CURLcode rc = CURLE_OK;

#define OPT(o, v) \
	do { \
		if (rc == CURLE_OK) \
			rc = curl_easy_setopt(c, o, v); \
	} while (0)
	OPT(CURLOPT_URL, req->url);
	OPT(CURLOPT_PROTOCOLS_STR, "https,http");
	OPT(CURLOPT_FOLLOWLOCATION, 0L);
	OPT(CURLOPT_NOSIGNAL, 1L);
	OPT(CURLOPT_CONNECTTIMEOUT_MS, req->connect_timeout_ms);
	OPT(CURLOPT_TIMEOUT_MS, req->timeout_ms);
	OPT(CURLOPT_USERAGENT, req->user_agent);
	if (x->body->max != 0)
		OPT(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)x->body->max);
	OPT(CURLOPT_WRITEFUNCTION, on_body);
	OPT(CURLOPT_WRITEDATA, x);
	if (req->on_header != NULL) {
		OPT(CURLOPT_HEADERFUNCTION, on_header);
		OPT(CURLOPT_HEADERDATA, x);
	}
	OPT(CURLOPT_ERRORBUFFER, errbuf);
	OPT(CURLOPT_HTTPHEADER, req->headers);
	if (req->ca_file != NULL)
		OPT(CURLOPT_CAINFO, req->ca_file);
	if (strcmp(m, "HEAD") == 0) {
		OPT(CURLOPT_NOBODY, 1L);
	} else if (strcmp(m, "GET") == 0 && req->body == NULL) {
		OPT(CURLOPT_HTTPGET, 1L);
	} else {
		if (strcmp(m, "POST") == 0)
			OPT(CURLOPT_POST, 1L);
		else
			OPT(CURLOPT_CUSTOMREQUEST, m);
		if (req->body != NULL || strcmp(m, "POST") == 0) {
			OPT(CURLOPT_POSTFIELDS, req->body ? req->body : "");
			OPT(CURLOPT_POSTFIELDSIZE_LARGE,
			    (curl_off_t)(req->body ? strlen(req->body) : 0));
		}
	}
#undef OPT
	return rc == CURLE_OK ? 0 : -1;
}

/* The error mapper: the class of the failure and "[who: ]METHOD URL: detail". */
static int transfer_error(CURL *c, const cf_outreq *req, CURLcode code, const xfer *x,
			  const char *errbuf, cf_err *err)
{
	const char *who = req->who ? req->who : "", *sep = req->who ? ": " : "";
	curl_off_t spent_us = 0;

	if (x->overflow || code == CURLE_FILESIZE_EXCEEDED)
		return cf_err_set(err, CF_ERR_PERMANENT,
				  "%s%s%s %s: response body larger than %zu bytes", who, sep,
				  req->method, req->url, x->body->max);
	if (x->oom) {
		cf_err_oom(err, NULL);
		return cf_err_wrap(err, "%s%s%s %s", who, sep, req->method, req->url);
	}
	if (code == CURLE_OPERATION_TIMEDOUT) {
		/* the connect timeout fired when it is the shorter one and the total
		 * one had not run out yet */
		curl_easy_getinfo(c, CURLINFO_TOTAL_TIME_T, &spent_us);
		if (req->connect_timeout_ms < req->timeout_ms &&
		    spent_us < (curl_off_t)req->timeout_ms * 1000)
			return cf_err_set(err, CF_ERR_TRANSIENT,
					  "%s%s%s %s: no connection within %ld ms (curl %d)", who,
					  sep, req->method, req->url, req->connect_timeout_ms,
					  (int)code);
		return cf_err_set(err, CF_ERR_TRANSIENT, "%s%s%s %s: no answer within %ld ms (curl %d)",
				  who, sep, req->method, req->url, req->timeout_ms, (int)code);
	}
	return cf_err_set(err, cf_http_curl_class(code), "%s%s%s %s: %s (curl %d)", who, sep,
			  req->method, req->url, errbuf[0] ? errbuf : curl_easy_strerror(code),
			  (int)code);
}

int cf_http_perform(CURL *c, const cf_outreq *req, cf_buf *body, long *status,
		    int *curl_code, cf_err *err)
{
	const char *who = req->who ? req->who : "", *sep = req->who ? ": " : "";
	char errbuf[CURL_ERROR_SIZE] = "";
	xfer x = { .req = req, .body = body };
	CURLcode code = CURLE_OK;
	int rc = -1;

	*status = 0;
	cf_buf_reset(body);
	curl_easy_reset(c);
	if (!cf_http_url_allowed(req->url, req->flags)) {
		cf_err_set(err, CF_ERR_PERMANENT,
			   (req->flags & CF_HTTP_PLAIN_ANY)
				   ? "%s%s%s %s: only http:// and https:// URLs are allowed"
				   : "%s%s%s %s: only https:// URLs are allowed (plain http:// "
				     "to a loopback host only)",
			   who, sep, req->method, req->url ? req->url : "(null)");
		goto out;
	}
	if (set_options(c, req, &x, errbuf) != 0) {
		cf_err_set(err, CF_ERR_PERMANENT, "%s%s%s %s: cannot set up curl", who, sep,
			   req->method, req->url);
		goto out;
	}
	code = curl_easy_perform(c);
	if (code != CURLE_OK) {
		transfer_error(c, req, code, &x, errbuf, err);
		goto out;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
	rc = 0;
out:
	/* the handle keeps these pointers until its next reset */
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, NULL);
	if (curl_code != NULL)
		*curl_code = (int)code;
	return rc;
}
