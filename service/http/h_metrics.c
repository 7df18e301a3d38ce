/*
 * h_metrics.c: GET /metrics in the Prometheus text exposition format 0.0.4.
 *
 * Two kinds of series: the fleet's state, read from PostgreSQL (jobs by state,
 * seconds until each certificate's current version expires, live TXT values per
 * target, webhook deliveries by state), and this process's own observations
 * (metrics.h: HTTP requests by route pattern, method and status, the issuance
 * duration histogram, DNS provider errors, webhook attempts, whether this replica
 * runs the scheduler). The database part is rendered once and kept for
 * CERTFLEET_METRICS_CACHE seconds (one process-wide copy under a mutex), so
 * frequent scrapes of many replicas cost the database one query per replica per
 * period; when the database cannot be read, the last copy is served (if any) and
 * certfleet_database_up says 0.
 *
 * Who may read: CERTFLEET_METRICS_AUTH=none (the default: the Prometheus
 * convention, the API listening on loopback unless configured otherwise) or
 * admin (a bearer admin token, as Prometheus' `authorization` sends it). The
 * route is CF_AUTH_NONE in the table; the handler checks the token itself when
 * the setting asks for one, with the same store function as the /v1 middleware.
 * Label values are certificate ids, DNS names and provider names, never secrets.
 */
#include "http/http.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "log.h"
#include "metrics.h"
#include "store/gauges.h"
#include "store/lifecycle.h"
#include "util/clock.h"

#define CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

#define JOB_STATE_(e, s) s,
static const char *const job_states[] = {CF_JOB_STATES_ACTIVE(JOB_STATE_, )
					 CF_JOB_STATES_FINAL(JOB_STATE_, )};
static const char *const webhook_states[] = {"pending", "delivered", "failed"};

static pthread_mutex_t cache_mu = PTHREAD_MUTEX_INITIALIZER;
static char *cache_text;     /* the rendered database part, owned */
static double cache_at = -1; /* CLOCK_MONOTONIC seconds of cache_text */
static bool cache_db_up;

/* One "name{label="value"} number" line. */
static void sample(cf_buf *b, const char *name, const char *label, const char *value, double v)
{
	cf_buf_append_str(b, name);
	if (label != NULL) {
		cf_buf_printf(b, "{%s=\"", label);
		cf_metrics_escape(b, value);
		cf_buf_append_str(b, "\"}");
	}
	cf_buf_printf(b, " %.17g\n", v);
}

static void header(cf_buf *b, const char *name, const char *type, const char *help)
{
	cf_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A JSON object of numbers as one gauge; fixed lists it must always show. */
static void gauge_map(cf_buf *b, const char *name, const char *label, const json_t *map,
		      const char *const *always, size_t nalways)
{
	const char *k;
	json_t *v;

	for (size_t i = 0; i < nalways; i++)
		if (json_object_get(map, always[i]) == NULL)
			sample(b, name, label, always[i], 0);
	json_object_foreach((json_t *)map, k, v)
		sample(b, name, label, k, json_number_value(v));
}

static void render_db(cf_buf *b, const json_t *g)
{
	header(b, "certfleet_jobs", "gauge", "Jobs by state, across all replicas.");
	gauge_map(b, "certfleet_jobs", "state", json_object_get(g, "jobs"), job_states,
		  sizeof(job_states) / sizeof(job_states[0]));
	header(b, "certfleet_certificate_expiry_seconds", "gauge",
	       "Seconds until the current version of a certificate expires (negative: expired).");
	gauge_map(b, "certfleet_certificate_expiry_seconds", "certificate",
		  json_object_get(g, "expiry"), NULL, 0);
	header(b, "certfleet_dns_txt_live", "gauge",
	       "Live TXT values per target FQDN (written or being written), across all replicas.");
	gauge_map(b, "certfleet_dns_txt_live", "target", json_object_get(g, "txt"), NULL, 0);
	header(b, "certfleet_webhook_deliveries", "gauge", "Webhook deliveries by state.");
	gauge_map(b, "certfleet_webhook_deliveries", "state", json_object_get(g, "webhooks"),
		  webhook_states, sizeof(webhook_states) / sizeof(webhook_states[0]));
}

/* Refreshes the cached database part when it is older than the setting. */
static void refresh_db(cf_app *app)
{
	double now = cf_clock_mono_s();
	cf_buf b = {0};
	json_t *g = NULL;
	cf_err err = {0};
	PGconn *c;

	if (cache_at >= 0 && now - cache_at < app->cfg->metrics_cache)
		return;
	if ((c = cf_db_acquire(app->pool, &err)) != NULL) {
		if (cf_gauges_read(c, &g, &err) == 0)
			render_db(&b, g);
		cf_db_release(app->pool, c, cf_db_lost(c));
	}
	cache_db_up = g != NULL && b.data != NULL;
	if (cache_db_up) {
		free(cache_text);
		cache_text = cf_buf_steal(&b);
		cache_at = now;
	} else {
		cf_log(CF_LOG_WARN, "metrics.database", "%s", err.msg);
		cache_at = -1; /* try again at the next scrape */
	}
	json_decref(g);
	cf_buf_free(&b);
	cf_err_clear(&err);
}

static void http_line(int route, const char *method, int status, unsigned long long n,
		      void *arg)
{
	cf_buf *b = arg;
	const char *pattern = cf_metrics_http_route_name(route);

	cf_buf_append_str(b, "certfleet_http_requests_total{route=\"");
	cf_metrics_escape(b, pattern);
	cf_buf_printf(b, "\",method=\"%s\",code=\"%d\"} %llu\n", method, status, n);
}

static void dns_line(const char *provider, unsigned long long n, void *arg)
{
	sample(arg, "certfleet_dns_provider_errors_total", "provider", provider, (double)n);
}

static void render_process(cf_buf *b)
{
	cf_metrics_hist h;
	unsigned long long ok, bad;

	header(b, "certfleet_http_requests_total", "counter",
	       "HTTP requests served by this process, by route pattern, method and status.");
	cf_metrics_http_foreach(http_line, b);
	cf_metrics_issue_read(&h);
	header(b, "certfleet_issuance_duration_seconds", "histogram",
	       "From job creation to the stored certificate, for jobs finished by this process.");
	for (int i = 0; i < CF_METRICS_ISSUE_BUCKETS; i++)
		cf_buf_printf(b, "certfleet_issuance_duration_seconds_bucket{le=\"%g\"} %llu\n",
			      cf_metrics_issue_bounds[i], h.bucket[i]);
	cf_buf_printf(b, "certfleet_issuance_duration_seconds_bucket{le=\"+Inf\"} %llu\n"
		      "certfleet_issuance_duration_seconds_sum %.6f\n"
		      "certfleet_issuance_duration_seconds_count %llu\n", h.count, h.sum, h.count);
	header(b, "certfleet_dns_provider_errors_total", "counter",
	       "Failed present or cleanup calls of DNS providers in this process.");
	cf_metrics_dns_foreach(dns_line, b);
	header(b, "certfleet_txt_cleanup_failures_total", "counter",
	       "Failed janitor removals of leftover TXT values in this process (each retried "
	       "with backoff, then given up and shown in the job's events).");
	sample(b, "certfleet_txt_cleanup_failures_total", NULL, NULL,
	       (double)cf_metrics_janitor_failures());
	cf_metrics_webhook_read(&ok, &bad);
	header(b, "certfleet_webhook_attempts_total", "counter",
	       "Webhook POSTs made by this process, by result.");
	sample(b, "certfleet_webhook_attempts_total", "result", "delivered", (double)ok);
	sample(b, "certfleet_webhook_attempts_total", "result", "failed", (double)bad);
	header(b, "certfleet_scheduler_leader", "gauge",
	       "1 while this process runs the renewal scheduler (holds its lock).");
	sample(b, "certfleet_scheduler_leader", NULL, NULL, cf_metrics_scheduler_is_leader());
	header(b, "certfleet_build_info", "gauge", "The version of this binary.");
	sample(b, "certfleet_build_info", "version", CERTFLEET_VERSION, 1);
}

/* CERTFLEET_METRICS_AUTH=admin: 0 when the bearer token is an admin's, else
 * resp holds the 401/403/503. */
static int check_admin(cf_app *app, cf_http_req *req, cf_http_resp *resp)
{
	const char *h = cf_req_header(req, "Authorization");
	cf_token_status st = CF_TOKEN_INVALID;
	cf_principal who = {0};
	cf_err err = {0};
	PGconn *c;
	int rc = -1;

	if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0) {
		cf_resp_problem(resp, 401, "unauthorized", NULL, "/metrics needs an admin token "
				"(CERTFLEET_METRICS_AUTH=admin)");
		cf_resp_header(resp, "WWW-Authenticate", "Bearer realm=\"certfleet\"");
		return -1;
	}
	for (h += 7; *h == ' ';)
		h++;
	if ((c = cf_db_acquire(app->pool, &err)) == NULL) {
		cf_resp_problem(resp, 503, "database-unavailable", NULL, "%s", err.msg);
		goto out;
	}
	if (cf_token_verify(c, h, &who, &st, &err) != 0)
		cf_resp_problem(resp, 503, "database-unavailable", NULL, "%s", err.msg);
	else if (st != CF_TOKEN_OK)
		cf_resp_problem(resp, 401, "unauthorized", NULL, "the token is not valid");
	else if (who.role != CF_ROLE_ADMIN)
		cf_resp_problem(resp, 403, "forbidden", NULL, "/metrics needs an admin token");
	else
		rc = 0;
	cf_db_release(app->pool, c, cf_db_lost(c));
out:
	cf_err_clear(&err);
	return rc;
}

int cf_h_metrics(cf_app *app, cf_http_req *req, cf_http_resp *resp)
{
	cf_buf b = {0};
	bool up;

	if (strcmp(app->cfg->metrics_auth, "admin") == 0 && check_admin(app, req, resp) != 0)
		return 0;
	pthread_mutex_lock(&cache_mu);
	refresh_db(app);
	up = cache_db_up;
	if (cache_text != NULL)
		cf_buf_append_str(&b, cache_text);
	pthread_mutex_unlock(&cache_mu);
	header(&b, "certfleet_database_up", "gauge",
	       "1 when the last read of the database gauges succeeded.");
	sample(&b, "certfleet_database_up", NULL, NULL, up);
	render_process(&b);
	if (b.data == NULL)
		return cf_resp_problem(resp, 500, "internal", NULL, "out of memory");
	free(resp->body);
	resp->len = b.len;
	resp->body = cf_buf_steal(&b);
	resp->status = 200;
	resp->content_type = CONTENT_TYPE;
	return 0;
}
