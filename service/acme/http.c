/*
 * http.c: the client's transport, one libcurl easy handle per client (so TLS
 * sessions and connections are reused between the requests of one issuance),
 * on the shared transport of util/http_client.c: connect and total timeouts, the
 * User-Agent "certfleet/<version> libcurl", the CA file for the CA's own TLS,
 * HTTPS only (plain http:// to loopback hosts alone, for tests), no redirects,
 * and the body cap (max_body: a larger body fails the request, permanently).
 * What is ACME's own is here: the request headers (Content-Type, Accept) and
 * the captured response headers: Replay-Nonce, Location, Retry-After,
 * Content-Type and every Link, each value at most ACME_MAX_HEADER bytes.
 * Ownership: acme_resp owns its body and header copies (acme_resp_free()).
 */
#include "acme/acme_int.h"
#include "util/http_client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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

static int set_header(char **slot, const char *v, size_t n)
{
	char *s = strndup(v, n);

	if (s == NULL)
		return -1;
	free(*slot);
	*slot = s;
	return 0;
}

/* The header callback (cf_http_header_fn): stores one header if it is one of ours. */
static int keep_header(void *arg, const char *name, size_t nlen, const char *v, size_t n)
{
	acme_resp *r = arg;

	if (name == NULL) {
		reset_headers(r);
		return 0;
	}
	if (n > ACME_MAX_HEADER)
		return 0; /* not a value we would use; ignore it */
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

int acme_http_init(acme_http *h, const char *ca_file, long connect_timeout_ms,
		   long timeout_ms, size_t max_body, cf_err *err)
{
	memset(h, 0, sizeof(*h));
	h->curl = curl_easy_init();
	if (h->curl == NULL)
		return cf_err_set(err, CF_ERR_PERMANENT, "curl_easy_init failed");
	if (ca_file != NULL && (h->ca_file = strdup(ca_file)) == NULL) {
		acme_http_cleanup(h);
		return cf_err_oom(err, NULL);
	}
	h->connect_timeout_ms = connect_timeout_ms;
	h->timeout_ms = timeout_ms;
	h->max_body = max_body;
	snprintf(h->user_agent, sizeof(h->user_agent), "%s libcurl", CF_HTTP_USER_AGENT);
	return 0;
}

void acme_http_cleanup(acme_http *h)
{
	if (h->curl)
		curl_easy_cleanup(h->curl);
	free(h->ca_file);
	memset(h, 0, sizeof(*h));
}

int acme_http_request(acme_http *h, const char *method, const char *url, const char *body,
		      const char *content_type, const char *accept, acme_resp *resp,
		      cf_err *err)
{
	struct curl_slist *hdrs = NULL;
	cf_outreq req = {.method = method,
			   .url = url,
			   .body = strcmp(method, "POST") == 0 ? body : NULL,
			   .ca_file = h->ca_file,
			   .user_agent = h->user_agent,
			   .connect_timeout_ms = h->connect_timeout_ms,
			   .timeout_ms = h->timeout_ms,
			   .on_header = keep_header,
			   .header_arg = resp};
	int rc = -1;

	acme_resp_free(resp);
	resp->body.max = h->max_body;
	if (cf_http_header_add(&hdrs, "Expect", "") != 0 ||
	    (content_type && cf_http_header_add(&hdrs, "Content-Type", content_type) != 0) ||
	    (accept && cf_http_header_add(&hdrs, "Accept", accept) != 0)) {
		cf_err_set(err, CF_ERR_PERMANENT, "%s %s: cannot set up curl", method, url);
		goto out;
	}
	req.headers = hdrs;
	rc = cf_http_perform(h->curl, &req, &resp->body, &resp->status, &resp->curl_code, err);
out:
	cf_http_headers_free(hdrs);
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
