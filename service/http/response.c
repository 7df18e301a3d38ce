/*
 * response.c: building responses: JSON bodies, RFC 9457 problem documents and
 * extra headers; see http.h.
 */
#include "http/http.h"

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
	case 413: return "Content Too Large";
	case 422: return "Unprocessable Content";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	default: return "Error";
	}
}

int cf_resp_json(cf_http_resp *resp, int status, json_t *body)
{
	free(resp->body);
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
	snprintf(type, sizeof(type), "https://certfleet.dev/problems/%s", type_slug);
	o = json_pack("{s:s, s:s, s:i, s:s}", "type", type, "title",
		      title ? title : status_title(status), "status", status, "detail", detail);
	cf_resp_json(resp, status, o);
	resp->content_type = "application/problem+json";
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
	free(resp->body);
	for (size_t i = 0; i < resp->nheaders; i++) {
		free(resp->headers[i][0]);
		free(resp->headers[i][1]);
	}
	memset(resp, 0, sizeof(*resp));
}
