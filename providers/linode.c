/*
 * linode.c: the Linode (Akamai) provider, API v4 with a personal access token
 * (bearer). The shared layer (rest_records.c) does settings, calls and the
 * flow; this file is the table and the JSON mapping.
 *
 * Settings: api_token (secret), api_url (default https://api.linode.com/v4),
 * zone (else the longest suffix of the name among the account's domains),
 * ttl 300-2419200 (default 300; Linode rounds to its own steps).
 *
 * The domain's id comes from GET /domains (paged {"data","page","pages"}).
 * Records API: GET /domains/{id}/records lists, POST /domains/{id}/records
 * {"type","name" (relative, "" at the apex),"target","ttl_sec"} creates one,
 * DELETE /domains/{id}/records/{rid} removes one. Errors are
 * {"errors": [{"reason", "field"?}]}.
 */
#include "providers/provider.h"
#include "providers/rest_records.h"

#include <stdio.h>

#include "dns/dns.h"

#define PAGE_SIZE 500
#define MAX_DOMAIN_PAGES 20

static const char *const secret_keys[] = { "api_token", NULL };
static const char *const known_keys[] = { "api_token", "api_url", "zone", "ttl", NULL };
static const char *const page_count[] = { "pages", NULL };
static const cf_rest_listing listing = { "data", { "type", "name", "target", "id" }, "",
					 page_count, 0 };

/* The domain named candidate among the account's domains (listed over pages). */
static int ln_zone(cf_rest_op *op, const char *candidate, cf_err *err)
{
	char path[64];
	const json_t *d;
	json_t *doc = NULL;
	long page, pages = 1, status;
	size_t i;
	int rc = 0;

	for (page = 1; page <= pages && page <= MAX_DOMAIN_PAGES && rc == 0; page++) {
		json_decref(doc);
		snprintf(path, sizeof(path), "/domains?page=%ld&page_size=%d", page, PAGE_SIZE);
		if (cf_rest_call(op, "GET", path, NULL, 0, &status, &doc, err) != 0) {
			doc = NULL;
			rc = -1;
			break;
		}
		pages = (long)json_integer_value(json_object_get(doc, "pages"));
		json_array_foreach(json_object_get(doc, "data"), i, d) {
			const char *n = json_string_value(json_object_get(d, "domain"));

			if (n != NULL && cf_name_equal(n, candidate) &&
			    cf_rest_take_id(d, "id", op->zone_id) == 0) {
				rc = 1;
				break;
			}
		}
	}
	json_decref(doc);
	return rc;
}

static int ln_list(cf_rest_op *op, long page, json_t *out, long *pages, cf_err *err)
{
	char path[CF_NAME_MAX + 96];

	snprintf(path, sizeof(path), "/domains/%s/records?page=%ld&page_size=%d", op->zone_id,
		 page, PAGE_SIZE);
	return cf_rest_list_get(op, path, &listing, out, pages, err);
}

static int ln_create(cf_rest_op *op, const char *content, cf_err *err)
{
	char path[CF_NAME_MAX + 32], sub[CF_NAME_MAX + 1];

	cf_rest_subname(op, "", sub);
	snprintf(path, sizeof(path), "/domains/%s/records", op->zone_id);
	return cf_rest_send(op, "POST", path,
			    json_pack("{s:s,s:s,s:s,s:I}", "type", "TXT", "name", sub, "target",
				      content, "ttl_sec", (json_int_t)op->conf->ttl),
			    err);
}

static int ln_remove(cf_rest_op *op, const char *id, cf_err *err)
{
	char path[CF_NAME_MAX + CF_REST_ID_MAX + 32];

	snprintf(path, sizeof(path), "/domains/%s/records/%s", op->zone_id, id);
	return cf_rest_delete(op, path, err);
}

static const cf_rest_api api = {
	.who = "linode",
	.known_keys = known_keys,
	.url_key = "api_url",
	.default_url = "https://api.linode.com/v4",
	.token_key = "api_token",
	.token_hint = "a personal access token with the Domains scope read/write "
		      "(domains:read_write) and nothing else",
	.ttl_min = 300,
	.ttl_max = 2419200,
	.ttl_def = 300,
	.auth_header = "Authorization: Bearer ",
	.zone_find = ln_zone,
	.list = ln_list,
	.create = ln_create,
	.remove = ln_remove,
};

CF_REST_PROVIDER(linode, "linode", api, secret_keys);
