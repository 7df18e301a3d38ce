/*
 * metrics.c: the in-process counters and the histogram of /metrics; see metrics.h.
 *
 * HTTP counts live in a fixed open-addressing table of SLOTS entries keyed by
 * (route, method, status) packed into one unsigned integer: a request finds its
 * slot by hashing the key and probing; an empty slot is claimed with a
 * compare-and-swap of its key, after which every request of that combination is
 * one atomic_fetch_add. The table is sized far beyond what the route table can
 * produce (routes x methods x statuses actually used), so it never fills in
 * practice; if it did, further combinations are dropped, never blocking.
 *
 * The histogram keeps non-cumulative bucket counts and a sum in microseconds
 * (integers, so it too is lock-free); reading makes the buckets cumulative. DNS
 * provider names are few and their errors rare: a mutex guards the insertion of a
 * new name, and counting is atomic.
 */
#include "metrics.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

/* ---- HTTP ---- */

#define SLOTS 4096
#define NMETHODS 8

static const char *const methods[NMETHODS] = {"GET", "HEAD", "POST", "PATCH",
					       "DELETE", "PUT", "OPTIONS", "OTHER"};

static struct {
	atomic_uint key; /* 0 = free; else 1 + ((route + 1) * NMETHODS + m) * 1000 + status */
	atomic_ullong count;
} http_slots[SLOTS];

static int method_index(const char *m)
{
	for (int i = 0; m != NULL && i < NMETHODS - 1; i++)
		if (strcmp(methods[i], m) == 0)
			return i;
	return NMETHODS - 1;
}

void cf_metrics_http(int route, const char *method, int status)
{
	unsigned key, h, want;

	if (route < -1 || route > 254)
		route = -1;
	if (status < 100 || status > 999)
		status = 0;
	want = 1u + ((unsigned)(route + 1) * NMETHODS + (unsigned)method_index(method)) * 1000u +
	       (unsigned)status;
	h = (want * 2654435761u) % SLOTS;
	for (unsigned i = 0; i < SLOTS; i++, h = (h + 1) % SLOTS) {
		key = atomic_load_explicit(&http_slots[h].key, memory_order_acquire);
		if (key == 0) {
			unsigned expect = 0;

			if (atomic_compare_exchange_strong(&http_slots[h].key, &expect, want))
				key = want;
			else
				key = expect; /* another thread took it: for which key? */
		}
		if (key == want) {
			atomic_fetch_add_explicit(&http_slots[h].count, 1, memory_order_relaxed);
			return;
		}
	}
}

void cf_metrics_http_foreach(cf_metrics_http_fn fn, void *arg)
{
	for (unsigned i = 0; i < SLOTS; i++) {
		unsigned key = atomic_load_explicit(&http_slots[i].key, memory_order_acquire);
		unsigned long long n = atomic_load_explicit(&http_slots[i].count,
							    memory_order_relaxed);
		unsigned rm;

		if (key == 0 || n == 0)
			continue;
		key -= 1;
		rm = key / 1000;
		fn((int)(rm / NMETHODS) - 1, methods[rm % NMETHODS], (int)(key % 1000), n, arg);
	}
}

static _Atomic(cf_metrics_route_name_fn) route_name_fn;

void cf_metrics_http_set_route_names(cf_metrics_route_name_fn fn)
{
	atomic_store(&route_name_fn, fn);
}

const char *cf_metrics_http_route_name(int route)
{
	cf_metrics_route_name_fn fn = atomic_load(&route_name_fn);
	const char *name = route >= 0 && fn ? fn(route) : NULL;

	if (route < 0)
		return "unmatched";
	return name ? name : "unknown";
}

/* ---- issuance duration ---- */

const double cf_metrics_issue_bounds[CF_METRICS_ISSUE_BUCKETS] = {
	1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800, 3600,
};

static atomic_ullong issue_bucket[CF_METRICS_ISSUE_BUCKETS + 1]; /* last: +Inf only */
static atomic_ullong issue_count;
static atomic_ullong issue_sum_us;

void cf_metrics_issue_observe(double seconds)
{
	int i;

	if (!(seconds >= 0)) /* NaN or negative (a clock step): counts as 0 */
		seconds = 0;
	for (i = 0; i < CF_METRICS_ISSUE_BUCKETS && seconds > cf_metrics_issue_bounds[i]; i++)
		;
	atomic_fetch_add(&issue_bucket[i], 1);
	atomic_fetch_add(&issue_sum_us, (unsigned long long)(seconds * 1e6));
	atomic_fetch_add(&issue_count, 1);
}

void cf_metrics_issue_read(cf_metrics_hist *out)
{
	unsigned long long run = 0;

	for (int i = 0; i < CF_METRICS_ISSUE_BUCKETS; i++) {
		run += atomic_load(&issue_bucket[i]);
		out->bucket[i] = run;
	}
	out->count = atomic_load(&issue_count);
	out->sum = (double)atomic_load(&issue_sum_us) / 1e6;
	/* an observation between the loads may be in count but not in a bucket */
	if (out->count < run)
		out->count = run;
}

/* ---- DNS provider errors ---- */

static pthread_mutex_t dns_mu = PTHREAD_MUTEX_INITIALIZER;
static char dns_names[CF_METRICS_MAX_PROVIDERS + 1][64];
static atomic_int dns_n;
static atomic_ullong dns_count[CF_METRICS_MAX_PROVIDERS + 1];

static int dns_find(const char *name, int n)
{
	for (int i = 0; i < n; i++)
		if (strcmp(dns_names[i], name) == 0)
			return i;
	return -1;
}

void cf_metrics_dns_error(const char *provider)
{
	const char *name = provider && provider[0] ? provider : "unknown";
	int i = dns_find(name, atomic_load(&dns_n));

	if (i < 0) {
		pthread_mutex_lock(&dns_mu);
		if ((i = dns_find(name, atomic_load(&dns_n))) < 0) {
			i = atomic_load(&dns_n);
			if (i < CF_METRICS_MAX_PROVIDERS) {
				snprintf(dns_names[i], sizeof(dns_names[i]), "%s", name);
				atomic_store(&dns_n, i + 1); /* publishes the name */
			} else {
				i = CF_METRICS_MAX_PROVIDERS;
				snprintf(dns_names[i], sizeof(dns_names[i]), "other");
			}
		}
		pthread_mutex_unlock(&dns_mu);
	}
	atomic_fetch_add(&dns_count[i], 1);
}

void cf_metrics_dns_foreach(cf_metrics_dns_fn fn, void *arg)
{
	int n = atomic_load(&dns_n);

	for (int i = 0; i < n; i++)
		fn(dns_names[i], atomic_load(&dns_count[i]), arg);
	if (atomic_load(&dns_count[CF_METRICS_MAX_PROVIDERS]) > 0)
		fn("other", atomic_load(&dns_count[CF_METRICS_MAX_PROVIDERS]), arg);
}

/* ---- webhooks, scheduler ---- */

static atomic_ullong wh_delivered, wh_failed;
static atomic_bool sched_leader;
static atomic_ullong janitor_failures; /* this process, since it started */

void cf_metrics_webhook_attempt(bool delivered)
{
	atomic_fetch_add(delivered ? &wh_delivered : &wh_failed, 1);
}

void cf_metrics_webhook_read(unsigned long long *delivered, unsigned long long *failed)
{
	*delivered = atomic_load(&wh_delivered);
	*failed = atomic_load(&wh_failed);
}

void cf_metrics_janitor_failure(void)
{
	atomic_fetch_add(&janitor_failures, 1);
}

unsigned long long cf_metrics_janitor_failures(void)
{
	return atomic_load(&janitor_failures);
}

void cf_metrics_scheduler_leader(bool leader)
{
	atomic_store(&sched_leader, leader);
}

bool cf_metrics_scheduler_is_leader(void)
{
	return atomic_load(&sched_leader);
}

/* ---- text format ---- */

int cf_metrics_escape(cf_buf *out, const char *value)
{
	for (const char *p = value; *p; p++) {
		const char *esc = *p == '\\' ? "\\\\"
				  : *p == '"'  ? "\\\""
				  : *p == '\n' ? "\\n"
						: NULL;

		if (esc ? cf_buf_append_str(out, esc) : cf_buf_append(out, p, 1))
			return -1;
	}
	return 0;
}
