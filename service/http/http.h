/*
 * http.h: the HTTP API on libmicrohttpd: a server object, a route table, and the
 * request/response types that handlers see.
 *
 * A handler gets a fully read request (the body is collected and capped at
 * CERTFLEET_MAX_BODY before the handler runs) and fills a response; it never calls
 * the CA or DNS (those belong to workers). Errors are RFC 9457 problem documents
 * (application/problem+json) made with cf_resp_problem().
 *
 * Every route declares who may call it (cf_auth). For the /v1 routes, api.c checks
 * the bearer token in one place before the handler runs, hands the handler a
 * database connection (req->db) and, for methods that change something, runs the
 * handler inside a transaction that is committed only when the response is a
 * success: a handler that answers 4xx or fails leaves no row behind.
 *
 * The certificate fetch routes (flag CF_ROUTE_CACHED) take another path: the
 * token and the certificate come from the in-process cache (cache.h), which
 * LISTEN/NOTIFY keeps exact, so a host polling its certificate costs the
 * database nothing. Their handlers get no req->db.
 */
#ifndef CERTFLEET_HTTP_H
#define CERTFLEET_HTTP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "app.h"
#include "http/cache.h"
#include "store/tokens.h"
#include "util/buf.h"

#define CF_HTTP_MAX_PARAMS 4
#define CF_HTTP_MAX_INVAL 8

typedef struct cf_http_req {
	const char *method;
	const char *path;
	char *params[CF_HTTP_MAX_PARAMS]; /* {name} segments of the route, in order */
	size_t nparams;
	cf_buf body;
	char request_id[24];
	char client_ip[64];
	void *conn; /* struct MHD_Connection *, for the accessors of request.c */
	cf_cache *cache;    /* the server's fetch cache (borrowed) */
	bool tls;           /* the request came over HTTPS */
	bool local;         /* the client's address is in CERTFLEET_LOCAL_ADDRESSES */
	/* set by api.c for routes that need a token */
	bool gated;         /* cf_api_gate passed */
	bool budget_taken;  /* the gate took an unknown-token look-up of client_ip's budget */
	PGconn *db;         /* borrowed from the pool for this request */
	cf_principal who;   /* the caller */
	/* cache entries this request changed, dropped once its transaction commits
	 * (cf_req_invalidate); more than CF_HTTP_MAX_INVAL: everything is dropped */
	struct {
		cf_cache_kind kind;
		char id[CF_TOKEN_NAME_MAX + 1];
	} inval[CF_HTTP_MAX_INVAL];
	size_t ninval;
} cf_http_req;

struct cf_http_resp;

/* An answer finished off the HTTP threads (cf_resp_defer). */
typedef struct cf_http_defer {
	/* Runs on a thread of its own after the handler has returned (and its
	 * database connection went back to the pool); fills resp. Must finish in
	 * bounded time: the connection waits, suspended, for it. */
	void (*run)(void *arg, struct cf_http_resp *resp);
	void (*free)(void *arg); /* after run, or instead of it when it cannot start */
	void *arg;
} cf_http_defer;

typedef struct cf_http_resp {
	int status;
	const char *content_type; /* static string */
	char *body;               /* owned, malloc'd */
	size_t len;
	char *headers[8][2];      /* owned name/value pairs */
	size_t nheaders;
	bool secret;              /* the body holds a secret: wiped before it is freed */
	cf_http_defer defer;      /* run != NULL: the answer is made later (cf_resp_defer) */
} cf_http_resp;

typedef int (*cf_handler)(cf_app *app, cf_http_req *req, cf_http_resp *resp);

/* Who may call a route. */
typedef enum cf_auth {
	CF_AUTH_NONE = 0,      /* anyone (/healthz, /readyz) */
	CF_AUTH_ADMIN,         /* an admin token */
	CF_AUTH_HOST_OR_ADMIN, /* a host or an admin token */
	CF_AUTH_ADMIN_OR_KEYS, /* an admin or a keys token (the handler narrows each) */
	CF_AUTH_ANY,           /* any valid token (/v1/whoami) */
} cf_auth;

/* Route flags. */
enum {
	/* authorised from the fetch cache; the handler gets no database connection */
	CF_ROUTE_CACHED = 1u << 0,
	/* the answer holds a secret shown once and never stored: an Idempotency-Key
	 * (whose answer would be stored for replay) is refused with 400 */
	CF_ROUTE_NO_IDEMPOTENCY = 1u << 1,
};

typedef struct cf_route {
	const char *method;
	const char *pattern; /* "/v1/certificates/{id}" */
	cf_auth auth;
	cf_handler fn;
	unsigned flags;      /* CF_ROUTE_* */
} cf_route;

/* The route table (routes.c). */
extern const cf_route cf_routes[];
extern const size_t cf_nroutes;

/* Matches method+path against the table. Returns the route, or NULL with
 * *path_known set when the path matched with another method (405). Params are
 * malloc'd into req->params. */
const cf_route *cf_route_match(const char *method, const char *path, cf_http_req *req,
			       int *path_known);

/* The methods allowed on path ("GET, HEAD, PATCH, DELETE"), for a 405's Allow. */
void cf_route_allow(const char *path, char *out, size_t len);

/* Response builders: each replaces the body. Return 0. */
int cf_resp_json(cf_http_resp *resp, int status, json_t *body /* stolen */);
int cf_resp_problem(cf_http_resp *resp, int status, const char *type_slug, const char *title,
		    const char *detail_fmt, ...) __attribute__((format(printf, 5, 6)));
/* A 400 "invalid-request" problem from violations: "detail" is the first one's (it
 * starts with the field's name), "field" its field, "errors" all of them as
 * [{"field","detail"}]. */
struct cf_verrs;
int cf_resp_invalid(cf_http_resp *resp, const struct cf_verrs *errs);
/* A problem document with extension members: ext (stolen, may be NULL) is merged
 * into {"type","title","status","detail"}. */
int cf_resp_problem_ext(cf_http_resp *resp, int status, const char *type_slug, json_t *ext,
			const char *detail_fmt, ...) __attribute__((format(printf, 5, 6)));
/* Alias checks still running (h_aliases.c), those whose answer already went
 * (504) included: stopping gives them a moment. */
int cf_h_aliases_running(void);
/* Hands the answer to a thread: the server suspends the connection (the HTTP
 * thread goes back to other requests), runs run(arg, resp) on a thread of its
 * own, then resumes the connection and sends what run put in resp; free(arg)
 * follows. At most CF_HTTP_DEFER_MAX run at once (beyond: 503 with
 * Retry-After, and free(arg) at once). A deferred handler writes nothing to the
 * database: its transaction is rolled back, and no Idempotency-Key answer is
 * stored. Returns 0. */
#define CF_HTTP_DEFER_MAX 8
int cf_resp_defer(cf_http_resp *resp, void (*run)(void *arg, cf_http_resp *resp),
		  void (*free_fn)(void *arg), void *arg);
/* A response without a body (204). */
int cf_resp_empty(cf_http_resp *resp, int status);
int cf_resp_header(cf_http_resp *resp, const char *name, const char *value);
void cf_resp_free(cf_http_resp *resp);

/* ---- request.c: the accessors of a request ---- */

/* A request header's value (name in any case), or NULL. */
const char *cf_req_header(const cf_http_req *req, const char *name);
/* A query parameter's value, or NULL. */
const char *cf_req_query(const cf_http_req *req, const char *name);
/* The token of "Authorization: Bearer <token>", or NULL. */
const char *cf_req_bearer(const cf_http_req *req);
/* The same from the header's value h (NULL: no header): a pointer into h after
 * "Bearer " (any case) and any further spaces, or NULL when h is not of that form
 * or the token is empty. Pure, for cf_req_bearer and tests/fuzz. */
const char *cf_bearer_parse(const char *h);
/* The request body as a JSON value (NULL with a 400 problem in resp when it is not
 * JSON; the detail names the position). An empty body gives NULL and 400 too,
 * unless allow_empty, where it gives an empty object. */
json_t *cf_req_json(cf_http_req *req, cf_http_resp *resp, bool allow_empty);
/* Writes the client's address as text into req->client_ip ("unknown" when there
 * is none; an IPv4-mapped IPv6 address as IPv4) and returns it as a sockaddr
 * (NULL when unknown), owned by libmicrohttpd's connection. */
struct sockaddr;
const struct sockaddr *cf_req_client_addr(cf_http_req *req);

/* ---- the server ---- */
typedef struct cf_http_server cf_http_server;

/* Starts listening on cfg->listen with cfg->http_threads threads. */
cf_http_server *cf_http_start(cf_app *app, cf_err *err);
/* Stops accepting, lets running requests finish, frees the server. */
void cf_http_stop(cf_http_server *s);

/* ---- api.c: the /v1 middleware and what handlers share ---- */

/* Runs a route that needs a token: database connection, authentication (401),
 * role (403), Idempotency-Key on POST (replay or 422), the transaction around the
 * handler. Called by the dispatcher for every route whose auth is not NONE. */
int cf_api_run(cf_app *app, const cf_route *rt, cf_http_req *req, cf_http_resp *resp);
/* The checks made before a body is read or a database connection taken: a
 * bearer token of the right shape, an id not known to be absent, and (when the
 * id is in neither cache) a look-up left in the client address's budget.
 * Returns 0 to go on, or -1 with resp set (401 or 429). Idempotent. */
int cf_api_gate(cf_app *app, cf_http_req *req, cf_http_resp *resp);
/* The 503 of a database that cannot be reached or a pool with no connection
 * free in time: the detail names no host, port or libpq message (err is
 * logged). Returns 0. */
int cf_resp_db_unavailable(cf_http_req *req, cf_http_resp *resp, const cf_err *err);
/* Writes an audit event for the caller in the request's transaction. */
int cf_api_audit(cf_http_req *req, const char *action, const char *target,
		 const json_t *detail, cf_err *err);
/* A 500 problem for a store error (503 when the database connection was lost);
 * logs err. Returns 0 (the response is complete). */
int cf_resp_store_error(cf_http_req *req, cf_http_resp *resp, cf_err *err);
/* Drops the cache entry kind/id (CF_CACHE_TOKEN: a token id; CF_CACHE_CERT: a
 * certificate id) once the request's transaction has committed, so the next
 * request to this process sees the change; the NOTIFY of the same commit tells
 * the other processes. */
void cf_req_invalidate(cf_http_req *req, cf_cache_kind kind, const char *id);

/* profiles.c: the profile of a certificate document (cf_cert_validate's output)
 * checked against the directories of its issuers (cached briefly), and the
 * profile's name limit. 0 fine, 1 answered (400 naming the field and listing the
 * profiles offered, or 503 when a directory cannot be read), -1 error (err). */
int cf_profile_check(const cf_app *app, cf_http_req *req, cf_http_resp *resp,
		     const json_t *doc, cf_err *err);

/* Handlers (one file per resource). */
int cf_h_healthz(cf_app *app, cf_http_req *req, cf_http_resp *resp);
int cf_h_readyz(cf_app *app, cf_http_req *req, cf_http_resp *resp);
int cf_h_whoami(cf_app *app, cf_http_req *req, cf_http_resp *resp);
/* h_providers.c */
int cf_h_providers_list(cf_app *app, cf_http_req *req, cf_http_resp *resp);
int cf_h_providers_create(cf_app *app, cf_http_req *req, cf_http_resp *resp);
int cf_h_provider_get(cf_app *app, cf_http_req *req, cf_http_resp *resp);
int cf_h_provider_delete(cf_app *app, cf_http_req *req, cf_http_resp *resp);
/* h_issuers.c */
int cf_h_issuers_list(cf_app *app, cf_http_req *req, cf_http_resp *resp);
int cf_h_issuers_create(cf_app *app, cf_http_req *req, cf_http_resp *resp);
int cf_h_issuer_get(cf_app *app, cf_http_req *req, cf_http_resp *resp);
int cf_h_issuer_patch(cf_app *app, cf_http_req *req, cf_http_resp *resp);
int cf_h_issuer_delete(cf_app *app, cf_http_req *req, cf_http_resp *resp);
/* h_alerts.c: /v1/alerts, the alert rules (store/alerts.h) */
int cf_h_alerts_list(cf_app *app, cf_http_req *req, cf_http_resp *resp);
int cf_h_alerts_create(cf_app *app, cf_http_req *req, cf_http_resp *resp);
int cf_h_alert_get(cf_app *app, cf_http_req *req, cf_http_resp *resp);
int cf_h_alert_patch(cf_app *app, cf_http_req *req, cf_http_resp *resp);
int cf_h_alert_delete(cf_app *app, cf_http_req *req, cf_http_resp *resp);
/* h_certificates.c */
int cf_h_certs_list(cf_app *app, cf_http_req *req, cf_http_resp *resp);
int cf_h_certs_create(cf_app *app, cf_http_req *req, cf_http_resp *resp);
int cf_h_cert_get(cf_app *app, cf_http_req *req, cf_http_resp *resp);
int cf_h_cert_patch(cf_app *app, cf_http_req *req, cf_http_resp *resp);
int cf_h_cert_delete(cf_app *app, cf_http_req *req, cf_http_resp *resp);
int cf_h_cert_issue(cf_app *app, cf_http_req *req, cf_http_resp *resp);
int cf_h_cert_resume(cf_app *app, cf_http_req *req, cf_http_resp *resp);
/* h_jobs.c */
int cf_h_jobs_list(cf_app *app, cf_http_req *req, cf_http_resp *resp);
int cf_h_job_get(cf_app *app, cf_http_req *req, cf_http_resp *resp);
int cf_h_aliases_check(cf_app *app, cf_http_req *req, cf_http_resp *resp); /* h_aliases.c */
/* h_tokens.c */
int cf_h_tokens_list(cf_app *app, cf_http_req *req, cf_http_resp *resp);
int cf_h_tokens_create(cf_app *app, cf_http_req *req, cf_http_resp *resp);
int cf_h_token_revoke(cf_app *app, cf_http_req *req, cf_http_resp *resp);
/* h_fetch.c (CF_ROUTE_CACHED) */
int cf_h_fetch_bundle(cf_app *app, cf_http_req *req, cf_http_resp *resp);
int cf_h_fetch_fullchain(cf_app *app, cf_http_req *req, cf_http_resp *resp);
int cf_h_fetch_chain(cf_app *app, cf_http_req *req, cf_http_resp *resp);
int cf_h_fetch_cert(cf_app *app, cf_http_req *req, cf_http_resp *resp);
int cf_h_fetch_key(cf_app *app, cf_http_req *req, cf_http_resp *resp);
/* h_audit.c */
int cf_h_audit_list(cf_app *app, cf_http_req *req, cf_http_resp *resp);
/* h_versions.c: the versions of a certificate, and revoking one (queues a job) */
int cf_h_cert_versions(cf_app *app, cf_http_req *req, cf_http_resp *resp);
int cf_h_version_revoke(cf_app *app, cf_http_req *req, cf_http_resp *resp);
/* h_metrics.c: GET /metrics (Prometheus text format) */
int cf_h_metrics(cf_app *app, cf_http_req *req, cf_http_resp *resp);

/* ---- paging.c: limit and cursor of the list routes ---- */

#include "store/paging.h"

#define CF_PAGE_DEFAULT 100
#define CF_PAGE_MAX 1000

typedef struct cf_page {
	cf_page_q q;    /* for the store's *_page functions */
	json_t *cursor; /* the decoded cursor: q.after points into it */
} cf_page;

/* Reads ?limit (1..CF_PAGE_MAX, default def_limit) and ?cursor: a key of
 * strlen(kinds) parts, each of its kind ('s' text, 'i' integer, 't' timestamp).
 * 0, or 1 with violations named "limit" / "cursor" added to errs. */
struct cf_verrs;
int cf_page_parse(const cf_http_req *req, const char *kinds, int def_limit, cf_page *p,
		  struct cf_verrs *errs);
/* When more follow this page: sets obj's "next" (the cursor after it) and a
 * Link: <path?cursor=...&the other parameters>; rel="next". Neither on the last
 * page.
 * 0, or -1 when memory runs out. */
int cf_page_answer(cf_http_req *req, cf_http_resp *resp, cf_page *p, json_t *obj);
/* Answers a list: the store's error when rc != 0, else out (stolen) as 200 with
 * cf_page_answer's "next" and Link. Frees p and clears err. */
void cf_page_reply(cf_http_req *req, cf_http_resp *resp, cf_page *p, int rc, json_t *out,
		   cf_err *err);
void cf_page_free(cf_page *p);

#endif
