/*
 * validate.h: the checks of the admin API's input, before anything is written.
 *
 * Pure functions over jansson values (no database, no network): a certificate
 * document (create, and the merged result of a PATCH), a provider document, and
 * the small syntaxes they use (slugs, host names, token names). Every violation is
 * collected as (field, detail), where field names the JSON member at fault
 * ("domains[2]", "dns_alias[\"www.example.test\"]", "provider") and detail is a
 * sentence that starts with that field, ready for a 400 problem document. The one
 * outside fact a certificate needs, whether a named provider exists, comes from a
 * callback, so the checks stay testable without a database.
 */
#ifndef CERTFLEET_API_VALIDATE_H
#define CERTFLEET_API_VALIDATE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "providers/provider.h"
#include "util/err.h"

#define CF_VERR_MAX 20
/* Host names in one certificate's "hosts": bounded, as every input is (the list
 * is kept in the row, in the fetch cache, and checked on every fetch). */
#define CF_HOSTS_MAX 1000

typedef struct cf_verr {
	char field[300];
	char detail[700];
} cf_verr;

/* Violations found so far; the first CF_VERR_MAX are kept, the rest counted. */
typedef struct cf_verrs {
	cf_verr e[CF_VERR_MAX];
	size_t n;
	size_t dropped;
} cf_verrs;

/* Records one violation; detail is "<field>: <formatted text>". Returns -1. */
int cf_verrs_add(cf_verrs *v, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* current updated by patch, RFC 7396 at the top level (null removes a member;
 * any other value replaces the member whole), as a new object the caller owns.
 * A patch that is not an object, or that changes "name" (the row's key; a new
 * KIND is made instead), is recorded in errs and gives NULL, as does running out
 * of memory with errs empty. */
json_t *cf_patch_merge_top(const json_t *current, const json_t *patch, const char *kind,
			   cf_verrs *errs);

/* ^[a-z0-9][a-z0-9-]{0,62}$: certificate ids and provider names. */
bool cf_valid_slug(const char *s);
/* A host a certificate may be fetched by: a slug or a lower-case host name
 * (labels of [a-z0-9-], not starting or ending with '-', joined by dots), at most
 * 253 characters. Host tokens carry such a name. */
bool cf_valid_host(const char *s);
/* A token's name: [A-Za-z0-9], then up to 127 of [A-Za-z0-9._@-]. */
bool cf_valid_token_name(const char *s);
/* A profile name as directories spell them: 1-64 of a-z, 0-9, '-', '_', '.'. */
bool cf_valid_profile_name(const char *s);
/* true for ec256 ec384 rsa2048 rsa3072 rsa4096. */
bool cf_valid_key_type(const char *s);

/* Whether a provider named name exists: 1 yes, 0 no, -1 error (err filled). */
typedef int (*cf_provider_exists_fn)(void *arg, const char *name, cf_err *err);

typedef struct cf_cert_rules {
	int max_names;                         /* CERTFLEET_MAX_NAMES */
	cf_provider_exists_fn provider_exists; /* NULL: every provider exists */
	cf_provider_exists_fn issuer_exists;   /* the same for issuers */
	void *arg;
} cf_cert_rules;

/* Checks a whole certificate document
 *   {"id", "domains", "dns_alias"?, "provider", "key_type"?, "hosts"?, "admin_keys"?,
 *    "renew_fraction"?, "issuers"?, "profile"?}
 * and, when it is valid, returns in *out a new normalised copy: names lower-case
 * without trailing dots, map keys normalised, "dns_alias" null when absent,
 * "key_type" "ec256" when absent, "hosts" [] when absent, "admin_keys" false when
 * absent (true: admin tokens may fetch the private key), "renew_fraction" (0.05 to
 * 0.95) only when given (the store keeps its default of 2/3 otherwise),
 * "issuers" (ordered, each existing) ["default"] when absent, "profile" null when
 * absent.
 * Returns 0 (valid), 1 (invalid: errs says why; *out NULL) or -1 (the callback
 * failed: err). */
int cf_cert_validate(const json_t *in, const cf_cert_rules *rules, json_t **out,
		     cf_verrs *errs, cf_err *err);

/* A PATCH of a certificate: patch may hold domains, dns_alias, provider, key_type,
 * hosts and admin_keys (id only if unchanged); a member set to null is removed (RFC 7396),
 * which for dns_alias means "no alias". Returns 0 with *merged a new document
 * (current updated by patch, for cf_cert_validate) or 1 with errs. */
int cf_cert_patch_merge(const json_t *current, const json_t *patch, json_t **merged,
			cf_verrs *errs);

/* Checks {"name","type","settings"}: the name is a slug, the type a registered
 * provider, settings an object of strings that the provider's validate() accepts
 * (its message is kept; the field is "settings.<key>" when the message names a
 * submitted key). Returns 0 with *ops set, or 1 with errs. Never echoes a value. */
int cf_provider_doc_validate(const json_t *in, const cf_provider_ops **ops, cf_verrs *errs);

#endif
