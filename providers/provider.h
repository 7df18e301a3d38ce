/*
 * provider.h: the DNS provider interface. A provider writes and removes one TXT
 * value at a target FQDN in a zone it can change, through some API (RFC 2136,
 * PowerDNS, ...). The contract every provider keeps:
 *  - validate() checks a settings object when the provider is configured, with an
 *    error naming the setting at fault; it never echoes a secret value;
 *  - present() adds one value without disturbing other values at the same name
 *    (a wildcard and its apex need two values at one name at once);
 *  - cleanup() removes exactly that one value, and succeeds when it is already gone;
 *  - credentials are never logged; `secret_keys` lists the settings that are
 *    credentials, so the service can seal them and never show them;
 *  - can_write() (optional) tells the alias check whether a target lies in a zone
 *    the provider can write, without writing anything;
 *  - present_many()/cleanup_many() (optional) do the same for all of a job's
 *    values at once, for APIs where a change is a batch that must then be waited
 *    for (route53, gcloud): one change per zone, one wait per change.
 *
 * Providers live in a static registry (registry.c) that refuses duplicate names.
 * Settings are a JSON object of strings (from the CLI's --provider-setting k=v or
 * from the sealed row in PostgreSQL); the provider does not keep them.
 */
#ifndef CERTFLEET_PROVIDER_H
#define CERTFLEET_PROVIDER_H

#include <jansson.h>
#include <stdbool.h>

#include "dns/dns.h"
#include "util/err.h"

typedef struct cf_provider_ctx {
	const json_t *settings;            /* the provider's settings object */
	const cf_dns_servers *resolvers;   /* for finding zones by SOA; never the system's */
	long timeout_ms;                   /* per network call */
} cf_provider_ctx;

/* One value of a batch (present_many, cleanup_many). The strings are the
 * caller's; the provider sets done. */
typedef struct cf_provider_rec {
	const char *fqdn;
	const char *value;
	bool done; /* set by the provider: this value is now present (removed) */
} cf_provider_rec;

typedef struct cf_provider_ops {
	const char *name;
	const char *const *secret_keys; /* NULL-terminated */
	/* NULL-terminated; when set, every setting NOT listed here is secret (and
	 * secret_keys is not used): for providers whose settings are free-form */
	const char *const *public_keys;
	CF_MUST_CHECK int (*validate)(const json_t *settings, cf_err *err);
	CF_MUST_CHECK int (*present)(const cf_provider_ctx *ctx, const char *fqdn, const char *value,
		       cf_err *err);
	CF_MUST_CHECK int (*cleanup)(const cf_provider_ctx *ctx, const char *fqdn, const char *value,
		       cf_err *err);
	/* At most this many TXT values may be live at one name through this provider
	 * at once (acme-dns keeps only the two newest per account); 0 = unlimited.
	 * The provider refuses more within its process; the service enforces it
	 * across replicas. */
	int max_values_per_name;
	/* present and cleanup each change exactly one record, atomically at the
	 * server (an RFC 2136 add or delete of one RR), so concurrent writers at one
	 * name cannot lose each other's values: the service then takes no write lock
	 * around the call. false (the default): a read-modify-write of the whole set
	 * (powerdns, route53), or not known (exec). */
	bool atomic_writes;
	/* Optional (NULL: the provider cannot tell): whether it can write TXT values
	 * at fqdn with ctx's settings, as far as a probe that changes nothing shows
	 * (the zone holding fqdn exists for these credentials, and the server accepts
	 * them). 1 yes; 0 no, with err (permanent) saying why; -1 when it cannot tell
	 * now (err, transient: no answer). Used by the alias check, never by issuance. */
	CF_MUST_CHECK int (*can_write)(const cf_provider_ctx *ctx, const char *fqdn, cf_err *err);
	/* Optional (NULL: the caller calls present/cleanup once per value): present, or
	 * clean up, every value of recs[0..n) with the contract of present and cleanup
	 * for each, grouping them so that each zone gets one change and one wait for
	 * it. The fqdns may repeat (a wildcard and its apex share one). Each value
	 * that reached its goal gets done = true, also when the call fails for the
	 * others; 0 when all did, else -1 with err (permanent when the values not
	 * done were surely not written, transient when they may have been). The
	 * caller holds the service's write lock of every fqdn of recs around the
	 * call, as around present and cleanup. */
	CF_MUST_CHECK int (*present_many)(const cf_provider_ctx *ctx, cf_provider_rec *recs,
					  size_t n, cf_err *err);
	CF_MUST_CHECK int (*cleanup_many)(const cf_provider_ctx *ctx, cf_provider_rec *recs,
					  size_t n, cf_err *err);
} cf_provider_ops;

/* Registers the built-in providers (idempotent, thread-safe via pthread_once). */
void cf_providers_init(void);
/* Adds ops to the registry; -1 when the name is taken or the registry is full. */
CF_MUST_CHECK int cf_provider_register(const cf_provider_ops *ops, cf_err *err);
/* The provider named exactly name, or NULL. Initialises the registry if needed. */
const cf_provider_ops *cf_provider_find(const char *name);
/* Fills names[0..max) with the registered names (static strings, registration
 * order) and returns how many are registered (may exceed max). */
size_t cf_provider_names(const char **names, size_t max);
/* true when key is one of ops' secret settings. */
CF_MUST_CHECK int cf_provider_is_secret(const cf_provider_ops *ops, const char *key);

/* A target for name that this provider could write, from its settings: the
 * acme-dns account's "fulldomain", or "<name>.<zone>" when a "zone" setting names
 * the zone it writes. 0 and out filled, or -1 when the settings do not tell. */
CF_MUST_CHECK int cf_provider_suggest_target(const json_t *settings, const char *name, char *out,
			       size_t outlen);

/* Built-ins (one file each). */
extern const cf_provider_ops cf_provider_rfc2136;
extern const cf_provider_ops cf_provider_cloudflare;
extern const cf_provider_ops cf_provider_route53;
extern const cf_provider_ops cf_provider_powerdns;
extern const cf_provider_ops cf_provider_exec;
extern const cf_provider_ops cf_provider_acmedns;
extern const cf_provider_ops cf_provider_azure;
extern const cf_provider_ops cf_provider_gcloud;
/* the records-API providers (providers/rest_records.c and one file each) */
extern const cf_provider_ops cf_provider_digitalocean;
extern const cf_provider_ops cf_provider_hetzner;
extern const cf_provider_ops cf_provider_ovh;
extern const cf_provider_ops cf_provider_gandi;
extern const cf_provider_ops cf_provider_linode;
extern const cf_provider_ops cf_provider_desec;
extern const cf_provider_ops cf_provider_httpreq;

#endif
