/*
 * dnssec.h: the DNSSEC state of a challenge record's chain as the CA's resolvers
 * see it (dnssec.c says how it is found). Used by the alias check (verdicts
 * dnssec_bogus, insecure, unresolvable) and by the worker's preflight, which
 * refuses a bogus chain before any order is placed.
 */
#ifndef CERTFLEET_DNS_DNSSEC_H
#define CERTFLEET_DNS_DNSSEC_H

#include "dns/dns.h"

typedef enum cf_dnssec_state {
	CF_DNSSEC_SECURE = 0,   /* validated (AD) along the whole chain */
	CF_DNSSEC_INSECURE,     /* answered without AD: unsigned_zones lists the unsigned */
	CF_DNSSEC_BOGUS,        /* fails validation: zone and reason say where and why */
	CF_DNSSEC_UNRESOLVABLE, /* SERVFAIL even with checking disabled, or no answer */
} cf_dnssec_state;

typedef struct cf_dnssec_result {
	cf_dnssec_state state;
	char zone[CF_NAME_MAX + 2];  /* bogus: the zone at fault */
	char reason[768];            /* bogus: why ("DS mismatch: ...", "... has expired");
				      * insecure: which zones are unsigned; unresolvable:
				      * the server and what it did */
	char unsigned_zones[512];    /* insecure: "a.test, b.test" */
} cf_dnssec_result;

/* Asks resolvers for TXT at record (the CA's question) and fills out. DNS trouble
 * is a state (unresolvable), not an error: -1 only when out cannot be filled. */
int cf_dnssec_check(const cf_dns_servers *resolvers, const char *record, cf_dnssec_result *out,
		    cf_err *err);
const char *cf_dnssec_state_name(cf_dnssec_state s);

/* The preflight of an order (the worker's, `certfleet issue`'s): every challenge
 * record of plan checked as above, 1 s per question and 3 s per record at most.
 * -1 (err, permanent) for the first bogus chain: "dnssec_bogus: RECORD: DNSSEC
 * validation fails in zone Z: REASON ..."; 0 otherwise (unsigned and unresolvable
 * chains are no reason to stop here: later steps meet real DNS trouble). */
int cf_dnssec_preflight(const cf_alias_plan *plan, const cf_dns_servers *resolvers,
			cf_err *err);

#endif
