/*
 * h_versions.c: the issued versions of a certificate and their revocation.
 *
 *   GET  /v1/certificates/{id}/versions                    every version, newest first
 *   POST /v1/certificates/{id}/versions/{version}/revoke   {"reason"?, "replace"?}
 *
 * HTTP threads never call the CA: a revocation is queued as a job (kind
 * 'revoke') in the request's transaction, answered 202 with the job, and run by
 * a worker (worker/revoke.c), whose final transaction marks the version revoked
 * (revoked_at, revocation_reason), sets the certificate's status to 'revoked'
 * when the version is the current one, and, with "replace": true, queues a new
 * issuance. Like an issuance it is subject to the one-active-job rule (409 naming
 * the active job). reason is an RFC 5280 CRLReason, by name or code (0-10 but 7);
 * without one the CA records none. A version revoked already is a 409.
 */
#include "http/http.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/revocation.h"
#include "api/validate.h"
#include "store/jobs.h"
#include "store/versions.h"

static void cert_not_found(cf_http_resp *resp, const char *id)
{
	cf_resp_problem(resp, 404, "not-found", NULL, "no certificate called \"%.80s\"", id);
}

int cf_h_cert_versions(cf_app *app, cf_http_req *req, cf_http_resp *resp)
{
	const char *id = req->params[0];
	json_t *out = NULL;
	cf_verrs errs = {0};
	cf_err err = {0};
	cf_page pg;
	int rc;

	if (cf_page_parse(req, "i", CF_PAGE_DEFAULT, &pg, &errs) != 0) {
		cf_resp_invalid(resp, &errs);
		cf_page_free(&pg);
		return 0;
	}
	if (!cf_valid_slug(id)) {
		cert_not_found(resp, id);
		cf_page_free(&pg);
		return 0;
	}
	rc = cf_versions_page_json(req->db, id, &pg.q, &out, &err);
	if (rc == 0 && out == NULL) {
		cert_not_found(resp, id);
		cf_page_free(&pg);
		cf_err_clear(&err);
		return 0;
	}
	cf_page_reply(req, resp, &pg, rc, out, &err);
	return 0;
}

/* The reason member: absent (-1), a code or a name. Adds a violation when bad. */
static int parse_reason(const json_t *v, cf_verrs *errs)
{
	json_int_t code;
	int c;

	if (v == NULL)
		return -1;
	if (json_is_integer(v)) {
		code = json_integer_value(v);
		if (code >= 0 && code <= CF_REVOCATION_REASON_MAX &&
		    cf_revocation_reason_name((int)code) != NULL)
			return (int)code;
	} else if (json_is_string(v) &&
		   (c = cf_revocation_reason_code(json_string_value(v), false)) >= 0) {
		return c;
	}
	cf_verrs_add(errs, "reason", "must be an RFC 5280 reason: a code from 0 to 10 but 7, or "
		     "unspecified, keyCompromise, cACompromise, affiliationChanged, superseded, "
		     "cessationOfOperation, certificateHold, removeFromCRL, privilegeWithdrawn, "
		     "aACompromise");
	return -1;
}

/* Checks the body; 0 with *reason and *replace, or 1 when resp holds the 400. */
static int parse_body(cf_http_req *req, cf_http_resp *resp, int *reason, bool *replace)
{
	cf_verrs errs = {0};
	const char *k;
	json_t *body, *v;

	if ((body = cf_req_json(req, resp, true)) == NULL)
		return 1;
	if (!json_is_object(body))
		cf_verrs_add(&errs, "body", "must be a JSON object");
	json_object_foreach(body, k, v)
		if (strcmp(k, "reason") != 0 && strcmp(k, "replace") != 0)
			cf_verrs_add(&errs, k, "unknown field (known: reason, replace)");
	*reason = parse_reason(json_object_get(body, "reason"), &errs);
	v = json_object_get(body, "replace");
	if (v != NULL && !json_is_boolean(v))
		cf_verrs_add(&errs, "replace", "must be true or false");
	*replace = json_is_true(v);
	json_decref(body);
	if (errs.n == 0)
		return 0;
	cf_resp_invalid(resp, &errs);
	return 1;
}

/* The {version} segment: 1..INT_MAX, else 0. */
static int version_of(const char *s)
{
	char *end = NULL;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || s[0] < '1' || s[0] > '9' || *end != '\0' || v > 1000000000L)
		return 0;
	return (int)v;
}

int cf_h_version_revoke(cf_app *app, cf_http_req *req, cf_http_resp *resp)
{
	const char *id = req->params[0];
	int version = version_of(req->params[1]), reason = -1, r;
	char job_id[40];
	json_t *job = NULL, *detail = NULL;
	bool replace = false, revoked = false;
	cf_err err = {0};

	if (parse_body(req, resp, &reason, &replace) != 0)
		goto out;
	if (!cf_valid_slug(id) || version == 0) {
		cf_resp_problem(resp, 404, "not-found", NULL, "no version \"%.20s\" of certificate "
				"\"%.80s\"", req->params[1], id);
		goto out;
	}
	if ((r = cf_version_state(req->db, id, version, &revoked, &err)) < 0)
		goto fail;
	if (r == 0) {
		cf_resp_problem(resp, 404, "not-found", NULL,
				"certificate \"%s\" has no version %d", id, version);
		goto out;
	}
	if (revoked) {
		cf_resp_problem(resp, 409, "already-revoked", NULL, "version %d of certificate "
				"\"%s\" is revoked already", version, id);
		goto out;
	}
	if ((r = cf_revoke_enqueue(req->db, id, version, reason, replace, job_id, &err)) < 0)
		goto fail;
	if (r == 0) {
		cf_resp_problem_ext(resp, 409, "job-active", json_pack("{s:{s:s}}", "job", "id",
								       job_id),
				    "certificate \"%s\" already has an active job: %s (GET "
				    "/v1/jobs/%s); revoke when it has ended", id, job_id, job_id);
		goto out;
	}
	detail = json_pack("{s:i, s:i, s:b, s:s}", "version", version, "reason", reason, "replace",
			   replace, "job", job_id);
	if (cf_api_audit(req, "certificate.revoke", id, detail, &err) != 0 ||
	    cf_job_get_json(req->db, job_id, true, &job, &err) != 0 || job == NULL)
		goto fail;
	cf_resp_json(resp, 202, json_pack("{s:o}", "job", job));
	goto out;
fail:
	cf_resp_store_error(req, resp, &err);
out:
	json_decref(detail);
	cf_err_clear(&err);
	return 0;
}
