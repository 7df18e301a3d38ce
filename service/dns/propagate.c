/*
 * propagate.c: waiting until the TXT values are served where the CA will look.
 *
 * In authoritative mode the zone of each distinct target FQDN is found once (SOA
 * walk through the resolvers), then its NS set, each NS host resolved to addresses
 * through the same resolvers (never the system's), and every address is asked
 * directly without recursion. In resolvers mode every configured resolver is asked
 * instead (for split horizon, where the authorities cannot be reached). Either way
 * every (server, FQDN, value) must be seen, polled in rounds with a backoff of
 * 50 ms doubling to 1 s, until the overall timeout: then a transient error names a
 * server and a value still missing.
 */
#include "dns/dns.h"
#include "util/clock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BACKOFF_FIRST_MS 50
#define BACKOFF_MAX_MS 1000

/* One thing to see: a value at an FQDN on one server. Probes of the same
 * (server, FQDN) are kept next to each other so one query serves them all. */
typedef struct probe {
	cf_dns_server srv;
	const cf_txt_want *want;
	bool ok;
} probe;

typedef struct probe_set {
	probe *p;
	size_t n, cap;
} probe_set;

int cf_propagation_parse(const char *s, cf_propagation *out)
{
	if (s == NULL)
		return -1;
	if (strcmp(s, "authoritative") == 0)
		*out = CF_PROP_AUTHORITATIVE;
	else if (strcmp(s, "resolvers") == 0)
		*out = CF_PROP_RESOLVERS;
	else if (strcmp(s, "none") == 0)
		*out = CF_PROP_NONE;
	else
		return -1;
	return 0;
}

const char *cf_propagation_name(cf_propagation p)
{
	switch (p) {
	case CF_PROP_AUTHORITATIVE: return "authoritative";
	case CF_PROP_RESOLVERS: return "resolvers";
	case CF_PROP_NONE: return "none";
	}
	return "?";
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) != 0)
		;
}

static int probe_add(probe_set *ps, const cf_dns_server *srv, const cf_txt_want *w)
{
	if (ps->n == ps->cap) {
		size_t ncap = ps->cap ? ps->cap * 2 : 16;
		probe *np = realloc(ps->p, ncap * sizeof(*np));

		if (np == NULL)
			return -1;
		ps->p = np;
		ps->cap = ncap;
	}
	ps->p[ps->n].srv = *srv;
	ps->p[ps->n].want = w;
	ps->p[ps->n].ok = false;
	ps->n++;
	return 0;
}

/* Adds, for every server of l, one probe per want at fqdn. */
static int add_fqdn(probe_set *ps, const cf_dns_servers *l, const char *fqdn,
		    const cf_txt_want *wants, size_t n)
{
	size_t s, i;

	for (s = 0; s < l->n; s++)
		for (i = 0; i < n; i++)
			if (cf_name_equal(wants[i].fqdn, fqdn) && probe_add(ps, &l->s[s], &wants[i]) != 0)
				return -1;
	return 0;
}

/* Builds the probes: per distinct FQDN, the servers the mode names. */
static int build_probes(cf_propagation mode, const cf_dns_servers *resolvers,
			const cf_txt_want *wants, size_t n, probe_set *ps, cf_err *err)
{
	cf_dns_servers ns;
	char *zone = NULL;
	size_t i, j;
	int rc = -1;

	for (i = 0; i < n; i++) {
		for (j = 0; j < i && !cf_name_equal(wants[j].fqdn, wants[i].fqdn); j++)
			;
		if (j < i)
			continue; /* this FQDN is done */
		if (mode == CF_PROP_RESOLVERS) {
			if (resolvers == NULL || resolvers->n == 0) {
				cf_err_set(err, CF_ERR_PERMANENT,
					   "propagation check: no resolvers configured");
				goto out;
			}
			if (add_fqdn(ps, resolvers, wants[i].fqdn, wants, n) != 0)
				goto oom;
			continue;
		}
		if (cf_dns_find_zone(resolvers, wants[i].fqdn, &zone, err) != 0 ||
		    cf_dns_zone_nameservers(resolvers, zone, &ns, err) != 0) {
			cf_err_wrap(err, "propagation check of %.260s", wants[i].fqdn);
			goto out;
		}
		if (add_fqdn(ps, &ns, wants[i].fqdn, wants, n) != 0)
			goto oom;
		free(zone);
		zone = NULL;
	}
	rc = 0;
	goto out;
oom:
	cf_err_oom(err, NULL);
out:
	free(zone);
	return rc;
}

static bool same_target(const probe *a, const probe *b)
{
	return a->srv.port == b->srv.port && strcmp(a->srv.ip, b->srv.ip) == 0 &&
	       cf_name_equal(a->want->fqdn, b->want->fqdn);
}

/* One round: asks each (server, FQDN) that still misses a value. Returns the
 * number of probes still missing; last_err keeps the last query failure. */
static size_t poll_round(cf_propagation mode, probe_set *ps, cf_err *last_err)
{
	char **vals = NULL;
	size_t nvals = 0, i, k, missing = 0;
	const probe *asked = NULL; /* the probe whose (server, FQDN) vals belong to */
	bool have = false;

	for (i = 0; i < ps->n; i++) {
		probe *p = &ps->p[i];
		cf_err qe = { 0 };

		if (p->ok)
			continue;
		if (asked == NULL || !same_target(asked, p)) {
			asked = p;
			cf_strv_free(vals);
			vals = NULL;
			nvals = 0;
			if (mode == CF_PROP_RESOLVERS) {
				cf_dns_servers one = { .n = 1 };

				one.s[0] = p->srv;
				have = cf_dns_txt(&one, p->want->fqdn, &vals, &nvals, &qe) == 0;
			} else {
				have = cf_dns_txt_at(&p->srv, p->want->fqdn, &vals, &nvals, &qe) == 0;
			}
			if (!have) {
				cf_err_clear(last_err);
				cf_err_set(last_err, qe.cls, "%s", qe.msg);
			}
			cf_err_clear(&qe);
		}
		for (k = 0; have && k < nvals; k++)
			if (strcmp(vals[k], p->want->value) == 0)
				p->ok = true;
		if (!p->ok)
			missing++;
	}
	cf_strv_free(vals);
	return missing;
}

int cf_dns_wait_txt(cf_propagation mode, const cf_dns_servers *resolvers,
		    const cf_txt_want *wants, size_t n, long timeout_ms, cf_err *err)
{
	return cf_dns_wait_txt_cancellable(mode, resolvers, wants, n, timeout_ms, NULL, err);
}

/* Sleeps ms in slices of at most 50 ms; returns early (true) when *cancel is set. */
static bool sleep_or_cancel(long ms, const volatile sig_atomic_t *cancel)
{
	while (ms > 0) {
		long slice = ms < 50 ? ms : 50;
		if (cancel != NULL && *cancel)
			return true;
		sleep_ms(slice);
		ms -= slice;
	}
	return cancel != NULL && *cancel;
}

int cf_dns_wait_txt_cancellable(cf_propagation mode, const cf_dns_servers *resolvers,
				const cf_txt_want *wants, size_t n, long timeout_ms,
				const volatile sig_atomic_t *cancel, cf_err *err)
{
	probe_set ps = { 0 };
	cf_err last = { 0 };
	long start, delay = BACKOFF_FIRST_MS, left;
	size_t missing = 0, i;
	bool built = false;
	int rc = -1;

	if (mode == CF_PROP_NONE || n == 0)
		return 0;
	start = (long)cf_clock_mono_ms();
	for (;;) {
		/* Finding zones and NS sets goes through resolvers, which may SERVFAIL for
		 * a moment: a transient failure is retried like a missing value. */
		if (!built) {
			ps.n = 0;
			cf_err_clear(&last);
			built = build_probes(mode, resolvers, wants, n, &ps, &last) == 0;
			if (!built && last.cls != CF_ERR_TRANSIENT) {
				cf_err_set(err, last.cls, "%s", last.msg);
				goto out;
			}
		}
		if (built) {
			missing = poll_round(mode, &ps, &last);
			if (missing == 0) {
				rc = 0;
				goto out;
			}
		}
		left = timeout_ms - ((long)cf_clock_mono_ms() - start);
		if (left <= 0)
			break;
		if (sleep_or_cancel(delay < left ? delay : left, cancel)) {
			cf_err_set(err, CF_ERR_TRANSIENT, "propagation (%s): interrupted",
				   cf_propagation_name(mode));
			goto out;
		}
		delay = delay * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : delay * 2;
	}
	if (!built) {
		cf_err_set(err, CF_ERR_TRANSIENT, "propagation (%s) timed out after %ld ms: %s",
			   cf_propagation_name(mode), timeout_ms, last.msg);
		goto out;
	}
	for (i = 0; i < ps.n && ps.p[i].ok; i++)
		;
	{
		char who[CF_DNS_SERVER_STRLEN];

		cf_dns_server_str(&ps.p[i].srv, who);
		cf_err_set(err, CF_ERR_TRANSIENT,
			   "propagation (%s) timed out after %ld ms: %s does not serve TXT "
			   "\"%.200s\" at %.253s yet (%zu of %zu checks missing)%s%s",
			   cf_propagation_name(mode), timeout_ms, who, ps.p[i].want->value,
			   ps.p[i].want->fqdn, missing, ps.n,
			   last.cls != CF_ERR_NONE ? "; last query error: " : "", last.msg);
	}
out:
	cf_err_clear(&last);
	free(ps.p);
	return rc;
}
