/*
 * dns.h: everything certfleet knows about DNS, on ldns.
 *
 *  - names.c: name normalisation (lower case, no trailing dot, LDH labels, IDNs as
 *    A-labels, a wildcard only as the whole left-most label) and the challenge
 *    record of a name (`*.x` and `x` both map to `_acme-challenge.x`).
 *  - servers.c: lists of DNS servers ("HOST[:PORT]"; IPv4, or IPv6 in brackets).
 *  - query.c: queries through a given server list, never the system resolver
 *    unless the list was built from /etc/resolv.conf on purpose: CNAME chains, TXT
 *    sets, the zone of a name (SOA walk) and the addresses of a zone's NS set.
 *  - alias.c: the alias plan of an order (names grouped by challenge record, the
 *    target FQDN where the TXT value goes) and the preflight that checks the CNAMEs
 *    and names the exact record the operator must create.
 *  - propagate.c: waiting until every authoritative server of the target's zone
 *    (or every configured resolver) serves the expected TXT values.
 *
 * All functions return 0 / -1 and fill a cf_err; DNS timeouts and SERVFAIL are
 * CF_ERR_TRANSIENT, NXDOMAIN-style answers to configuration questions are permanent.
 * Returned memory belongs to the caller and is released with the matching _free.
 */
#ifndef CERTFLEET_DNS_H
#define CERTFLEET_DNS_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

#define CF_NAME_MAX 253
#define CF_DNS_MAX_SERVERS 16

/* ---- names.c ---- */
/* Normalises a DNS name for an ACME identifier: lower-cases, drops one trailing
 * dot, checks total length (<= 253) and labels (1..63, LDH, no leading/trailing
 * hyphen; "xn--" A-labels allowed; a "*" label only as the whole left-most label
 * when allow_wildcard), and needs at least two labels. The error names the input. */
int cf_name_normalize(const char *in, bool allow_wildcard, char out[CF_NAME_MAX + 1],
		      cf_err *err);
bool cf_name_is_wildcard(const char *normalized);
/* The challenge record of a normalised name: "*.x" -> "_acme-challenge.x",
 * "x" -> "_acme-challenge.x". Fails when the result exceeds 253 characters. */
int cf_challenge_record(const char *normalized, char out[CF_NAME_MAX + 1], cf_err *err);
/* true when a equals b ignoring case and one trailing dot on either. */
bool cf_name_equal(const char *a, const char *b);
/* Normalises an alias target or other DNS owner name: like cf_name_normalize
 * without wildcards, but labels may also contain '_' (targets such as
 * "_acme-challenge.x.alias.test" are DNS names, not host names). */
int cf_target_normalize(const char *in, char out[CF_NAME_MAX + 1], cf_err *err);
/* true when name equals zone or lies below it (case-insensitive, dots optional). */
bool cf_name_is_under(const char *name, const char *zone);

/* ---- servers.c ---- */
typedef struct cf_dns_server {
	char ip[64]; /* numeric address, no brackets */
	uint16_t port;
} cf_dns_server;

typedef struct cf_dns_servers {
	cf_dns_server s[CF_DNS_MAX_SERVERS];
	size_t n;
} cf_dns_servers;

/* Adds "1.2.3.4", "1.2.3.4:5353", "[::1]" or "[::1]:5353" (default port 53; a bare
 * IPv6 address is accepted too). Numeric addresses only. A server already in the
 * list is not added twice; more than CF_DNS_MAX_SERVERS is an error. */
int cf_dns_servers_add(cf_dns_servers *l, const char *hostport, cf_err *err);
/* Adds every server of a comma- or blank-separated list ("1.2.3.4,[::1]:53"). */
int cf_dns_servers_parse(cf_dns_servers *l, const char *list, cf_err *err);
/* "1.2.3.4:53" or "[::1]:53", for messages. */
#define CF_DNS_SERVER_STRLEN 80
void cf_dns_server_str(const cf_dns_server *s, char out[CF_DNS_SERVER_STRLEN]);
/* Fills l from the nameserver lines of a resolv.conf file (used only when no
 * resolver was configured); path NULL means /etc/resolv.conf. */
int cf_dns_servers_from_resolv_conf(cf_dns_servers *l, const char *path, cf_err *err);

/* ---- query.c ---- */
/* Limits for the queries of the calling thread from now on: each query waits at
 * most per_query_ms (0: the default, 2 s), and all of them together budget_ms
 * (0: no budget); past it every query fails at once (transient, naming the
 * budget). cf_dns_limits_clear() lifts them. */
void cf_dns_limits_set(long per_query_ms, long budget_ms);
void cf_dns_limits_clear(void);
/* true once this thread's budget is spent. */
bool cf_dns_budget_spent(void);

typedef struct cf_cname_chain {
	char **names; /* names[0] is the start; each next one is the CNAME target */
	size_t n;
	bool loop;    /* the chain came back to a name already in it */
	bool too_long;
	bool unresolved; /* the last name's own lookup failed (timeout, SERVFAIL): the
			  * chain is known up to it, not beyond */
	char unresolved_why[256];
} cf_cname_chain;

/* Follows the CNAME chain of name through servers (asking for CNAME, one hop at a
 * time, at most 16 hops). A name with no CNAME yields a chain of length 1. Failing
 * to resolve name itself is an error; failing at a later hop (a target in a domain
 * that does not answer) ends the chain there with unresolved set. */
int cf_dns_cname_chain(const cf_dns_servers *servers, const char *name, cf_cname_chain *out,
		       cf_err *err);
void cf_cname_chain_free(cf_cname_chain *c);

/* The TXT strings at exactly name (each TXT record's strings concatenated), as
 * the first server that answers sees them. *values is NULL-terminated and owned by
 * the caller (cf_strv_free). A name with no TXT (NXDOMAIN/NODATA) gives n = 0. */
int cf_dns_txt(const cf_dns_servers *servers, const char *name, char ***values, size_t *n,
	       cf_err *err);
/* Same, but asks exactly one server (used for per-authoritative checks). */
int cf_dns_txt_at(const cf_dns_server *server, const char *name, char ***values, size_t *n,
		  cf_err *err);
/* Record types other than CNAME present at exactly name (e.g. a stale TXT that
 * would shadow a CNAME): returns a NULL-terminated list of type names ("TXT").
 * The types probed are TXT, A and AAAA (ANY is unreliable, RFC 8482). */
int cf_dns_types_at(const cf_dns_servers *servers, const char *name, char ***types,
		    size_t *n, cf_err *err);
/* The zone that contains name: walks up asking for SOA until an answer (or an
 * authority SOA) names the apex. *zone has no trailing dot; caller frees. */
int cf_dns_find_zone(const cf_dns_servers *servers, const char *name, char **zone, cf_err *err);
/* What servers hold at exactly one name (the alias check's view of each hop). */
typedef struct cf_dns_node {
	int rcode;          /* of the CNAME question: 0 NOERROR or 3 NXDOMAIN */
	char rcode_name[12];
	bool aa;            /* the answer was authoritative */
	char server[CF_DNS_SERVER_STRLEN]; /* the server that answered */
	char *cname;        /* the CNAME target at the name (no trailing dot), or NULL */
	char **records;     /* with want_records and no CNAME: the TXT, A and AAAA records
			     * at the name as zone-file lines ("NAME. TXT \"v\""),
			     * NULL-terminated (NULL when not asked) */
	size_t nrecords;
} cf_dns_node;

/* Asks servers (in order, until one answers; with recursion only when recursive)
 * for the CNAME at exactly name, and with want_records, when there is none, for
 * the TXT, A and AAAA records there. out is the caller's (cf_dns_node_free). */
int cf_dns_node_at(const cf_dns_servers *servers, bool recursive, const char *name,
		   bool want_records, cf_dns_node *out, cf_err *err);
void cf_dns_node_free(cf_dns_node *n);
/* The NS set of zone, each NS host resolved to A/AAAA through servers, port 53. */
int cf_dns_zone_nameservers(const cf_dns_servers *servers, const char *zone,
			    cf_dns_servers *out, cf_err *err);
/* Adds the A and AAAA addresses of host, resolved through servers, to out (port
 * 53); a host with no address adds nothing and is not an error. */
int cf_dns_host_addresses(const cf_dns_servers *servers, const char *host, cf_dns_servers *out,
			  cf_err *err);
void cf_strv_free(char **v);

/* ---- alias.c ---- */
typedef enum cf_alias_mode {
	CF_ALIAS_NONE = 0, /* write at the challenge record itself */
	CF_ALIAS_ONE,      /* one target for every name */
	CF_ALIAS_MAP,      /* one target per name */
	CF_ALIAS_AUTO,     /* follow the challenge record's CNAME chain to its end */
} cf_alias_mode;

typedef struct cf_alias_spec {
	cf_alias_mode mode;
	char *one;           /* CF_ALIAS_ONE */
	char **map_names;    /* CF_ALIAS_MAP: parallel arrays, nmap entries */
	char **map_targets;
	size_t nmap;
} cf_alias_spec;

typedef struct cf_challenge_target {
	char record[CF_NAME_MAX + 1]; /* _acme-challenge.<base> */
	char target[CF_NAME_MAX + 1]; /* where the TXT values are written */
	size_t names[2];              /* indexes into the order's names (wildcard+apex) */
	size_t nnames;
} cf_challenge_target;

typedef struct cf_alias_plan {
	cf_challenge_target *t;
	size_t n;
} cf_alias_plan;

/* Groups normalised names by challenge record and computes each target. An alias
 * map must cover every name, name only the order's names, and give the same target
 * to names sharing a record; targets are checked with cf_target_normalize. A name
 * listed twice is an error. CF_ALIAS_AUTO resolves through servers (the others
 * never touch the network; servers may be NULL). plan->t is owned by the plan. */
int cf_alias_plan_build(const char *const *names, size_t n, const cf_alias_spec *spec,
			const cf_dns_servers *servers, cf_alias_plan *plan, cf_err *err);
/* Checks, through servers, that each record's CNAME chain reaches its target and
 * that no other record sits at the challenge record. On failure the message
 * names the exact record to create, e.g.
 * "_acme-challenge.www.example.test. CNAME www.example.test.rfc-alias.test." */
int cf_alias_preflight(const cf_alias_plan *plan, const cf_dns_servers *servers, cf_err *err);
/* The preflight of one challenge record (for a per-record table such as
 * `POST /v1/aliases/check`): 0, or -1 with the message described above. When the
 * target is the record itself (no alias), a CNAME at the record is the error. */
int cf_alias_check_one(const cf_challenge_target *t, const cf_dns_servers *servers,
		       cf_err *err);
void cf_alias_plan_free(cf_alias_plan *plan);
/* Frees one, map_names[0..nmap) and map_targets[0..nmap) and the two arrays (all
 * malloc'd and owned by the spec), then zeroes the spec. */
void cf_alias_spec_free(cf_alias_spec *spec);

/* ---- propagate.c ---- */
typedef enum cf_propagation {
	CF_PROP_AUTHORITATIVE = 0, /* every NS of the target's zone */
	CF_PROP_RESOLVERS,         /* every server in the given list */
	CF_PROP_NONE,
} cf_propagation;

typedef struct cf_txt_want {
	const char *fqdn;
	const char *value;
} cf_txt_want;

/* "authoritative", "resolvers" or "none"; -1 for anything else. */
int cf_propagation_parse(const char *s, cf_propagation *out);
const char *cf_propagation_name(cf_propagation p);
/* Polls, with short backoff (50 ms doubling to 1 s), until every want is served by
 * every server that the mode names, or until timeout_ms passes (then a transient
 * error naming the server and value still missing). Authoritative mode finds the
 * zone and NS addresses of each distinct fqdn once, through resolvers, and asks
 * every address (IPv4 and IPv6) without recursion. Each query times out after 2 s,
 * so the wait can overrun timeout_ms by that much. */
int cf_dns_wait_txt(cf_propagation mode, const cf_dns_servers *resolvers,
		    const cf_txt_want *wants, size_t n, long timeout_ms, cf_err *err);
/* The same, returning early (transient "interrupted") once *cancel becomes non-zero
 * (set by a signal handler or a stopping worker); cancel may be NULL. */
int cf_dns_wait_txt_cancellable(cf_propagation mode, const cf_dns_servers *resolvers,
				const cf_txt_want *wants, size_t n, long timeout_ms,
				const volatile sig_atomic_t *cancel, cf_err *err);

#endif
