/*
 * query.c: the questions certfleet asks DNS, through servers it was told to use.
 *
 * Every query goes to an explicit server list (an ldns_resolver with its nameservers
 * pushed by hand, never one read from /etc/resolv.conf), with a short timeout and a
 * single try per server; the next server in the list is the retry. A server that
 * answers NOERROR or NXDOMAIN is believed; SERVFAIL, REFUSED and silence make the
 * next server be asked, and when none is left the last failure is reported
 * (SERVFAIL and timeouts as transient, a refusal as permanent). Recursion is asked
 * for when talking to resolvers and not when talking to one authoritative server.
 *
 * On top of that: CNAME chains (one hop at a time, so each hop is visible), TXT
 * sets, the record types sitting at a name, what one name holds on one server
 * (its CNAME, or its TXT/A/AAAA records as zone-file lines: the alias check's
 * view of each hop), the zone of a name (SOA walk) and the addresses of a zone's
 * NS set (each NS host resolved through the same servers).
 *
 * A caller that must answer quickly (the alias check) sets limits for its thread
 * (cf_dns_limits_set): a shorter timeout per query and a time budget; once the
 * budget is spent, every further query fails at once, naming the budget.
 */
#include "dns/dns.h"
#include "dns/dns_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/clock.h"

#define QUERY_TIMEOUT_MS 2000
#define EDNS_UDP_SIZE 1232
#define CHAIN_MAX_HOPS 16

static const char *rcode_name(int rc)
{
	static const char *const names[] = { "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN",
					     "NOTIMP",  "REFUSED", "YXDOMAIN", "YXRRSET",
					     "NXRRSET", "NOTAUTH", "NOTZONE" };

	if (rc >= 0 && (size_t)rc < sizeof(names) / sizeof(names[0]))
		return names[rc];
	return "unknown rcode";
}

static const char *type_name(ldns_rr_type t)
{
	switch (t) {
	case LDNS_RR_TYPE_A: return "A";
	case LDNS_RR_TYPE_AAAA: return "AAAA";
	case LDNS_RR_TYPE_CNAME: return "CNAME";
	case LDNS_RR_TYPE_NS: return "NS";
	case LDNS_RR_TYPE_SOA: return "SOA";
	case LDNS_RR_TYPE_TXT: return "TXT";
	default: return "?";
	}
}

/* This thread's limits (cf_dns_limits_set): 0 = none. */
static _Thread_local long lim_query_ms;
static _Thread_local long long lim_deadline_ms;
static _Thread_local long lim_budget_ms;

void cf_dns_limits_set(long per_query_ms, long budget_ms)
{
	lim_query_ms = per_query_ms;
	lim_budget_ms = budget_ms;
	lim_deadline_ms = budget_ms > 0 ? cf_clock_mono_ms() + budget_ms : 0;
}

void cf_dns_limits_clear(void)
{
	lim_query_ms = 0;
	lim_budget_ms = 0;
	lim_deadline_ms = 0;
}

bool cf_dns_budget_spent(void)
{
	return lim_deadline_ms > 0 && cf_clock_mono_ms() >= lim_deadline_ms;
}

/* The timeout of the next query in ms; 0 when the budget is spent (err set). */
static long query_timeout(const cf_dns_server *srv, cf_err *err)
{
	long t = lim_query_ms > 0 ? lim_query_ms : QUERY_TIMEOUT_MS;
	long long left;
	char who[CF_DNS_SERVER_STRLEN];

	if (lim_deadline_ms <= 0)
		return t;
	left = lim_deadline_ms - cf_clock_mono_ms();
	if (left <= 0) {
		cf_dns_server_str(srv, who);
		cf_err_set(err, CF_ERR_TRANSIENT, "DNS server %s not asked: the check's time budget "
			   "(%ld ms) is spent", who, lim_budget_ms);
		return 0;
	}
	return left < t ? (long)left : t;
}

/* A resolver object that talks to exactly one server. */
static ldns_resolver *resolver_for(const cf_dns_server *srv, bool rd, cf_err *err)
{
	ldns_resolver *r = NULL;
	ldns_rdf *addr = NULL;
	long ms = query_timeout(srv, err);
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	if (ms == 0)
		return NULL;
	addr = ldns_rdf_new_frm_str(strchr(srv->ip, ':') ? LDNS_RDF_TYPE_AAAA : LDNS_RDF_TYPE_A,
				    srv->ip);
	r = ldns_resolver_new();
	if (addr == NULL || r == NULL || ldns_resolver_push_nameserver(r, addr) != LDNS_STATUS_OK) {
		cf_err_set(err, CF_ERR_TRANSIENT, "cannot set up a DNS query to %s", srv->ip);
		if (r != NULL)
			ldns_resolver_deep_free(r);
		r = NULL;
		goto out;
	}
	ldns_resolver_set_port(r, srv->port);
	ldns_resolver_set_recursive(r, rd);
	ldns_resolver_set_timeout(r, tv);
	ldns_resolver_set_retry(r, 1);
	ldns_resolver_set_retrans(r, 0);
	ldns_resolver_set_random(r, false);
	ldns_resolver_set_fallback(r, true); /* truncated over UDP: ask again over TCP */
	ldns_resolver_set_edns_udp_size(r, EDNS_UDP_SIZE);
out:
	if (addr != NULL)
		ldns_rdf_deep_free(addr);
	return r;
}

/* Asks one server. 0 and *out (caller frees) when it answered NOERROR or NXDOMAIN. */
static int ask_one(const cf_dns_server *srv, bool rd, const ldns_rdf *qname,
		   ldns_rr_type type, ldns_pkt **out, cf_err *err)
{
	ldns_resolver *r = NULL;
	ldns_pkt *pkt = NULL;
	ldns_status st;
	char who[CF_DNS_SERVER_STRLEN];
	char *qtext = NULL;
	int rcode, rc = -1;

	*out = NULL;
	cf_dns_server_str(srv, who);
	qtext = ldns_rdf2str(qname);
	r = resolver_for(srv, rd, err);
	if (r == NULL)
		goto out;
	st = ldns_resolver_send(&pkt, r, qname, type, LDNS_RR_CLASS_IN, rd ? LDNS_RD : 0);
	if (st != LDNS_STATUS_OK || pkt == NULL) {
		cf_err_set(err, CF_ERR_TRANSIENT, "DNS server %s: no answer for %s %s (%s)", who,
			   qtext ? qtext : "?", type_name(type), ldns_get_errorstr_by_id(st));
		goto out;
	}
	rcode = (int)ldns_pkt_get_rcode(pkt);
	if (rcode != LDNS_RCODE_NOERROR && rcode != LDNS_RCODE_NXDOMAIN) {
		cf_err_set(err, rcode == LDNS_RCODE_SERVFAIL ? CF_ERR_TRANSIENT : CF_ERR_PERMANENT,
			   "DNS server %s answered %s for %s %s", who, rcode_name(rcode),
			   qtext ? qtext : "?", type_name(type));
		goto out;
	}
	*out = pkt;
	pkt = NULL;
	rc = 0;
out:
	if (pkt != NULL)
		ldns_pkt_free(pkt);
	if (r != NULL)
		ldns_resolver_deep_free(r);
	free(qtext);
	return rc;
}

/* Asks the servers in order until one answers; qname_out (optional) receives the
 * parsed name for comparing owners. */
static int ask(const cf_dns_servers *l, bool rd, const char *name, ldns_rr_type type,
	       ldns_pkt **out, ldns_rdf **qname_out, cf_err *err)
{
	ldns_rdf *qname = NULL;
	size_t i;
	int rc = -1;

	*out = NULL;
	if (l == NULL || l->n == 0) {
		cf_err_set(err, CF_ERR_PERMANENT, "no DNS servers configured to ask for %.260s",
			   name);
		goto out;
	}
	qname = ldns_dname_new_frm_str(name);
	if (qname == NULL) {
		cf_err_set(err, CF_ERR_PERMANENT, "not a DNS name: \"%.260s\"", name);
		goto out;
	}
	for (i = 0; i < l->n; i++) {
		if (i > 0)
			cf_err_clear(err);
		if (ask_one(&l->s[i], rd, qname, type, out, err) == 0) {
			rc = 0;
			break;
		}
	}
out:
	if (rc == 0 && qname_out != NULL) {
		*qname_out = qname;
		qname = NULL;
	}
	if (qname != NULL)
		ldns_rdf_deep_free(qname);
	return rc;
}

int cf_dns_raw(const cf_dns_servers *l, const char *name, ldns_rr_type type, unsigned flags,
	       ldns_pkt **out, cf_err *err)
{
	ldns_rdf *qname = ldns_dname_new_frm_str(name);
	ldns_resolver *r = NULL;
	ldns_status st = LDNS_STATUS_ERR;
	char who[CF_DNS_SERVER_STRLEN] = "";
	size_t i;
	int rc = -1;

	*out = NULL;
	if (qname == NULL || l == NULL || l->n == 0) {
		cf_err_set(err, CF_ERR_PERMANENT, "cannot ask for %.260s", name);
		goto out;
	}
	for (i = 0; i < l->n && *out == NULL; i++) {
		cf_err_clear(err);
		cf_dns_server_str(&l->s[i], who);
		if ((r = resolver_for(&l->s[i], true, err)) == NULL)
			continue;
		ldns_resolver_set_dnssec(r, (flags & CF_DNS_Q_DO) != 0);
		ldns_resolver_set_dnssec_cd(r, (flags & CF_DNS_Q_CD) != 0);
		st = ldns_resolver_send(out, r, qname, type, LDNS_RR_CLASS_IN,
					LDNS_RD | ((flags & CF_DNS_Q_CD) ? LDNS_CD : 0));
		if (st != LDNS_STATUS_OK && *out != NULL) {
			ldns_pkt_free(*out);
			*out = NULL;
		}
		ldns_resolver_deep_free(r);
		r = NULL;
	}
	if (*out != NULL) {
		cf_err_clear(err);
		rc = 0;
	} else if (err->cls == CF_ERR_NONE) {
		cf_err_set(err, CF_ERR_TRANSIENT, "DNS server %s: no answer for %.260s (%s)", who,
			   name, ldns_get_errorstr_by_id(st));
	}
out:
	if (qname != NULL)
		ldns_rdf_deep_free(qname);
	return rc;
}

/* The text of a domain name rdf, lower case, without the trailing dot. */
static char *dname_text(const ldns_rdf *d)
{
	char *s = ldns_rdf2str(d);
	size_t n, i;

	if (s == NULL)
		return NULL;
	n = strlen(s);
	if (n > 1 && s[n - 1] == '.')
		s[n - 1] = '\0';
	for (i = 0; s[i] != '\0'; i++)
		if (s[i] >= 'A' && s[i] <= 'Z')
			s[i] = (char)(s[i] - 'A' + 'a');
	return s;
}

/* The first RR of type t owned by owner in a section, or NULL. */
static ldns_rr *find_rr(const ldns_rr_list *sec, const ldns_rdf *owner, ldns_rr_type t)
{
	size_t i;

	for (i = 0; sec != NULL && i < ldns_rr_list_rr_count(sec); i++) {
		ldns_rr *rr = ldns_rr_list_rr(sec, i);

		if (ldns_rr_get_type(rr) == t &&
		    (owner == NULL || ldns_dname_compare(ldns_rr_owner(rr), owner) == 0))
			return rr;
	}
	return NULL;
}

/* Appends a copy of s to a NULL-terminated vector. */
static int strv_push(char ***v, size_t *n, const char *s, size_t len)
{
	char **nv = realloc(*v, (*n + 2) * sizeof(char *));
	char *copy;

	if (nv == NULL)
		return -1;
	*v = nv;
	copy = malloc(len + 1);
	if (copy == NULL)
		return -1;
	memcpy(copy, s, len);
	copy[len] = '\0';
	nv[*n] = copy;
	nv[++*n] = NULL;
	return 0;
}

void cf_strv_free(char **v)
{
	size_t i;

	for (i = 0; v != NULL && v[i] != NULL; i++)
		free(v[i]);
	free(v);
}

int cf_dns_cname_chain(const cf_dns_servers *servers, const char *name, cf_cname_chain *out,
		       cf_err *err)
{
	ldns_pkt *pkt = NULL;
	ldns_rdf *qname = NULL;
	char *next = NULL;
	size_t i;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (strv_push(&out->names, &out->n, name, strlen(name)) != 0)
		goto oom;
	while (!out->loop && !out->too_long) {
		ldns_rr *cname;

		if (ask(servers, true, out->names[out->n - 1], LDNS_RR_TYPE_CNAME, &pkt, &qname,
			err) != 0) {
			if (out->n == 1) {
				cf_err_wrap(err, "CNAME chain of %.260s", name);
				goto out;
			}
			out->unresolved = true;
			snprintf(out->unresolved_why, sizeof(out->unresolved_why), "%s",
				 err ? err->msg : "lookup failed");
			cf_err_clear(err);
			break;
		}
		cname = find_rr(ldns_pkt_answer(pkt), qname, LDNS_RR_TYPE_CNAME);
		if (cname == NULL)
			break;
		next = dname_text(ldns_rr_rdf(cname, 0));
		if (next == NULL)
			goto oom;
		for (i = 0; i < out->n; i++)
			if (cf_name_equal(out->names[i], next))
				out->loop = true;
		if (out->n > CHAIN_MAX_HOPS)
			out->too_long = true;
		else if (strv_push(&out->names, &out->n, next, strlen(next)) != 0)
			goto oom;
		free(next);
		next = NULL;
		ldns_pkt_free(pkt);
		pkt = NULL;
		ldns_rdf_deep_free(qname);
		qname = NULL;
	}
	rc = 0;
	goto out;
oom:
	cf_err_oom(err, NULL);
out:
	free(next);
	if (pkt != NULL)
		ldns_pkt_free(pkt);
	if (qname != NULL)
		ldns_rdf_deep_free(qname);
	if (rc != 0)
		cf_cname_chain_free(out);
	return rc;
}

void cf_cname_chain_free(cf_cname_chain *c)
{
	if (c == NULL)
		return;
	cf_strv_free(c->names);
	memset(c, 0, sizeof(*c));
}

/* Collects the TXT strings at exactly name from one answer packet. */
static int collect_txt(const ldns_pkt *pkt, const ldns_rdf *qname, char ***values, size_t *n)
{
	const ldns_rr_list *ans = ldns_pkt_answer(pkt);
	size_t i, k;

	for (i = 0; ans != NULL && i < ldns_rr_list_rr_count(ans); i++) {
		ldns_rr *rr = ldns_rr_list_rr(ans, i);
		char buf[4096];
		size_t len = 0;

		if (ldns_rr_get_type(rr) != LDNS_RR_TYPE_TXT ||
		    ldns_dname_compare(ldns_rr_owner(rr), qname) != 0)
			continue;
		for (k = 0; k < ldns_rr_rd_count(rr); k++) {
			const ldns_rdf *s = ldns_rr_rdf(rr, k);
			const uint8_t *d = ldns_rdf_data(s);
			size_t sz = ldns_rdf_size(s);

			if (sz == 0 || (size_t)d[0] + 1 > sz || len + d[0] >= sizeof(buf))
				continue;
			memcpy(buf + len, d + 1, d[0]);
			len += d[0];
		}
		if (strv_push(values, n, buf, len) != 0)
			return -1;
	}
	return 0;
}

static int txt_query(const cf_dns_servers *servers, bool rd, const char *name, char ***values,
		     size_t *n, cf_err *err)
{
	ldns_pkt *pkt = NULL;
	ldns_rdf *qname = NULL;
	int rc = -1;

	*values = NULL;
	*n = 0;
	if (ask(servers, rd, name, LDNS_RR_TYPE_TXT, &pkt, &qname, err) != 0)
		goto out;
	if (collect_txt(pkt, qname, values, n) != 0) {
		cf_err_oom(err, NULL);
		goto out;
	}
	/* An empty set is still a vector, so callers can always iterate. */
	if (*values == NULL && (*values = calloc(1, sizeof(char *))) == NULL) {
		cf_err_oom(err, NULL);
		goto out;
	}
	rc = 0;
out:
	if (rc != 0) {
		cf_strv_free(*values);
		*values = NULL;
		*n = 0;
	}
	if (pkt != NULL)
		ldns_pkt_free(pkt);
	if (qname != NULL)
		ldns_rdf_deep_free(qname);
	return rc;
}

int cf_dns_txt(const cf_dns_servers *servers, const char *name, char ***values, size_t *n,
	       cf_err *err)
{
	return txt_query(servers, true, name, values, n, err);
}

int cf_dns_txt_at(const cf_dns_server *server, const char *name, char ***values, size_t *n,
		  cf_err *err)
{
	cf_dns_servers one = { .n = 1 };

	one.s[0] = *server;
	return txt_query(&one, false, name, values, n, err);
}

int cf_dns_types_at(const cf_dns_servers *servers, const char *name, char ***types,
		    size_t *n, cf_err *err)
{
	static const ldns_rr_type probe[] = { LDNS_RR_TYPE_TXT, LDNS_RR_TYPE_A,
					      LDNS_RR_TYPE_AAAA };
	ldns_pkt *pkt = NULL;
	ldns_rdf *qname = NULL;
	size_t i;
	int rc = -1;

	*types = NULL;
	*n = 0;
	for (i = 0; i < sizeof(probe) / sizeof(probe[0]); i++) {
		if (ask(servers, true, name, probe[i], &pkt, &qname, err) != 0)
			goto out;
		if (find_rr(ldns_pkt_answer(pkt), qname, probe[i]) != NULL &&
		    strv_push(types, n, type_name(probe[i]), strlen(type_name(probe[i]))) != 0) {
			cf_err_oom(err, NULL);
			goto out;
		}
		ldns_pkt_free(pkt);
		pkt = NULL;
		ldns_rdf_deep_free(qname);
		qname = NULL;
	}
	if (*types == NULL && (*types = calloc(1, sizeof(char *))) == NULL) {
		cf_err_oom(err, NULL);
		goto out;
	}
	rc = 0;
out:
	if (rc != 0) {
		cf_strv_free(*types);
		*types = NULL;
		*n = 0;
	}
	if (pkt != NULL)
		ldns_pkt_free(pkt);
	if (qname != NULL)
		ldns_rdf_deep_free(qname);
	return rc;
}

int cf_dns_find_zone(const cf_dns_servers *servers, const char *name, char **zone, cf_err *err)
{
	ldns_pkt *pkt = NULL;
	ldns_rdf *qname = NULL;
	const char *p = name;
	int rc = -1;

	*zone = NULL;
	while (p != NULL && p[0] != '\0' && strcmp(p, ".") != 0) {
		ldns_rr *soa;

		if (ask(servers, true, p, LDNS_RR_TYPE_SOA, &pkt, &qname, err) != 0) {
			cf_err_wrap(err, "finding the zone of %.260s", name);
			goto out;
		}
		/* A CNAME here means p is not an apex; the SOA that follows belongs to the
		 * target's zone, so go on with the parent. */
		if (find_rr(ldns_pkt_answer(pkt), qname, LDNS_RR_TYPE_CNAME) == NULL) {
			soa = find_rr(ldns_pkt_answer(pkt), qname, LDNS_RR_TYPE_SOA);
			if (soa == NULL)
				soa = find_rr(ldns_pkt_authority(pkt), NULL, LDNS_RR_TYPE_SOA);
			if (soa != NULL) {
				*zone = dname_text(ldns_rr_owner(soa));
				if (*zone == NULL) {
					cf_err_oom(err, NULL);
					goto out;
				}
				if (cf_name_is_under(name, *zone)) {
					rc = 0;
					goto out;
				}
				free(*zone);
				*zone = NULL;
			}
		}
		ldns_pkt_free(pkt);
		pkt = NULL;
		ldns_rdf_deep_free(qname);
		qname = NULL;
		p = strchr(p, '.');
		if (p != NULL)
			p++;
	}
	cf_err_set(err, CF_ERR_PERMANENT, "no zone found for %.260s: no server returned its SOA",
		   name);
out:
	if (pkt != NULL)
		ldns_pkt_free(pkt);
	if (qname != NULL)
		ldns_rdf_deep_free(qname);
	return rc;
}

/* One RR as a zone-file line without TTL and class: "owner. TYPE rdata ...".
 * Caller frees; NULL on OOM. */
static char *rr_line(const ldns_rr *rr)
{
	char line[4096], *owner = ldns_rdf2str(ldns_rr_owner(rr));
	char *type = ldns_rr_type2str(ldns_rr_get_type(rr)), *d, *out = NULL;
	size_t off, k;

	if (owner == NULL || type == NULL)
		goto out;
	off = (size_t)snprintf(line, sizeof(line), "%s %s", owner, type);
	for (k = 0; k < ldns_rr_rd_count(rr) && off < sizeof(line); k++) {
		if ((d = ldns_rdf2str(ldns_rr_rdf(rr, k))) == NULL)
			goto out;
		off += (size_t)snprintf(line + off, sizeof(line) - off, " %s", d);
		free(d);
	}
	out = strdup(line);
out:
	free(owner);
	free(type);
	return out;
}

/* The TXT, A and AAAA records at exactly qname on one server, as lines. */
static int node_records(const cf_dns_server *srv, bool rd, const ldns_rdf *qname,
			cf_dns_node *out, cf_err *err)
{
	static const ldns_rr_type probe[] = { LDNS_RR_TYPE_TXT, LDNS_RR_TYPE_A,
					      LDNS_RR_TYPE_AAAA };
	ldns_pkt *pkt = NULL;
	char *line = NULL;
	size_t t, i;
	int rc = -1;

	for (t = 0; t < sizeof(probe) / sizeof(probe[0]); t++) {
		const ldns_rr_list *ans;

		if (ask_one(srv, rd, qname, probe[t], &pkt, err) != 0)
			goto out;
		ans = ldns_pkt_answer(pkt);
		for (i = 0; ans != NULL && i < ldns_rr_list_rr_count(ans); i++) {
			ldns_rr *rr = ldns_rr_list_rr(ans, i);

			if (ldns_rr_get_type(rr) != probe[t] ||
			    ldns_dname_compare(ldns_rr_owner(rr), qname) != 0)
				continue;
			if ((line = rr_line(rr)) == NULL ||
			    strv_push(&out->records, &out->nrecords, line, strlen(line)) != 0)
				goto oom;
			free(line);
			line = NULL;
		}
		ldns_pkt_free(pkt);
		pkt = NULL;
	}
	if (out->records == NULL && (out->records = calloc(1, sizeof(char *))) == NULL)
		goto oom;
	rc = 0;
	goto out;
oom:
	cf_err_oom(err, NULL);
out:
	free(line);
	if (pkt != NULL)
		ldns_pkt_free(pkt);
	return rc;
}

int cf_dns_node_at(const cf_dns_servers *servers, bool recursive, const char *name,
		   bool want_records, cf_dns_node *out, cf_err *err)
{
	ldns_pkt *pkt = NULL;
	ldns_rdf *qname = NULL;
	ldns_rr *cname;
	size_t i;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (servers == NULL || servers->n == 0) {
		cf_err_set(err, CF_ERR_PERMANENT, "no DNS servers to ask for %.260s", name);
		goto out;
	}
	if ((qname = ldns_dname_new_frm_str(name)) == NULL) {
		cf_err_set(err, CF_ERR_PERMANENT, "not a DNS name: \"%.260s\"", name);
		goto out;
	}
	for (i = 0; i < servers->n; i++) {
		if (i > 0)
			cf_err_clear(err);
		if (ask_one(&servers->s[i], recursive, qname, LDNS_RR_TYPE_CNAME, &pkt, err) == 0)
			break;
	}
	if (pkt == NULL)
		goto out;
	cf_dns_server_str(&servers->s[i], out->server);
	out->rcode = (int)ldns_pkt_get_rcode(pkt);
	snprintf(out->rcode_name, sizeof(out->rcode_name), "%s", rcode_name(out->rcode));
	out->aa = ldns_pkt_aa(pkt);
	cname = find_rr(ldns_pkt_answer(pkt), qname, LDNS_RR_TYPE_CNAME);
	if (cname != NULL && (out->cname = dname_text(ldns_rr_rdf(cname, 0))) == NULL) {
		cf_err_oom(err, NULL);
		goto out;
	}
	if (cname == NULL && want_records &&
	    node_records(&servers->s[i], recursive, qname, out, err) != 0)
		goto out;
	rc = 0;
out:
	if (pkt != NULL)
		ldns_pkt_free(pkt);
	if (qname != NULL)
		ldns_rdf_deep_free(qname);
	if (rc != 0)
		cf_dns_node_free(out);
	return rc;
}

void cf_dns_node_free(cf_dns_node *n)
{
	if (n == NULL)
		return;
	free(n->cname);
	cf_strv_free(n->records);
	memset(n, 0, sizeof(*n));
}

int cf_dns_host_addresses(const cf_dns_servers *servers, const char *host, cf_dns_servers *out,
			  cf_err *err)
{
	static const ldns_rr_type types[] = { LDNS_RR_TYPE_A, LDNS_RR_TYPE_AAAA };
	ldns_pkt *pkt = NULL;
	ldns_rdf *qname = NULL;
	char *ip = NULL;
	size_t t, i;
	int rc = -1;

	for (t = 0; t < 2; t++) {
		const ldns_rr_list *ans;

		if (ask(servers, true, host, types[t], &pkt, &qname, err) != 0)
			goto out;
		ans = ldns_pkt_answer(pkt);
		for (i = 0; ans != NULL && i < ldns_rr_list_rr_count(ans); i++) {
			ldns_rr *rr = ldns_rr_list_rr(ans, i);

			/* Through a resolver the owner may be a CNAME target: take any. */
			if (ldns_rr_get_type(rr) != types[t] || out->n >= CF_DNS_MAX_SERVERS)
				continue;
			ip = ldns_rdf2str(ldns_rr_rdf(rr, 0));
			if (ip == NULL || cf_dns_servers_add(out, ip, err) != 0)
				goto out;
			free(ip);
			ip = NULL;
		}
		ldns_pkt_free(pkt);
		pkt = NULL;
		ldns_rdf_deep_free(qname);
		qname = NULL;
	}
	rc = 0;
out:
	free(ip);
	if (pkt != NULL)
		ldns_pkt_free(pkt);
	if (qname != NULL)
		ldns_rdf_deep_free(qname);
	return rc;
}

int cf_dns_zone_nameservers(const cf_dns_servers *servers, const char *zone,
			    cf_dns_servers *out, cf_err *err)
{
	ldns_pkt *pkt = NULL;
	ldns_rdf *qname = NULL;
	char *host = NULL;
	const ldns_rr_list *ans;
	cf_err last = { 0 };
	size_t i, nhosts = 0;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (ask(servers, true, zone, LDNS_RR_TYPE_NS, &pkt, &qname, err) != 0) {
		cf_err_wrap(err, "NS set of zone %.260s", zone);
		goto out;
	}
	ans = ldns_pkt_answer(pkt);
	for (i = 0; ans != NULL && i < ldns_rr_list_rr_count(ans); i++) {
		ldns_rr *rr = ldns_rr_list_rr(ans, i);

		if (ldns_rr_get_type(rr) != LDNS_RR_TYPE_NS ||
		    ldns_dname_compare(ldns_rr_owner(rr), qname) != 0)
			continue;
		nhosts++;
		host = dname_text(ldns_rr_rdf(rr, 0));
		if (host == NULL) {
			cf_err_oom(err, NULL);
			goto out;
		}
		/* One unresolvable NS host should not hide the others. */
		cf_err_clear(&last);
		if (cf_dns_host_addresses(servers, host, out, &last) != 0)
			cf_err_wrap(&last, "address of NS host %.260s", host);
		free(host);
		host = NULL;
	}
	if (nhosts == 0) {
		cf_err_set(err, CF_ERR_PERMANENT, "zone %.260s has no NS records", zone);
		goto out;
	}
	if (out->n == 0) {
		if (last.cls != CF_ERR_NONE)
			cf_err_set(err, last.cls, "zone %.200s: no NS host address found: %s",
				   zone, last.msg);
		else
			cf_err_set(err, CF_ERR_TRANSIENT,
				   "zone %.260s: none of its %zu NS hosts has an address", zone,
				   nhosts);
		goto out;
	}
	rc = 0;
out:
	cf_err_clear(&last);
	free(host);
	if (pkt != NULL)
		ldns_pkt_free(pkt);
	if (qname != NULL)
		ldns_rdf_deep_free(qname);
	return rc;
}
