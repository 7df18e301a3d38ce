/*
 * http.h: the HTTP API on libmicrohttpd: a server object, a route table, and the
 * request/response types that handlers see.
 *
 * A handler gets a fully read request (the body is collected and capped at
 * CERTFLEET_MAX_BODY before the handler runs) and fills a response; it never calls
 * the CA or DNS (those belong to workers). Errors are RFC 9457 problem documents
 * (application/problem+json) made with cf_resp_problem().
 */
#ifndef CERTFLEET_HTTP_H
#define CERTFLEET_HTTP_H

#include <jansson.h>
#include <stddef.h>

#include "app.h"
#include "util/buf.h"

#define CF_HTTP_MAX_PARAMS 4

typedef struct cf_http_req {
	const char *method;
	const char *path;
	const char *query_raw; /* unused for now; query values via cf_req_query */
	char *params[CF_HTTP_MAX_PARAMS]; /* {name} segments of the route, in order */
	size_t nparams;
	cf_buf body;
	char request_id[24];
	char client_ip[64];
	void *conn; /* struct MHD_Connection *, for header and query look-ups */
} cf_http_req;

typedef struct cf_http_resp {
	int status;
	const char *content_type; /* static string */
	char *body;               /* owned, malloc'd */
	size_t len;
	char *headers[8][2];      /* owned name/value pairs */
	size_t nheaders;
} cf_http_resp;

typedef int (*cf_handler)(cf_app *app, cf_http_req *req, cf_http_resp *resp);

typedef struct cf_route {
	const char *method;
	const char *pattern; /* "/v1/certificates/{id}" */
	cf_handler fn;
} cf_route;

/* The route table (routes.c). */
extern const cf_route cf_routes[];
extern const size_t cf_nroutes;

/* Matches method+path against the table. Returns the route, or NULL with
 * *path_known set when the path matched with another method (405). Params are
 * malloc'd into req->params. */
const cf_route *cf_route_match(const char *method, const char *path, cf_http_req *req,
			       int *path_known);

/* Response builders: each replaces the body. Return 0. */
int cf_resp_json(cf_http_resp *resp, int status, json_t *body /* stolen */);
int cf_resp_problem(cf_http_resp *resp, int status, const char *type_slug, const char *title,
		    const char *detail_fmt, ...) __attribute__((format(printf, 5, 6)));
int cf_resp_header(cf_http_resp *resp, const char *name, const char *value);
void cf_resp_free(cf_http_resp *resp);

const char *cf_req_header(const cf_http_req *req, const char *name);
const char *cf_req_query(const cf_http_req *req, const char *name);

/* ---- the server ---- */
typedef struct cf_http_server cf_http_server;

/* Starts listening on cfg->listen with cfg->http_threads threads. */
cf_http_server *cf_http_start(cf_app *app, cf_err *err);
/* Stops accepting, lets running requests finish, frees the server. */
void cf_http_stop(cf_http_server *s);

/* Handlers (one file per resource). */
int cf_h_healthz(cf_app *app, cf_http_req *req, cf_http_resp *resp);
int cf_h_readyz(cf_app *app, cf_http_req *req, cf_http_resp *resp);

#endif
