/*
 * api_http.c: the HTTP client and settings helpers of the HTTP-API providers;
 * see api_http.h for the contract.
 *
 * Requests go through the shared transport (util/http_client.c) with plain
 * http:// allowed to any host (CF_HTTP_PLAIN_ANY: powerdns and acme-dns often
 * listen on a private network without TLS). One easy handle per request:
 * providers make a handful of calls per challenge, so connection reuse is not
 * worth shared state between worker threads. Header lines are copied into a
 * curl_slist that is wiped line by line before it is freed, because a
 * provider's credential travels in a header.
 */
#include "providers/api_http.h"
#include "util/http_client.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DEFAULT_TIMEOUT_MS 10000L
#define DEFAULT_MAX_BODY (1024 * 1024)
#define RETRY_AFTER_MAX_S 86400L

/* Header capture: keeps Retry-After when it is a whole number of seconds. */
static int on_header(void *arg, const char *name, size_t nlen, const char *value, size_t vlen)
{
	cf_api_resp *resp = arg;
	long v = 0;
	size_t i;

	if (name == NULL) { /* a new response head: forget the earlier one's */
		resp->retry_after_s = -1;
		return 0;
	}
	if (nlen != 11 || strncasecmp(name, "Retry-After", 11) != 0 || vlen == 0 || vlen > 9)
		return 0;
	for (i = 0; i < vlen; i++) {
		if (!isdigit((unsigned char)value[i]))
			return 0;
		v = v * 10 + (value[i] - '0');
	}
	resp->retry_after_s = v > RETRY_AFTER_MAX_S ? RETRY_AFTER_MAX_S : v;
	return 0;
}

int cf_api_http(const cf_api_req *req, cf_api_resp *resp, cf_err *err)
{
	const char *who = req->who ? req->who : "http";
	long timeout = req->timeout_ms > 0 ? req->timeout_ms : DEFAULT_TIMEOUT_MS;
	struct curl_slist *hdrs = NULL;
	cf_outreq hreq = { .method = req->method,
			     .url = req->url,
			     .body = req->body,
			     .ca_file = req->ca_file,
			     .user_agent = CF_HTTP_USER_AGENT,
			     .connect_timeout_ms = timeout < 5000 ? timeout : 5000L,
			     .timeout_ms = timeout,
			     .flags = CF_HTTP_PLAIN_ANY,
			     .on_header = on_header,
			     .header_arg = resp,
			     .who = who };
	CURL *c = NULL;
	size_t i;
	int code = CURLE_OK, ret = -1;

	memset(resp, 0, sizeof(*resp));
	resp->retry_after_s = -1;
	resp->body.max = req->max_body ? req->max_body : DEFAULT_MAX_BODY;
	c = curl_easy_init();
	if (c == NULL) {
		cf_err_set(err, CF_ERR_TRANSIENT, "%s: curl_easy_init failed", who);
		goto out;
	}
	/* "Expect:" stops curl's 100-continue round trip on larger bodies. */
	if (cf_http_header_add(&hdrs, "Expect", "") != 0 ||
	    (req->body != NULL &&
	     cf_http_header_add(&hdrs, "Content-Type",
				 req->content_type ? req->content_type : "application/json") != 0) ||
	    cf_http_header_add(&hdrs, "Accept", "application/json") != 0)
		goto oom;
	for (i = 0; req->headers != NULL && req->headers[i] != NULL; i++)
		if (cf_http_header_add(&hdrs, req->headers[i], NULL) != 0)
			goto oom;
	hreq.headers = hdrs;
	ret = cf_http_perform(c, &hreq, &resp->body, &resp->status, &code, err);
	resp->maybe_delivered = ret != 0 && code != CURLE_OK &&
				cf_http_maybe_delivered((CURLcode)code);
	goto out;
oom:
	cf_err_oom(err, who);
out:
	cf_http_headers_free(hdrs);
	if (c != NULL)
		curl_easy_cleanup(c);
	if (ret != 0) {
		bool maybe = resp->maybe_delivered;

		cf_api_resp_free(resp);
		resp->maybe_delivered = maybe;
	}
	return ret;
}

void cf_api_resp_free(cf_api_resp *resp)
{
	if (resp == NULL)
		return;
	cf_buf_free(&resp->body);
	resp->status = 0;
	resp->retry_after_s = -1;
}

int cf_api_url_check(const char *who, const char *key, const char *url,
		     char out[CF_API_URL_MAX], cf_err *err)
{
	const char *host, *end, *p;
	size_t n;

	if (url == NULL || url[0] == '\0')
		return cf_err_set(err, CF_ERR_PERMANENT,
				  "%s setting %s: required (http(s)://HOST[:PORT][/PATH])", who, key);
	n = strlen(url);
	if (n > CF_API_URL_MAX - 128)
		return cf_err_set(err, CF_ERR_PERMANENT, "%s setting %s: longer than %d characters",
				  who, key, CF_API_URL_MAX - 128);
	if (strncasecmp(url, "https://", 8) == 0)
		host = url + 8;
	else if (strncasecmp(url, "http://", 7) == 0)
		host = url + 7;
	else
		return cf_err_set(err, CF_ERR_PERMANENT,
				  "%s setting %s: \"%.100s\" is not an http:// or https:// URL", who,
				  key, url);
	for (p = url; *p; p++)
		if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f || *p == '?' ||
		    *p == '#' || *p == '\\')
			return cf_err_set(err, CF_ERR_PERMANENT,
					  "%s setting %s: \"%.100s\" has a blank, query, fragment or "
					  "other character a base URL cannot have",
					  who, key, url);
	end = strchr(host, '/');
	if (end == NULL)
		end = url + n;
	if (memchr(host, '@', (size_t)(end - host)) != NULL)
		return cf_err_set(err, CF_ERR_PERMANENT,
				  "%s setting %s: credentials in the URL are not allowed (the URL is "
				  "not shown)",
				  who, key);
	if (end == host || *host == ':')
		return cf_err_set(err, CF_ERR_PERMANENT, "%s setting %s: \"%.100s\" has no host",
				  who, key, url);
	while (n > 0 && url[n - 1] == '/' && url + n - 1 >= end)
		n--;
	memcpy(out, url, n);
	out[n] = '\0';
	return 0;
}

void cf_api_error_text(const cf_api_resp *resp, char *out, size_t outlen)
{
	const char *src = resp->body.data ? (const char *)resp->body.data : "";
	json_t *j = NULL, *m;
	size_t i = 0;
	int blank = 0;

	if (outlen == 0)
		return;
	if (resp->body.len > 0 && (j = json_loadb(src, resp->body.len, 0, NULL)) != NULL &&
	    json_is_object(j)) {
		m = json_object_get(j, "error");
		if (!json_is_string(m))
			m = json_object_get(j, "message");
		if (json_is_string(m))
			src = json_string_value(m);
	}
	for (; *src && i + 1 < outlen; src++) {
		unsigned char ch = (unsigned char)*src;

		if (isspace(ch)) {
			blank = i > 0;
			continue;
		}
		if (ch < 0x20 || ch == 0x7f)
			continue;
		if (blank && i + 2 < outlen)
			out[i++] = ' ';
		blank = 0;
		out[i++] = (char)ch;
	}
	out[i] = '\0';
	json_decref(j);
}

int cf_api_setting_str(const char *who, const json_t *settings, const char *key,
		       const char **out, cf_err *err)
{
	const json_t *v = json_object_get(settings, key);

	*out = NULL;
	if (v == NULL)
		return 0;
	if (!json_is_string(v))
		return cf_err_set(err, CF_ERR_PERMANENT, "%s setting %s: must be a string", who,
				  key);
	*out = json_string_value(v);
	return 0;
}

int cf_api_settings_known(const char *who, const json_t *settings, const char *const *known,
			  cf_err *err)
{
	char list[400];
	const char *key;
	const json_t *v;
	size_t i, off;

	json_object_foreach((json_t *)settings, key, v) {
		for (i = 0; known[i] != NULL && strcmp(known[i], key) != 0; i++)
			;
		if (known[i] != NULL)
			continue;
		list[0] = '\0';
		for (i = 0, off = 0; known[i] != NULL && off < sizeof(list); i++)
			off += (size_t)snprintf(list + off, sizeof(list) - off, "%s%s",
						i ? ", " : "", known[i]);
		return cf_err_set(err, CF_ERR_PERMANENT, "%s: unknown setting \"%.60s\" (known: %s)",
				  who, key, list);
	}
	return 0;
}

int cf_api_setting_long(const char *who, const json_t *settings, const char *key, long min,
			long max, long def, long *out, cf_err *err)
{
	const json_t *j = json_object_get(settings, key);
	const char *s;
	char *end = NULL;
	long v;

	if (j == NULL) {
		v = def;
	} else if (json_is_integer(j)) {
		json_int_t iv = json_integer_value(j);

		v = iv < min || iv > max ? min - 1 : (long)iv;
	} else if (json_is_string(j)) {
		s = json_string_value(j);
		v = strtol(s, &end, 10);
		if (s[0] == '\0' || *end != '\0' || !isdigit((unsigned char)s[0]))
			v = min - 1;
	} else {
		v = min - 1;
	}
	if (v < min || v > max)
		return cf_err_set(err, CF_ERR_PERMANENT,
				  "%s setting %s: must be a whole number, %ld-%ld", who, key, min,
				  max);
	*out = v;
	return 0;
}
