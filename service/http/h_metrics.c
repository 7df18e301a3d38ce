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
 * Who may read: CERTFLEET_METRICS_AUTH=admin (a bearer admin token, as
 * Prometheus' `authorization` sends it), none (anyone who reaches the port), or
 * auto, the default: admin unless CERTFLEET_LISTEN is a loopback address. The
 * route is CF_AUTH_NONE in the table; the handler checks the token itself when
 * the setting asks for one, through the /v1 gate first (api.c: a malformed or
 * known-absent token costs no database connection), then in the database.
 *
 * Certificate ids appear as label values only with CERTFLEET_METRICS_DETAIL=true
 * (each certificate's expiry); otherwise the expiry is summed up as the soonest
 * one and a count. Other label values are DNS names of alias targets, provider
 * names and states, never secrets.
 */
#include "http/http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "config.h"
#include "http/negcache.h"

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

/* Without CERTFLEET_METRICS_DETAIL: the expiries without their certificates' ids. */
static void expiry_summary(cf_buf *b, const json_t *expiry)
{
	const char *k;
	json_t *v;
	double min = 0;
	size_t n = 0;

	json_object_foreach((json_t *)expiry, k, v) {
		if (n == 0 || json_number_value(v) < min)
			min = json_number_value(v);
		n++;
	}
	header(b, "certfleet_certificates_current", "gauge",
	       "Certificates with a current version.");
	sample(b, "certfleet_certificates_current", NULL, NULL, (double)n);
	if (n == 0)
		return;
	header(b, "certfleet_certificate_expiry_min_seconds", "gauge",
	       "Seconds until the soonest expiry of a current version (negative: expired; "
	       "per certificate with CERTFLEET_METRICS_DETAIL=true).");
	sample(b, "certfleet_certificate_expiry_min_seconds", NULL, NULL, min);
}

static void render_db(cf_buf *b, const json_t *g, bool detail)
{
	header(b, "certfleet_jobs", "gauge", "Jobs by state, across all replicas.");
	gauge_map(b, "certfleet_jobs", "state", json_object_get(g, "jobs"), job_states,
		  sizeof(job_states) / sizeof(job_states[0]));
	if (detail) {
		header(b, "certfleet_certificate_expiry_seconds", "gauge",
		       "Seconds until the current version of a certificate expires "
		       "(negative: expired).");
		gauge_map(b, "certfleet_certificate_expiry_seconds", "certificate",
			  json_object_get(g, "expiry"), NULL, 0);
	} else {
		expiry_summary(b, json_object_get(g, "expiry"));
	}
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
			render_db(&b, g, app->cfg->metrics_detail);
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

static void render_process(cf_buf *b, cf_cache *cache)
{
	cf_metrics_hist h;
	unsigned long long ok, bad;
	cf_negcache_stats ns;

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
	cf_negcache_stats_get(cf_cache_negative(cache), &ns);
	header(b, "certfleet_unknown_tokens_total", "counter",
	       "Bearer tokens of unknown ids in this process: absent ids learnt from the "
	       "database (added), requests answered from them (negative_cache), requests "
	       "refused because their address's look-up budget was spent (refused).");
	sample(b, "certfleet_unknown_tokens_total", "result", "added", (double)ns.added);
	sample(b, "certfleet_unknown_tokens_total", "result", "negative_cache", (double)ns.hits);
	sample(b, "certfleet_unknown_tokens_total", "result", "refused", (double)ns.refused);
	header(b, "certfleet_build_info", "gauge", "The version of this binary.");
	sample(b, "certfleet_build_info", "version", CERTFLEET_VERSION, 1);
}

/* Is CERTFLEET_LISTEN a loopback address (127.0.0.0/8, ::1)? */
static bool listen_is_loopback(const char *listen)
{
	char host[256];
	unsigned port;
	struct in_addr v4;
	struct in6_addr v6;

	if (cf_parse_hostport(listen, host, sizeof(host), &port) != 0)
		return false;
	if (inet_pton(AF_INET, host, &v4) == 1)
		return (ntohl(v4.s_addr) >> 24) == 127;
	return inet_pton(AF_INET6, host, &v6) == 1 && IN6_IS_ADDR_LOOPBACK(&v6);
}

/* Whether this request needs an admin token (CERTFLEET_METRICS_AUTH). */
static bool needs_admin(const cf_config *cfg)
{
	if (strcmp(cfg->metrics_auth, "auto") == 0)
		return !listen_is_loopback(cfg->listen);
	return strcmp(cfg->metrics_auth, "admin") == 0;
}

/* 0 when the bearer token is an admin's, else resp holds the 401/403/429/503. */
static int check_admin(cf_app *app, cf_http_req *req, cf_http_resp *resp)
{
	const char *token = cf_req_bearer(req);
	cf_token_status st = CF_TOKEN_INVALID;
	cf_principal who = {0};
	cf_err err = {0};
	PGconn *c = NULL;
	int rc = -1;

	if (token == NULL) {
		cf_resp_problem(resp, 401, "unauthorized", NULL, "/metrics needs an admin token "
				"(CERTFLEET_METRICS_AUTH)");
		cf_resp_header(resp, "WWW-Authenticate", "Bearer realm=\"certfleet\"");
		return -1;
	}
	if (cf_api_gate(app, req, resp) != 0) /* before any database connection */
		return -1;
	if ((c = cf_db_acquire(app->pool, &err)) == NULL) {
		cf_resp_db_unavailable(req, resp, &err);
		goto out;
	}
	if (cf_token_verify(c, token, &who, &st, &err) != 0) {
		cf_resp_db_unavailable(req, resp, &err);
	} else {
		if (req->budget_taken && st != CF_TOKEN_INVALID) /* the id exists: give back */
			cf_negcache_refund(cf_cache_negative(req->cache), req->client_ip);
		if (st != CF_TOKEN_OK)
			cf_resp_problem(resp, 401, "unauthorized", NULL, "the token is not valid");
		else if (who.role != CF_ROLE_ADMIN)
			cf_resp_problem(resp, 403, "forbidden", NULL,
					"/metrics needs an admin token");
		else
			rc = 0;
	}
	cf_db_release(app->pool, c, cf_db_lost(c));
out:
	cf_err_clear(&err);
	return rc;
}

int cf_h_metrics(cf_app *app, cf_http_req *req, cf_http_resp *resp)
{
	cf_buf b = {0};
	bool up;

	if (needs_admin(app->cfg) && check_admin(app, req, resp) != 0)
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
	render_process(&b, req->cache);
	if (b.data == NULL)
		return cf_resp_problem(resp, 500, "internal", NULL, "out of memory");
	free(resp->body);
	resp->len = b.len;
	resp->body = cf_buf_steal(&b);
	resp->status = 200;
	resp->content_type = CONTENT_TYPE;
	return 0;
}
