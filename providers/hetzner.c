/*
 * hetzner.c: the Hetzner provider, DNS API v1 (dns.hetzner.com) with an API
 * token in the Auth-API-Token header. The shared layer (rest_records.c) does
 * settings, calls and the flow; this file is the table and the JSON mapping.
 *
 * Settings: api_token (secret), api_url (default
 * https://dns.hetzner.com/api/v1), zone (else the longest suffix of the name
 * that GET /zones?name= knows), ttl 60-86400 (default 60).
 *
 * Records API: GET /records?zone_id=&page=&per_page= lists a zone's records
 * (meta.pagination.last_page), POST /records {"zone_id","type","name"
 * (relative, "@" at the apex),"value","ttl"} creates one, DELETE /records/{id}
 * removes one. Errors are {"message"} or {"error": {"message","code"}}.
 */
#include "providers/provider.h"
#include "providers/rest_records.h"

#include <stdio.h>

#include "dns/dns.h"

#define PER_PAGE 100

static const char *const secret_keys[] = { "api_token", NULL };
static const char *const known_keys[] = { "api_token", "api_url", "zone", "ttl", NULL };
static const char *const last_page[] = { "meta", "pagination", "last_page", NULL };
static const cf_rest_listing listing = { "records", { "type", "name", "value", "id" }, "@",
					 last_page, 0 };

static int hz_zone(cf_rest_op *op, const char *candidate, cf_err *err)
{
	char path[3 * CF_NAME_MAX + 32], esc[3 * CF_NAME_MAX + 1];
	const json_t *z;
	json_t *doc = NULL;
	long status;
	size_t i;
	int rc = -1;

	if (cf_rest_escape(candidate, esc, sizeof(esc)) != 0)
		return cf_err_set(err, CF_ERR_PERMANENT, "hetzner: zone name too long");
	snprintf(path, sizeof(path), "/zones?name=%s", esc);
	if (cf_rest_call(op, "GET", path, NULL, CF_REST_OK_404, &status, &doc, err) != 0)
		goto out;
	rc = 0;
	json_array_foreach(json_object_get(doc, "zones"), i, z) {
		const char *n = json_string_value(json_object_get(z, "name"));

		if (n != NULL && cf_name_equal(n, candidate) &&
		    cf_rest_take_id(z, "id", op->zone_id) == 0) {
			rc = 1;
			break;
		}
	}
out:
	json_decref(doc);
	return rc;
}

static int hz_list(cf_rest_op *op, long page, json_t *out, long *pages, cf_err *err)
{
	char path[CF_NAME_MAX + 96];

	snprintf(path, sizeof(path), "/records?zone_id=%s&page=%ld&per_page=%d", op->zone_id,
		 page, PER_PAGE);
	return cf_rest_list_get(op, path, &listing, out, pages, err);
}

static int hz_create(cf_rest_op *op, const char *content, cf_err *err)
{
	char sub[CF_NAME_MAX + 1];

	cf_rest_subname(op, "@", sub);
	return cf_rest_send(op, "POST", "/records",
			    json_pack("{s:s,s:s,s:s,s:s,s:I}", "zone_id", op->zone_id, "type",
				      "TXT", "name", sub, "value", content, "ttl",
				      (json_int_t)op->conf->ttl),
			    err);
}

static int hz_remove(cf_rest_op *op, const char *id, cf_err *err)
{
	char path[CF_REST_ID_MAX + 16];

	snprintf(path, sizeof(path), "/records/%s", id);
	return cf_rest_delete(op, path, err);
}

static const cf_rest_api api = {
	.who = "hetzner",
	.known_keys = known_keys,
	.url_key = "api_url",
	.default_url = "https://dns.hetzner.com/api/v1",
	.token_key = "api_token",
	.token_hint = "a DNS console API token (Hetzner's tokens reach every zone of the "
		      "account: keep the alias zones in an account of their own)",
	.ttl_min = 60,
	.ttl_max = 86400,
	.ttl_def = 60,
	.auth_header = "Auth-API-Token: ",
	.zone_find = hz_zone,
	.list = hz_list,
	.create = hz_create,
	.remove = hz_remove,
};

CF_REST_PROVIDER(hetzner, "hetzner", api, secret_keys);
