/*
 * providers.c: dns_providers rows: the split of a provider's settings into shown
 * and sealed parts, the worker's loader that merges them back, and the queries
 * of /v1/providers; see providers.h.
 *
 * Secrets in memory: the JSON text of the secret settings exists only between
 * cf_seal/cf_unseal and jansson, and is wiped (cf_secret_free,
 * cf_buf_free_secret) as soon as it has been converted; JSON objects holding
 * secrets are wiped by cf_provider_settings_free. Nothing here logs a value.
 *
 * The AAD of a blob sealed now (secrets_aad = 2) names the provider, its type and
 * a SHA-256 of its public settings (canonical JSON: compact, keys sorted, as
 * jansson writes it after reading the column back), so a row whose type or
 * public settings were changed in SQL (a secret token pointed at another server)
 * no longer opens. Rows sealed before 0011_keys (secrets_aad = 1) keep the AAD
 * "dns_providers:<name>" and open as before; a v2 row relabelled 1 does not open.
 */
#include "store/providers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "store/db.h"
#include "store/paging.h"
#include "store/rows.h"
#include "util/buf.h"

int cf_provider_aad(const char *name, char out[CF_PROVIDER_AAD_MAX])
{
	int n;

	if (name == NULL)
		return -1;
	n = snprintf(out, CF_PROVIDER_AAD_MAX, "dns_providers:%s", name);
	return (n < 0 || n >= CF_PROVIDER_AAD_MAX) ? -1 : 0;
}

int cf_provider_aad_v2(const char *name, const char *type, const json_t *public_settings,
		       char out[CF_PROVIDER_AAD2_MAX])
{
	uint8_t digest[32];
	char hex[65], *text;
	int n;

	if (name == NULL || type == NULL || !json_is_object(public_settings))
		return -1;
	text = json_dumps(public_settings, JSON_COMPACT | JSON_SORT_KEYS);
	if (text == NULL)
		return -1;
	cf_sha256(text, strlen(text), digest);
	free(text);
	for (size_t i = 0; i < sizeof(digest); i++)
		snprintf(hex + 2 * i, 3, "%02x", digest[i]);
	n = snprintf(out, CF_PROVIDER_AAD2_MAX, "dns_providers:v2:%s:%s:%s", name, type, hex);
	return (n < 0 || n >= CF_PROVIDER_AAD2_MAX) ? -1 : 0;
}

/* Wipes the strings that die with j: those referenced only by it (a string
 * shared with another object, after json_object_update, lives on and is kept). */
static void wipe_strings(json_t *j)
{
	const char *k;
	json_t *v;
	size_t i;

	if (j->refcount > 1)
		return;
	if (json_is_string(j)) {
		cf_wipe((char *)json_string_value(j), json_string_length(j));
	} else if (json_is_object(j)) {
		json_object_foreach(j, k, v)
			wipe_strings(v);
	} else if (json_is_array(j)) {
		json_array_foreach(j, i, v)
			wipe_strings(v);
	}
}

void cf_provider_settings_free(json_t *settings)
{
	if (settings == NULL)
		return;
	wipe_strings(settings);
	json_decref(settings);
}

int cf_provider_settings_seal(const cf_provider_ops *ops, const uint8_t key[32],
			      const char *name, const json_t *settings, json_t **public_out,
			      cf_buf *sealed, cf_err *err)
{
	char aad[CF_PROVIDER_AAD2_MAX];
	json_t *pub = NULL, *sec = NULL;
	char *text = NULL;
	const char *k;
	json_t *v;
	int rc = -1;

	*public_out = NULL;
	if (ops == NULL || !json_is_object(settings) || name == NULL) {
		cf_err_set(err, CF_ERR_PERMANENT, "provider settings: bad arguments");
		goto out;
	}
	pub = json_object();
	sec = json_object();
	if (pub == NULL || sec == NULL)
		goto oom;
	json_object_foreach((json_t *)settings, k, v) {
		json_t *dst = cf_provider_is_secret(ops, k) ? sec : pub;

		if (json_object_set_new(dst, k, json_deep_copy(v)) != 0)
			goto oom;
	}
	if (cf_provider_aad_v2(name, ops->name, pub, aad) != 0) {
		cf_err_set(err, CF_ERR_PERMANENT, "provider settings: name or type too long");
		goto out;
	}
	text = json_dumps(sec, JSON_COMPACT | JSON_SORT_KEYS);
	if (text == NULL)
		goto oom;
	if (cf_seal(key, aad, text, strlen(text), sealed, err) != 0) {
		cf_err_wrap(err, "provider %s: sealing the secret settings", name);
		goto out;
	}
	*public_out = pub;
	pub = NULL;
	rc = 0;
	goto out;
oom:
	cf_err_oom(err, "provider settings");
out:
	cf_secret_free(text);
	cf_provider_settings_free(sec);
	json_decref(pub);
	return rc;
}

int cf_provider_secrets_unseal(const uint8_t key[32], const char *name, const char *type,
			       const json_t *public_settings, const void *blob, size_t len,
			       json_t **secrets, cf_err *err)
{
	char aad[CF_PROVIDER_AAD2_MAX];
	cf_buf plain = { 0 };
	json_error_t je;
	json_t *obj = NULL, *v;
	const char *k;
	int rc = -1;

	*secrets = NULL;
	if (type != NULL ? cf_provider_aad_v2(name, type, public_settings, aad) != 0
			 : cf_provider_aad(name, aad) != 0) {
		cf_err_set(err, CF_ERR_PERMANENT, "provider name or type too long");
		goto out;
	}
	if (cf_unseal(key, aad, blob, len, &plain, err) != 0) {
		cf_err_wrap(err, "provider %s: sealed secrets do not open", name);
		goto out;
	}
	obj = json_loadb((const char *)plain.data, plain.len, 0, &je);
	if (!json_is_object(obj)) {
		cf_err_set(err, CF_ERR_PERMANENT,
			   "provider %s: sealed secrets are not a JSON object", name);
		goto out;
	}
	json_object_foreach(obj, k, v)
		if (!json_is_string(v)) {
			cf_err_set(err, CF_ERR_PERMANENT,
				   "provider %s: sealed secret %s is not a string", name, k);
			goto out;
		}
	*secrets = obj;
	obj = NULL;
	rc = 0;
out:
	cf_provider_settings_free(obj);
	cf_buf_free_secret(&plain);
	return rc;
}

/* The blob of column c (bytea, text format) opened into *secrets; an SQL NULL is
 * an empty object (a provider without secrets). Columns c - 2 and c - 1 are the
 * type and the public settings (text), column c + 1 the AAD version. */
static int unseal_column(const PGresult *res, int r, int c, const uint8_t key[32],
			 const char *name, json_t **secrets, cf_err *err)
{
	unsigned char *blob = NULL;
	json_t *pub = NULL;
	bool v2 = strcmp(PQgetvalue(res, r, c + 1), "2") == 0;
	size_t len = 0;
	int rc = -1;

	if (PQgetisnull(res, r, c)) {
		*secrets = json_object();
		return *secrets ? 0 : cf_err_oom(err, NULL);
	}
	blob = PQunescapeBytea((const unsigned char *)PQgetvalue(res, r, c), &len);
	if (blob == NULL) {
		cf_err_set(err, CF_ERR_TRANSIENT, "provider %s: bad bytea", name);
		goto out;
	}
	if (v2 && (pub = json_loads(PQgetvalue(res, r, c - 1), 0, NULL)) == NULL) {
		cf_err_set(err, CF_ERR_PERMANENT, "provider %s: settings are not JSON", name);
		goto out;
	}
	rc = cf_provider_secrets_unseal(key, name, v2 ? PQgetvalue(res, r, c - 2) : NULL, pub,
					blob, len, secrets, err);
out:
	json_decref(pub);
	if (blob != NULL)
		PQfreemem(blob);
	return rc;
}

int cf_provider_settings_load(PGconn *conn, const uint8_t key[32], const char *name,
			      char **type, json_t **merged_settings, cf_err *err)
{
	const char *params[1] = { name };
	PGresult *res = NULL;
	json_t *merged = NULL, *secrets = NULL;
	json_error_t je;
	int rc = -1;

	*type = NULL;
	*merged_settings = NULL;
	res = cf_db_exec(conn, "loading a DNS provider",
			 "SELECT type, settings::text, secrets_sealed, secrets_aad FROM dns_providers "
			 "WHERE name = $1",
			 1, params, err);
	if (res == NULL)
		goto out;
	if (PQntuples(res) != 1) {
		cf_err_set(err, CF_ERR_PERMANENT, "DNS provider %s does not exist", name);
		goto out;
	}
	merged = json_loads(PQgetvalue(res, 0, 1), 0, &je);
	if (!json_is_object(merged)) {
		cf_err_set(err, CF_ERR_PERMANENT, "DNS provider %s: settings are not an object",
			   name);
		goto out;
	}
	if (unseal_column(res, 0, 2, key, name, &secrets, err) != 0)
		goto out;
	if (json_object_update(merged, secrets) != 0 ||
	    (*type = strdup(PQgetvalue(res, 0, 0))) == NULL) {
		cf_err_oom(err, NULL);
		cf_err_wrap(err, "DNS provider %s", name);
		goto out;
	}
	*merged_settings = merged;
	merged = NULL;
	rc = 0;
out:
	cf_provider_settings_free(secrets);
	cf_provider_settings_free(merged);
	PQclear(res);
	return rc;
}

int cf_provider_insert(PGconn *conn, const char *name, const char *type,
		       const json_t *public_settings, const cf_buf *sealed, cf_err *err)
{
	char *settings = json_dumps(public_settings, JSON_COMPACT | JSON_SORT_KEYS);
	const char *params[4] = { name, type, settings, (const char *)sealed->data };
	const int lengths[4] = { 0, 0, 0, (int)sealed->len };
	const int formats[4] = { 0, 0, 0, 1 };
	PGresult *res;
	int rc = -1;

	if (settings == NULL)
		return cf_err_oom(err, NULL);
	res = cf_db_execb(conn, "inserting a DNS provider",
			  "INSERT INTO dns_providers (name, type, settings, secrets_sealed, secrets_aad) "
			  "VALUES ($1, $2, $3::jsonb, $4, 2) ON CONFLICT (name) DO NOTHING "
			  "RETURNING name",
			  4, params, lengths, formats, err);
	if (res != NULL)
		rc = PQntuples(res) == 1 ? 1 : 0;
	PQclear(res);
	free(settings);
	return rc;
}

#define PROVIDER_COLUMNS                                                                   \
	"name, type, settings::text, secrets_sealed, secrets_aad, "                        \
	CF_SQL_TS("created_at") ", " CF_SQL_TS("updated_at")

/* Row r as the API representation (see providers.h). */
static json_t *provider_json(const PGresult *res, int r, const uint8_t key[32])
{
	const char *name = PQgetvalue(res, r, 0), *k;
	json_t *o, *names, *secrets = NULL, *v;
	cf_err ignore = { 0 };
	bool valid;

	valid = unseal_column(res, r, 3, key, name, &secrets, &ignore) == 0;
	cf_err_clear(&ignore);
	names = json_array();
	if (valid && names != NULL)
		json_object_foreach(secrets, k, v)
			json_array_append_new(names, json_string(k));
	cf_provider_settings_free(secrets);
	o = json_pack("{s:s, s:s, s:o?, s:o?, s:b, s:s, s:s}", "name", name, "type",
		      PQgetvalue(res, r, 1), "settings", cf_row_json(res, r, 2), "secrets", names,
		      "secrets_valid", valid, "created_at", PQgetvalue(res, r, 5), "updated_at",
		      PQgetvalue(res, r, 6));
	return o;
}

int cf_provider_get_json(PGconn *conn, const uint8_t key[32], const char *name, json_t **out,
			 cf_err *err)
{
	const char *params[1] = { name };
	PGresult *res;
	int rc = -1;

	*out = NULL;
	res = cf_db_exec(conn, "reading a DNS provider",
			 "SELECT " PROVIDER_COLUMNS " FROM dns_providers WHERE name = $1", 1,
			 params, err);
	if (res == NULL)
		return -1;
	if (PQntuples(res) == 0) {
		rc = 0;
	} else if ((*out = provider_json(res, 0, key)) != NULL) {
		rc = 0;
	} else {
		cf_err_oom(err, NULL);
	}
	PQclear(res);
	return rc;
}

int cf_provider_exists_locked(PGconn *conn, const char *name, cf_err *err)
{
	const char *params[1] = { name };
	PGresult *res;
	int rc;

	res = cf_db_exec(conn, "checking a DNS provider",
			 "SELECT 1 FROM dns_providers WHERE name = $1 FOR SHARE", 1, params, err);
	if (res == NULL)
		return -1;
	rc = PQntuples(res) == 1 ? 1 : 0;
	PQclear(res);
	return rc;
}

int cf_provider_delete(PGconn *conn, const char *name, json_t **users, cf_err *err)
{
	const char *params[1] = { name };
	PGresult *res = NULL;
	int rc = -1;

	*users = NULL;
	/* The row lock first: a certificate write that holds it FOR SHARE commits
	 * before we look for users, so its certificate is seen. */
	res = cf_db_exec(conn, "locking a DNS provider",
			 "SELECT 1 FROM dns_providers WHERE name = $1 FOR UPDATE", 1, params, err);
	if (res == NULL)
		goto out;
	if (PQntuples(res) == 0) {
		rc = 0;
		goto out;
	}
	PQclear(res);
	res = cf_db_exec(conn, "finding the users of a DNS provider",
			 "SELECT id FROM certificates WHERE provider = to_jsonb($1::text) "
			 "OR (jsonb_typeof(provider) = 'object' AND EXISTS "
			 "(SELECT 1 FROM jsonb_each_text(provider) e WHERE e.value = $1)) "
			 "ORDER BY id LIMIT 10",
			 1, params, err);
	if (res == NULL)
		goto out;
	if (PQntuples(res) > 0) {
		*users = json_array();
		for (int r = 0; *users != NULL && r < PQntuples(res); r++)
			json_array_append_new(*users, json_string(PQgetvalue(res, r, 0)));
		rc = 2;
		goto out;
	}
	PQclear(res);
	res = cf_db_exec(conn, "deleting a DNS provider",
			 "DELETE FROM dns_providers WHERE name = $1", 1, params, err);
	if (res != NULL)
		rc = 1;
out:
	PQclear(res);
	return rc;
}

int cf_provider_page_json(PGconn *conn, const uint8_t key[32], cf_page_q *q, json_t **out,
			  cf_err *err)
{
	char lim[16];
	const char *p[2] = { cf_page_after_param(q, 0), cf_page_limit_param(q, lim) };
	PGresult *res;
	json_t *list = NULL;
	int rc = -1, n;

	*out = NULL;
	res = cf_db_exec(conn, "listing DNS providers",
			 "SELECT " PROVIDER_COLUMNS " FROM dns_providers WHERE $1 = '' OR "
			 "name > $1 ORDER BY name LIMIT $2::int", 2, p, err);
	if (res == NULL)
		goto out;
	n = PQntuples(res);
	list = json_array();
	for (int r = 0; list != NULL && r < n && r < q->limit; r++)
		if (json_array_append_new(list, provider_json(res, r, key)) != 0) {
			json_decref(list);
			list = NULL;
		}
	q->more = n > q->limit;
	if (list == NULL || (q->more && cf_col_dup(res, q->limit - 1, 0, &q->next[0]) != 0) ||
	    (*out = json_pack("{s:O}", "providers", list)) == NULL) {
		cf_err_oom(err, NULL);
		goto out;
	}
	rc = 0;
out:
	json_decref(list);
	PQclear(res);
	return rc;
}
