/*
 * scope.h: credentials scoped to names. Every provider, whatever its type, takes
 * an optional "allowed_names" setting: a JSON array of DNS name suffixes, e.g.
 * ["acme.example.net"]. A provider with that setting writes no FQDN outside the
 * list (an FQDN is inside when it equals a suffix or lies below it).
 *
 * The setting belongs to certfleet, not to the provider: the functions here take
 * it out of the settings before any provider sees them (providers refuse settings
 * they do not know), and every call into a provider goes through them:
 *  - cf_provider_validate: the provider's own validation plus allowed_names
 *    (an array of 1..32 DNS names, normalised in place: lower case, no dot);
 *  - cf_provider_present (and _present_many for batch providers): refuses (permanent error naming the FQDN, the provider
 *    and the setting) any FQDN outside the list, then writes;
 *  - cf_provider_cleanup: with check_scope, refuses the same (the CLI's
 *    `dns cleanup`, which takes any FQDN); without it (the worker removing a value
 *    it recorded writing), removes it even when the list was narrowed since, so a
 *    value certfleet wrote is never stranded;
 *  - cf_provider_can_write: 0 for an FQDN outside the list, naming the setting
 *    (the alias check's "unwritable"), else the provider's own probe.
 * So every provider in the registry, present or future, is covered without code
 * of its own.
 */
#ifndef CERTFLEET_PROVIDERS_SCOPE_H
#define CERTFLEET_PROVIDERS_SCOPE_H

#include <stdbool.h>

#include "providers/provider.h"

#define CF_SCOPE_SETTING "allowed_names"
#define CF_SCOPE_MAX 32

/* Checks and normalises settings' allowed_names in place (absent is fine), then
 * runs ops->validate on the settings without it. -1 with err naming the setting. */
CF_MUST_CHECK int cf_provider_validate(const cf_provider_ops *ops, json_t *settings, cf_err *err);

/* 1 when settings (validated) allow writing fqdn: no allowed_names, or fqdn is
 * one of its suffixes or below one; 0 otherwise, with err (permanent) naming the
 * FQDN, the provider (label, e.g. its name) and the setting. */
CF_MUST_CHECK int cf_scope_allows(const json_t *settings, const char *label, const char *fqdn,
				  cf_err *err);

/* ops->present / ->cleanup / ->can_write with ctx->settings less allowed_names,
 * after the scope check described above. label names the provider in errors
 * (its configured name, or its type). */
CF_MUST_CHECK int cf_provider_present(const cf_provider_ops *ops, const char *label,
				      const cf_provider_ctx *ctx, const char *fqdn,
				      const char *value, cf_err *err);
CF_MUST_CHECK int cf_provider_cleanup(const cf_provider_ops *ops, const char *label,
				      const cf_provider_ctx *ctx, const char *fqdn,
				      const char *value, bool check_scope, cf_err *err);
/* ops->present_many / ->cleanup_many (batch providers) the same way: the batch is
 * refused whole (nothing written, no rec done) when one FQDN lies outside. */
CF_MUST_CHECK int cf_provider_present_many(const cf_provider_ops *ops, const char *label,
					   const cf_provider_ctx *ctx, cf_provider_rec *recs,
					   size_t n, cf_err *err);
CF_MUST_CHECK int cf_provider_cleanup_many(const cf_provider_ops *ops, const char *label,
					   const cf_provider_ctx *ctx, cf_provider_rec *recs,
					   size_t n, bool check_scope, cf_err *err);
/* 1, 0 (err) or -1 (err) as ops->can_write; -1 with err "cannot tell" when the
 * provider has no probe and the FQDN is inside the scope. */
CF_MUST_CHECK int cf_provider_can_write(const cf_provider_ops *ops, const char *label,
					const cf_provider_ctx *ctx, const char *fqdn, cf_err *err);

#endif
