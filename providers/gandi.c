/*
 * gandi.c: the Gandi provider, LiveDNS API v5 with a personal access token
 * (bearer). The shared layer (rest_records.c) does settings, calls and the
 * read-modify-write; this file is the table and the JSON mapping.
 *
 * Settings: api_token (secret), api_url (default
 * https://api.gandi.net/v5/livedns), zone (else the longest suffix of the name
 * that GET /domains/{fqdn} knows), ttl 300-2592000 (default 300, LiveDNS's
 * minimum).
 *
 * LiveDNS keeps a name's TXT values as one rrset:
 * GET /domains/{zone}/records/{name}/TXT gives {"rrset_values": [...]} (404:
 * none), PUT of {"rrset_values","rrset_ttl"} replaces it, DELETE removes it.
 * Values travel as zone-file text ("\"value\""). Errors are
 * {"code","message","object","cause"}.
 */
#include "providers/provider.h"
#include "providers/rest_records.h"

#include <stdio.h>

static const char *const secret_keys[] = { "api_token", NULL };
static const char *const known_keys[] = { "api_token", "api_url", "zone", "ttl", NULL };

static int gandi_zone(cf_rest_op *op, const char *candidate, cf_err *err)
{
	return cf_rest_zone_by_path(op, "/domains/", candidate, "", err);
}

/* "/domains/{zone}/records/{name}/TXT" */
static int rrset_path(const cf_rest_op *op, char *out, size_t cap, cf_err *err)
{
	char sub[CF_NAME_MAX + 1], esc[3 * CF_NAME_MAX + 1];

	cf_rest_subname(op, "@", sub);
	if (cf_rest_escape(sub, esc, sizeof(esc)) != 0 ||
	    (size_t)snprintf(out, cap, "/domains/%s/records/%s/TXT", op->zone_id, esc) >= cap)
		return cf_err_set(err, CF_ERR_PERMANENT, "gandi: name too long");
	return 0;
}

static int gandi_get(cf_rest_op *op, json_t **contents, cf_err *err)
{
	char path[4 * CF_NAME_MAX + 64];

	*contents = NULL;
	if (rrset_path(op, path, sizeof(path), err) != 0)
		return -1;
	return cf_rest_get_array(op, path, "rrset_values", contents, err);
}

static int gandi_put(cf_rest_op *op, const json_t *contents, cf_err *err)
{
	char path[4 * CF_NAME_MAX + 64];

	if (rrset_path(op, path, sizeof(path), err) != 0)
		return -1;
	if (json_array_size(contents) == 0)
		return cf_rest_delete(op, path, err);
	return cf_rest_send(op, "PUT", path,
			    json_pack("{s:O,s:I}", "rrset_values", (json_t *)contents, "rrset_ttl",
				      (json_int_t)op->conf->ttl),
			    err);
}

static const cf_rest_api api = {
	.who = "gandi",
	.known_keys = known_keys,
	.url_key = "api_url",
	.default_url = "https://api.gandi.net/v5/livedns",
	.token_key = "api_token",
	.token_hint = "a personal access token restricted to the alias domain with the "
		      "\"Manage domain name technical configurations\" permission",
	.ttl_min = 300,
	.ttl_max = 2592000,
	.ttl_def = 300,
	.quoted = true,
	.auth_header = "Authorization: Bearer ",
	.zone_find = gandi_zone,
	.rrset_get = gandi_get,
	.rrset_put = gandi_put,
};

CF_REST_PROVIDER(gandi, "gandi", api, secret_keys);
