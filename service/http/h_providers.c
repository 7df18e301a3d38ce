/*
 * h_providers.c: /v1/providers: configure the DNS providers that certificates
 * name (create, list, show, delete).
 *
 * A provider's settings are checked by its own validate() before anything is
 * written; the settings the provider calls secret (ops->secret_keys) are sealed
 * with the master key, bound to the row by the AAD "dns_providers:<name>"
 * (store/providers.c), and are never returned: a representation lists only which
 * secret settings are set, and whether their blob opens. The request body, which
 * holds the credentials in clear, is wiped when the request completes
 * (server.c), and the parsed copy here by cf_provider_settings_free.
 */
#include "http/http.h"

#include <stdlib.h>
#include <string.h>

#include "api/validate.h"
#include "store/providers.h"

int cf_h_providers_list(cf_app *app, cf_http_req *req, cf_http_resp *resp)
{
	json_t *out = NULL;
	cf_verrs errs = { 0 };
	cf_err err = { 0 };
	cf_page pg;
	int rc;

	if (cf_page_parse(req, "s", CF_PAGE_DEFAULT, &pg, &errs) != 0) {
		cf_resp_invalid(resp, &errs);
		cf_page_free(&pg);
		return 0;
	}
	rc = cf_provider_page_json(req->db, app->master_key, &pg.q, &out, &err);
	cf_page_reply(req, resp, &pg, rc, out, &err);
	return 0;
}

/* The audit detail of a new provider: its type, non-secret settings and the names
 * (never the values) of its secret ones. */
static json_t *create_detail(const char *type, const json_t *pub, const json_t *settings)
{
	json_t *secrets = json_array(), *v;
	const char *k;

	json_object_foreach((json_t *)settings, k, v)
		if (json_object_get(pub, k) == NULL)
			json_array_append_new(secrets, json_string(k));
	return json_pack("{s:s, s:O, s:o}", "type", type, "settings", pub, "secrets", secrets);
}

int cf_h_providers_create(cf_app *app, cf_http_req *req, cf_http_resp *resp)
{
	const cf_provider_ops *ops = NULL;
	json_t *body = NULL, *pub = NULL, *out = NULL, *detail = NULL, *settings;
	cf_buf sealed = { 0 };
	cf_verrs errs = { 0 };
	cf_err err = { 0 };
	const char *name;
	int r;

	if ((body = cf_req_json(req, resp, false)) == NULL)
		goto out;
	if (cf_provider_doc_validate(body, &ops, &errs) != 0) {
		cf_resp_invalid(resp, &errs);
		goto out;
	}
	name = json_string_value(json_object_get(body, "name"));
	settings = json_object_get(body, "settings");
	if (cf_provider_settings_seal(ops, app->master_key, name, settings, &pub, &sealed,
				      &err) != 0)
		goto fail;
	r = cf_provider_insert(req->db, name, ops->name, pub, &sealed, &err);
	if (r < 0)
		goto fail;
	if (r == 0) {
		cf_resp_problem_ext(resp, 409, "conflict", json_pack("{s:s}", "field", "name"),
				    "name: a DNS provider called \"%s\" already exists", name);
		goto out;
	}
	detail = create_detail(ops->name, pub, settings);
	if (cf_api_audit(req, "provider.create", name, detail, &err) != 0 ||
	    cf_provider_get_json(req->db, app->master_key, name, &out, &err) != 0)
		goto fail;
	cf_resp_json(resp, 201, out);
	goto out;
fail:
	cf_resp_store_error(req, resp, &err);
out:
	json_decref(detail);
	json_decref(pub);
	cf_provider_settings_free(body);
	cf_buf_free(&sealed);
	cf_err_clear(&err);
	return 0;
}

int cf_h_provider_get(cf_app *app, cf_http_req *req, cf_http_resp *resp)
{
	const char *name = req->params[0];
	json_t *out = NULL;
	cf_err err = { 0 };

	if (!cf_valid_slug(name) || cf_provider_get_json(req->db, app->master_key, name, &out,
							 &err) != 0) {
		if (err.cls != CF_ERR_NONE)
			cf_resp_store_error(req, resp, &err);
		else
			cf_resp_problem(resp, 404, "not-found", NULL,
					"no DNS provider called \"%.80s\"", name);
	} else if (out == NULL) {
		cf_resp_problem(resp, 404, "not-found", NULL, "no DNS provider called \"%s\"", name);
	} else {
		cf_resp_json(resp, 200, out);
	}
	cf_err_clear(&err);
	return 0;
}

int cf_h_provider_delete(cf_app *app, cf_http_req *req, cf_http_resp *resp)
{
	const char *name = req->params[0];
	json_t *users = NULL;
	cf_err err = { 0 };
	int r = 0;

	if (cf_valid_slug(name))
		r = cf_provider_delete(req->db, name, &users, &err);
	if (r < 0) {
		cf_resp_store_error(req, resp, &err);
	} else if (r == 0) {
		cf_resp_problem(resp, 404, "not-found", NULL, "no DNS provider called \"%.80s\"",
				name);
	} else if (r == 2) {
		char *list = json_dumps(users, JSON_COMPACT);

		cf_resp_problem_ext(resp, 409, "provider-in-use",
				    json_pack("{s:O}", "certificates", users),
				    "DNS provider \"%s\" is used by certificates %s: change or "
				    "delete them first",
				    name, list ? list : "[]");
		free(list);
	} else if (cf_api_audit(req, "provider.delete", name, NULL, &err) != 0) {
		cf_resp_store_error(req, resp, &err);
	} else {
		cf_resp_empty(resp, 204);
	}
	json_decref(users);
	cf_err_clear(&err);
	return 0;
}
