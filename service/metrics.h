/*
 * metrics.h: the in-process metrics of one certfleet process, shared by the HTTP
 * threads and the workers (like log.h, a service-wide facility), rendered by
 * GET /metrics (http/h_metrics.c) in the Prometheus text format 0.0.4.
 *
 * Only what a process observes itself lives here; what the database knows (jobs
 * by state, expiry per certificate, live TXT values) is read from it at scrape
 * time. Every update is lock-free (C11 atomics): counting an HTTP request is one
 * atomic increment once its (route, method, status) slot exists; the slots of a
 * fixed open-addressing table are claimed with one compare-and-swap the first
 * time a combination is seen. Counters are per process (a replica's restart
 * resets them, as Prometheus expects of counters).
 */
#ifndef CERTFLEET_METRICS_H
#define CERTFLEET_METRICS_H

#include <stdbool.h>
#include <stddef.h>

#include "util/buf.h"

/* ---- HTTP requests by route and status ---- */
/* route: an index into the route table, or -1 for a path that matched none.
 * Statuses outside 100..999 are counted as 0. */
void cf_metrics_http(int route, const char *method, int status);
/* Calls fn for every non-zero (route, method, status) count. */
typedef void (*cf_metrics_http_fn)(int route, const char *method, int status,
				   unsigned long long count, void *arg);
void cf_metrics_http_foreach(cf_metrics_http_fn fn, void *arg);
/* The label of a route index. The route table lives in http/routes.c, a layer
 * above this one, so the HTTP server registers the lookup once at start; the
 * metrics page (also http/) then names routes without calling back into the table.
 * -1 is "unmatched"; an index without a registered lookup is "unknown". */
typedef const char *(*cf_metrics_route_name_fn)(int route);
void cf_metrics_http_set_route_names(cf_metrics_route_name_fn fn);
const char *cf_metrics_http_route_name(int route);

/* ---- issuance duration: job created -> certificate stored ---- */
#define CF_METRICS_ISSUE_BUCKETS 12
/* The upper bounds (seconds) of the histogram's buckets, +Inf excluded. */
extern const double cf_metrics_issue_bounds[CF_METRICS_ISSUE_BUCKETS];
void cf_metrics_issue_observe(double seconds);
typedef struct cf_metrics_hist {
	unsigned long long bucket[CF_METRICS_ISSUE_BUCKETS]; /* cumulative, as exposed */
	unsigned long long count;
	double sum;
} cf_metrics_hist;
void cf_metrics_issue_read(cf_metrics_hist *out);

/* ---- DNS provider errors, by provider name ---- */
/* Counts one failed present or cleanup call of provider (a configured provider's
 * name; at most CF_METRICS_MAX_PROVIDERS distinct names, later ones are counted
 * under "other"). */
#define CF_METRICS_MAX_PROVIDERS 64
void cf_metrics_dns_error(const char *provider);
typedef void (*cf_metrics_dns_fn)(const char *provider, unsigned long long count, void *arg);
void cf_metrics_dns_foreach(cf_metrics_dns_fn fn, void *arg);

/* ---- webhooks and the scheduler (this process) ---- */
void cf_metrics_webhook_attempt(bool delivered);
void cf_metrics_webhook_read(unsigned long long *delivered, unsigned long long *failed);
/* Failed removals of orphan TXT values by this process's janitor since it started
 * (the fleet-wide numbers are in the database view txt_cleanup_stats, and each
 * failure is an event of the value's job). */
void cf_metrics_janitor_failure(void);
unsigned long long cf_metrics_janitor_failures(void);
/* 1 while this process's scheduler holds the scheduler lock. */
void cf_metrics_scheduler_leader(bool leader);
bool cf_metrics_scheduler_is_leader(void);

/* ---- text format helpers ---- */
/* Appends a label value escaped for the text format (\\, \" and \n). */
int cf_metrics_escape(cf_buf *out, const char *value);

#endif
