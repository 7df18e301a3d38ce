/*
 * account.c: ACME accounts (RFC 8555 section 7.3): creating one or finding the
 * existing one for a key (newAccount, with onlyReturnExisting for a pure
 * look-up), contacts as mailto: URLs, agreement to the terms of service, External
 * Account Binding for CAs that require it, and key rollover (keyChange). The
 * account URL a CA returns in Location becomes the client's "kid".
 *
 * A CA that requires External Account Binding still returns the existing account
 * of a key without one (section 7.3.1 comes first), so a register call without
 * EAB at such a CA is sent as a look-up (onlyReturnExisting): it finds the
 * account made earlier with EAB, and otherwise fails saying that EAB is needed,
 * without ever asking the CA to create an account it must refuse.
 */
#include "acme/acme_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cf_acme_account_free(cf_acme_account *a)
{
	if (a == NULL)
		return;
	free(a->url);
	free(a->orders_url);
	free(a->json);
	memset(a, 0, sizeof(*a));
}

/* ["mailto:..."]: a bare address gets the scheme. */
static json_t *contact_array(const cf_acme_account_req *req)
{
	json_t *a = json_array();
	char buf[512];
	size_t i;

	for (i = 0; a != NULL && i < req->ncontacts; i++) {
		const char *s = req->contacts[i];

		if (strchr(s, ':') == NULL) {
			if ((size_t)snprintf(buf, sizeof(buf), "mailto:%s", s) >= sizeof(buf))
				s = NULL; /* too long: json_string(NULL) fails below */
			else
				s = buf;
		}
		if (s == NULL || json_array_append_new(a, json_string(s)) != 0) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

static json_t *account_payload(cf_acme_client *c, const cf_acme_account_req *req,
			       bool lookup_only, cf_err *err)
{
	json_t *p = json_object(), *jwk = NULL, *eab = NULL;
	int bad = p == NULL;

	if (!bad && req->ncontacts > 0)
		bad = json_object_set_new(p, "contact", contact_array(req));
	if (!bad && req->terms_agreed)
		bad = json_object_set_new(p, "termsOfServiceAgreed", json_true());
	if (!bad && (req->only_return_existing || lookup_only))
		bad = json_object_set_new(p, "onlyReturnExisting", json_true());
	if (bad) {
		cf_err_set(err, CF_ERR_PERMANENT, "newAccount: cannot build the request");
		goto fail;
	}
	if (req->eab_kid != NULL) {
		if ((jwk = cf_jwk_public(c->key, err)) == NULL ||
		    (eab = cf_acme_eab_jws(req->eab_kid, req->eab_hmac_key, c->dir.new_account, jwk,
					   err)) == NULL)
			goto fail;
		if (json_object_set_new(p, "externalAccountBinding", eab) != 0) {
			cf_err_oom(err, "newAccount");
			goto fail;
		}
	}
	json_decref(jwk);
	return p;
fail:
	json_decref(jwk);
	json_decref(p);
	return NULL;
}

static int check_request(const cf_acme_account_req *req, cf_err *err)
{
	if ((req->eab_kid == NULL) != (req->eab_hmac_key == NULL))
		return cf_err_set(err, CF_ERR_PERMANENT,
				  "newAccount: EAB needs both the key id and the HMAC key");
	return 0;
}

/* A look-up made in place of a creation (no EAB at a CA that requires it) found
 * nothing: say what is missing, keeping the CA's problem document. */
static void explain_eab_required(const cf_acme_client *c, cf_err *err)
{
	char type[128];

	if (err == NULL || err->problem == NULL ||
	    cf_acme_problem_type(err->problem, strlen(err->problem), type, sizeof(type)) == NULL ||
	    strcmp(type, ACME_URN_PREFIX "accountDoesNotExist") != 0)
		return;
	cf_err_set(err, CF_ERR_PERMANENT,
		   "newAccount: the CA requires External Account Binding (an EAB key id and "
		   "HMAC key) to create an account, and this key has none at %s", c->dir_url);
}

static int parse_account(const acme_resp *r, const json_t *j, cf_acme_account *out,
			 cf_err *err)
{
	if (r->location == NULL)
		return cf_err_set(err, CF_ERR_PERMANENT, "newAccount: no Location in the response");
	out->url = strdup(r->location);
	out->status = cf_acme_status_parse(json_string_value(json_object_get(j, "status")));
	out->created = r->status == 201;
	out->orders_url = acme_json_strdup(j, "orders");
	out->json = json_dumps(j, JSON_COMPACT);
	if (out->url == NULL || out->json == NULL)
		return cf_err_oom(err, "newAccount");
	return 0;
}

static int do_register(cf_acme_client *c, const cf_acme_account_req *req,
		       cf_acme_account *out, cf_err *err)
{
	json_t *payload = NULL, *j = NULL;
	char *text = NULL;
	acme_resp r = {0};
	bool lookup_only;
	int rc = -1;

	if (cf_acme_client_directory(c, NULL, err) != 0 || check_request(req, err) != 0)
		goto out;
	lookup_only = c->dir.external_account_required && req->eab_kid == NULL;
	if ((payload = account_payload(c, req, lookup_only, err)) == NULL)
		goto out;
	if ((text = json_dumps(payload, JSON_COMPACT)) == NULL) {
		cf_err_oom(err, "newAccount");
		goto out;
	}
	if (acme_post_json(c, "newAccount", c->dir.new_account, text, c->key, &r, &j, err) != 0) {
		if (lookup_only && !req->only_return_existing)
			explain_eab_required(c, err);
		goto out;
	}
	if (parse_account(&r, j, out, err) != 0 ||
	    cf_acme_client_set_account(c, out->url, err) != 0)
		goto out;
	rc = 0;
out:
	json_decref(payload);
	json_decref(j);
	free(text);
	acme_resp_free(&r);
	return rc;
}

int cf_acme_account_register(cf_acme_client *c, const cf_acme_account_req *req,
			     cf_acme_account *out, cf_err *err)
{
	long long t0 = cf_clock_mono_ms();
	int rc;

	cf_acme_account_free(out);
	rc = do_register(c, req, out, err);
	if (rc != 0)
		cf_acme_account_free(out);
	return acme_step_done(c, "newAccount", out->url, t0, rc, err,
			      rc == 0 ? (out->created ? "created" : "existing") : NULL);
}

static int do_key_change(cf_acme_client *c, const cf_key *new_key, cf_err *err)
{
	char *inner = NULL;
	acme_resp r = {0};
	int rc = -1;

	if (cf_acme_client_directory(c, NULL, err) != 0)
		goto out;
	if (c->kid == NULL) {
		cf_err_set(err, CF_ERR_PERMANENT, "keyChange: no account URL");
		goto out;
	}
	inner = acme_key_change_inner(new_key, c->key, c->dir.key_change, c->kid, err);
	if (inner == NULL ||
	    acme_post(c, "keyChange", c->dir.key_change, inner, NULL, NULL, &r, err) != 0)
		goto out;
	c->key = new_key;
	rc = 0;
out:
	free(inner);
	acme_resp_free(&r);
	return rc;
}

int cf_acme_account_key_change(cf_acme_client *c, const cf_key *new_key, cf_err *err)
{
	long long t0 = cf_clock_mono_ms();

	return acme_step_done(c, "keyChange", c->kid, t0, do_key_change(c, new_key, err), err,
			      NULL);
}
