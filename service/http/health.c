/*
 * health.c: /healthz (the process is alive and serving) and /readyz (the database
 * answers and carries the schema this binary expects).
 *
 * /readyz asks the database through the pool, so a database that went away and
 * came back is seen without a restart; its answer is kept for READYZ_CACHE_MS
 * (one process-wide copy under a mutex), so however often it is called, it costs
 * the pool at most one connection and one query a second. A request that finds
 * the copy stale while another is refreshing it waits for that refresh rather
 * than asking too. The 503's detail never carries libpq's message (it names the
 * database's host and port); that is logged instead.
 */
#include "http/http.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "store/migrate.h"
#include "util/clock.h"

#define READYZ_CACHE_MS 1000

static pthread_mutex_t ready_mu = PTHREAD_MUTEX_INITIALIZER;
static cf_http_resp ready_copy;      /* status, content type and body; owned */
static long long ready_at_ms = -1;   /* CLOCK_MONOTONIC ms of ready_copy, -1: none */

int cf_h_healthz(cf_app *app, cf_http_req *req, cf_http_resp *resp)
{
	return cf_resp_json(resp, 200, json_pack("{s:s}", "status", "alive"));
}

/* Asks the database: resp gets the answer. */
static void readyz_ask(cf_app *app, cf_http_resp *resp)
{
	cf_err err = {0};
	PGconn *c;
	int v;

	c = cf_db_acquire(app->pool, &err);
	if (c == NULL) {
		cf_log(CF_LOG_WARN, "http.readyz", "not ready: %s", err.msg);
		cf_resp_problem(resp, 503, "not-ready", "Not ready",
				"the database cannot be reached or is busy (see the logs)");
		goto out;
	}
	v = cf_migrate_current(c, &err);
	cf_db_release(app->pool, c, cf_db_lost(c));
	if (v < 0) {
		cf_log(CF_LOG_WARN, "http.readyz", "not ready: %s", err.msg);
		cf_resp_problem(resp, 503, "not-ready", "Not ready",
				"the database's schema version cannot be read (see the logs)");
		goto out;
	}
	if (v < app->schema_expected) {
		cf_resp_problem(resp, 503, "not-ready", "Not ready",
				"database schema is at version %d, this binary needs %d: run "
				"certfleet migrate",
				v, app->schema_expected);
		goto out;
	}
	cf_resp_json(resp, 200, json_pack("{s:s, s:s, s:i}", "status", "ready", "database", "ok",
					  "schema_version", v));
out:
	cf_err_clear(&err);
}

/* Copies status, content type and body of from into to (to's body replaced). */
static void copy_answer(cf_http_resp *to, const cf_http_resp *from)
{
	char *body = from->body ? malloc(from->len + 1) : NULL;

	if (from->body != NULL && body == NULL) {
		cf_resp_problem(to, 500, "internal", NULL, "out of memory");
		return;
	}
	if (body != NULL)
		memcpy(body, from->body, from->len + 1);
	free(to->body);
	to->body = body;
	to->len = body ? from->len : 0;
	to->status = from->status;
	to->content_type = from->content_type;
}

int cf_h_readyz(cf_app *app, cf_http_req *req, cf_http_resp *resp)
{
	long long now;

	pthread_mutex_lock(&ready_mu);
	now = cf_clock_mono_ms();
	if (ready_at_ms < 0 || now - ready_at_ms >= READYZ_CACHE_MS) {
		cf_resp_free(&ready_copy);
		memset(&ready_copy, 0, sizeof(ready_copy));
		readyz_ask(app, &ready_copy);
		ready_at_ms = cf_clock_mono_ms();
	}
	copy_answer(resp, &ready_copy);
	pthread_mutex_unlock(&ready_mu);
	if (resp->status == 503)
		cf_resp_header(resp, "Retry-After", "1");
	return 0;
}
