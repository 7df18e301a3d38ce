/*
 * dnssec.c: the DNSSEC state of a challenge record's whole chain (origin zone ->
 * CNAME -> alias zone -> TXT), as the CA sees it: public CAs validate DNSSEC for
 * every DNS-01 lookup (CA/B Forum SC-085), so a broken signature anywhere on the
 * chain fails issuance for every name aliased through it.
 *
 * The resolvers are asked for TXT at the record with the DO bit, as the CA asks:
 *  - an answer with the AD flag: the chain is secure;
 *  - an answer without it: some zone of the chain is unsigned (its parent proves
 *    there is no DS), named from a DS question per zone: insecure, which is
 *    information, not an error;
 *  - SERVFAIL: asked again with checking disabled (CD). An answer then means the
 *    data is there but fails validation: bogus. Each zone of the chain (found by
 *    SOA, with CD) is then examined with ldns, parents first: its DS at the
 *    parent, its DNSKEY set (missing), a DNSKEY matching the DS (ldns_rr_compare_ds:
 *    "DS mismatch"), the DNSKEY set's signature, and the signatures of the chain's
 *    records in the zone (ldns_verify: expired, not yet valid, bogus),
 *    so the verdict names the zone and the reason. A SERVFAIL with CD too, or no
 *    answer, is no DNSSEC matter: unresolvable, naming the server.
 */
#include "dns/dnssec.h"
#include "dns/dns_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DNSSEC_MAX_ZONES 16

static void set_reason(cf_dnssec_result *out, const char *zone, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_reason(cf_dnssec_result *out, const char *zone, const char *fmt, ...)
{
	va_list ap;

	snprintf(out->zone, sizeof(out->zone), "%s", zone);
	va_start(ap, fmt);
	vsnprintf(out->reason, sizeof(out->reason), fmt, ap);
	va_end(ap);
}

/* name without its trailing dot, lower case, into out. */
static void rdf_name(const ldns_rdf *d, char out[CF_NAME_MAX + 2])
{
	char *s = ldns_rdf2str(d);
	size_t n;

	snprintf(out, CF_NAME_MAX + 2, "%s", s != NULL ? s : "");
	free(s);
	n = strlen(out);
	if (n > 1 && out[n - 1] == '.')
		out[n - 1] = '\0';
	for (char *p = out; *p != '\0'; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
}

/* The zone of name, found with CD (a bogus zone still answers): 0 and zone, or -1. */
static int zone_cd(const cf_dns_servers *res, const char *name, char zone[CF_NAME_MAX + 2])
{
	const char *p = name;

	while (p != NULL && *p != '\0') {
		ldns_pkt *pkt = NULL;
		ldns_rr_list *soa = NULL;
		cf_err e = { 0 };
		int found = 0;

		if (cf_dns_raw(res, p, LDNS_RR_TYPE_SOA, CF_DNS_Q_CD, &pkt, &e) != 0) {
			cf_err_clear(&e);
			return -1;
		}
		soa = ldns_pkt_rr_list_by_type(pkt, LDNS_RR_TYPE_SOA, LDNS_SECTION_ANSWER);
		if (soa == NULL)
			soa = ldns_pkt_rr_list_by_type(pkt, LDNS_RR_TYPE_SOA, LDNS_SECTION_AUTHORITY);
		if (soa != NULL && ldns_rr_list_rr_count(soa) > 0) {
			rdf_name(ldns_rr_owner(ldns_rr_list_rr(soa, 0)), zone);
			found = cf_name_is_under(name, zone);
		}
		ldns_rr_list_deep_free(soa);
		ldns_pkt_free(pkt);
		if (found)
			return 0;
		p = strchr(p, '.');
		if (p != NULL)
			p++;
	}
	return -1;
}

/* The rrset of type at owner (NULL: any owner) in pkt's answer, and its RRSIGs. */
static void rrset_of(const ldns_pkt *pkt, const ldns_rdf *owner, ldns_rr_type type,
		     ldns_rr_list **set, ldns_rr_list **sigs)
{
	ldns_rr_list *ans = ldns_pkt_answer(pkt);

	*set = ldns_rr_list_new();
	*sigs = ldns_rr_list_new();
	for (size_t i = 0; i < ldns_rr_list_rr_count(ans); i++) {
		ldns_rr *rr = ldns_rr_list_rr(ans, i);

		if (owner != NULL && ldns_dname_compare(ldns_rr_owner(rr), owner) != 0)
			continue;
		if (ldns_rr_get_type(rr) == type)
			ldns_rr_list_push_rr(*set, ldns_rr_clone(rr));
		else if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_RRSIG &&
			 ldns_rdf2rr_type(ldns_rr_rrsig_typecovered(rr)) == type)
			ldns_rr_list_push_rr(*sigs, ldns_rr_clone(rr));
	}
}

/* Asks for type at name with DO|CD: the rrset and its RRSIGs (both new, maybe empty). */
static int fetch(const cf_dns_servers *res, const char *name, ldns_rr_type type,
		 ldns_rr_list **set, ldns_rr_list **sigs, cf_err *err)
{
	ldns_pkt *pkt = NULL;
	ldns_rdf *owner = ldns_dname_new_frm_str(name);

	*set = *sigs = NULL;
	if (owner == NULL || cf_dns_raw(res, name, type, CF_DNS_Q_DO | CF_DNS_Q_CD, &pkt, err) != 0) {
		if (owner != NULL)
			ldns_rdf_deep_free(owner);
		return -1;
	}
	rrset_of(pkt, owner, type, set, sigs);
	ldns_rdf_deep_free(owner);
	ldns_pkt_free(pkt);
	return 0;
}

/* Whether owner's closest zone among zones[0..nz) is zone. */
static bool closest_zone(const char *owner, const char *zone, char zones[][CF_NAME_MAX + 2],
			 size_t nz)
{
	if (!cf_name_is_under(owner, zone))
		return false;
	for (size_t i = 0; i < nz; i++)
		if (!cf_name_equal(zones[i], zone) && cf_name_is_under(zones[i], zone) &&
		    cf_name_is_under(owner, zones[i]))
			return false;
	return true;
}

/* One zone, as the validator sees it: 1 bogus (out filled), 0 fine or unsigned.
 * zones[0..nz) are the chain's zones (for which records are this zone's). */
static int examine_zone(const cf_dns_servers *res, const char *zone, char zones[][CF_NAME_MAX + 2],
			size_t nz, const ldns_pkt *cd_answer, cf_dnssec_result *out)
{
	ldns_rr_list *ds = NULL, *ds_sigs = NULL, *keys = NULL, *key_sigs = NULL, *good = NULL;
	ldns_rr_list *set = NULL, *sigs = NULL, *owners = NULL;
	ldns_status st;
	cf_err e = { 0 };
	bool match = false;
	int bogus = 0;

	if (fetch(res, zone, LDNS_RR_TYPE_DS, &ds, &ds_sigs, &e) != 0 ||
	    ldns_rr_list_rr_count(ds) == 0)
		goto out; /* unsigned (no DS at the parent), or not to be told */
	if (fetch(res, zone, LDNS_RR_TYPE_DNSKEY, &keys, &key_sigs, &e) != 0)
		goto out;
	if (ldns_rr_list_rr_count(keys) == 0) {
		set_reason(out, zone, "missing DNSKEY: the parent zone has a DS for %s, but %s "
			   "serves no DNSKEY", zone, zone);
		bogus = 1;
		goto out;
	}
	for (size_t i = 0; i < ldns_rr_list_rr_count(ds) && !match; i++)
		for (size_t k = 0; k < ldns_rr_list_rr_count(keys) && !match; k++)
			match = ldns_rr_compare_ds(ldns_rr_list_rr(ds, i), ldns_rr_list_rr(keys, k));
	if (!match) {
		set_reason(out, zone, "DS mismatch: no DNSKEY of %s matches its DS record in the "
			   "parent zone", zone);
		bogus = 1;
		goto out;
	}
	good = ldns_rr_list_new();
	st = ldns_verify(keys, key_sigs, keys, good);
	if (st != LDNS_STATUS_OK) {
		set_reason(out, zone, "the DNSKEY set of %s does not validate: %s", zone,
			   ldns_get_errorstr_by_id(st));
		bogus = 1;
		goto out;
	}
	/* the chain's records in this zone: each CNAME and the TXT */
	owners = ldns_pkt_answer(cd_answer);
	for (size_t i = 0; i < ldns_rr_list_rr_count(owners) && !bogus; i++) {
		ldns_rr *rr = ldns_rr_list_rr(owners, i);
		char owner[CF_NAME_MAX + 2];

		if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_RRSIG)
			continue;
		rdf_name(ldns_rr_owner(rr), owner);
		if (!closest_zone(owner, zone, zones, nz))
			continue;
		rrset_of(cd_answer, ldns_rr_owner(rr), ldns_rr_get_type(rr), &set, &sigs);
		if (ldns_rr_list_rr_count(sigs) == 0) {
			set_reason(out, zone, "%s %s in %s has no signature", owner,
				   ldns_rr_get_type(rr) == LDNS_RR_TYPE_CNAME ? "CNAME" : "record",
				   zone);
			bogus = 1;
		} else if ((st = ldns_verify(set, sigs, keys, NULL)) != LDNS_STATUS_OK) {
			set_reason(out, zone, "the signature of %s in %s: %s", owner, zone,
				   ldns_get_errorstr_by_id(st));
			bogus = 1;
		}
		ldns_rr_list_deep_free(set);
		ldns_rr_list_deep_free(sigs);
		set = sigs = NULL;
	}
out:
	cf_err_clear(&e);
	ldns_rr_list_deep_free(ds);
	ldns_rr_list_deep_free(ds_sigs);
	ldns_rr_list_deep_free(keys);
	ldns_rr_list_deep_free(key_sigs);
	if (good != NULL)
		ldns_rr_list_free(good);
	return bogus;
}

/* The zones of the chain in pkt's answer (the record, each CNAME target), parents
 * in chain order, without repeats. */
static size_t chain_zones(const cf_dns_servers *res, const char *record, const ldns_pkt *pkt,
			  char zones[][CF_NAME_MAX + 2], size_t max)
{
	ldns_rr_list *ans = ldns_pkt_answer(pkt);
	char names[DNSSEC_MAX_ZONES][CF_NAME_MAX + 2], z[CF_NAME_MAX + 2];
	size_t nn = 0, nz = 0;

	snprintf(names[nn++], sizeof(names[0]), "%s", record);
	for (size_t i = 0; i < ldns_rr_list_rr_count(ans) && nn < DNSSEC_MAX_ZONES; i++)
		if (ldns_rr_get_type(ldns_rr_list_rr(ans, i)) == LDNS_RR_TYPE_CNAME)
			rdf_name(ldns_rr_rdf(ldns_rr_list_rr(ans, i), 0), names[nn++]);
	for (size_t i = 0; i < nn; i++) {
		bool seen = false;

		if (zone_cd(res, names[i], z) != 0)
			continue;
		for (size_t k = 0; k < nz; k++)
			seen = seen || cf_name_equal(zones[k], z);
		if (!seen && nz < max)
			snprintf(zones[nz++], CF_NAME_MAX + 2, "%s", z);
	}
	return nz;
}

int cf_dnssec_check(const cf_dns_servers *resolvers, const char *record, cf_dnssec_result *out,
		    cf_err *err)
{
	ldns_pkt *q = NULL, *qcd = NULL;
	char zones[DNSSEC_MAX_ZONES][CF_NAME_MAX + 2];
	size_t nz, i;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (cf_dns_raw(resolvers, record, LDNS_RR_TYPE_TXT, CF_DNS_Q_DO, &q, err) != 0) {
		out->state = CF_DNSSEC_UNRESOLVABLE;
		snprintf(out->reason, sizeof(out->reason), "%s", err->msg);
		cf_err_clear(err);
		rc = 0;
		goto out;
	}
	if (ldns_pkt_get_rcode(q) == LDNS_RCODE_SERVFAIL) {
		if (cf_dns_raw(resolvers, record, LDNS_RR_TYPE_TXT, CF_DNS_Q_DO | CF_DNS_Q_CD, &qcd,
			       err) != 0 ||
		    ldns_pkt_get_rcode(qcd) == LDNS_RCODE_SERVFAIL) {
			out->state = CF_DNSSEC_UNRESOLVABLE;
			snprintf(out->reason, sizeof(out->reason), "%s",
				 err->msg[0] ? err->msg : "the resolvers answer SERVFAIL, with "
				 "DNSSEC checking disabled too");
			cf_err_clear(err);
			rc = 0;
			goto out;
		}
		out->state = CF_DNSSEC_BOGUS;
		nz = chain_zones(resolvers, record, qcd, zones, DNSSEC_MAX_ZONES);
		for (i = 0; i < nz; i++)
			if (examine_zone(resolvers, zones[i], zones, nz, qcd, out))
				break;
		if (i == nz)
			set_reason(out, nz > 0 ? zones[nz - 1] : record, "the resolvers fail its "
				   "validation (SERVFAIL), and answer with checking disabled");
		rc = 0;
		goto out;
	}
	if (ldns_pkt_ad(q)) {
		out->state = CF_DNSSEC_SECURE;
		rc = 0;
		goto out;
	}
	/* no AD: which zones are unsigned (no DS) */
	out->state = CF_DNSSEC_INSECURE;
	nz = chain_zones(resolvers, record, q, zones, DNSSEC_MAX_ZONES);
	for (i = 0; i < nz; i++) {
		ldns_rr_list *ds = NULL, *sigs = NULL;
		cf_err e = { 0 };

		if (fetch(resolvers, zones[i], LDNS_RR_TYPE_DS, &ds, &sigs, &e) == 0 &&
		    ldns_rr_list_rr_count(ds) == 0)
			snprintf(out->unsigned_zones + strlen(out->unsigned_zones),
				 sizeof(out->unsigned_zones) - strlen(out->unsigned_zones), "%s%s",
				 out->unsigned_zones[0] ? ", " : "", zones[i]);
		cf_err_clear(&e);
		ldns_rr_list_deep_free(ds);
		ldns_rr_list_deep_free(sigs);
	}
	if (out->unsigned_zones[0] != '\0')
		snprintf(out->reason, sizeof(out->reason), "not signed: %s (no DS in the parent "
			 "zone)", out->unsigned_zones);
	else
		snprintf(out->reason, sizeof(out->reason), "the resolvers do not validate DNSSEC "
			 "(no AD flag), so the signatures were not checked");
	rc = 0;
out:
	if (q != NULL)
		ldns_pkt_free(q);
	if (qcd != NULL)
		ldns_pkt_free(qcd);
	return rc;
}

#define PREFLIGHT_QUERY_MS 1000
#define PREFLIGHT_BUDGET_MS 3000

int cf_dnssec_preflight(const cf_alias_plan *plan, const cf_dns_servers *resolvers,
			cf_err *err)
{
	cf_dnssec_result sec;
	cf_err e = { 0 };
	int rc = 0;

	for (size_t i = 0; i < plan->n && rc == 0; i++) {
		cf_dns_limits_set(PREFLIGHT_QUERY_MS, PREFLIGHT_BUDGET_MS);
		if (cf_dnssec_check(resolvers, plan->t[i].record, &sec, &e) == 0 &&
		    sec.state == CF_DNSSEC_BOGUS)
			rc = cf_err_set(err, CF_ERR_PERMANENT, "dnssec_bogus: %s: DNSSEC validation "
					"fails in zone %s: %s (the CA's resolvers answer SERVFAIL for its "
					"TXT; see certfleet alias check)", plan->t[i].record, sec.zone,
					sec.reason);
		cf_err_clear(&e);
	}
	cf_dns_limits_clear();
	return rc;
}

const char *cf_dnssec_state_name(cf_dnssec_state s)
{
	switch (s) {
	case CF_DNSSEC_SECURE: return "secure";
	case CF_DNSSEC_INSECURE: return "insecure";
	case CF_DNSSEC_BOGUS: return "bogus";
	case CF_DNSSEC_UNRESOLVABLE: return "unresolvable";
	default: return "unknown";
	}
}
