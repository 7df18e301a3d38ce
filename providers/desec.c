/*
 * desec.c: the deSEC provider, API v1 with a token ("Authorization: Token").
 * The shared layer (rest_records.c) does settings, calls (with deSEC's rate
 * limits: a 429 is waited out for as long as its Retry-After asks, up to 60 s
 * per change, and sent again) and the read-modify-write; this file is the table
 * and the JSON mapping.
 *
 * Settings: api_token (secret), api_url (default https://desec.io/api/v1), zone
 * (else the longest suffix of the name that GET /domains/{name}/ knows), ttl
 * 3600-86400 (default 3600, deSEC's usual minimum_ttl).
 *
 * deSEC keeps a name's TXT values as one RRset:
 * GET /domains/{zone}/rrsets/{subname}/TXT/ ("@" at the apex) gives
 * {"records": [...]} (404: none), and PATCH /domains/{zone}/rrsets/ with
 * [{"subname","type","ttl","records"}] replaces it (an empty records list
 * deletes it). Records are zone-file text ("\"value\""). Errors are
 * {"detail"} (or per-field lists).
 */
#include "providers/provider.h"
#include "providers/rest_records.h"

#include <stdio.h>

#define RETRY_AFTER_MAX_S 60

static const char *const secret_keys[] = { "api_token", NULL };
static const char *const known_keys[] = { "api_token", "api_url", "zone", "ttl", NULL };

static int desec_zone(cf_rest_op *op, const char *candidate, cf_err *err)
{
	return cf_rest_zone_by_path(op, "/domains/", candidate, "/", err);
}

static int desec_get(cf_rest_op *op, json_t **contents, cf_err *err)
{
	char path[4 * CF_NAME_MAX + 64], sub[CF_NAME_MAX + 1], esc[3 * CF_NAME_MAX + 1];

	*contents = NULL;
	cf_rest_subname(op, "@", sub);
	if (cf_rest_escape(sub, esc, sizeof(esc)) != 0)
		return cf_err_set(err, CF_ERR_PERMANENT, "desec: name too long");
	snprintf(path, sizeof(path), "/domains/%s/rrsets/%s/TXT/", op->zone_id, esc);
	return cf_rest_get_array(op, path, "records", contents, err);
}

static int desec_put(cf_rest_op *op, const json_t *contents, cf_err *err)
{
	char path[CF_NAME_MAX + 32], sub[CF_NAME_MAX + 1];

	cf_rest_subname(op, "", sub);
	snprintf(path, sizeof(path), "/domains/%s/rrsets/", op->zone_id);
	return cf_rest_send(op, "PATCH", path,
			    json_pack("[{s:s,s:s,s:I,s:O}]", "subname", sub, "type", "TXT", "ttl",
				      (json_int_t)op->conf->ttl, "records", (json_t *)contents),
			    err);
}

static const cf_rest_api api = {
	.who = "desec",
	.known_keys = known_keys,
	.url_key = "api_url",
	.default_url = "https://desec.io/api/v1",
	.token_key = "api_token",
	.token_hint = "a token without perm_manage_tokens whose policies allow writing TXT "
		      "rrsets of the alias domain only",
	.ttl_min = 3600,
	.ttl_max = 86400,
	.ttl_def = 3600,
	.quoted = true,
	.auth_header = "Authorization: Token ",
	.retry_after_max_s = RETRY_AFTER_MAX_S,
	.zone_find = desec_zone,
	.rrset_get = desec_get,
	.rrset_put = desec_put,
};

CF_REST_PROVIDER(desec, "desec", api, secret_keys);
