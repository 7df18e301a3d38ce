/*
 * h_certificates.c: /v1/certificates: managed certificates (create, list, show,
 * change, delete) and POST /v1/certificates/{id}/issue (a new issuance now).
 *
 * Creating a certificate writes its row and its first job (queued, kind issue)
 * in the request's transaction, and NOTIFY CF_JOBS_CHANNEL wakes the workers when
 * it commits. Every document is checked whole by cf_cert_validate before a row
 * is touched; a PATCH is merged into the current definition and the result is
 * checked the same way, so a certificate is never left half-changed. The
 * providers a certificate names are locked FOR SHARE until the commit, so a
 * concurrent DELETE of one of them waits and then sees the certificate.
 *
 * A provider with allowed_names (providers/scope.h) must be able to write the
 * challenge target of each name it serves: the record itself without an alias,
 * the alias or the alias map's entry otherwise (with "auto" the target is known
 * only from DNS: the worker checks it before writing). Otherwise 400, naming the
 * name, the target and the provider.
 *
 * Key grants (README "Who gets the key"): a certificate's hosts and admin_keys
 * say who receives its private key, so changing them is the keys role's, not
 * the admin's. A PATCH from an admin token that would change either is refused
 * (403 naming the field; the same value again is no change); a keys token may
 * PATCH those two members and nothing else, and reads certificates but creates
 * none. An admin token creates certificates whose key goes to their hosts or,
 * with admin_keys: true, to admin tokens, but not both at once (403): otherwise
 * an admin could delete a certificate and create it again under its id, with
 * its hosts, as one whose key the admin also receives.
 *
 * DELETE is refused (409) while a job of the certificate is running or waiting:
 * a worker may hold an ACME order and TXT values for it. A queued job is deleted
 * with the certificate.
 */
#include "http/http.h"

#include <stdio.h>
#include <string.h>

#include "api/validate.h"
#include "store/certificates.h"
#include "store/issuers.h"
#include "store/jobs.h"
#include "store/providers.h"
#include "providers/scope.h"

/* The cf_cert_rules callback: does provider name exist (and lock it)? */
static int provider_exists(void *arg, const char *name, cf_err *err)
{
	cf_http_req *req = arg;

	return cf_provider_exists_locked(req->db, name, err);
}

/* The cf_cert_rules callback: does issuer name exist (and lock it)? The issuer
 * "default" always does: CERTFLEET_ACME_DIRECTORY defines it, written when a
 * serve with workers starts (one without a CA configured has none yet). */
static int issuer_exists(void *arg, const char *name, cf_err *err)
{
	cf_http_req *req = arg;
	int r = cf_issuer_exists_locked(req->db, name, err);

	return r == 0 && strcmp(name, CF_ISSUER_DEFAULT) == 0 ? 1 : r;
}

/* The FQDN the values of name go to under doc's dns_alias into target; false for
 * "auto" (known only from DNS). */
static bool doc_target(const json_t *doc, const char *name, char target[CF_NAME_MAX + 1])
{
	const json_t *a = json_object_get(doc, "dns_alias");

	if (json_is_string(a) && strcmp(json_string_value(a), "auto") == 0)
		return false;
	if (json_is_object(a))
		a = json_object_get(a, name);
	if (json_is_string(a))
		return snprintf(target, CF_NAME_MAX + 1, "%s", json_string_value(a)) <= CF_NAME_MAX;
	return cf_challenge_record(name, target, NULL) == 0;
}

/* Each name's target against its provider's allowed_names: 0 fine, 1 answered 400
 * (every name outside is listed), -1 error. */
static int scope_check(cf_app *app, cf_http_req *req, cf_http_resp *resp, const json_t *doc,
		       cf_err *err)
{
	const json_t *prov = json_object_get(doc, "provider"), *d;
	char target[CF_NAME_MAX + 1], field[96];
	cf_verrs errs = { 0 };
	size_t i;
	int rc = 0;

	json_array_foreach(json_object_get(doc, "domains"), i, d) {
		const char *name = json_string_value(d), *pname;
		json_t *p = NULL;
		cf_err e = { 0 };

		pname = json_string_value(json_is_object(prov) ? json_object_get(prov, name) : prov);
		if (pname == NULL || !doc_target(doc, name, target))
			continue;
		if (cf_provider_get_json(req->db, app->master_key, pname, &p, err) != 0) {
			rc = -1;
			break;
		}
		if (cf_scope_allows(json_object_get(p, "settings"), pname, target, &e) != 1) {
			if (json_is_object(prov))
				snprintf(field, sizeof(field), "provider[\"%.60s\"]", name);
			else
				snprintf(field, sizeof(field), "provider");
			cf_verrs_add(&errs, field, "%s: its challenge target %s: %s", name, target,
				     e.msg);
		}
		cf_err_clear(&e);
		json_decref(p);
	}
	if (rc == 0 && errs.n > 0) {
		cf_resp_invalid(resp, &errs);
		rc = 1;
	}
	return rc;
}

/* cf_cert_validate with the service's rules; 0 valid, 1 answered 400, -1 error. */
static int validate(cf_app *app, cf_http_req *req, cf_http_resp *resp, const json_t *in,
		    json_t **doc, cf_err *err)
{
	cf_cert_rules rules = { .max_names = app->cfg->max_names,
				.provider_exists = provider_exists,
				.issuer_exists = issuer_exists,
				.arg = req };
	cf_verrs errs = { 0 };
	int r = cf_cert_validate(in, &rules, doc, &errs, err);

	if (r == 1)
		cf_resp_invalid(resp, &errs);
	if (r == 0 && (r = scope_check(app, req, resp, *doc, err)) != 0) {
		json_decref(*doc); /* answered (400) or failed */
		*doc = NULL;
	}
	if (r == 0 && (r = cf_profile_check(app, req, resp, *doc, err)) != 0) {
		json_decref(*doc); /* answered (400, 503) or failed */
		*doc = NULL;
	}
	return r;
}

/* 403 naming field: what the caller's token may not do. */
static void forbidden(const cf_http_req *req, cf_http_resp *resp, const char *field,
		      const char *why)
{
	cf_resp_problem_ext(resp, 403, "forbidden", json_pack("{s:s}", "field", field),
			    "%s: %s; token %s (%s) has the role %s", field, why, req->who.token_id,
			    req->who.name, cf_role_name(req->who.role));
}

/* Do two arrays of strings hold the same set? (Order is no change.) */
static bool same_set(const json_t *a, const json_t *b)
{
	size_t i, j;

	if (json_array_size(a) != json_array_size(b))
		return false;
	for (i = 0; i < json_array_size(a); i++) {
		for (j = 0; j < json_array_size(b); j++)
			if (json_equal(json_array_get(a, i), json_array_get(b, j)))
				break;
		if (j == json_array_size(b))
			return false;
	}
	return true;
}

/* A keys token's PATCH (see the top), checked before anything else: 1 when
 * answered 403 (a member other than hosts and admin_keys). */
static int refuse_keys_patch(const cf_http_req *req, cf_http_resp *resp, const json_t *body)
{
	const char *k;
	json_t *v;

	if (req->who.role != CF_ROLE_KEYS || !json_is_object(body))
		return 0;
	json_object_foreach((json_t *)body, k, v)
		if (strcmp(k, "hosts") != 0 && strcmp(k, "admin_keys") != 0 &&
		    strcmp(k, "id") != 0) {
			forbidden(req, resp, k, "a keys token changes only hosts and admin_keys");
			return 1;
		}
	return 0;
}

/* An admin token's PATCH (see the top): 1 when answered 403 (it would change
 * hosts or admin_keys). current is the definition before it, doc the validated
 * result. */
static int refuse_admin_patch(const cf_http_req *req, cf_http_resp *resp,
			      const json_t *current, const json_t *doc)
{
	if (req->who.role == CF_ROLE_KEYS)
		return 0;
	if (!same_set(json_object_get(current, "hosts"), json_object_get(doc, "hosts"))) {
		forbidden(req, resp, "hosts", "the hosts of a certificate receive its private "
			  "key: only a keys token changes them");
		return 1;
	}
	if (json_is_true(json_object_get(current, "admin_keys")) !=
	    json_is_true(json_object_get(doc, "admin_keys"))) {
		forbidden(req, resp, "admin_keys", "admin_keys grants the private key to admin "
			  "tokens: only a keys token changes it");
		return 1;
	}
	return 0;
}

static void not_found(cf_http_resp *resp, const char *id)
{
	cf_resp_problem(resp, 404, "not-found", NULL, "no certificate called \"%.80s\"", id);
}

int cf_h_certs_list(cf_app *app, cf_http_req *req, cf_http_resp *resp)
{
	const char *within = cf_req_query(req, "expiring_within");
	json_t *out = NULL;
	cf_verrs errs = { 0 };
	cf_err err = { 0 };
	long secs = 0;
	cf_page pg;
	int rc;

	/* ?expiring_within=7d: only what is at risk (current version expiring) */
	if (within != NULL && cf_parse_duration(within, &secs) != 0)
		cf_verrs_add(&errs, "expiring_within", "expected a duration such as 7d, 12h, 30m "
			     "or 3600s");
	if (cf_page_parse(req, within != NULL ? "ts" : "s", CF_PAGE_DEFAULT, &pg, &errs) != 0 ||
	    errs.n > 0) {
		cf_resp_invalid(resp, &errs);
		cf_page_free(&pg);
		return 0;
	}
	rc = cf_cert_page_json(req->db, within != NULL ? secs : -1, &pg.q, &out, &err);
	cf_page_reply(req, resp, &pg, rc, out, &err);
	return 0;
}

int cf_h_certs_create(cf_app *app, cf_http_req *req, cf_http_resp *resp)
{
	char job_id[CF_JOB_ID_LEN + 1];
	json_t *body = NULL, *doc = NULL, *out = NULL, *detail = NULL;
	cf_err err = { 0 };
	const char *id;
	int r;

	if ((body = cf_req_json(req, resp, false)) == NULL)
		goto out;
	if ((r = validate(app, req, resp, body, &doc, &err)) != 0) {
		if (r < 0)
			goto fail;
		goto out;
	}
	id = json_string_value(json_object_get(doc, "id"));
	if (json_array_size(json_object_get(doc, "hosts")) > 0 &&
	    json_is_true(json_object_get(doc, "admin_keys"))) {
		forbidden(req, resp, "admin_keys", "an admin token creates a certificate whose key "
			  "goes to its hosts or to admin tokens, not both: create it without one "
			  "and have a keys token PATCH it in");
		goto out;
	}
	if ((r = cf_cert_insert(req->db, doc, &err)) < 0)
		goto fail;
	if (r == 0) {
		cf_resp_problem_ext(resp, 409, "conflict", json_pack("{s:s}", "field", "id"),
				    "id: a certificate called \"%s\" already exists", id);
		goto out;
	}
	if ((r = cf_job_enqueue(req->db, id, CF_JOB_KIND_ISSUE, job_id, &err)) < 0)
		goto fail;
	if (r == 0) { /* cannot happen for a new certificate */
		cf_err_set(&err, CF_ERR_PERMANENT, "a new certificate already has job %s", job_id);
		goto fail;
	}
	detail = json_pack("{s:O, s:s}", "domains", json_object_get(doc, "domains"), "job",
			   job_id);
	if (cf_api_audit(req, "certificate.create", id, detail, &err) != 0 ||
	    cf_cert_get_json(req->db, id, &out, &err) != 0 || out == NULL)
		goto fail;
	json_object_set_new(out, "job", json_pack("{s:s, s:s}", "id", job_id, "state",
						  cf_job_state_name(CF_JOB_QUEUED)));
	cf_resp_json(resp, 201, out);
	cf_req_invalidate(req, CF_CACHE_CERT, id); /* the cache may remember "no such id" */
	goto out;
fail:
	cf_resp_store_error(req, resp, &err);
out:
	json_decref(detail);
	json_decref(doc);
	json_decref(body);
	cf_err_clear(&err);
	return 0;
}

int cf_h_cert_get(cf_app *app, cf_http_req *req, cf_http_resp *resp)
{
	const char *id = req->params[0];
	json_t *out = NULL;
	cf_err err = { 0 };

	if (!cf_valid_slug(id))
		not_found(resp, id);
	else if (cf_cert_get_json(req->db, id, &out, &err) != 0)
		cf_resp_store_error(req, resp, &err);
	else if (out == NULL)
		not_found(resp, id);
	else
		cf_resp_json(resp, 200, out);
	cf_err_clear(&err);
	return 0;
}

/* The names of the members a PATCH sets, for the audit trail. */
static json_t *changed_fields(const json_t *patch)
{
	json_t *list = json_array(), *v;
	const char *k;

	json_object_foreach((json_t *)patch, k, v)
		if (strcmp(k, "id") != 0)
			json_array_append_new(list, json_string(k));
	return json_pack("{s:o}", "changed", list);
}

int cf_h_cert_patch(cf_app *app, cf_http_req *req, cf_http_resp *resp)
{
	const char *id = req->params[0];
	json_t *body = NULL, *current = NULL, *merged = NULL, *doc = NULL, *out = NULL,
	       *detail = NULL;
	cf_verrs errs = { 0 };
	cf_err err = { 0 };
	int r;

	if (!cf_valid_slug(id)) {
		not_found(resp, id);
		goto out;
	}
	if ((body = cf_req_json(req, resp, false)) == NULL ||
	    refuse_keys_patch(req, resp, body) != 0)
		goto out;
	if (cf_cert_get_doc_locked(req->db, id, &current, &err) != 0)
		goto fail;
	if (current == NULL) {
		not_found(resp, id);
		goto out;
	}
	if (cf_cert_patch_merge(current, body, &merged, &errs) != 0) {
		cf_resp_invalid(resp, &errs);
		goto out;
	}
	if ((r = validate(app, req, resp, merged, &doc, &err)) != 0) {
		if (r < 0)
			goto fail;
		goto out;
	}
	if (refuse_admin_patch(req, resp, current, doc) != 0)
		goto out;
	detail = changed_fields(body);
	if (cf_cert_update(req->db, doc, &err) < 0 ||
	    cf_api_audit(req, "certificate.update", id, detail, &err) != 0 ||
	    cf_cert_get_json(req->db, id, &out, &err) != 0 || out == NULL)
		goto fail;
	cf_resp_json(resp, 200, out);
	cf_req_invalidate(req, CF_CACHE_CERT, id); /* hosts or admin_keys may have changed */
	goto out;
fail:
	cf_resp_store_error(req, resp, &err);
out:
	json_decref(detail);
	json_decref(doc);
	json_decref(merged);
	json_decref(current);
	json_decref(body);
	cf_err_clear(&err);
	return 0;
}

int cf_h_cert_delete(cf_app *app, cf_http_req *req, cf_http_resp *resp)
{
	const char *id = req->params[0];
	char job[CF_JOB_ID_LEN + 1], state[16];
	cf_err err = { 0 };
	int r = 0;

	if (cf_valid_slug(id))
		r = cf_cert_delete(req->db, id, job, state, &err);
	if (r < 0)
		cf_resp_store_error(req, resp, &err);
	else if (r == 0)
		not_found(resp, id);
	else if (r == 2)
		cf_resp_problem_ext(resp, 409, "job-active",
				    json_pack("{s:{s:s, s:s}}", "job", "id", job, "state", state),
				    "certificate \"%s\" has job %s %s; delete it when the job has "
				    "ended",
				    id, job, state);
	else if (cf_api_audit(req, "certificate.delete", id, NULL, &err) != 0)
		cf_resp_store_error(req, resp, &err);
	else if (cf_resp_empty(resp, 204) == 0)
		cf_req_invalidate(req, CF_CACHE_CERT, id);
	cf_err_clear(&err);
	return 0;
}

/* POST .../issue and .../resume: resume first lifts a pause (409 when the
 * certificate is not paused); issue refuses a paused certificate (409). Both
 * queue an issue job. */
static int issue_or_resume(cf_app *app, cf_http_req *req, cf_http_resp *resp, bool resume)
{
	const char *id = req->params[0], *k, *force;
	char status[16];
	cf_dup_check dup;
	char job_id[CF_JOB_ID_LEN + 1];
	json_t *body = NULL, *job = NULL, *detail = NULL, *v;
	cf_verrs errs = { 0 };
	cf_err err = { 0 };
	int r;

	if ((body = cf_req_json(req, resp, true)) == NULL)
		goto out;
	if (!json_is_object(body))
		cf_verrs_add(&errs, "body", "must be empty or an empty JSON object");
	json_object_foreach(body, k, v)
		cf_verrs_add(&errs, k, "unknown field (this request takes none)");
	if (errs.n > 0) {
		cf_resp_invalid(resp, &errs);
		goto out;
	}
	if (!cf_valid_slug(id)) {
		not_found(resp, id);
		goto out;
	}
	/* no lock on the certificate here: see cf_cert_exists */
	if ((r = cf_cert_status(req->db, id, status, &err)) < 0)
		goto fail;
	if (r == 0) {
		not_found(resp, id);
		goto out;
	}
	if (resume && (r = cf_cert_resume(req->db, id, &err)) <= 0) {
		if (r < 0)
			goto fail;
		cf_resp_problem(resp, 409, "not-paused", NULL, "certificate \"%s\" is %s, not "
				"paused", id, status);
		goto out;
	}
	if (!resume && strcmp(status, "paused") == 0) {
		cf_resp_problem(resp, 409, "certificate-paused", NULL, "certificate \"%s\" is "
				"paused after repeated failed validations: POST "
				"/v1/certificates/%s/resume lifts the pause", id, id);
		goto out;
	}
	/* the CA's "exact same set of names" limit: refused unless ?force=true */
	force = cf_req_query(req, "force");
	if (force == NULL || strcmp(force, "true") != 0) {
		if ((r = cf_issuer_duplicate_check(req->db, id, &dup, &err)) < 0)
			goto fail;
		if (r == 1) {
			cf_resp_problem_ext(resp, 409, "duplicate-set-limit",
					    json_pack("{s:s, s:s, s:i, s:i, s:i}", "limit",
						      CF_LIMIT_DUP_SETS, "issuer", dup.issuer,
						      "count", (int)dup.count, "per_seconds",
						      (int)dup.per_seconds, "issued", (int)dup.issued),
					    "duplicate_sets: the names of certificate \"%s\" were "
					    "issued %ld times in the last %ld s at issuer %s (limit "
					    "%ld); POST ?force=true to issue anyway",
					    id, dup.issued, dup.per_seconds, dup.issuer, dup.count);
			goto out;
		}
	}
	if ((r = cf_job_enqueue(req->db, id, CF_JOB_KIND_ISSUE, job_id, &err)) < 0)
		goto fail;
	if (r == 0) {
		cf_resp_problem_ext(resp, 409, "job-active",
				    json_pack("{s:{s:s}}", "job", "id", job_id),
				    "certificate \"%s\" already has an active job: %s (GET "
				    "/v1/jobs/%s)",
				    id, job_id, job_id);
		goto out;
	}
	detail = json_pack("{s:s}", "job", job_id);
	if (cf_api_audit(req, resume ? "certificate.resume" : "certificate.issue", id, detail,
			 &err) != 0 ||
	    cf_job_get_json(req->db, job_id, true, &job, &err) != 0 ||
	    job == NULL)
		goto fail;
	cf_resp_json(resp, 202, json_pack("{s:o}", "job", job));
	goto out;
fail:
	cf_resp_store_error(req, resp, &err);
out:
	json_decref(detail);
	json_decref(body);
	cf_err_clear(&err);
	return 0;
}

int cf_h_cert_issue(cf_app *app, cf_http_req *req, cf_http_resp *resp)
{
	return issue_or_resume(app, req, resp, false);
}

int cf_h_cert_resume(cf_app *app, cf_http_req *req, cf_http_resp *resp)
{
	return issue_or_resume(app, req, resp, true);
}
