/*
 * httpreq.c: the httpreq provider, lego's HTTPREQ convention, so that any
 * in-house DNS system can take certfleet's challenges without code here:
 *   POST {endpoint}/present  {"fqdn": "_acme-challenge.example.com.", "value": "..."}
 *   POST {endpoint}/cleanup  the same body
 * The fqdn is the target name with a trailing dot, as lego sends it; any 2xx
 * answer is success. With username and password, every request carries them as
 * HTTP basic auth.
 *
 * Settings: endpoint (required; https://, plain http:// only to a loopback
 * host), username, password (secret; both or neither).
 *
 * The server owns the semantics: present must add the value beside any other
 * at the name (a wildcard and its apex need two at once) and cleanup remove
 * exactly that value, succeeding when it is gone already. No zone lookup, and
 * no can_write: certfleet cannot ask such a server whether it could write.
 * Calls go through the shared layer (rest_records.c).
 */
#include "providers/provider.h"
#include "providers/rest_records.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/b64.h"
#include "util/buf.h"

#define WHO "httpreq"
#define USER 0 /* conf->extra[] */
#define PASS 1

static const char *const secret_keys[] = { "password", NULL };
static const char *const known_keys[] = { "endpoint", "username", "password", NULL };
static const char *const extra_keys[] = { "username", "password", NULL };

static int hr_check(const cf_rest_conf *c, cf_err *err)
{
	const char *u = c->extra[USER];

	if ((u == NULL) != (c->extra[PASS] == NULL))
		return cf_err_set(err, CF_ERR_PERMANENT,
				  WHO " setting %s: required with %s (basic auth takes both)",
				  u == NULL ? "username" : "password", u == NULL ? "password" : "username");
	if (u != NULL && (u[0] == '\0' || strchr(u, ':') != NULL || strlen(u) > 256))
		return cf_err_set(err, CF_ERR_PERMANENT,
				  WHO " setting username: 1-256 characters without ':'");
	if (c->extra[PASS] != NULL)
		return cf_rest_check_secret(WHO, "password", c->extra[PASS], "basic auth", err);
	return 0;
}

/* "Authorization: Basic base64(username:password)" when they are set. */
static int hr_sign(cf_rest_op *op, const char *method, const char *url, const char *body,
		   char hdrs[CF_REST_HDRS][CF_REST_HDR_MAX], cf_err *err)
{
	const char *u = op->conf->extra[USER], *p = op->conf->extra[PASS];
	char *pair = NULL, *b64 = NULL;
	size_t n;
	int rc = -1;

	(void)method;
	(void)url;
	(void)body;
	if (u == NULL)
		return 0;
	n = strlen(u) + strlen(p) + 2;
	if ((pair = malloc(n)) == NULL)
		return cf_err_oom(err, WHO);
	snprintf(pair, n, "%s:%s", u, p);
	if ((b64 = cf_b64_encode(pair, n - 1)) == NULL) {
		cf_err_oom(err, WHO);
		goto out;
	}
	if ((size_t)snprintf(hdrs[0], CF_REST_HDR_MAX, "Authorization: Basic %s", b64) >=
	    CF_REST_HDR_MAX) {
		cf_err_set(err, CF_ERR_PERMANENT, WHO " setting password: too long");
		goto out;
	}
	rc = 1;
out:
	cf_wipe(pair, n);
	free(pair);
	if (b64 != NULL)
		cf_wipe(b64, strlen(b64));
	free(b64);
	return rc;
}

static const cf_rest_api api = {
	.who = WHO,
	.known_keys = known_keys,
	.url_key = "endpoint",
	.default_url = NULL,
	.token_hint = "the username and password settings",
	.extra_keys = extra_keys,
	.conf_check = hr_check,
	.sign = hr_sign,
};

/* POST {endpoint}/{verb} with {"fqdn": "<name>.", "value"}. */
static int hr_send(const cf_provider_ctx *ctx, const char *verb, const char *fqdn,
		   const char *value, cf_err *err)
{
	cf_rest_conf conf;
	cf_rest_op op = { .api = &api, .conf = &conf, .timeout_ms = ctx->timeout_ms };
	char dotted[CF_NAME_MAX + 2];
	json_t *body = NULL;
	long status;
	int rc = -1;

	if (cf_rest_conf_load(&api, ctx->settings, &conf, err) != 0)
		return -1;
	if (cf_target_normalize(fqdn, op.name, err) != 0)
		return cf_err_wrap(err, WHO);
	if (value == NULL || value[0] == '\0' || strlen(value) > CF_REST_VALUE_MAX)
		return cf_err_set(err, CF_ERR_PERMANENT, WHO ": TXT value empty or over %d bytes",
				  CF_REST_VALUE_MAX);
	snprintf(dotted, sizeof(dotted), "%s.", op.name);
	if ((body = json_pack("{s:s,s:s}", "fqdn", dotted, "value", value)) == NULL)
		return cf_err_set(err, CF_ERR_PERMANENT, WHO ": the value is not UTF-8");
	rc = cf_rest_call(&op, "POST", verb, body, 0, &status, NULL, err);
	json_decref(body);
	return rc;
}

static int hr_validate(const json_t *settings, cf_err *err)
{
	return cf_rest_validate(&api, settings, err);
}

static int hr_present(const cf_provider_ctx *ctx, const char *fqdn, const char *value,
		      cf_err *err)
{
	return hr_send(ctx, "/present", fqdn, value, err);
}

static int hr_cleanup(const cf_provider_ctx *ctx, const char *fqdn, const char *value,
		      cf_err *err)
{
	return hr_send(ctx, "/cleanup", fqdn, value, err);
}

const cf_provider_ops cf_provider_httpreq = {
	.name = "httpreq",
	.secret_keys = secret_keys,
	.validate = hr_validate,
	.present = hr_present,
	.cleanup = hr_cleanup,
};
