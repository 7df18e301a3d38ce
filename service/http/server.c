/*
 * server.c: the libmicrohttpd daemon: request collection (body capped at
 * CERTFLEET_MAX_BODY), dispatch through the route table, 404/405/413 problems,
 * request ids, access logs, and per-request state freed in the completion
 * callback. Routes that need a token go through api.c (authentication, the
 * transaction, Idempotency-Key) before their handler. What a request carries
 * (headers, query, bearer, body, client address) is read through request.c,
 * which api.c and the handlers use too; nothing there calls back into this file.
 *
 * The daemon runs its own thread pool (CERTFLEET_HTTP_THREADS) on epoll. Stopping
 * quiesces the listening socket first, then lets running requests finish.
 *
 * What no anonymous client can do: hold more than CERTFLEET_MAX_CONNECTIONS_PER_IP
 * connections (libmicrohttpd closes the rest as they arrive; beyond
 * CERTFLEET_MAX_CONNECTIONS in all it stops accepting until one closes), or keep one beyond CERTFLEET_REQUEST_TIMEOUT without getting an
 * answer (deadline.h: an absolute deadline, which trickling bytes do not move).
 * And as soon as a request's headers are in, before any body is read (on_request's
 * first call, early_answer): an unknown path is answered 404, a body on a route
 * that takes none (GET, HEAD, DELETE) 400, a Content-Length above CERTFLEET_MAX_BODY
 * 413, and a route that needs a token runs the gate (cf_api_gate: the bearer's
 * shape, the negative cache, the address's budget; 401/429) -- all without a
 * database connection. libmicrohttpd then sends the answer and closes the
 * connection without reading the body.
 *
 * Log lines and problem details that quote a path or header stay whole when
 * those are not UTF-8 (log.c and response.c scrub what jansson would refuse).
 *
 * TLS: with CERTFLEET_TLS_CERT and CERTFLEET_TLS_KEY set, the daemon speaks HTTPS
 * only (libmicrohttpd on GnuTLS; TLS 1.2 and 1.3). The files are read once at
 * start (a new certificate needs a restart) and the key's copy in memory is
 * wiped as soon as libmicrohttpd has loaded it. Every request learns here
 * whether it came over TLS and whether its client address counts as local
 * (CERTFLEET_LOCAL_ADDRESSES): what h_fetch.c needs to decide whether a private
 * key may be sent.
 *
 * The server also owns the fetch cache (cache.h) and its listener thread.
 *
 * Deferred answers (cf_resp_defer; the alias check, which asks DNS and the
 * providers): the connection is suspended, a detached thread makes the answer
 * and resumes it, and libmicrohttpd calls on_request again, which sends it. At
 * most CF_HTTP_DEFER_MAX run at once; the connection's deadline is held
 * meanwhile (the deferred answer has its own); stopping waits for them (each is
 * bounded by its own deadline) before the daemon, which owns their connections,
 * goes.
 */
#include "http/http.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "api/validate.h"
#include "crypto/crypto.h"
#include "http/deadline.h"
#include "log.h"
#include "metrics.h"
#include "util/buf.h"
#include "util/cidr.h"
#include "util/files.h"

/* TLS 1.3 and 1.2 with forward-secret key exchange (ECDHE) and AEAD ciphers
 * only: no CBC suite (padding oracles, Lucky13) and no static-RSA key exchange
 * (no forward secrecy, ROBOT). Every current client speaks these. */
#define TLS_PRIORITIES                                                                  \
	"NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-CIPHER-ALL:+AES-256-GCM:+AES-128-GCM:" \
	"+CHACHA20-POLY1305:-MAC-ALL:+AEAD:-KX-ALL:+ECDHE-ECDSA:+ECDHE-RSA"
#define PEM_MAX (1024 * 1024)

struct cf_http_server {
	struct MHD_Daemon *d;
	cf_app *app;
	cf_cache *cache;
	bool tls;
	cf_cidr_list local; /* CERTFLEET_LOCAL_ADDRESSES */
	cf_deadlines *deadlines; /* CERTFLEET_REQUEST_TIMEOUT (deadline.h) */
	atomic_int deferred; /* deferred answers running */
};

typedef struct req_ctx {
	cf_http_req req;
	int too_large;
	int route; /* index in cf_routes of the matched route, -1 when none (metrics) */
	const cf_route *rt; /* the matched route (early_answer), NULL when none */
	int path_known;     /* rt NULL but the path exists with another method (405) */
	bool has_body;      /* Content-Length > 0 or Transfer-Encoding */
	bool answered;      /* a response was queued before the body was read */
	bool decided;       /* early holds the answer, sent at the next call */
	cf_http_resp early; /* owned while decided */
	/* a deferred answer: made by its thread into resp, then sent when the
	 * connection is resumed (ready is set before the resume) */
	cf_http_resp resp;
	atomic_bool ready;
	struct MHD_Connection *conn;
	cf_http_server *server;
} req_ctx;

/* A body that holds a secret, handed to libmicrohttpd: wiped when it is done. */
typedef struct secret_body {
	char *data;
	size_t len;
} secret_body;

static void secret_body_free(void *cls)
{
	secret_body *b = cls;

	cf_wipe(b->data, b->len);
	free(b->data);
	free(b);
}

static enum MHD_Result send_resp(struct MHD_Connection *c, cf_http_resp *r)
{
	struct MHD_Response *m;
	enum MHD_Result ret;
	secret_body *sb = NULL;

	if (r->secret) {
		if ((sb = malloc(sizeof(*sb))) == NULL)
			return MHD_NO;
		sb->data = r->body;
		sb->len = r->len;
		m = MHD_create_response_from_buffer_with_free_callback_cls(
			r->len, r->body, secret_body_free, sb);
		if (m == NULL) {
			free(sb);
			return MHD_NO;
		}
	} else {
		m = MHD_create_response_from_buffer(r->len, r->body, MHD_RESPMEM_MUST_FREE);
		if (m == NULL)
			return MHD_NO;
	}
	r->body = NULL; /* MHD owns it now */
	r->secret = false;
	if (r->content_type)
		MHD_add_response_header(m, MHD_HTTP_HEADER_CONTENT_TYPE, r->content_type);
	for (size_t i = 0; i < r->nheaders; i++)
		MHD_add_response_header(m, r->headers[i][0], r->headers[i][1]);
	ret = MHD_queue_response(c, (unsigned)r->status, m);
	MHD_destroy_response(m);
	return ret;
}

static void dispatch(cf_app *app, req_ctx *ctx, cf_http_resp *resp)
{
	cf_http_req *req = &ctx->req;
	const cf_route *rt;
	int known = 0;

	if (ctx->too_large) {
		cf_resp_problem(resp, 413, "body-too-large", NULL,
				"request body exceeds %ld bytes (CERTFLEET_MAX_BODY)",
				app->cfg->max_body);
		return;
	}
	rt = ctx->rt;
	known = ctx->path_known;
	if (rt == NULL && known) {
		char allow[128];

		cf_route_allow(req->path, allow, sizeof(allow));
		cf_resp_problem(resp, 405, "method-not-allowed", NULL,
				"%s is not allowed on %s (allowed: %s)", req->method, req->path,
				allow);
		cf_resp_header(resp, "Allow", allow);
		return;
	}
	if (rt == NULL) {
		cf_resp_problem(resp, 404, "not-found", NULL, "no route for %s %s", req->method,
				req->path);
		return;
	}
	if (rt->auth != CF_AUTH_NONE) {
		cf_api_run(app, rt, req, resp); /* token, transaction, Idempotency-Key */
		return;
	}
	if (rt->fn(app, req, resp) != 0 || resp->status == 0)
		cf_resp_problem(resp, 500, "internal", NULL, "the handler failed; see the logs "
				"for request %s", req->request_id);
}

/* Does a route of this method take a request body? */
static bool takes_body(const char *method)
{
	return strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0 &&
	       strcmp(method, "DELETE") != 0;
}

/* What can be decided from the headers alone, before a body is read or a
 * database connection taken (see the top of this file). Matches the route into
 * ctx. Returns true with resp set when the request is answered now. */
static bool early_answer(cf_http_server *s, req_ctx *ctx, cf_http_resp *resp)
{
	cf_http_req *req = &ctx->req;
	const char *cl = cf_req_header(req, "Content-Length");
	const char *te = cf_req_header(req, "Transfer-Encoding");
	char *end;
	unsigned long long len;

	ctx->has_body = te != NULL || (cl != NULL && strspn(cl, "0") != strlen(cl));
	ctx->rt = cf_route_match(req->method, req->path, req, &ctx->path_known);
	ctx->route = ctx->rt ? (int)(ctx->rt - cf_routes) : -1;
	if (cl != NULL) {
		len = strtoull(cl, &end, 10);
		if (*end == '\0' && len > (unsigned long long)s->app->cfg->max_body) {
			ctx->too_large = 1;
			return false; /* dispatch answers 413 at once */
		}
	}
	if (ctx->rt == NULL)
		return false; /* 404 or 405: dispatch answers at once (no body is read) */
	if (ctx->has_body && !takes_body(req->method)) {
		cf_verrs errs = { 0 };

		cf_verrs_add(&errs, "body", "not accepted on %s %s: it takes no request body",
			     ctx->rt->method, ctx->rt->pattern);
		cf_resp_invalid(resp, &errs);
		return true;
	}
	return ctx->rt->auth != CF_AUTH_NONE && cf_api_gate(s->app, req, resp) != 0;
}

/* Sends resp for ctx (metrics, request id, access log) and frees it. */
static enum MHD_Result answer(struct MHD_Connection *c, req_ctx *ctx, cf_http_resp *resp)
{
	enum MHD_Result ret;

	cf_metrics_http(ctx->route, ctx->req.method, resp->status); /* one atomic increment */
	cf_resp_header(resp, "X-Request-Id", ctx->req.request_id);
	cf_log(CF_LOG_DEBUG, "http.request", "%s %s %d from %s", ctx->req.method, ctx->req.path,
	       resp->status, ctx->req.client_ip);
	ret = send_resp(c, resp);
	cf_resp_free(resp);
	ctx->answered = true;
	return ret;
}

static void *deferred_main(void *arg)
{
	req_ctx *ctx = arg;
	cf_http_server *s = ctx->server;
	cf_http_defer d = ctx->resp.defer;

	ctx->resp.defer = (cf_http_defer){ 0 };
	cf_log_set_request(ctx->req.request_id);
	d.run(d.arg, &ctx->resp);
	if (ctx->resp.status == 0)
		cf_resp_problem(&ctx->resp, 500, "internal", NULL, "the handler failed; see the "
				"logs for request %s", ctx->req.request_id);
	if (d.free != NULL)
		d.free(d.arg);
	cf_log_set_request(NULL);
	atomic_store(&ctx->ready, true);
	MHD_resume_connection(ctx->conn);
	atomic_fetch_sub(&s->deferred, 1); /* after the resume: stop waits for this */
	return NULL;
}

/* Suspends the connection and starts resp's deferred answer: 0, or -1 with
 * resp turned into a 503 (too many running, or no thread). */
static int start_deferred(cf_http_server *s, struct MHD_Connection *c, req_ctx *ctx,
			  cf_http_resp *resp)
{
	cf_http_defer d = resp->defer;
	pthread_attr_t at;
	pthread_t t;
	int rc = -1;

	resp->defer = (cf_http_defer){ 0 };
	if (atomic_fetch_add(&s->deferred, 1) >= CF_HTTP_DEFER_MAX) {
		atomic_fetch_sub(&s->deferred, 1);
		goto busy;
	}
	ctx->resp = (cf_http_resp){ .defer = d };
	ctx->conn = c;
	ctx->server = s;
	MHD_suspend_connection(c);
	if (pthread_attr_init(&at) == 0) {
		pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
		rc = pthread_create(&t, &at, deferred_main, ctx) == 0 ? 0 : -1;
		pthread_attr_destroy(&at);
	}
	if (rc == 0)
		return 0;
	MHD_resume_connection(c);
	atomic_fetch_sub(&s->deferred, 1);
	ctx->resp = (cf_http_resp){ 0 };
	ctx->conn = NULL;
busy:
	if (d.free != NULL)
		d.free(d.arg);
	cf_resp_problem(resp, 503, "busy", NULL, "%d requests of this kind are running: try "
			"again shortly", CF_HTTP_DEFER_MAX);
	cf_resp_header(resp, "Retry-After", "2");
	return -1;
}

/* The deadline of connection c (deadline.h), or NULL. */
static cf_deadline_conn *conn_deadline(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return ci ? ci->socket_context : NULL;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version,
				  const char *upload_data, size_t *upload_size, void **con_cls)
{
	cf_http_server *s = cls;
	req_ctx *ctx = *con_cls;
	cf_deadline_conn *dl;
	cf_http_resp resp = {0};
	const struct sockaddr *sa;
	enum MHD_Result ret;
	char *b;

	if (ctx == NULL) {
		ctx = calloc(1, sizeof(*ctx));
		if (ctx == NULL)
			return MHD_NO;
		ctx->req.method = method;
		ctx->req.path = url;
		ctx->req.conn = c;
		ctx->req.body.max = (size_t)s->app->cfg->max_body;
		ctx->route = -1;
		b = cf_random_token(9);
		snprintf(ctx->req.request_id, sizeof(ctx->req.request_id), "%s", b ? b : "-");
		free(b);
		sa = cf_req_client_addr(&ctx->req);
		ctx->req.local = cf_cidr_list_match(&s->local, sa);
		ctx->req.tls = s->tls;
		ctx->req.cache = s->cache;
		*con_cls = ctx;
		cf_log_set_request(ctx->req.request_id);
		ret = MHD_YES;
		if (early_answer(s, ctx, &resp)) {
			ctx->decided = true;
		} else if (ctx->rt == NULL || ctx->too_large) { /* 404, 405, 413 */
			dispatch(s->app, ctx, &resp);
			ctx->decided = true;
		}
		/* With a body, the answer goes now and libmicrohttpd closes the connection
		 * without reading the body. Without one, it goes at the next call, which
		 * comes at once: answered there, the connection stays open (keep-alive). */
		if (ctx->decided && ctx->has_body)
			ret = answer(c, ctx, &resp);
		else if (ctx->decided)
			ctx->early = resp;
		cf_log_set_request(NULL);
		return ret;
	}
	if (ctx->answered) { /* answered before its body: discard what still comes */
		*upload_size = 0;
		return MHD_YES;
	}
	if (ctx->decided) {
		*upload_size = 0;
		cf_log_set_request(ctx->req.request_id);
		resp = ctx->early;
		memset(&ctx->early, 0, sizeof(ctx->early));
		ret = answer(c, ctx, &resp);
		cf_log_set_request(NULL);
		return ret;
	}
	if (*upload_size != 0) {
		if (!ctx->too_large && cf_buf_append(&ctx->req.body, upload_data, *upload_size) != 0)
			ctx->too_large = 1;
		*upload_size = 0;
		return MHD_YES;
	}
	dl = conn_deadline(c);
	if (atomic_load(&ctx->ready)) { /* resumed: the deferred answer is made */
		cf_log_set_request(ctx->req.request_id);
		resp = ctx->resp;
		ctx->resp = (cf_http_resp){ 0 };
		atomic_store(&ctx->ready, false);
		cf_deadlines_renew(s->deadlines, dl);
		ret = answer(c, ctx, &resp);
		cf_log_set_request(NULL);
		return ret;
	}
	if (ctx->conn != NULL)
		return MHD_YES; /* suspended, called again before the answer is made */
	cf_log_set_request(ctx->req.request_id);
	cf_deadlines_hold(s->deadlines, dl); /* the handler's time is not the client's */
	dispatch(s->app, ctx, &resp);
	if (resp.defer.run != NULL && start_deferred(s, c, ctx, &resp) == 0) {
		cf_log_set_request(NULL);
		return MHD_YES; /* still held: the deferred answer has its own deadline */
	}
	cf_deadlines_renew(s->deadlines, dl); /* a full timeout to read the answer */
	ret = answer(c, ctx, &resp);
	cf_log_set_request(NULL);
	return ret;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	cf_http_server *s = cls;
	req_ctx *ctx = *con_cls;

	if (toe == MHD_REQUEST_TERMINATED_COMPLETED_OK)
		cf_deadlines_renew(s->deadlines, conn_deadline(c)); /* keep-alive: the next */
	if (ctx == NULL)
		return;
	for (size_t i = 0; i < ctx->req.nparams; i++)
		free(ctx->req.params[i]);
	cf_resp_free(&ctx->early); /* decided, never sent (the connection failed) */
	cf_buf_free_secret(&ctx->req.body); /* may hold provider credentials */
	cf_resp_free(&ctx->resp);
	free(ctx);
	*con_cls = NULL;
}

/* A connection opens or closes: its deadline (deadline.h). */
static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
			  enum MHD_ConnectionNotificationCode toe)
{
	cf_http_server *s = cls;
	const union MHD_ConnectionInfo *ci;

	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
		*socket_context = ci ? cf_deadlines_add(s->deadlines, ci->connect_fd) : NULL;
	} else if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
		cf_deadlines_remove(s->deadlines, *socket_context); /* before the close */
		*socket_context = NULL;
	}
}

/* The metrics' label of a route index (see cf_metrics_http_set_route_names). */
static const char *route_pattern(int route)
{
	return route >= 0 && (size_t)route < cf_nroutes ? cf_routes[route].pattern : NULL;
}

static int make_addr(const char *listen, struct sockaddr_storage *ss, cf_err *err)
{
	char host[256];
	unsigned port;
	struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (cf_parse_hostport(listen, host, sizeof(host), &port) != 0)
		return cf_err_set(err, CF_ERR_PERMANENT, "CERTFLEET_LISTEN: bad address '%s'",
				  listen);
	if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons((uint16_t)port);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons((uint16_t)port);
		return 0;
	}
	return cf_err_set(err, CF_ERR_PERMANENT,
			  "CERTFLEET_LISTEN: '%s' is not a numeric IPv4 or IPv6 address", host);
}

/* Reads CERTFLEET_TLS_CERT and _KEY when set: *cert and *key (the caller frees
 * the key with cf_secret_free). Both NULL when TLS is off. */
static int load_tls(const cf_config *cfg, char **cert, char **key, cf_err *err)
{
	*cert = *key = NULL;
	if (cfg->tls_cert[0] == '\0' && cfg->tls_key[0] == '\0')
		return 0;
	if (cfg->tls_cert[0] == '\0' || cfg->tls_key[0] == '\0')
		return cf_err_set(err, CF_ERR_PERMANENT,
				  "%s: set both CERTFLEET_TLS_CERT and CERTFLEET_TLS_KEY (or neither)",
				  cfg->tls_cert[0] ? "CERTFLEET_TLS_KEY" : "CERTFLEET_TLS_CERT");
	if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES)
		return cf_err_set(err, CF_ERR_PERMANENT,
				  "CERTFLEET_TLS_CERT: this libmicrohttpd has no TLS support");
	if ((*cert = cf_read_file(cfg->tls_cert, PEM_MAX, NULL, err)) == NULL)
		return cf_err_wrap(err, "CERTFLEET_TLS_CERT");
	if ((*key = cf_read_file(cfg->tls_key, PEM_MAX, NULL, err)) == NULL) {
		free(*cert);
		*cert = NULL;
		return cf_err_wrap(err, "CERTFLEET_TLS_KEY");
	}
	return 0;
}

cf_http_server *cf_http_start(cf_app *app, cf_err *err)
{
	cf_http_server *s = NULL;
	struct sockaddr_storage ss;
	struct MHD_OptionItem tls_opts[4] = { { MHD_OPTION_END, 0, NULL } };
	char *cert = NULL, *key = NULL;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG |
			 MHD_USE_ITC | MHD_ALLOW_SUSPEND_RESUME;

	if (make_addr(app->cfg->listen, &ss, err) != 0)
		return NULL;
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		cf_err_oom(err, NULL);
		return NULL;
	}
	s->app = app;
	cf_metrics_http_set_route_names(route_pattern);
	if (cf_cidr_list_parse(app->cfg->local_addresses, &s->local, err) != 0) {
		cf_err_wrap(err, "CERTFLEET_LOCAL_ADDRESSES");
		goto fail;
	}
	if (load_tls(app->cfg, &cert, &key, err) != 0)
		goto fail;
	if (cert != NULL) {
		s->tls = true;
		flags |= MHD_USE_TLS;
		tls_opts[0] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_CERT, 0, cert };
		tls_opts[1] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_KEY, 0, key };
		tls_opts[2] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_PRIORITIES, 0,
						       (void *)TLS_PRIORITIES };
	}
	s->cache = cf_cache_start(cf_config_session_url(app->cfg), app->pool,
				  &(cf_cache_settings){ app->cfg->cache_offline_grace,
							app->cfg->cache_max_age,
							app->cfg->cache_heartbeat }, err);
	if (s->cache == NULL)
		goto fail;
	if ((s->deadlines = cf_deadlines_start(app->cfg->request_timeout, err)) == NULL)
		goto fail;
	s->d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s,
				MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
				MHD_OPTION_THREAD_POOL_SIZE, (unsigned)app->cfg->http_threads,
				MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
				MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
				MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)app->cfg->request_timeout,
				MHD_OPTION_CONNECTION_LIMIT, (unsigned)app->cfg->max_connections,
				MHD_OPTION_PER_IP_CONNECTION_LIMIT,
				(unsigned)app->cfg->max_connections_per_ip,
				MHD_OPTION_LISTENING_ADDRESS_REUSE, 1u,
				MHD_OPTION_ARRAY, tls_opts,
				MHD_OPTION_END);
	if (s->d == NULL) {
		cf_err_set(err, CF_ERR_PERMANENT,
			   "CERTFLEET_LISTEN: cannot listen on %s (address in use or not "
			   "assigned?%s)",
			   app->cfg->listen,
			   s->tls ? " or CERTFLEET_TLS_CERT/_KEY not a matching PEM pair" : "");
		goto fail;
	}
	free(cert);
	cf_secret_free(key); /* libmicrohttpd has parsed it */
	return s;
fail:
	free(cert);
	cf_secret_free(key);
	cf_deadlines_stop(s->deadlines);
	cf_cache_stop(s->cache);
	free(s);
	return NULL;
}

void cf_http_stop(cf_http_server *s)
{
	if (s == NULL)
		return;
	MHD_quiesce_daemon(s->d);
	/* deferred answers hold suspended connections of the daemon: let them end
	 * (each is bounded by its own deadline, at most 120 s for the alias check);
	 * alias checks left behind by their answer's deadline use only what they
	 * own, but get a moment to end before the process's exit tears the
	 * libraries down */
	for (int i = 0; i < 1250 && atomic_load(&s->deferred) > 0; i++)
		nanosleep(&(struct timespec){ .tv_nsec = 100 * 1000 * 1000 }, NULL);
	for (int i = 0; i < 20 && cf_h_aliases_running() > 0; i++)
		nanosleep(&(struct timespec){ .tv_nsec = 100 * 1000 * 1000 }, NULL);
	MHD_stop_daemon(s->d);
	cf_deadlines_stop(s->deadlines); /* every connection is closed now */
	cf_cache_stop(s->cache);
	free(s);
}
