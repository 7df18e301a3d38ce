/*
 * api.c: what every /v1 request goes through before and after its handler, in
 * one place:
 *
 *  0. the gate (cf_api_gate), which server.c runs as soon as the headers are in,
 *     before any body is read and before any database connection is taken: a
 *     bearer token of the right shape (401 at once otherwise), not an id the
 *     negative cache knows to be absent (401), and, when the id is in neither
 *     cache, a lookup left in the client address's budget (429 otherwise; see
 *     negcache.h);
 *  1. a database connection from the pool (503 when the database is down or no
 *     connection frees up within CERTFLEET_DB_ACQUIRE_TIMEOUT_MS; the body never
 *     carries libpq's message, which names the database's host and port: that
 *     goes to the log);
 *  2. the bearer token (401 when unknown, expired or revoked, with nothing else
 *     done) and the route's roles (403 for a token whose role the route does not
 *     take, e.g. a host token on an admin route, or a keys token on a fetch);
 *  3. for methods that change something, a transaction around the handler,
 *     committed only when the handler answers 2xx: a 4xx or a failure rolls back
 *     every row the handler wrote, audit events included;
 *  4. on POST with an Idempotency-Key: the same key with the same request (an
 *     HMAC of method, path and body keyed by app->idem_key) from the same token
 *     replays the stored answer (status and body) without running the handler;
 *     with another request it is a 422. The answer is stored in the transaction
 *     of the effect. Only successes are stored: a request refused with 4xx
 *     changed nothing and may be retried.
 *
 * Routes flagged CF_ROUTE_CACHED (the certificate fetches) skip steps 1, 3 and
 * 4: the token is checked against the fetch cache (cache.h) and the handler runs
 * without a database connection, so a host's polling does not reach PostgreSQL.
 * Admin routes keep checking the token in the database: they need it anyway,
 * and a token revoked by the CLI is then refused at once by every replica.
 *
 * Last use: recorded at most once a minute per token and process (the cache's
 * throttle), and never for a refused token.
 *
 * After a commit, the cache entries the handler named (cf_req_invalidate) are
 * dropped before the answer goes out, so this replica's next fetch sees the
 * change; other replicas learn it from the commit's NOTIFY.
 *
 * The token itself is never logged; its public id is, when it has one.
 */
#include "http/http.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/validate.h"
#include "http/cache.h"
#include "http/negcache.h"
#include "log.h"
#include "store/audit.h"
#include "store/db.h"
#include "util/clock.h"

#define REALM "Bearer realm=\"certfleet\""

int cf_resp_db_unavailable(cf_http_req *req, cf_http_resp *resp, const cf_err *err)
{
	cf_log(CF_LOG_ERROR, "http.database", "%s %s: %s", req->method, req->path,
	       err->msg[0] ? err->msg : "no connection");
	cf_resp_problem(resp, 503, "database-unavailable", NULL,
			"the database is unavailable or busy; try again (request %s)",
			req->request_id);
	cf_resp_header(resp, "Retry-After", "1");
	return 0;
}

int cf_resp_store_error(cf_http_req *req, cf_http_resp *resp, cf_err *err)
{
	cf_log(CF_LOG_ERROR, "http.store_error", "%s %s: %s", req->method, req->path, err->msg);
	if (cf_db_lost(req->db))
		return cf_resp_problem(resp, 503, "database-unavailable", NULL,
				       "the database connection was lost; try again");
	return cf_resp_problem(resp, 500, "internal", NULL,
			       "a database operation failed; see the logs for request %s",
			       req->request_id);
}

int cf_api_audit(cf_http_req *req, const char *action, const char *target,
		 const json_t *detail, cf_err *err)
{
	return cf_audit_write(req->db, req->who.name, req->who.token_id, action, target,
			      req->client_ip, detail, err);
}

void cf_req_invalidate(cf_http_req *req, cf_cache_kind kind, const char *id)
{
	if (req->ninval < CF_HTTP_MAX_INVAL) {
		req->inval[req->ninval].kind = kind;
		snprintf(req->inval[req->ninval].id, sizeof(req->inval[0].id), "%s", id);
	}
	req->ninval++;
}

/* Drops what the committed request changed. */
static void apply_invalidations(cf_http_req *req)
{
	if (req->ninval > CF_HTTP_MAX_INVAL) {
		cf_cache_invalidate(req->cache, CF_CACHE_ALL, NULL);
		return;
	}
	for (size_t i = 0; i < req->ninval; i++)
		cf_cache_invalidate(req->cache, req->inval[i].kind, req->inval[i].id);
}

static const char *const why_refused[] = {
	[CF_TOKEN_OK] = "ok",
	[CF_TOKEN_INVALID] = "the token is not valid",
	[CF_TOKEN_EXPIRED] = "the token has expired",
	[CF_TOKEN_REVOKED] = "the token has been revoked",
};

/* Refused requests are logged up to REFUSED_LOG_PER_S lines a second per
 * process; beyond that they are counted, and the count is logged with the next
 * second's first line: a flood of made-up tokens must not turn into a flood of
 * log writes (the metrics count every refusal). */
#define REFUSED_LOG_PER_S 20

static _Atomic long long refused_log_second;
static atomic_uint refused_log_lines;
static atomic_ulong refused_log_dropped;

static bool refused_log_allowed(void)
{
	long long now = cf_clock_mono_ms() / 1000, was = atomic_load(&refused_log_second);
	unsigned long dropped;

	if (now != was && atomic_compare_exchange_strong(&refused_log_second, &was, now)) {
		atomic_store(&refused_log_lines, 0);
		if ((dropped = atomic_exchange(&refused_log_dropped, 0)) > 0)
			cf_log(CF_LOG_WARN, "http.refused_not_logged", "%lu refused requests "
			       "(401/429) in the last second(s) were not logged one by one", dropped);
	}
	if (atomic_fetch_add(&refused_log_lines, 1) < REFUSED_LOG_PER_S)
		return true;
	atomic_fetch_add(&refused_log_dropped, 1);
	return false;
}

/* The 401 of a token that did not pass; nothing is logged of the token. */
static void unauthorized(cf_http_req *req, cf_http_resp *resp, cf_token_status st)
{
	if (refused_log_allowed())
		cf_log(CF_LOG_INFO, "http.unauthorized", "%s %s from %s: %s", req->method,
		       req->path, req->client_ip, why_refused[st]);
	cf_resp_problem(resp, 401, "unauthorized", NULL, "%s", why_refused[st]);
	cf_resp_header(resp, "WWW-Authenticate", REALM ", error=\"invalid_token\"");
}

/* Records the use of the caller's token, and re-hashes a legacy token's row
 * (SHA-256 -> HMAC, cf_token_rehash): on the request's connection, or on one of
 * the pool's for a cached route, where a failure is only logged (the use is
 * recorded next time; a fetch does not fail for it). */
static int touch(cf_app *app, cf_http_req *req, cf_err *err)
{
	const char *legacy = req->who.legacy_hash ? cf_req_bearer(req) : NULL;
	cf_err e = { 0 };
	PGconn *db;

	if (req->db != NULL)
		return cf_token_touch(req->db, req->who.token_id, err) != 0 ||
		       (legacy != NULL && cf_token_rehash(req->db, legacy, err) != 0) ? -1 : 0;
	if ((db = cf_db_acquire(app->pool, &e)) != NULL) {
		if (cf_token_touch(db, req->who.token_id, &e) != 0 ||
		    (legacy != NULL && cf_token_rehash(db, legacy, &e) != 0)) {
			/* best effort: logged below from e; a missed touch only leaves
			 * the token's last-use time behind */
		}
		cf_db_release(app->pool, db, cf_db_lost(db));
	}
	if (e.cls != CF_ERR_NONE)
		cf_log(CF_LOG_WARN, "http.token_use", "token %s: %s", req->who.token_id, e.msg);
	cf_err_clear(&e);
	return 0;
}

int cf_api_gate(cf_app *app, cf_http_req *req, cf_http_resp *resp)
{
	const char *token = cf_req_bearer(req), *secret;
	char id[CF_TOKEN_ID_LEN + 1];
	cf_negcache *neg = cf_cache_negative(req->cache);

	if (req->gated)
		return 0;
	if (token == NULL) {
		cf_resp_problem(resp, 401, "unauthorized", NULL,
				"this route needs an Authorization: Bearer <token> header");
		cf_resp_header(resp, "WWW-Authenticate", REALM);
		return -1;
	}
	if (cf_token_split(token, id, &secret) != 0 || cf_negcache_has(neg, id)) {
		unauthorized(req, resp, CF_TOKEN_INVALID);
		return -1;
	}
	if (!cf_cache_token_cached(req->cache, id)) {
		if (!cf_negcache_take(neg, req->client_ip)) {
			if (refused_log_allowed())
				cf_log(CF_LOG_INFO, "http.unknown_tokens", "%s %s from %s: the "
				       "address's budget of unknown token look-ups is spent",
				       req->method, req->path, req->client_ip);
			cf_resp_problem(resp, 429, "too-many-unknown-tokens", NULL,
					"too many look-ups of unknown tokens from %s; try again "
					"later", req->client_ip);
			cf_resp_header(resp, "Retry-After", "1");
			return -1;
		}
		req->budget_taken = true;
	}
	req->gated = true;
	return 0;
}

/* The token against the database (admin routes): an id it does not have goes
 * to the negative cache, as the fetch cache's loads do. */
static int verify_in_db(cf_http_req *req, const char *token, cf_token_status *st, cf_err *err)
{
	cf_negcache *neg = cf_cache_negative(req->cache);
	uint64_t gen = cf_negcache_gen(neg);
	char id[CF_TOKEN_ID_LEN + 1];
	const char *secret;
	cf_token_row row;
	cf_cache_stats cs;
	bool found = false;
	int rc = -1;

	if (cf_token_split(token, id, &secret) != 0) {
		cf_token_check(NULL, token, time(NULL), &req->who, st);
		return 0;
	}
	if (cf_token_lookup(req->db, id, &row, &found, err) != 0)
		goto out;
	cf_token_check(found ? &row : NULL, token, time(NULL), &req->who, st);
	cf_cache_stats_get(req->cache, &cs);
	if (!found && cs.listening) /* a listener hears the id's creation */
		cf_negcache_add(neg, id, gen);
	rc = 0;
out:
	cf_wipe(&row, sizeof(row));
	return rc;
}

/* Does a token of role r pass a route's auth? */
static bool role_allowed(cf_auth auth, cf_role r)
{
	switch (auth) {
	case CF_AUTH_NONE:
	case CF_AUTH_ANY:
		return true;
	case CF_AUTH_ADMIN:
		return r == CF_ROLE_ADMIN;
	case CF_AUTH_HOST_OR_ADMIN:
		return r == CF_ROLE_HOST || r == CF_ROLE_ADMIN;
	case CF_AUTH_ADMIN_OR_KEYS:
		return r == CF_ROLE_ADMIN || r == CF_ROLE_KEYS;
	}
	return false;
}

static const char *const auth_needs[] = {
	[CF_AUTH_NONE] = "no token",
	[CF_AUTH_ADMIN] = "an admin token",
	[CF_AUTH_HOST_OR_ADMIN] = "a host or an admin token",
	[CF_AUTH_ADMIN_OR_KEYS] = "an admin or a keys token",
	[CF_AUTH_ANY] = "a token",
};

/* Steps 1-2 (after the gate). Returns 0 when the caller may go on; otherwise
 * resp is set. */
static int authenticate(cf_app *app, const cf_route *rt, cf_http_req *req,
			cf_http_resp *resp)
{
	const char *token = cf_req_bearer(req);
	cf_token_status st = CF_TOKEN_INVALID;
	cf_err err = { 0 };
	int rc = -1;

	if (req->db != NULL) {
		if (verify_in_db(req, token, &st, &err) != 0) {
			cf_resp_store_error(req, resp, &err);
			goto out;
		}
	} else if (cf_cache_auth(req->cache, token, &req->who, &st, &err) != 0) {
		cf_resp_db_unavailable(req, resp, &err);
		goto out;
	}
	if (req->budget_taken && st != CF_TOKEN_INVALID) { /* the id exists */
		cf_negcache_refund(cf_cache_negative(req->cache), req->client_ip);
		req->budget_taken = false;
	}
	if (st != CF_TOKEN_OK) {
		unauthorized(req, resp, st);
		goto out;
	}
	if (!role_allowed(rt->auth, req->who.role)) {
		cf_resp_problem(resp, 403, "forbidden", NULL,
				"%s %s needs %s; token %s (%s) has the role %s",
				rt->method, rt->pattern, auth_needs[rt->auth], req->who.token_id,
				req->who.name, cf_role_name(req->who.role));
		goto out;
	}
	if (cf_cache_touch_due(req->cache, req->who.token_id) && touch(app, req, &err) != 0) {
		cf_resp_store_error(req, resp, &err);
		goto out;
	}
	rc = 0;
out:
	cf_err_clear(&err);
	return rc;
}

/* Step 4, before the handler. Returns 1 when the handler should run, 0 when resp
 * is complete (a replay, a 422 or an error). */
static int idempotency_begin(const cf_app *app, cf_http_req *req, cf_http_resp *resp,
			     const char *key, uint8_t fp[32])
{
	cf_idem_state st;
	cf_err err = { 0 };
	char *body = NULL;
	int status = 0, rc = 0;

	if (!cf_idem_key_valid(key)) {
		cf_verrs errs = { 0 };

		cf_verrs_add(&errs, "Idempotency-Key", "must be 1-255 printable ASCII characters");
		cf_resp_invalid(resp, &errs);
		goto out;
	}
	cf_idem_fingerprint(app->idem_key, req->method, req->path, req->body.data,
			    req->body.len, fp);
	if (cf_idem_begin(req->db, req->who.token_id, key, fp, &st, &status, &body, &err) != 0) {
		cf_resp_store_error(req, resp, &err);
		goto out;
	}
	if (st == CF_IDEM_MISMATCH) {
		cf_resp_problem_ext(resp, 422, "idempotency-key-reused",
				    json_pack("{s:s}", "field", "Idempotency-Key"),
				    "Idempotency-Key: this key was already used for a different "
				    "request (method, path or body); use a new key");
		goto out;
	}
	if (st == CF_IDEM_REPLAY) {
		free(resp->body);
		resp->body = body;
		resp->len = strlen(body);
		resp->status = status;
		resp->content_type = "application/json";
		body = NULL;
		cf_resp_header(resp, "Idempotent-Replayed", "true");
		goto out;
	}
	rc = 1;
out:
	free(body);
	cf_err_clear(&err);
	return rc;
}

/* Commits (storing the Idempotency-Key's answer first), or turns resp into an
 * error when that fails. Returns 0 when committed. */
static int commit(cf_http_req *req, cf_http_resp *resp, const char *key, const uint8_t fp[32])
{
	cf_err err = { 0 };
	int rc = -1;

	if (key != NULL && cf_idem_store(req->db, req->who.token_id, key, req->method, req->path,
					 fp, resp->status, resp->body ? resp->body : "", &err) != 0)
		goto fail;
	if (cf_db_commit(req->db, &err) != 0)
		goto fail;
	rc = 0;
	goto out;
fail:
	cf_resp_store_error(req, resp, &err);
out:
	cf_err_clear(&err);
	return rc;
}

/* A CF_ROUTE_CACHED route: the token from the cache, no database connection. */
static int run_cached(cf_app *app, const cf_route *rt, cf_http_req *req, cf_http_resp *resp)
{
	if (authenticate(app, rt, req, resp) != 0)
		return 0;
	cf_log(CF_LOG_DEBUG, "http.caller", "token %s (%s, %s)", req->who.token_id, req->who.name,
	       cf_role_name(req->who.role));
	if (rt->fn(app, req, resp) != 0 || resp->status == 0)
		cf_resp_problem(resp, 500, "internal", NULL,
				"the handler failed; see the logs for request %s", req->request_id);
	return 0;
}

int cf_api_run(cf_app *app, const cf_route *rt, cf_http_req *req, cf_http_resp *resp)
{
	bool change = strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0;
	const char *key = NULL;
	bool in_txn = false;
	uint8_t fp[32] = { 0 };
	cf_err err = { 0 };

	if (cf_api_gate(app, req, resp) != 0) /* no-op when server.c ran it */
		return 0;
	if (rt->flags & CF_ROUTE_CACHED)
		return run_cached(app, rt, req, resp);
	req->db = cf_db_acquire(app->pool, &err);
	if (req->db == NULL) {
		cf_resp_db_unavailable(req, resp, &err);
		goto out;
	}
	if (authenticate(app, rt, req, resp) != 0)
		goto out;
	cf_log(CF_LOG_DEBUG, "http.caller", "token %s (%s, %s)", req->who.token_id, req->who.name,
	       cf_role_name(req->who.role));
	if (change) {
		if (cf_db_begin(req->db, &err) != 0) {
			cf_resp_store_error(req, resp, &err);
			goto out;
		}
		in_txn = true;
	}
	if (strcmp(req->method, "POST") == 0)
		key = cf_req_header(req, "Idempotency-Key");
	if (key != NULL && (rt->flags & CF_ROUTE_NO_IDEMPOTENCY)) {
		cf_verrs errs = { 0 };

		cf_verrs_add(&errs, "Idempotency-Key",
			     "not accepted on %s %s: its answer holds a secret that is shown once "
			     "and never stored, so it cannot be replayed", rt->method, rt->pattern);
		cf_resp_invalid(resp, &errs);
		goto out;
	}
	if (key != NULL && idempotency_begin(app, req, resp, key, fp) == 0)
		goto out;
	if (rt->fn(app, req, resp) != 0 || resp->status == 0) {
		cf_resp_problem(resp, 500, "internal", NULL,
				"the handler failed; see the logs for request %s", req->request_id);
		goto out;
	}
	if (resp->defer.run != NULL)
		goto out; /* answered later, off this thread; it wrote nothing: roll back */
	if (in_txn && resp->status >= 200 && resp->status < 300) {
		in_txn = false;
		if (commit(req, resp, key, fp) != 0)
			in_txn = !cf_db_lost(req->db);
		else
			apply_invalidations(req);
	}
out:
	if (in_txn && req->db != NULL)
		cf_db_rollback(req->db);
	if (req->db != NULL)
		cf_db_release(app->pool, req->db, cf_db_lost(req->db));
	req->db = NULL;
	cf_err_clear(&err);
	return 0;
}

int cf_h_whoami(cf_app *app, cf_http_req *req, cf_http_resp *resp)
{
	return cf_resp_json(resp, 200, json_pack("{s:s, s:s, s:s}", "token_id", req->who.token_id,
						 "name", req->who.name, "role",
						 cf_role_name(req->who.role)));
}
