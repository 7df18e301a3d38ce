/*
 * http.c: the client's transport, one libcurl easy handle per client (so TLS
 * sessions and connections are reused between the requests of one issuance).
 * Every request gets a connect and a total timeout, the User-Agent
 * "certfleet/<version> libcurl", the CA file for the CA's own TLS, HTTPS only
 * (plain http:// is allowed to loopback hosts alone, for tests), no redirects,
 * and a body cap: a body larger than the cap aborts the transfer with an error
 * instead of growing without bound. The headers ACME needs are captured:
 * Replay-Nonce, Location, Retry-After, Content-Type and every Link.
 */
#include "acme/acme_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct req_ctx {
	acme_resp *resp;
	size_t max;
	bool overflow; /* body exceeded max */
	bool oom;
} req_ctx;

void acme_resp_free(acme_resp *r)
{
	size_t i;

	if (r == NULL)
		return;
	cf_buf_free(&r->body);
	free(r->content_type);
	free(r->location);
	free(r->nonce);
	free(r->retry_after);
	for (i = 0; i < r->nlinks; i++)
		free(r->links[i]);
	memset(r, 0, sizeof(*r));
}

/* Drops the headers of an earlier response (1xx, or a proxy's). */
static void reset_headers(acme_resp *r)
{
	cf_buf body = r->body;

	r->body = (cf_buf){0};
	acme_resp_free(r);
	r->body = body;
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
	req_ctx *x = ud;
	size_t n = size * nmemb;

	if (x->resp->body.len + n > x->max) {
		x->overflow = true;
		return 0;
	}
	if (cf_buf_append(&x->resp->body, ptr, n) != 0) {
		x->oom = true;
		return 0;
	}
	return n;
}

static int set_header(char **slot, const char *v, size_t n)
{
	char *s = strndup(v, n);

	if (s == NULL)
		return -1;
	free(*slot);
	*slot = s;
	return 0;
}

/* Stores one "Name: value" line if it is one of ours. */
static int keep_header(acme_resp *r, const char *name, size_t nlen, const char *v, size_t n)
{
	if (nlen == 12 && strncasecmp(name, "Replay-Nonce", 12) == 0)
		return set_header(&r->nonce, v, n);
	if (nlen == 8 && strncasecmp(name, "Location", 8) == 0)
		return set_header(&r->location, v, n);
	if (nlen == 11 && strncasecmp(name, "Retry-After", 11) == 0)
		return set_header(&r->retry_after, v, n);
	if (nlen == 12 && strncasecmp(name, "Content-Type", 12) == 0)
		return set_header(&r->content_type, v, n);
	if (nlen == 4 && strncasecmp(name, "Link", 4) == 0 && r->nlinks < ACME_MAX_LINKS) {
		r->links[r->nlinks] = strndup(v, n);
		if (r->links[r->nlinks] == NULL)
			return -1;
		r->nlinks++;
	}
	return 0;
}

static size_t on_header(char *ptr, size_t size, size_t nmemb, void *ud)
{
	req_ctx *x = ud;
	size_t n = size * nmemb, nlen;
	const char *colon, *v, *end = ptr + n;

	if (n >= 5 && strncmp(ptr, "HTTP/", 5) == 0) {
		reset_headers(x->resp);
		return n;
	}
	colon = memchr(ptr, ':', n);
	if (colon == NULL)
		return n;
	nlen = (size_t)(colon - ptr);
	v = colon + 1;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' ||
			   end[-1] == '\t'))
		end--;
	if ((size_t)(end - v) > ACME_MAX_HEADER)
		return n; /* not a value we would use; ignore it */
	if (keep_header(x->resp, ptr, nlen, v, (size_t)(end - v)) != 0) {
		x->oom = true;
		return 0;
	}
	return n;
}

int acme_http_init(acme_http *h, const char *ca_file, long connect_timeout_ms,
		   long timeout_ms, size_t max_body, cf_err *err)
{
	memset(h, 0, sizeof(*h));
	h->curl = curl_easy_init();
	if (h->curl == NULL)
		return cf_err_set(err, CF_ERR_PERMANENT, "curl_easy_init failed");
	if (ca_file != NULL && (h->ca_file = strdup(ca_file)) == NULL) {
		acme_http_cleanup(h);
		return cf_err_set(err, CF_ERR_PERMANENT, "out of memory");
	}
	h->connect_timeout_ms = connect_timeout_ms;
	h->timeout_ms = timeout_ms;
	h->max_body = max_body;
	snprintf(h->user_agent, sizeof(h->user_agent), "certfleet/%s libcurl", CERTFLEET_VERSION);
	return 0;
}

void acme_http_cleanup(acme_http *h)
{
	if (h->curl)
		curl_easy_cleanup(h->curl);
	free(h->ca_file);
	memset(h, 0, sizeof(*h));
}

/* https://, or http:// to a loopback host (tests run fake servers there). */
static bool url_allowed(const char *url)
{
	static const char *const loop[] = {"http://127.0.0.1:", "http://127.0.0.1/",
					   "http://localhost:", "http://localhost/",
					   "http://[::1]:", "http://[::1]/"};
	size_t i;

	if (strncasecmp(url, "https://", 8) == 0)
		return true;
	for (i = 0; i < sizeof(loop) / sizeof(loop[0]); i++)
		if (strncasecmp(url, loop[i], strlen(loop[i])) == 0)
			return true;
	return false;
}

static cf_err_class curl_class(CURLcode rc)
{
	switch (rc) {
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

static int set_options(acme_http *h, const char *method, const char *url, const char *body,
		       struct curl_slist *hdrs, req_ctx *x, char *errbuf)
{
	CURL *c = h->curl;
	CURLcode rc = CURLE_OK;

	curl_easy_reset(c);
#define OPT(o, v) \
	do { \
		if (rc == CURLE_OK) \
			rc = curl_easy_setopt(c, o, v); \
	} while (0)
	OPT(CURLOPT_URL, url);
	OPT(CURLOPT_PROTOCOLS_STR, "https,http");
	OPT(CURLOPT_FOLLOWLOCATION, 0L);
	OPT(CURLOPT_NOSIGNAL, 1L);
	OPT(CURLOPT_CONNECTTIMEOUT_MS, h->connect_timeout_ms);
	OPT(CURLOPT_TIMEOUT_MS, h->timeout_ms);
	OPT(CURLOPT_USERAGENT, h->user_agent);
	OPT(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)h->max_body);
	OPT(CURLOPT_WRITEFUNCTION, on_body);
	OPT(CURLOPT_WRITEDATA, x);
	OPT(CURLOPT_HEADERFUNCTION, on_header);
	OPT(CURLOPT_HEADERDATA, x);
	OPT(CURLOPT_ERRORBUFFER, errbuf);
	OPT(CURLOPT_HTTPHEADER, hdrs);
	if (h->ca_file)
		OPT(CURLOPT_CAINFO, h->ca_file);
	if (strcmp(method, "HEAD") == 0) {
		OPT(CURLOPT_NOBODY, 1L);
	} else if (strcmp(method, "POST") == 0) {
		OPT(CURLOPT_POST, 1L);
		OPT(CURLOPT_POSTFIELDS, body);
		OPT(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
	}
#undef OPT
	return rc == CURLE_OK ? 0 : -1;
}

static struct curl_slist *make_headers(const char *content_type, const char *accept)
{
	struct curl_slist *l = NULL, *t;
	char line[160];

	if ((t = curl_slist_append(l, "Expect:")) == NULL)
		return NULL;
	l = t;
	if (content_type) {
		snprintf(line, sizeof(line), "Content-Type: %s", content_type);
		if ((t = curl_slist_append(l, line)) == NULL)
			goto fail;
		l = t;
	}
	if (accept) {
		snprintf(line, sizeof(line), "Accept: %s", accept);
		if ((t = curl_slist_append(l, line)) == NULL)
			goto fail;
		l = t;
	}
	return l;
fail:
	curl_slist_free_all(l);
	return NULL;
}

static int transfer_error(acme_http *h, const char *method, const char *url, CURLcode crc,
			  const req_ctx *x, const char *errbuf, cf_err *err)
{
	if (x->overflow || crc == CURLE_FILESIZE_EXCEEDED)
		return cf_err_set(err, CF_ERR_PERMANENT,
				  "%s %s: response body larger than %zu bytes", method, url,
				  h->max_body);
	if (x->oom)
		return cf_err_set(err, CF_ERR_TRANSIENT, "%s %s: out of memory", method, url);
	return cf_err_set(err, curl_class(crc), "%s %s: %s (curl %d)", method, url,
			  errbuf[0] ? errbuf : curl_easy_strerror(crc), (int)crc);
}

int acme_http_request(acme_http *h, const char *method, const char *url, const char *body,
		      const char *content_type, const char *accept, acme_resp *resp,
		      cf_err *err)
{
	struct curl_slist *hdrs = NULL;
	char errbuf[CURL_ERROR_SIZE] = "";
	req_ctx x = {.resp = resp, .max = h->max_body};
	CURLcode crc;
	int rc = -1;

	acme_resp_free(resp);
	if (!url_allowed(url)) {
		cf_err_set(err, CF_ERR_PERMANENT, "%s %s: only https:// URLs are allowed", method,
			   url);
		goto out;
	}
	if ((hdrs = make_headers(content_type, accept)) == NULL ||
	    set_options(h, method, url, body ? body : "", hdrs, &x, errbuf) != 0) {
		cf_err_set(err, CF_ERR_PERMANENT, "%s %s: cannot set up curl", method, url);
		goto out;
	}
	crc = curl_easy_perform(h->curl);
	resp->curl_code = (int)crc;
	if (crc != CURLE_OK) {
		transfer_error(h, method, url, crc, &x, errbuf, err);
		goto out;
	}
	curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &resp->status);
	rc = 0;
out:
	/* the handle keeps pointers to these until the next reset */
	curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(h->curl, CURLOPT_ERRORBUFFER, NULL);
	curl_slist_free_all(hdrs);
	return rc;
}

bool acme_resp_is(const acme_resp *r, const char *type)
{
	size_t n = strlen(type);
	const char *ct = r->content_type;

	if (ct == NULL || strncasecmp(ct, type, n) != 0)
		return false;
	return ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ';
}

int acme_resp_links(const acme_resp *r, const char *rel, char **urls, size_t max, size_t *n)
{
	size_t i;

	for (i = 0; i < r->nlinks; i++)
		if (cf_acme_link_parse(r->links[i], rel, urls, max, n) != 0)
			return -1;
	return 0;
}
