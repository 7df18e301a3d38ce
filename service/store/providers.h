/*
 * providers.h: the dns_providers rows: sealing and unsealing a provider's
 * settings, and the queries behind /v1/providers.
 *
 * A provider's settings are a JSON object of strings. The settings that the
 * provider type lists in ops->secret_keys (credentials) are kept apart: the row's
 * `settings` column holds only the others, and `secrets_sealed` holds
 * cf_seal(master key, aad, JSON text of the object of the secret settings). The
 * AAD (cf_provider_aad_v2, column secrets_aad = 2) binds the blob to its row's
 * name, type and public settings, so a blob copied into another provider's row,
 * or a row whose type or public settings were changed behind the API, does not
 * open. Rows sealed before 0011_keys (secrets_aad = 1) have the AAD
 * "dns_providers:<name>" (cf_provider_aad). The master key never enters the
 * database.
 *
 * Workers call cf_provider_settings_load() to get the full settings (secrets
 * included) right before they call the provider; the HTTP side never returns a
 * secret. Every json_t that holds unsealed secrets must be released with
 * cf_provider_settings_free(), which wipes its strings first.
 */
#ifndef CERTFLEET_STORE_PROVIDERS_H
#define CERTFLEET_STORE_PROVIDERS_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>

#include "providers/provider.h"
#include "util/buf.h"
#include "util/err.h"
#include "store/paging.h"

/* Longest AAD: "dns_providers:" + a 63-character name + NUL. */
#define CF_PROVIDER_AAD_MAX 80

/* "dns_providers:<name>" into out (version 1, rows sealed before 0011_keys).
 * Returns 0, or -1 when it does not fit. */
CF_MUST_CHECK int cf_provider_aad(const char *name, char out[CF_PROVIDER_AAD_MAX]);

/* Longest version 2 AAD: "dns_providers:v2:" + name + ":" + type + ":" + 64 hex
 * digits + NUL, with room for long type names. */
#define CF_PROVIDER_AAD2_MAX 256

/* "dns_providers:v2:<name>:<type>:<hex SHA-256 of public_settings as compact JSON
 * with sorted keys>" into out. Returns 0, or -1 when it does not fit or
 * public_settings is not an object. */
CF_MUST_CHECK int cf_provider_aad_v2(const char *name, const char *type,
				     const json_t *public_settings,
				     char out[CF_PROVIDER_AAD2_MAX]);

/* Splits settings (an object of strings, already validated by ops->validate) into
 * *public_out (a new object of the non-secret settings) and, appended to sealed,
 * the sealed JSON object of the secret ones ("{}" when there are none). The
 * plaintext is wiped before return. On failure nothing is returned. */
CF_MUST_CHECK int cf_provider_settings_seal(const cf_provider_ops *ops, const uint8_t key[32],
			      const char *name, const json_t *settings, json_t **public_out,
			      cf_buf *sealed, cf_err *err);

/* Opens a sealed blob of provider name into *secrets (a new object; free it with
 * cf_provider_settings_free): with type and public_settings, a version 2 blob
 * (what cf_provider_settings_seal makes); with type NULL, a version 1 blob.
 * Fails, without output, when the key or the AAD (name, type, public settings)
 * do not match, or when the plaintext is not a JSON object of strings. */
CF_MUST_CHECK int cf_provider_secrets_unseal(const uint8_t key[32], const char *name,
					     const char *type, const json_t *public_settings,
					     const void *blob, size_t len, json_t **secrets,
					     cf_err *err);

/* The worker's entry point: reads the row of provider name and returns its type
 * (*type, malloc'd, caller frees) and *merged_settings: the non-secret settings
 * merged with the unsealed secret ones (free with cf_provider_settings_free).
 * A missing row, a blob that does not open and a database error all fail with a
 * message naming the provider; a missing row or a bad blob is permanent, a lost
 * connection transient. */
CF_MUST_CHECK int cf_provider_settings_load(PGconn *conn, const uint8_t key[32], const char *name,
			      char **type, json_t **merged_settings, cf_err *err);

/* Wipes every string value of settings (recursively), then releases the caller's
 * reference. NULL is fine. Use it for any object that held unsealed secrets. */
void cf_provider_settings_free(json_t *settings);

/* ---- the queries of /v1/providers (conn inside the caller's transaction) ---- */

/* Inserts a provider row. Returns 1 when inserted, 0 when the name is taken, -1 on
 * error. public_settings is borrowed; sealed is the blob from
 * cf_provider_settings_seal. */
CF_MUST_CHECK int cf_provider_insert(PGconn *conn, const char *name, const char *type,
		       const json_t *public_settings, const cf_buf *sealed, cf_err *err);

/* The API representation of one provider:
 * {"name","type","settings","secrets":[names],"secrets_valid":bool,"created_at",
 *  "updated_at"}: "secrets" lists the secret settings that are set (found by
 * opening the blob), never their values; "secrets_valid" is false when the blob
 * does not open with this key (wrong master key, or a blob moved from another
 * row). *out is NULL when there is no such provider. */
CF_MUST_CHECK int cf_provider_get_json(PGconn *conn, const uint8_t key[32], const char *name, json_t **out,
			 cf_err *err);
/* 1 when a provider row called name exists, 0 when not, -1 on error. The row is
 * locked FOR SHARE until the caller's transaction ends, so a concurrent DELETE
 * waits (and then sees the certificate that uses it). */
CF_MUST_CHECK int cf_provider_exists_locked(PGconn *conn, const char *name, cf_err *err);
/* Deletes provider name unless a certificate uses it. Returns 1 deleted, 0 no such
 * provider, 2 in use (then *users is a new array of up to 10 certificate ids), -1
 * on error. */
CF_MUST_CHECK int cf_provider_delete(PGconn *conn, const char *name, json_t **users, cf_err *err);

/* One page of {"providers":[...]} sorted by name; q's key: (name). */
CF_MUST_CHECK int cf_provider_page_json(PGconn *conn, const uint8_t key[32], cf_page_q *q,
					json_t **out, cf_err *err);
#endif
