/*
 * authz.c: ACME authorizations (RFC 8555 sections 7.1.4, 7.5): reading one and
 * picking its dns-01 challenge, telling the CA to validate a challenge (POST {}),
 * polling until the authorization leaves pending, and deactivating it when an
 * order fails or is abandoned (so that a half-done authorization does not linger
 * at the CA); only a pending or valid one is, as Let's Encrypt refuses the rest.
 * When validation fails, the challenge's "error" problem document is kept verbatim.
 * The read, get and poll loop are poll.c's (authz_kind describes an authorization).
 */
#include "acme/acme_int.h"

#include <stddef.h>
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
	a->chall_url = acme_json_strdup(ch, "url");
	a->chall_token = acme_json_strdup(ch, "token");
	a->chall_status = acme_json_status(ch);
	a->problem = acme_json_problem(ch);
	if (a->chall_url == NULL || a->chall_token == NULL)
		return cf_err_set(err, CF_ERR_PERMANENT, "authz %s: dns-01 without url or token",
				  url);
	return 0;
}

/* acme_object_kind.parse of an authorization. */
static int parse_authz(const char *url, const acme_resp *r, const json_t *j, void *obj,
		       cf_err *err)
{
	cf_acme_authz *a = obj;
	const json_t *id = json_object_get(j, "identifier");
	const json_t *ch = find_dns01(j);
	const char *type = json_string_value(json_object_get(id, "type"));

	a->url = strdup(url);
	a->identifier = acme_json_strdup(id, "value");
	a->wildcard = json_is_true(json_object_get(j, "wildcard"));
	a->status = acme_json_status(j);
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

static void authz_free(void *obj)
{
	cf_acme_authz_free(obj);
}

/* The verdict on an authorization that left pending. */
static int authz_settled(const void *obj, cf_err *err)
{
	const cf_acme_authz *a = obj;
	char what[320], fallback[1024];

	if (a->status == CF_ACME_VALID)
		return 0;
	snprintf(what, sizeof(what), "authorization of %s%s %s", a->wildcard ? "*." : "",
		 a->identifier, cf_acme_status_name(a->status));
	snprintf(fallback, sizeof(fallback), "%s (%s)", what, a->url);
	return acme_settled_err(err, what, a->problem, fallback);
}

static void authz_name(const void *obj, const char *url, char *out, size_t outlen)
{
	snprintf(out, outlen, "authorization of %s", ((const cf_acme_authz *)obj)->identifier);
}

static const acme_object_kind authz_kind = {
	.step = "authz",
	.poll_step = "pollAuthz",
	.busy = 1u << CF_ACME_PENDING,
	.final = (1u << CF_ACME_VALID) | (1u << CF_ACME_INVALID),
	.url_at = offsetof(cf_acme_authz, url),
	.status_at = offsetof(cf_acme_authz, status),
	.retry_after_at = offsetof(cf_acme_authz, retry_after_ms),
	.free = authz_free,
	.parse = parse_authz,
	.settled = authz_settled,
	.name = authz_name,
};

int cf_acme_authz_get(cf_acme_client *c, const char *url, cf_acme_authz *out, cf_err *err)
{
	return acme_object_get(c, &authz_kind, url, out, err);
}

int cf_acme_authz_poll(cf_acme_client *c, const char *url, time_t deadline,
		       cf_acme_authz *out, cf_err *err)
{
	return acme_object_poll(c, &authz_kind, url, deadline, out, err);
}

int cf_acme_authz_release(cf_acme_client *c, const char *url, cf_acme_status known,
			  bool *deactivated, cf_err *err)
{
	long long t0 = cf_clock_mono_ms();
	cf_acme_authz a = {0};
	acme_resp r = {0};
	cf_acme_status st = known;
	int rc = -1;

	if (deactivated)
		*deactivated = false;
	if (st == CF_ACME_UNKNOWN) {
		if (cf_acme_authz_get(c, url, &a, err) != 0)
			goto out;
		st = a.status;
	}
	if (st != CF_ACME_PENDING && st != CF_ACME_VALID) {
		rc = 0; /* nothing to release; the CA would refuse */
		goto out;
	}
	rc = acme_post(c, "deactivate", url, "{\"status\":\"deactivated\"}", NULL, NULL, &r, err);
	if (rc == 0 && deactivated)
		*deactivated = true;
out:
	cf_acme_authz_free(&a);
	acme_resp_free(&r);
	return acme_step_done(c, "deactivate", url, t0, rc, err,
			      rc == 0 && st != CF_ACME_PENDING && st != CF_ACME_VALID
				      ? cf_acme_status_name(st) : NULL);
}

int cf_acme_authz_deactivate(cf_acme_client *c, const char *url, cf_err *err)
{
	return cf_acme_authz_release(c, url, CF_ACME_UNKNOWN, NULL, err);
}

int cf_acme_challenge_respond(cf_acme_client *c, const char *url, cf_acme_status *status,
			      cf_err *err)
{
	long long t0 = cf_clock_mono_ms();
	json_t *j = NULL;
	acme_resp r = {0};
	cf_acme_status st = CF_ACME_UNKNOWN;
	int rc;

	rc = acme_post_json(c, "challenge", url, "{}", NULL, &r, &j, err);
	if (rc == 0)
		st = acme_json_status(j);
	if (status)
		*status = st;
	json_decref(j);
	acme_resp_free(&r);
	return acme_step_done(c, "challenge", url, t0, rc, err, cf_acme_status_name(st));
}
