/*
 * response.c: building responses: JSON bodies, RFC 9457 problem documents (with
 * extension members such as "field" and "errors" for invalid input) and extra
 * headers; see http.h. A body marked secret (a private key, a new token) is
 * wiped before it is freed, here and in server.c once it has been sent.
 */
#include "http/http.h"

#include "api/validate.h"
#include "util/buf.h"
#include "util/utf8.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *status_title(int status)
{
	switch (status) {
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 410: return "Gone";
	case 413: return "Content Too Large";
	case 415: return "Unsupported Media Type";
	case 422: return "Unprocessable Content";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	default: return "Error";
	}
}

/* Frees the body, wiping it first when it holds a secret. */
static void body_free(cf_http_resp *resp)
{
	if (resp->secret && resp->body != NULL)
		cf_wipe(resp->body, resp->len);
	free(resp->body);
	resp->body = NULL;
	resp->len = 0;
	resp->secret = false;
}

int cf_resp_json(cf_http_resp *resp, int status, json_t *body)
{
	body_free(resp);
	resp->body = json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER);
	resp->len = resp->body ? strlen(resp->body) : 0;
	resp->status = resp->body ? status : 500;
	resp->content_type = "application/json";
	json_decref(body);
	return 0;
}

int cf_resp_problem(cf_http_resp *resp, int status, const char *type_slug, const char *title,
		    const char *detail_fmt, ...)
{
	char detail[1024], type[256];
	va_list ap;
	json_t *o;

	va_start(ap, detail_fmt);
	vsnprintf(detail, sizeof(detail), detail_fmt, ap);
	va_end(ap);
	cf_utf8_scrub(detail); /* a path or header quoted, or a character cut */
	snprintf(type, sizeof(type), "https://certfleet.dev/problems/%s", type_slug);
	o = json_pack("{s:s, s:s, s:i, s:s}", "type", type, "title",
		      title ? title : status_title(status), "status", status, "detail", detail);
	cf_resp_json(resp, status, o);
	resp->content_type = "application/problem+json";
	return 0;
}

int cf_resp_problem_ext(cf_http_resp *resp, int status, const char *type_slug, json_t *ext,
			const char *detail_fmt, ...)
{
	char detail[1024], type[256];
	va_list ap;
	json_t *o;

	va_start(ap, detail_fmt);
	vsnprintf(detail, sizeof(detail), detail_fmt, ap);
	va_end(ap);
	cf_utf8_scrub(detail); /* a path or header quoted, or a character cut */
	snprintf(type, sizeof(type), "https://certfleet.dev/problems/%s", type_slug);
	o = json_pack("{s:s, s:s, s:i, s:s}", "type", type, "title", status_title(status),
		      "status", status, "detail", detail);
	if (o != NULL && ext != NULL)
		json_object_update_missing(o, ext);
	json_decref(ext);
	cf_resp_json(resp, status, o);
	if (resp->status == status)
		resp->content_type = "application/problem+json";
	return 0;
}

int cf_resp_invalid(cf_http_resp *resp, const struct cf_verrs *errs)
{
	json_t *list = json_array(), *ext;

	for (size_t i = 0; list != NULL && i < errs->n; i++)
		json_array_append_new(list, json_pack("{s:s, s:s}", "field", errs->e[i].field,
						      "detail", errs->e[i].detail));
	ext = json_pack("{s:s, s:o?}", "field", errs->n ? errs->e[0].field : "body", "errors",
			list);
	return cf_resp_problem_ext(resp, 400, "invalid-request", ext, "%s%s",
				   errs->n ? errs->e[0].detail : "body: invalid",
				   errs->n > 1 ? " (and more: see errors)" : "");
}

int cf_resp_defer(cf_http_resp *resp, void (*run)(void *arg, cf_http_resp *resp),
		  void (*free_fn)(void *arg), void *arg)
{
	body_free(resp);
	resp->status = 200; /* a placeholder: the server answers with what run makes */
	resp->content_type = NULL;
	resp->defer = (cf_http_defer){ .run = run, .free = free_fn, .arg = arg };
	return 0;
}

int cf_resp_empty(cf_http_resp *resp, int status)
{
	body_free(resp);
	resp->status = status;
	resp->content_type = NULL;
	return 0;
}

int cf_resp_header(cf_http_resp *resp, const char *name, const char *value)
{
	if (resp->nheaders >= sizeof(resp->headers) / sizeof(resp->headers[0]))
		return -1;
	resp->headers[resp->nheaders][0] = strdup(name);
	resp->headers[resp->nheaders][1] = strdup(value);
	resp->nheaders++;
	return 0;
}

void cf_resp_free(cf_http_resp *resp)
{
	body_free(resp);
	for (size_t i = 0; i < resp->nheaders; i++) {
		free(resp->headers[i][0]);
		free(resp->headers[i][1]);
	}
	memset(resp, 0, sizeof(*resp));
}
