/*
 * h_tokens.c: /v1/tokens: API tokens over the API, the same operations as
 * `certfleet token`: create (the secret is in the 201 answer and nowhere else:
 * only its HMAC is stored, the answer body is wiped once sent, and the route
 * refuses an Idempotency-Key, whose stored answer would keep the secret), list
 * (never a secret or a hash), and revoke by name (every live token of that
 * name, or with ?id= only that one: rotation keeps two tokens of one host valid
 * until the old one is revoked).
 *
 * Who may do what (README "Who gets the key"): a host token can fetch keys, so
 * only a keys token creates one; an admin token creates admin tokens; keys tokens
 * come only from the CLI on the database host (a token that could make keys
 * tokens would spread the capability). Revoking takes nothing away from anyone's
 * secrets: an admin token revokes any token, a keys token host tokens only. The
 * names "cli", "worker" and "db:*" are the audit trail's own actors and are
 * refused (400).
 *
 * Every create and revoke is an audit event in the request's transaction, and
 * drops the token from this process's fetch cache once committed (the NOTIFY of
 * the commit tells the others).
 */
#include "http/http.h"

#include <stdio.h>
#include <string.h>

#include "api/validate.h"
#include "crypto/crypto.h"
#include "store/tokens.h"

/* {"name","role","expires_in"?} -> name, role, seconds (0 = never); 1 when
 * answered 400. */
static int parse_create(const json_t *body, const char **name, cf_role *role, long *expires,
			cf_http_resp *resp)
{
	const json_t *n = json_object_get(body, "name"), *r = json_object_get(body, "role"),
		     *e = json_object_get(body, "expires_in"), *v;
	cf_verrs errs = { 0 };
	const char *k;

	*expires = 0;
	if (!json_is_object(body)) {
		cf_verrs_add(&errs, "body", "must be a JSON object {\"name\", \"role\", "
			     "\"expires_in\"?}");
		goto out;
	}
	json_object_foreach((json_t *)body, k, v)
		if (strcmp(k, "name") != 0 && strcmp(k, "role") != 0 && strcmp(k, "expires_in") != 0)
			cf_verrs_add(&errs, k, "unknown field (known: name, role, expires_in)");
	*role = cf_role_parse(json_string_value(r));
	if (*role == CF_ROLE_NONE)
		cf_verrs_add(&errs, "role", "required: \"admin\", \"host\" or \"keys\"");
	*name = json_string_value(n);
	if (!cf_valid_token_name(*name))
		cf_verrs_add(&errs, "name", "required: 1-128 of A-Z a-z 0-9 . _ @ - (starting with "
			     "a letter or digit)");
	else if (cf_token_name_reserved(*name))
		cf_verrs_add(&errs, "name", "\"%s\" is reserved: \"cli\", \"worker\" and names "
			     "starting with \"db:\" are the audit trail's own actors", *name);
	else if (*role == CF_ROLE_HOST && !cf_valid_host(*name))
		cf_verrs_add(&errs, "name", "a host token is named after its host, as certificates "
			     "list it in \"hosts\": lower-case labels of a-z, 0-9 and '-', joined "
			     "by dots");
	if (e != NULL && !json_is_null(e) &&
	    (!json_is_string(e) || cf_parse_duration(json_string_value(e), expires) != 0))
		cf_verrs_add(&errs, "expires_in", "a duration such as \"90d\", \"12h\", \"30m\" or "
			     "\"3600s\" (at most 100 years), or null for never");
out:
	if (errs.n == 0)
		return 0;
	cf_resp_invalid(resp, &errs);
	return 1;
}

/* 1 (answered 403, naming the field role) when the caller may not create a token
 * of this role. */
static int refuse_role(const cf_http_req *req, cf_role role, cf_http_resp *resp)
{
	const char *why = NULL;

	if (role == CF_ROLE_KEYS)
		why = "keys tokens are created only with `certfleet token create --role keys` "
		      "on the database host";
	else if (role == CF_ROLE_HOST && req->who.role != CF_ROLE_KEYS)
		why = "a host token receives private keys, so only a keys token creates one";
	else if (role == CF_ROLE_ADMIN && req->who.role != CF_ROLE_ADMIN)
		why = "only an admin token creates admin tokens";
	if (why == NULL)
		return 0;
	cf_resp_problem_ext(resp, 403, "forbidden", json_pack("{s:s}", "field", "role"),
			    "role: %s; token %s (%s) has the role %s", why, req->who.token_id,
			    req->who.name, cf_role_name(req->who.role));
	return 1;
}

int cf_h_tokens_create(cf_app *app, cf_http_req *req, cf_http_resp *resp)
{
	char id[CF_TOKEN_ID_LEN + 1];
	json_t *body = NULL, *out = NULL, *detail = NULL;
	const char *name = NULL;
	char *token = NULL;
	cf_role role = CF_ROLE_NONE;
	cf_err err = { 0 };
	long expires = 0;

	if ((body = cf_req_json(req, resp, false)) == NULL ||
	    parse_create(body, &name, &role, &expires, resp) != 0 ||
	    refuse_role(req, role, resp) != 0)
		goto out;
	if (cf_token_create(req->db, name, role, expires, &token, id, &err) != 0)
		goto fail;
	detail = json_pack("{s:s, s:s, s:I}", "name", name, "role", cf_role_name(role),
			   "expires_in_s", (json_int_t)expires);
	if (cf_api_audit(req, "token.create", id, detail, &err) != 0 ||
	    cf_token_get_json(req->db, id, &out, &err) != 0 || out == NULL)
		goto fail;
	json_object_set_new(out, "token", json_string(token));
	cf_resp_json(resp, 201, out);
	resp->secret = true; /* the body holds the token */
	cf_req_invalidate(req, CF_CACHE_TOKEN, id);
	goto out;
fail:
	cf_resp_store_error(req, resp, &err);
out:
	cf_secret_free(token);
	json_decref(detail);
	json_decref(body);
	cf_err_clear(&err);
	return 0;
}

int cf_h_tokens_list(cf_app *app, cf_http_req *req, cf_http_resp *resp)
{
	json_t *list = NULL;
	cf_verrs errs = { 0 };
	cf_err err = { 0 };
	cf_page pg;
	int rc;

	if (cf_page_parse(req, "ts", CF_PAGE_DEFAULT, &pg, &errs) != 0) {
		cf_resp_invalid(resp, &errs);
		cf_page_free(&pg);
		return 0;
	}
	rc = cf_token_page(req->db, &pg.q, &list, &err);
	cf_page_reply(req, resp, &pg, rc, rc == 0 ? json_pack("{s:o}", "tokens", list) : NULL,
		      &err);
	return 0;
}

static bool valid_token_id(const char *s)
{
	if (s == NULL || strlen(s) != CF_TOKEN_ID_LEN)
		return false;
	for (size_t i = 0; i < CF_TOKEN_ID_LEN; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

int cf_h_token_revoke(cf_app *app, cf_http_req *req, cf_http_resp *resp)
{
	const char *name = req->params[0], *id = cf_req_query(req, "id");
	bool keys = req->who.role == CF_ROLE_KEYS;
	json_t *ids = NULL, *detail = NULL, *v;
	cf_verrs errs = { 0 };
	cf_err err = { 0 };
	size_t i;
	int n;

	if (id != NULL && !valid_token_id(id)) {
		cf_verrs_add(&errs, "id", "a token id is 12 lower-case hex digits (the part after "
			     "\"cf_\")");
		cf_resp_invalid(resp, &errs);
		goto out;
	}
	/* a keys token revokes host tokens only */
	n = cf_valid_token_name(name)
		    ? cf_token_revoke(req->db, name, id, keys ? CF_ROLE_HOST : CF_ROLE_NONE, &ids,
				      &err) : 0;
	if (n < 0)
		goto fail;
	if (n == 0) {
		cf_resp_problem(resp, 404, "not-found", NULL, "no live %stoken called \"%.128s\"%s%s",
				keys ? "host " : "", name, id ? " with id " : "", id ? id : "");
		goto out;
	}
	detail = json_pack("{s:s, s:s}", "name", name, "by", id ? "id" : "name");
	json_array_foreach(ids, i, v) {
		if (cf_api_audit(req, "token.revoke", json_string_value(v), detail, &err) != 0)
			goto fail;
		cf_req_invalidate(req, CF_CACHE_TOKEN, json_string_value(v));
	}
	cf_resp_json(resp, 200, json_pack("{s:O}", "revoked", ids));
	goto out;
fail:
	cf_resp_store_error(req, resp, &err);
out:
	json_decref(detail);
	json_decref(ids);
	cf_err_clear(&err);
	return 0;
}
