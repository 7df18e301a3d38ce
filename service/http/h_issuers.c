/*
 * h_issuers.c: /v1/issuers: the CAs certificates are issued by (create, list,
 * show with live state, change, delete).
 *
 * A document is checked whole before anything is written, each violation naming
 * its field: name (a slug), directory (https://), email, ca_file (PEM
 * certificates: the trust for the CA's TLS), eab ({"kid","hmac_key"}: External
 * Account Binding), profile, limits ({limit: {"count","per_seconds"}} of the four
 * limits the service budgets) and renewals_exempt. The EAB HMAC key is sealed
 * (store/issuers.c) and never returned: a representation says only that it is
 * set. The request body holding it is wiped when the request completes
 * (server.c), the parsed copy here before it is released.
 *
 * GET /v1/issuers/{name} shows the shared live state: a pause (until, why, the
 * CA's problem verbatim), the orders and failures of the last hour, and each
 * limit's budget (used, left, when the next unit frees).
 */
#include "http/http.h"

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#include "api/validate.h"
#include "crypto/crypto.h"
#include "store/issuers.h"
#include "util/b64.h"

#define ISSUER_FIELDS "name, directory, email, ca_file, eab, profile, limits, renewals_exempt"

static bool known_field(const char *k)
{
	static const char *const fields[] = {"name", "directory", "email", "ca_file", "eab",
					     "profile", "limits", "renewals_exempt"};

	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		if (strcmp(k, fields[i]) == 0)
			return true;
	return false;
}

static bool known_limit(const char *k)
{
	return strcmp(k, CF_LIMIT_ORDERS) == 0 || strcmp(k, CF_LIMIT_PER_DOMAIN) == 0 ||
	       strcmp(k, CF_LIMIT_DUP_SETS) == 0 || strcmp(k, CF_LIMIT_FAILED_AUTHZ) == 0;
}

static void check_limits(const json_t *l, cf_verrs *errs)
{
	char field[96];
	const char *k;
	json_t *v;

	if (!json_is_object(l)) {
		cf_verrs_add(errs, "limits", "must be an object of limits ({\"orders\": "
			     "{\"count\": 300, \"per_seconds\": 10800}, ...})");
		return;
	}
	json_object_foreach((json_t *)l, k, v) {
		const char *m;
		json_t *x;

		snprintf(field, sizeof(field), "limits.%.60s", k);
		if (!known_limit(k)) {
			cf_verrs_add(errs, field, "unknown limit (known: orders, "
				     "certificates_per_domain, duplicate_sets, "
				     "failed_authorizations_per_name)");
			continue;
		}
		if (!json_is_object(v)) {
			cf_verrs_add(errs, field, "must be {\"count\": N, \"per_seconds\": S}");
			continue;
		}
		json_object_foreach(v, m, x) {
			snprintf(field, sizeof(field), "limits.%.40s.%.40s", k, m);
			if (strcmp(m, "count") != 0 && strcmp(m, "per_seconds") != 0)
				cf_verrs_add(errs, field, "unknown member (known: count, per_seconds)");
			else if (!json_is_integer(x) || json_integer_value(x) < 1 ||
				 json_integer_value(x) > 100000000)
				cf_verrs_add(errs, field, "must be a whole number from 1 to 100000000");
		}
		snprintf(field, sizeof(field), "limits.%.60s", k);
		if (json_object_get(v, "count") == NULL || json_object_get(v, "per_seconds") == NULL)
			cf_verrs_add(errs, field, "needs both count and per_seconds");
	}
}

static void check_eab(const json_t *e, bool need_key, cf_verrs *errs)
{
	const json_t *kid = json_object_get(e, "kid"), *hmac = json_object_get(e, "hmac_key");
	const char *k;
	json_t *v;

	if (json_is_null(e))
		return;
	if (!json_is_object(e)) {
		cf_verrs_add(errs, "eab", "must be {\"kid\": ..., \"hmac_key\": ...} or null");
		return;
	}
	json_object_foreach((json_t *)e, k, v)
		if (strcmp(k, "kid") != 0 && strcmp(k, "hmac_key") != 0 &&
		    strcmp(k, "hmac_key_set") != 0)
			cf_verrs_add(errs, "eab", "unknown member \"%.40s\" (known: kid, hmac_key)", k);
	if (!json_is_string(kid) || json_string_length(kid) == 0 || json_string_length(kid) > 256)
		cf_verrs_add(errs, "eab.kid", "required: the key id the CA handed out (1-256 "
			     "characters)");
	if (hmac == NULL && !need_key)
		return;
	if (!json_is_string(hmac) || json_string_length(hmac) == 0 ||
	    json_string_length(hmac) > 1024) {
		cf_verrs_add(errs, "eab.hmac_key", "required: the base64url MAC key the CA handed "
			     "out");
	} else {
		size_t n = 0;
		uint8_t *raw = cf_b64url_decode(json_string_value(hmac), &n);

		if (raw == NULL || n < 16)
			cf_verrs_add(errs, "eab.hmac_key", "must be base64url of at least 16 bytes");
		if (raw != NULL)
			OPENSSL_cleanse(raw, n);
		free(raw);
	}
}

static void check_email(const json_t *e, cf_verrs *errs)
{
	const char *s = json_string_value(e);

	if (e == NULL || (s != NULL && s[0] == '\0'))
		return;
	if (s == NULL || strlen(s) > 254 || strchr(s, '@') == NULL || strpbrk(s, " \t\r\n<>,") ||
	    s[0] == '@')
		cf_verrs_add(errs, "email", "must be an e-mail address such as ops@example.com");
}

static void check_ca_file(const json_t *c, cf_verrs *errs)
{
	cf_err err = {0};

	if (c == NULL || json_is_null(c))
		return;
	if (!json_is_string(c) || json_string_length(c) > 262144) {
		cf_verrs_add(errs, "ca_file", "must be the PEM text of the CA certificates that "
			     "sign the CA's HTTPS certificate (at most 256 KiB), or null");
		return;
	}
	if (cf_pem_chain_split(json_string_value(c), json_string_length(c), NULL, NULL, &err) != 0)
		cf_verrs_add(errs, "ca_file", "is not PEM certificates: %s", err.msg);
	cf_err_clear(&err);
}

/* Checks a whole document; need_key: an eab must carry its hmac_key (a POST, or a
 * PATCH that sets eab). Returns 0 with *out a normalised copy, or 1 with errs. */
static int issuer_validate(const json_t *in, bool need_key, json_t **out, cf_verrs *errs)
{
	const json_t *name, *dir, *prof, *ex, *v;
	const char *k;

	*out = NULL;
	if (!json_is_object(in)) {
		cf_verrs_add(errs, "body", "must be a JSON object");
		return 1;
	}
	json_object_foreach((json_t *)in, k, v)
		if (!known_field(k))
			cf_verrs_add(errs, k, "unknown field (known: " ISSUER_FIELDS ")");
	name = json_object_get(in, "name");
	if (!cf_valid_slug(json_string_value(name)))
		cf_verrs_add(errs, "name", "required: a slug (1-63 of a-z, 0-9 and '-', not "
			     "starting with '-') such as \"le\"");
	dir = json_object_get(in, "directory");
	if (!json_is_string(dir) || strncmp(json_string_value(dir), "https://", 8) != 0 ||
	    json_string_length(dir) > 2000 || json_string_length(dir) < 9)
		cf_verrs_add(errs, "directory", "required: the https:// URL of the CA's ACME "
			     "directory");
	check_email(json_object_get(in, "email"), errs);
	check_ca_file(json_object_get(in, "ca_file"), errs);
	if (json_object_get(in, "eab") != NULL)
		check_eab(json_object_get(in, "eab"), need_key, errs);
	prof = json_object_get(in, "profile");
	if (prof != NULL && !json_is_null(prof) && !cf_valid_profile_name(json_string_value(prof)))
		cf_verrs_add(errs, "profile", "must be a profile name the CA offers (such as "
			     "\"tlsserver\") or null");
	if (json_object_get(in, "limits") != NULL)
		check_limits(json_object_get(in, "limits"), errs);
	ex = json_object_get(in, "renewals_exempt");
	if (ex != NULL && !json_is_boolean(ex))
		cf_verrs_add(errs, "renewals_exempt", "must be true or false");
	if (errs->n > 0)
		return 1;
	*out = json_deep_copy(in);
	if (*out == NULL) {
		cf_verrs_add(errs, "body", "out of memory");
		return 1;
	}
	return 0;
}

/* Seals the eab.hmac_key of doc (when there is one) into sealed and removes it
 * from doc (wiped). Returns 0, or -1 with err. */
static int take_hmac(cf_app *app, json_t *doc, cf_buf *sealed, cf_err *err)
{
	json_t *eab = json_object_get(doc, "eab"), *h = json_object_get(eab, "hmac_key");
	int rc;

	json_object_del(eab, "hmac_key_set");
	if (!json_is_string(h))
		return 0;
	rc = cf_issuer_eab_seal(app->master_key, json_string_value(json_object_get(doc, "name")),
				json_string_value(h), sealed, err);
	OPENSSL_cleanse((char *)json_string_value(h), json_string_length(h));
	json_object_del(eab, "hmac_key");
	return rc;
}

/* The audit detail: what was set, never the HMAC key. */
static json_t *audit_detail(const json_t *doc)
{
	return json_pack("{s:O, s:b}", "directory", json_object_get(doc, "directory"), "eab",
			 json_is_object(json_object_get(doc, "eab")));
}

/* Wipes every string of a body that may hold the HMAC key, then releases it. */
static void body_free(json_t *body)
{
	json_t *h = json_object_get(json_object_get(body, "eab"), "hmac_key");

	if (json_is_string(h))
		OPENSSL_cleanse((char *)json_string_value(h), json_string_length(h));
	json_decref(body);
}

int cf_h_issuers_list(cf_app *app, cf_http_req *req, cf_http_resp *resp)
{
	json_t *out = NULL;
	cf_verrs errs = {0};
	cf_err err = {0};
	cf_page pg;
	int rc;

	if (cf_page_parse(req, "s", CF_PAGE_DEFAULT, &pg, &errs) != 0) {
		cf_resp_invalid(resp, &errs);
		cf_page_free(&pg);
		return 0;
	}
	rc = cf_issuer_page_json(req->db, &pg.q, &out, &err);
	cf_page_reply(req, resp, &pg, rc, out, &err);
	return 0;
}

int cf_h_issuers_create(cf_app *app, cf_http_req *req, cf_http_resp *resp)
{
	json_t *body = NULL, *doc = NULL, *out = NULL, *detail = NULL;
	cf_buf sealed = {0};
	cf_verrs errs = {0};
	cf_err err = {0};
	const char *name;
	int r;

	if ((body = cf_req_json(req, resp, false)) == NULL)
		goto out;
	if (issuer_validate(body, true, &doc, &errs) != 0) {
		cf_resp_invalid(resp, &errs);
		goto out;
	}
	name = json_string_value(json_object_get(doc, "name"));
	if (take_hmac(app, doc, &sealed, &err) != 0 ||
	    (r = cf_issuer_insert(req->db, doc, &sealed, &err)) < 0)
		goto fail;
	if (r == 0) {
		cf_resp_problem_ext(resp, 409, "conflict", json_pack("{s:s}", "field", "name"),
				    "name: an issuer called \"%s\" already exists", name);
		goto out;
	}
	detail = audit_detail(doc);
	if (cf_api_audit(req, "issuer.create", name, detail, &err) != 0 ||
	    cf_issuer_get_json(req->db, name, &out, &err) != 0 || out == NULL)
		goto fail;
	cf_resp_json(resp, 201, out);
	goto out;
fail:
	cf_resp_store_error(req, resp, &err);
out:
	json_decref(detail);
	body_free(doc);
	body_free(body);
	cf_buf_free_secret(&sealed);
	cf_err_clear(&err);
	return 0;
}

static void not_found(cf_http_resp *resp, const char *name)
{
	cf_resp_problem(resp, 404, "not-found", NULL, "no issuer called \"%.80s\"", name);
}

int cf_h_issuer_get(cf_app *app, cf_http_req *req, cf_http_resp *resp)
{
	const char *name = req->params[0];
	json_t *out = NULL;
	cf_err err = {0};

	if (!cf_valid_slug(name))
		not_found(resp, name);
	else if (cf_issuer_get_json(req->db, name, &out, &err) != 0)
		cf_resp_store_error(req, resp, &err);
	else if (out == NULL)
		not_found(resp, name);
	else
		cf_resp_json(resp, 200, out);
	cf_err_clear(&err);
	return 0;
}

/* current updated by patch (RFC 7396 at the top level; null removes a member);
 * a removed "eab" reads as null, which the issuer's validation takes as none. */
static json_t *merge(const json_t *current, const json_t *patch, cf_verrs *errs)
{
	json_t *m = cf_patch_merge_top(current, patch, "issuer", errs);

	if (m != NULL && json_object_get(m, "eab") == NULL)
		json_object_set_new(m, "eab", json_null());
	return m;
}

int cf_h_issuer_patch(cf_app *app, cf_http_req *req, cf_http_resp *resp)
{
	const char *name = req->params[0];
	json_t *body = NULL, *current = NULL, *merged = NULL, *doc = NULL, *out = NULL,
	       *detail = NULL;
	cf_buf sealed = {0};
	cf_verrs errs = {0};
	cf_err err = {0};
	bool sets_eab;

	if (!cf_valid_slug(name)) {
		not_found(resp, name);
		goto out;
	}
	if ((body = cf_req_json(req, resp, false)) == NULL)
		goto out;
	if (cf_issuer_get_doc_locked(req->db, name, &current, &err) != 0)
		goto fail;
	if (current == NULL) {
		not_found(resp, name);
		goto out;
	}
	sets_eab = json_is_object(json_object_get(body, "eab"));
	if (sets_eab)
		check_eab(json_object_get(body, "eab"), true, &errs);
	if (errs.n > 0 || (merged = merge(current, body, &errs)) == NULL ||
	    issuer_validate(merged, false, &doc, &errs) != 0) {
		cf_resp_invalid(resp, &errs);
		goto out;
	}
	if (take_hmac(app, doc, &sealed, &err) != 0 ||
	    cf_issuer_update(req->db, doc, sets_eab ? &sealed : NULL, &err) < 0)
		goto fail;
	detail = audit_detail(doc);
	if (cf_api_audit(req, "issuer.update", name, detail, &err) != 0 ||
	    cf_issuer_get_json(req->db, name, &out, &err) != 0 || out == NULL)
		goto fail;
	cf_resp_json(resp, 200, out);
	goto out;
fail:
	cf_resp_store_error(req, resp, &err);
out:
	json_decref(detail);
	body_free(doc);
	body_free(merged);
	json_decref(current);
	body_free(body);
	cf_buf_free_secret(&sealed);
	cf_err_clear(&err);
	return 0;
}

int cf_h_issuer_delete(cf_app *app, cf_http_req *req, cf_http_resp *resp)
{
	const char *name = req->params[0];
	json_t *users = NULL;
	cf_err err = {0};
	int r = 0;

	if (cf_valid_slug(name))
		r = cf_issuer_delete(req->db, name, &users, &err);
	if (r < 0) {
		cf_resp_store_error(req, resp, &err);
	} else if (r == 0) {
		not_found(resp, name);
	} else if (r == 2) {
		char *list = json_dumps(users, JSON_COMPACT);

		cf_resp_problem_ext(resp, 409, "issuer-in-use",
				    json_pack("{s:O}", "certificates", users),
				    "issuer \"%s\" is named by certificates %s: change or delete "
				    "them first", name, list ? list : "[]");
		free(list);
	} else if (cf_api_audit(req, "issuer.delete", name, NULL, &err) != 0) {
		cf_resp_store_error(req, resp, &err);
	} else {
		cf_resp_empty(resp, 204);
	}
	json_decref(users);
	cf_err_clear(&err);
	return 0;
}
