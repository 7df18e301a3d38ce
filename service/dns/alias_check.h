/*
 * alias_check.h: the alias check behind `certfleet alias check` and
 * `POST /v1/aliases/check`: for each name of a (would-be) certificate, is the
 * challenge alias right, and if not, exactly which zone-file lines fix it.
 *
 * For each name it reports the challenge record; the CNAME chain as the given
 * resolvers see it (the CA's view) and as the authoritative servers see it (the
 * zone of each hop found by SOA, its NS hosts asked directly, without recursion);
 * the expected target (from the alias spec, the end of the chain for "auto", or
 * the record itself with no alias; where that gives none the provider can use, a
 * name in the provider's zone, through the suggest callback); whether the DNS provider can write there (a
 * callback, since dns/ knows no provider); a verdict; and for every problem the
 * lines to delete and to create. The result is JSON, so the CLI (which prints it
 * as a table) and the API (which returns it) share one shape, described in
 * api/openapi.yaml (AliasCheckResult):
 *
 *   {"name", "record", "target" (null when unknown), "target_from"
 *    ("dns_alias" | "auto" | "none"), "verdict", "detail",
 *    "resolver_chain": [names], "resolver_error": text | null,
 *    "authoritative_chain": [{"name", "zone", "cname", "wildcard", "consistent",
 *        "servers": [{"server", "rcode", "authoritative", "cname"}], "error"}],
 *    "authoritative_error": text | null,
 *    "writable": bool | null, "writable_detail": text | null,
 *    "fix": {"delete": [lines], "create": [lines]}}
 *
 * Verdicts, first match wins: error (neither view could be read), loop,
 * wrong_target (with no alias: a CNAME where the values would go), shadowed (no
 * CNAME, but a TXT/A/AAAA record at the record), missing (no CNAME), wildcard_cname
 * (the CNAME answering is synthesised from a wildcard: a random sibling of the
 * record gets the same CNAME from the same authoritative server; DNS gives a
 * wildcard answer the query name as owner, so comparing owners cannot tell),
 * wrong_target (the chain does not reach the target), unwritable (the provider
 * cannot write the target), ok.
 */
#ifndef CERTFLEET_DNS_ALIAS_CHECK_H
#define CERTFLEET_DNS_ALIAS_CHECK_H

#include <jansson.h>

#include "dns/dns.h"
#include "util/err.h"

/* Whether the provider of names[name_index] can write TXT values at fqdn: 1 yes,
 * 0 no (err says why), -1 cannot tell now (err says why). */
typedef int (*cf_alias_writable_fn)(void *arg, size_t name_index, const char *fqdn,
				    cf_err *err);

/* A target the provider of names[name_index] could write for that name (e.g.
 * "<name>.<the provider's zone>"), into out: 0 when it can tell, -1 otherwise.
 * Used to give a line to create where the check finds no usable target ("auto"
 * without a CNAME, or a target the provider cannot write). */
typedef int (*cf_alias_suggest_fn)(void *arg, size_t name_index, const char *name, char *out,
				   size_t outlen);

typedef struct cf_alias_check_req {
	const char *const *names;       /* as given; normalised here */
	size_t n;
	const cf_alias_spec *spec;      /* NULL: no alias */
	const cf_dns_servers *resolvers;
	cf_alias_writable_fn writable;  /* NULL: "writable" is null */
	cf_alias_suggest_fn suggest;    /* NULL: no suggestion from the provider's zone */
	void *arg;                      /* passed to writable and suggest */
} cf_alias_check_req;

/* Checks every name; *out is a new array of one result object per name, in the
 * order given (caller's). DNS failures become verdicts, never errors: -1 (err,
 * permanent) only for input that cannot be checked (a malformed name, an alias map
 * that does not cover the names). */
int cf_alias_check_run(const cf_alias_check_req *req, json_t **out, cf_err *err);

#endif
