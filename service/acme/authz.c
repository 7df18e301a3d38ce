/*
 * authz.c: ACME authorizations (RFC 8555 sections 7.1.4, 7.5): reading one and
 * picking its dns-01 challenge, telling the CA to validate a challenge (POST {}),
 * polling until the authorization leaves pending, and deactivating it when an
 * order fails (so that a half-done authorization does not linger at the CA).
 * When validation fails, the challenge's "error" problem document is kept verbatim.
 */
#include "acme/acme_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cf_acme_authz_free(cf_acme_authz *a)
{
	if (a == NULL)
		return;
	free(a->url);
	free(a->identifier);
	free(a->expires);
	free(a->chall_url);
	free(a->chall_token);
	free(a->problem);
	memset(a, 0, sizeof(*a));
}

/* The first challenge of type dns-01, or NULL. */
static const json_t *find_dns01(const json_t *j)
{
	const json_t *chs = json_object_get(j, "challenges"), *ch;
	size_t i;

	json_array_foreach(chs, i, ch) {
		const char *t = json_string_value(json_object_get(ch, "type"));

		if (t && strcmp(t, "dns-01") == 0)
			return ch;
	}
	return NULL;
}

static int parse_challenge(const char *url, const json_t *ch, cf_acme_authz *a, cf_err *err)
{
	const json_t *e = json_object_get(ch, "error");

	a->chall_url = acme_json_strdup(ch, "url");
	a->chall_token = acme_json_strdup(ch, "token");
	a->chall_status = cf_acme_status_parse(json_string_value(json_object_get(ch, "status")));
	a->problem = json_is_object(e) ? json_dumps(e, JSON_COMPACT) : NULL;
	if (a->chall_url == NULL || a->chall_token == NULL)
		return cf_err_set(err, CF_ERR_PERMANENT, "authz %s: dns-01 without url or token",
				  url);
	return 0;
}

static int parse_authz(const char *url, const acme_resp *r, const json_t *j, cf_acme_authz *a,
		       cf_err *err)
{
	const json_t *id = json_object_get(j, "identifier");
	const json_t *ch = find_dns01(j);
	const char *type = json_string_value(json_object_get(id, "type"));

	a->url = strdup(url);
	a->identifier = acme_json_strdup(id, "value");
	a->wildcard = json_is_true(json_object_get(j, "wildcard"));
	a->status = cf_acme_status_parse(json_string_value(json_object_get(j, "status")));
	a->expires = acme_json_strdup(j, "expires");
	a->retry_after_ms = acme_resp_retry_after_ms(r);
	if (a->url == NULL || a->identifier == NULL || type == NULL || strcmp(type, "dns") != 0)
		return cf_err_set(err, CF_ERR_PERMANENT, "authz %s: no dns identifier", url);
	if (a->status == CF_ACME_UNKNOWN)
		return cf_err_set(err, CF_ERR_PERMANENT, "authz %s: no status", url);
	if (ch != NULL)
		return parse_challenge(url, ch, a, err);
	if (a->status == CF_ACME_PENDING)
		return cf_err_set(err, CF_ERR_PERMANENT,
				  "authz %s: the CA offers no dns-01 challenge for %s", url,
				  a->identifier);
	return 0;
}

/* POST-as-GET of an authorization; out is freed first (url must not point into it). */
static int authz_read(cf_acme_client *c, const char *url, cf_acme_authz *out, cf_err *err)
{
	json_t *j = NULL;
	acme_resp r = {0};
	int rc = -1;

	cf_acme_authz_free(out);
	if (acme_post_json(c, "authz", url, NULL, NULL, &r, &j, err) == 0)
		rc = parse_authz(url, &r, j, out, err);
	json_decref(j);
	acme_resp_free(&r);
	return rc;
}

int cf_acme_authz_get(cf_acme_client *c, const char *url, cf_acme_authz *out, cf_err *err)
{
	long long t0 = acme_now_ms();
	char *u = strdup(url); /* url may point into out */
	int rc = -1;

	if (u == NULL)
		cf_err_set(err, CF_ERR_TRANSIENT, "out of memory");
	else
		rc = authz_read(c, u, out, err);
	rc = acme_step_done(c, "authz", u, t0, rc, err, cf_acme_status_name(out->status));
	free(u);
	return rc;
}

/* The verdict on an authorization that left pending. */
static int authz_final(const cf_acme_authz *a, cf_err *err)
{
	char what[320];
	json_t *p;

	if (a->status == CF_ACME_VALID)
		return 0;
	snprintf(what, sizeof(what), "authorization of %s%s %s", a->wildcard ? "*." : "",
		 a->identifier, cf_acme_status_name(a->status));
	p = a->problem ? json_loads(a->problem, 0, NULL) : NULL;
	if (p != NULL) {
		cf_acme_problem_json_set_err(err, CF_ERR_PERMANENT, what, p);
		json_decref(p);
		return -1;
	}
	return cf_err_set(err, CF_ERR_PERMANENT, "%s (%s)", what, a->url);
}

static int do_poll(cf_acme_client *c, const char *url, time_t deadline, cf_acme_authz *out,
		   cf_err *err)
{
	long wait;
	int attempt;

	for (attempt = 0;; attempt++) {
		if (authz_read(c, url, out, err) != 0)
			return -1;
		if (out->status != CF_ACME_PENDING)
			return authz_final(out, err);
		if ((wait = acme_poll_wait_ms(out->retry_after_ms, c->poll_initial_ms, attempt,
					      deadline)) < 0)
			return cf_err_set(err, CF_ERR_TRANSIENT,
					  "authorization of %s still pending at the deadline",
					  out->identifier);
		acme_emit(c, CF_ACME_EV_WAIT, "authz", NULL, url, 0, wait, true, "pending");
		acme_sleep_ms(wait);
	}
}

int cf_acme_authz_poll(cf_acme_client *c, const char *url, time_t deadline,
		       cf_acme_authz *out, cf_err *err)
{
	long long t0 = acme_now_ms();
	char *u = strdup(url); /* url may point into out */
	int rc = -1;

	if (u == NULL)
		cf_err_set(err, CF_ERR_TRANSIENT, "out of memory");
	else
		rc = do_poll(c, u, deadline, out, err);
	rc = acme_step_done(c, "pollAuthz", u, t0, rc, err, cf_acme_status_name(out->status));
	free(u);
	return rc;
}

int cf_acme_authz_deactivate(cf_acme_client *c, const char *url, cf_err *err)
{
	long long t0 = acme_now_ms();
	acme_resp r = {0};
	int rc;

	rc = acme_post(c, "deactivate", url, "{\"status\":\"deactivated\"}", NULL, NULL, &r, err);
	acme_resp_free(&r);
	return acme_step_done(c, "deactivate", url, t0, rc, err, NULL);
}

int cf_acme_challenge_respond(cf_acme_client *c, const char *url, cf_acme_status *status,
			      cf_err *err)
{
	long long t0 = acme_now_ms();
	json_t *j = NULL;
	acme_resp r = {0};
	cf_acme_status st = CF_ACME_UNKNOWN;
	int rc;

	rc = acme_post_json(c, "challenge", url, "{}", NULL, &r, &j, err);
	if (rc == 0)
		st = cf_acme_status_parse(json_string_value(json_object_get(j, "status")));
	if (status)
		*status = st;
	json_decref(j);
	acme_resp_free(&r);
	return acme_step_done(c, "challenge", url, t0, rc, err, cf_acme_status_name(st));
}
