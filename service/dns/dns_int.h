/*
 * dns_int.h: what the files of dns/ share with each other and nobody else (it
 * names ldns types, which dns.h keeps out of every other layer).
 */
#ifndef CERTFLEET_DNS_INT_H
#define CERTFLEET_DNS_INT_H

#include <ldns/ldns.h>

#include "dns/dns.h"

#define CF_DNS_Q_DO 1u /* the DO bit: ask for RRSIGs */
#define CF_DNS_Q_CD 2u /* checking disabled: the resolver answers even what fails validation */

/* Asks the servers in order (recursion desired) for name/type and returns the
 * first answer whatever its rcode (SERVFAIL included: the caller looks at it) in
 * *out (ldns_pkt_free). -1 when none answered (err, transient, naming the last
 * server asked). Keeps the limits of cf_dns_limits_set. */
int cf_dns_raw(const cf_dns_servers *servers, const char *name, ldns_rr_type type,
	       unsigned flags, ldns_pkt **out, cf_err *err);

#endif
