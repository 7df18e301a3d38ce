/*
 * common.h: the pieces of an issuance that the foreground engine (engine.c,
 * `certfleet issue`) and the service's persisted state machine (worker/) share, so
 * that both plan, validate and finalize an order the same way:
 *
 *  - names: normalise the order's names and refuse duplicates;
 *  - plan: group names by challenge record, compute each TXT target (alias map),
 *    and check that names sharing a challenge record share a DNS provider;
 *  - challenges: match an authorization to its plan target, compute a dns-01 TXT
 *    value;
 *  - finalize: make (or copy) the certificate key, refuse the account key, and
 *    build the CSR.
 *
 * Nothing here keeps state between calls or touches the network except
 * cf_issue_plan_build() in "auto" alias mode (CNAME look-ups through resolvers).
 */
#ifndef CERTFLEET_ISSUE_COMMON_H
#define CERTFLEET_ISSUE_COMMON_H

#include <stdbool.h>
#include <stddef.h>

#include "crypto/crypto.h"
#include "dns/dns.h"
#include "util/buf.h"
#include "util/err.h"

typedef char cf_issue_name[CF_NAME_MAX + 1];

/* Normalises n names into *out (calloc'd, n entries, caller frees) and refuses an
 * empty list and a name given twice. */
int cf_issue_names_normalize(const char *const *in, size_t n, cf_issue_name **out, cf_err *err);

/* A calloc'd array of n pointers to the names (borrowed), for the APIs that take
 * const char *const *. Caller frees the array only. NULL on allocation failure. */
const char **cf_issue_name_ptrs(const cf_issue_name *names, size_t n);

/* true when names a and b (indexes into the order's names) use the same provider. */
typedef bool (*cf_issue_same_provider_fn)(size_t a, size_t b, void *arg);

/* Builds the alias plan of normalised names (cf_alias_plan_build) and checks that
 * names sharing a challenge record share a provider (same == NULL skips that).
 * On failure the plan is empty and err names the names at fault. */
int cf_issue_plan_build(const cf_issue_name *names, size_t n, const cf_alias_spec *spec,
			const cf_dns_servers *resolvers, cf_issue_same_provider_fn same,
			void *same_arg, cf_alias_plan *plan, cf_err *err);

/* The plan target holding the name of an authorization ("*." prepended when
 * wildcard); *name_idx gets the index of that name. NULL when the order holds no
 * such name. */
const cf_challenge_target *cf_issue_target_of(const cf_alias_plan *plan,
					      const cf_issue_name *names, const char *identifier,
					      bool wildcard, size_t *name_idx);

/* The dns-01 TXT value for a challenge token under account_key. Caller frees. */
char *cf_issue_txt_value(const cf_key *account_key, const char *token, cf_err *err);

/* The certificate key: a copy of reuse when given, else a fresh key of type t;
 * refused when it is the account key. Then the CSR (DER) for exactly the names is
 * appended to csr. *key (owned by the caller) is set only on success. */
int cf_issue_key_and_csr(cf_key_type t, const cf_key *reuse, const cf_key *account_key,
			 const cf_issue_name *names, size_t n, cf_key **key, cf_buf *csr,
			 cf_err *err);

#endif
