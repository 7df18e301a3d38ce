/*
 * digitalocean.c: the DigitalOcean provider, API v2 with a personal access
 * token (bearer). The shared layer (rest_records.c) does settings, calls and
 * the flow; this file is the table and the JSON mapping.
 *
 * Settings: api_token (secret), api_url (default https://api.digitalocean.com/v2),
 * zone (else the longest suffix of the name that GET /domains/{name} knows),
 * ttl 30-86400 (default 60).
 *
 * Records API: GET /domains/{zone}/records?type=TXT&name={fqdn} lists (paged,
 * meta.total), POST /domains/{zone}/records {"type","name" (relative, "@" at
 * the apex),"data","ttl"} creates one record per value, DELETE
 * /domains/{zone}/records/{id} removes one. Errors are {"id","message"}.
 */
#include "providers/provider.h"
#include "providers/rest_records.h"

#include <stdio.h>

#define PER_PAGE 200

static const char *const secret_keys[] = { "api_token", NULL };
static const char *const known_keys[] = { "api_token", "api_url", "zone", "ttl", NULL };
static const char *const total[] = { "meta", "total", NULL };
static const cf_rest_listing listing = { "domain_records", { "type", "name", "data", "id" }, "@",
					 total, PER_PAGE };

static int do_zone(cf_rest_op *op, const char *candidate, cf_err *err)
{
	return cf_rest_zone_by_path(op, "/domains/", candidate, "", err);
}

static int do_list(cf_rest_op *op, long page, json_t *out, long *pages, cf_err *err)
{
	char path[3 * CF_NAME_MAX + 160], name[3 * CF_NAME_MAX + 1];

	if (cf_rest_escape(op->name, name, sizeof(name)) != 0)
		return cf_err_set(err, CF_ERR_PERMANENT, "digitalocean: name too long");
	snprintf(path, sizeof(path), "/domains/%s/records?type=TXT&name=%s&page=%ld&per_page=%d",
		 op->zone_id, name, page, PER_PAGE);
	return cf_rest_list_get(op, path, &listing, out, pages, err);
}

static int do_create(cf_rest_op *op, const char *content, cf_err *err)
{
	char path[CF_NAME_MAX + 32], sub[CF_NAME_MAX + 1];

	cf_rest_subname(op, "@", sub);
	snprintf(path, sizeof(path), "/domains/%s/records", op->zone_id);
	return cf_rest_send(op, "POST", path,
			    json_pack("{s:s,s:s,s:s,s:I}", "type", "TXT", "name", sub, "data",
				      content, "ttl", (json_int_t)op->conf->ttl),
			    err);
}

static int do_remove(cf_rest_op *op, const char *id, cf_err *err)
{
	char path[CF_NAME_MAX + CF_REST_ID_MAX + 32];

	snprintf(path, sizeof(path), "/domains/%s/records/%s", op->zone_id, id);
	return cf_rest_delete(op, path, err);
}

static const cf_rest_api api = {
	.who = "digitalocean",
	.known_keys = known_keys,
	.url_key = "api_url",
	.default_url = "https://api.digitalocean.com/v2",
	.token_key = "api_token",
	.token_hint = "a personal access token with the domain:read, domain:create and "
		      "domain:delete scopes",
	.ttl_min = 30,
	.ttl_max = 86400,
	.ttl_def = 60,
	.auth_header = "Authorization: Bearer ",
	.zone_find = do_zone,
	.list = do_list,
	.create = do_create,
	.remove = do_remove,
};

CF_REST_PROVIDER(digitalocean, "digitalocean", api, secret_keys);
