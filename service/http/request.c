/*
 * request.c: the accessors of an incoming request (cf_http_req), used by the
 * daemon (server.c), the /v1 middleware (api.c) and the handlers: its headers,
 * query values, bearer token, JSON body and client address.
 *
 * They live apart from server.c and api.c so that neither of those calls into
 * the other for them: server.c runs the daemon and calls api.c for the /v1
 * routes; api.c and the handlers read the request through this file only. The
 * values returned point into libmicrohttpd's connection (or the request) and are
 * valid while the request is being answered.
 */
#include "http/http.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "api/validate.h"

const char *cf_req_header(const cf_http_req *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const char *cf_req_query(const cf_http_req *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *cf_bearer_parse(const char *h)
{
	if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0)
		return NULL;
	h += 7;
	while (*h == ' ')
		h++;
	return *h ? h : NULL;
}

const char *cf_req_bearer(const cf_http_req *req)
{
	return cf_bearer_parse(cf_req_header(req, "Authorization"));
}

json_t *cf_req_json(cf_http_req *req, cf_http_resp *resp, bool allow_empty)
{
	cf_verrs errs = { 0 };
	json_error_t e;
	json_t *j;

	if (req->body.len == 0) {
		if (allow_empty)
			return json_object();
		cf_verrs_add(&errs, "body", "required (a JSON object)");
		cf_resp_invalid(resp, &errs);
		return NULL;
	}
	j = json_loadb((const char *)req->body.data, req->body.len, JSON_REJECT_DUPLICATES, &e);
	if (j == NULL) {
		cf_verrs_add(&errs, "body", "malformed JSON at line %d, column %d (byte %d): %s",
			     e.line, e.column, e.position, e.text);
		cf_resp_invalid(resp, &errs);
	}
	return j;
}

const struct sockaddr *cf_req_client_addr(cf_http_req *req)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci ? ci->client_addr : NULL;
	char *out = req->client_ip;
	socklen_t len = (socklen_t)sizeof(req->client_ip);

	snprintf(out, len, "unknown");
	if (sa == NULL)
		return NULL;
	if (sa->sa_family == AF_INET6 &&
	    IN6_IS_ADDR_V4MAPPED(&((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr)) {
		inet_ntop(AF_INET,
			  ((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr.s6_addr + 12,
			  out, len);
		return sa;
	}
	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, out,
			  len);
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr,
			  out, len);
	return sa;
}
