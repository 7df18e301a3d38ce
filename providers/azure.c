/*
 * azure.c: the Azure DNS provider (Azure Resource Manager REST, record sets,
 * api-version 2018-05-01), authenticated with an OAuth 2.0 access token for the
 * management endpoint: from the Microsoft identity platform's token endpoint
 * with a service principal's client credentials (tenant, client id, secret),
 * or from the managed-identity endpoint of the VM (IMDS) it runs on. Tokens are
 * cached until shortly before they expire (providers/oauth.c).
 *
 * Settings (a JSON object of strings; ttl may be a number):
 *   subscription_id       the subscription (a GUID; required)
 *   resource_group        the zone's resource group (required)
 *   zone                  the DNS zone (optional: otherwise the zone of the
 *                         resource group that is the longest suffix of the FQDN)
 *   tenant_id             the directory (tenant) id or domain     } service
 *   client_id             the application (client) id             } principal
 *   client_secret         its secret (a secret: sealed by the service, sent
 *                         only in the token request's form, never in a message)
 *   use_managed_identity  "true": the token comes from identity_endpoint
 *                         instead (client_id, when given, picks a user-assigned
 *                         identity; tenant_id and client_secret are not used)
 *   identity_endpoint     default http://169.254.169.254/metadata/identity/oauth2/token
 *   management_endpoint   default https://management.azure.com (the token's
 *                         audience is this URL: "<it>/.default")
 *   login_endpoint        default https://login.microsoftonline.com
 *                         (these URLs: https://, or http:// to a loopback host
 *                         for the test fake; identity_endpoint also the IMDS
 *                         address 169.254.169.254)
 *   ttl                   TTL of the TXT record set, 1-86400 (default 60)
 *
 * Azure keeps a name's TXT values in one record set, replaced whole by a PUT:
 * each change is a read-modify-write made safe by the record set's etag (PUT or
 * DELETE with If-Match: the etag read; If-None-Match: * to create). A 412
 * (someone changed it in between) means read again, up to ATTEMPTS times.
 * present() adds its value to the others (kept verbatim); cleanup() removes
 * exactly it, deleting the record set when it was the last; a value already
 * there (gone) is success. A PUT is applied when it is answered: Azure DNS has
 * no change to wait for. present_many() and cleanup_many() make one PUT (or
 * DELETE) per record set for all of a job's values there (a wildcard and its
 * apex: one PUT with both). Within the process changes to one name are
 * serialised (cf_txt_name_lock); across processes the service serialises
 * writers per FQDN.
 *
 * Errors: the token endpoint's {"error", "error_description"} (an AADSTS code
 * and message) and ARM's {"error": {"code", "message"}} go into the message with
 * the HTTP status. 401 from management (a token refused) drops the cached token
 * and fetches one more once; 400/401/403 are permanent and name the settings to
 * check; 429, 5xx and no answer are transient.
 */
#include "providers/provider.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "providers/api_http.h"
#include "providers/oauth.h"
#include "providers/txt.h"
#include "util/http_client.h"

#define WHO "azure"
#define API_VERSION "2018-05-01"
#define DEFAULT_MANAGEMENT "https://management.azure.com"
#define DEFAULT_LOGIN "https://login.microsoftonline.com"
#define DEFAULT_IDENTITY "http://169.254.169.254/metadata/identity/oauth2/token"
#define IMDS_PREFIX "http://169.254.169.254/"
#define DEFAULT_TTL 60
#define VALUE_MAX 1024
#define SECRET_MAX 1024
#define ATTEMPTS 4
#define ETAG_MAX 128
#define MAX_PAGES 20

static const char *const secret_keys[] = { "client_secret", NULL };
static const char *const known_keys[] = { "subscription_id", "resource_group", "zone",
					  "tenant_id", "client_id", "client_secret",
					  "use_managed_identity", "identity_endpoint",
					  "management_endpoint", "login_endpoint", "ttl", NULL };

/* The settings, checked. Strings point into the settings object. */
typedef struct az_conf {
	const char *sub, *rg, *tenant, *client, *secret;
	bool msi;
	char zone[CF_NAME_MAX + 1]; /* "" = find it */
	char mgmt[CF_API_URL_MAX];
	char login[CF_API_URL_MAX];
	char identity[CF_API_URL_MAX];
	long ttl;
} az_conf;

typedef struct az_op {
	const az_conf *c;
	long timeout_ms;
	unsigned char cache_key[CF_OAUTH_KEY_LEN];
	char token[CF_OAUTH_TOKEN_MAX];
	bool have_token;
} az_op;

/* ---- settings ---- */

static bool guid_ok(const char *s)
{
	size_t i;

	if (s == NULL || strlen(s) != 36)
		return false;
	for (i = 0; i < 36; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;

		if (dash && s[i] != '-')
			return false;
		if (!dash && (s[i] == '\0' || strchr("0123456789abcdefABCDEF", s[i]) == NULL))
			return false;
	}
	return true;
}

/* A resource group name: 1-90 of letters, digits, '-', '_', '.', '(' and ')',
 * not ending in '.'. */
static bool rg_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	return n > 0 && n <= 90 && s[n - 1] != '.' &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.()") ==
		       n;
}

/* A tenant: a GUID or a domain name such as contoso.onmicrosoft.com. */
static bool tenant_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	return guid_ok(s) ||
	       (n > 0 && n <= 253 && strchr(s, '.') != NULL &&
		strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.") == n);
}

static int url_setting(const char *key, const char *v, bool imds, char out[CF_API_URL_MAX],
		       cf_err *err)
{
	if (cf_api_url_check(WHO, key, v, out, err) != 0)
		return -1;
	if (cf_http_url_allowed(out, 0) || (imds && strncmp(out, IMDS_PREFIX, strlen(IMDS_PREFIX))
						    == 0))
		return 0;
	return cf_err_set(err, CF_ERR_PERMANENT,
			  WHO " setting %s: \"%.100s\" must be https:// (plain http:// only to a "
			  "loopback address, for tests%s)",
			  key, out, imds ? ", or to the IMDS address 169.254.169.254" : "");
}

static int conf_load(const json_t *s, az_conf *c, cf_err *err)
{
	const char *zone, *msi, *identity, *mgmt, *login, *p;

	memset(c, 0, sizeof(*c));
	if (s == NULL || !json_is_object(s))
		return cf_err_set(err, CF_ERR_PERMANENT, WHO ": settings must be an object");
	if (cf_api_settings_known(WHO, s, known_keys, err) != 0 ||
	    cf_api_setting_str(WHO, s, "subscription_id", &c->sub, err) != 0 ||
	    cf_api_setting_str(WHO, s, "resource_group", &c->rg, err) != 0 ||
	    cf_api_setting_str(WHO, s, "zone", &zone, err) != 0 ||
	    cf_api_setting_str(WHO, s, "tenant_id", &c->tenant, err) != 0 ||
	    cf_api_setting_str(WHO, s, "client_id", &c->client, err) != 0 ||
	    cf_api_setting_str(WHO, s, "client_secret", &c->secret, err) != 0 ||
	    cf_api_setting_str(WHO, s, "use_managed_identity", &msi, err) != 0 ||
	    cf_api_setting_str(WHO, s, "identity_endpoint", &identity, err) != 0 ||
	    cf_api_setting_str(WHO, s, "management_endpoint", &mgmt, err) != 0 ||
	    cf_api_setting_str(WHO, s, "login_endpoint", &login, err) != 0 ||
	    cf_api_setting_long(WHO, s, "ttl", 1, 86400, DEFAULT_TTL, &c->ttl, err) != 0)
		return -1;
	if (!guid_ok(c->sub))
		return cf_err_set(err, CF_ERR_PERMANENT,
				  WHO " setting subscription_id: required, a GUID such as "
				  "00000000-0000-0000-0000-000000000000");
	if (!rg_ok(c->rg))
		return cf_err_set(err, CF_ERR_PERMANENT,
				  WHO " setting resource_group: required, 1-90 letters, digits, "
				  "'-', '_', '.', '(' or ')', not ending in '.'");
	if (msi != NULL && strcmp(msi, "true") != 0 && strcmp(msi, "false") != 0)
		return cf_err_set(err, CF_ERR_PERMANENT,
				  WHO " setting use_managed_identity: \"true\" or \"false\"");
	c->msi = msi != NULL && strcmp(msi, "true") == 0;
	if (c->client != NULL && !guid_ok(c->client))
		return cf_err_set(err, CF_ERR_PERMANENT,
				  WHO " setting client_id: a GUID (the application id)");
	if (!c->msi && c->client == NULL)
		return cf_err_set(err, CF_ERR_PERMANENT,
				  WHO " setting client_id: required (or use_managed_identity=true)");
	if (!c->msi && !tenant_ok(c->tenant))
		return cf_err_set(err, CF_ERR_PERMANENT,
				  WHO " setting tenant_id: required, a GUID or a domain such as "
				  "contoso.onmicrosoft.com");
	if (!c->msi && (c->secret == NULL || c->secret[0] == '\0'))
		return cf_err_set(err, CF_ERR_PERMANENT,
				  WHO " setting client_secret: required (or use_managed_identity="
				  "true)");
	for (p = c->secret; p != NULL && *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
			break;
	if (p != NULL && (*p != '\0' || p - c->secret > SECRET_MAX))
		return cf_err_set(err, CF_ERR_PERMANENT,
				  WHO " setting client_secret: printable ASCII, at most %d "
				  "characters (the value is not shown)",
				  SECRET_MAX);
	if (zone != NULL && cf_target_normalize(zone, c->zone, err) != 0)
		return cf_err_wrap(err, WHO " setting zone");
	if (url_setting("management_endpoint", mgmt ? mgmt : DEFAULT_MANAGEMENT, false, c->mgmt,
			err) != 0 ||
	    url_setting("login_endpoint", login ? login : DEFAULT_LOGIN, false, c->login, err) ||
	    url_setting("identity_endpoint", identity ? identity : DEFAULT_IDENTITY, true,
			c->identity, err) != 0)
		return -1;
	return 0;
}

static int azure_validate(const json_t *settings, cf_err *err)
{
	az_conf c;

	return conf_load(settings, &c, err);
}

/* ---- the access token ---- */

static int get_token(az_op *op, cf_err *err)
{
	const az_conf *c = op->c;
	const char *parts[6] = { c->msi ? "azure-msi" : "azure", c->msi ? c->identity : c->login,
				 c->tenant, c->client, c->msi ? "" : c->secret, c->mgmt };
	cf_buf form = { 0 }, url = { 0 }, scope = { 0 };
	const char *hdrs[2] = { "Metadata: true", NULL };
	cf_api_req req = { .timeout_ms = op->timeout_ms, .who = WHO };
	long expires = 0;
	int rc = -1;

	if (op->have_token)
		return 0;
	cf_oauth_cache_key(parts, 6, op->cache_key);
	if (cf_oauth_cache_get(op->cache_key, op->token, sizeof(op->token)) == 1) {
		op->have_token = true;
		return 0;
	}
	if (c->msi) {
		/* IMDS: GET with Metadata: true; the resource is the management URL */
		if (cf_buf_printf(&scope, "%s/", c->mgmt) != 0 ||
		    cf_buf_printf(&url, "%s?api-version=2018-02-01&resource=", c->identity) != 0 ||
		    cf_oauth_url_escape(&url, (const char *)scope.data) != 0 ||
		    (c->client && (cf_buf_append_str(&url, "&client_id=") != 0 ||
				   cf_oauth_url_escape(&url, c->client) != 0))) {
			cf_err_oom(err, WHO);
			goto out;
		}
		req.method = "GET";
		req.headers = hdrs;
	} else {
		if (cf_buf_printf(&scope, "%s/.default", c->mgmt) != 0 ||
		    cf_buf_printf(&url, "%s/", c->login) != 0 ||
		    cf_oauth_url_escape(&url, c->tenant) != 0 ||
		    cf_buf_append_str(&url, "/oauth2/v2.0/token") != 0 ||
		    cf_oauth_form_add(&form, "grant_type", "client_credentials") != 0 ||
		    cf_oauth_form_add(&form, "client_id", c->client) != 0 ||
		    cf_oauth_form_add(&form, "client_secret", c->secret) != 0 ||
		    cf_oauth_form_add(&form, "scope", (const char *)scope.data) != 0) {
			cf_err_oom(err, WHO);
			goto out;
		}
		req.method = "POST";
		req.body = (const char *)form.data;
		req.content_type = "application/x-www-form-urlencoded";
	}
	req.url = (const char *)url.data;
	if (cf_oauth_fetch(&req, c->msi ? "managed identity" : "client credentials",
			   c->msi ? "check that the VM has a managed identity, and client_id"
				  : "check the tenant_id, client_id and client_secret settings",
			   op->token, sizeof(op->token), &expires, err) != 0)
		goto out;
	cf_oauth_cache_put(op->cache_key, op->token, expires);
	op->have_token = true;
	rc = 0;
out:
	cf_buf_free_secret(&form);
	cf_buf_free(&url);
	cf_buf_free(&scope);
	return rc;
}

/* ---- requests ---- */

/* The error of an ARM answer: "azure: <what>: HTTP <status> <code>: <message>". */
static int api_error(long status, const json_t *j, const char *what, cf_err *err)
{
	const json_t *e = json_object_get(j, "error");
	const char *code = json_string_value(json_object_get(e, "code"));
	const char *msg = json_string_value(json_object_get(e, "message"));

	if (status == 401 || status == 403)
		return cf_err_set(err, CF_ERR_PERMANENT,
				  WHO ": %s: HTTP %ld %s: %.300s (check the subscription_id, "
				  "resource_group and credential settings, and the role on the zone: "
				  "DNS Zone Contributor)",
				  what, status, code ? code : "", msg ? msg : "");
	return cf_err_set(err, cf_http_status_class(status), WHO ": %s: HTTP %ld %s: %.300s", what,
			  status, code ? code : "", msg ? msg : "(no message)");
}

/* method on url (absolute) with an optional JSON body and one extra header
 * line. 0 with *status and *out (the parsed answer, NULL when not JSON; caller
 * decrefs) when any answer came; a refused token is fetched anew once. */
static int api(az_op *op, const char *method, const char *url, const char *body,
	       const char *extra, json_t **out, long *status, cf_err *err)
{
	cf_buf auth = { 0 };
	const char *hdrs[3] = { NULL, extra, NULL };
	cf_api_req req = { .method = method, .url = url, .body = body,
			   .timeout_ms = op->timeout_ms, .who = WHO, .headers = hdrs };
	cf_api_resp resp = { 0 };
	int attempt, rc = -1;

	*out = NULL;
	*status = 0;
	for (attempt = 0; attempt < 2; attempt++) {
		cf_api_resp_free(&resp);
		cf_buf_free_secret(&auth);
		if (get_token(op, err) != 0 ||
		    cf_buf_printf(&auth, "Authorization: Bearer %s", op->token) != 0) {
			if (err->cls == CF_ERR_NONE)
				cf_err_oom(err, WHO);
			goto out;
		}
		hdrs[0] = (const char *)auth.data;
		if (cf_api_http(&req, &resp, err) != 0)
			goto out;
		if (resp.status != 401)
			break;
		cf_oauth_cache_drop(op->cache_key); /* expired or revoked: once more */
		op->have_token = false;
	}
	*status = resp.status;
	*out = json_loadb(resp.body.data ? (const char *)resp.body.data : "", resp.body.len, 0,
			  NULL);
	rc = 0;
out:
	cf_api_resp_free(&resp);
	cf_buf_free_secret(&auth);
	return rc;
}

/* The zones URL of the resource group into b. */
static int zones_url(const az_op *op, cf_buf *b)
{
	cf_buf_reset(b);
	return cf_buf_printf(b,
			     "%s/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Network/"
			     "dnsZones",
			     op->c->mgmt, op->c->sub, op->c->rg);
}

/* The zone of name: the configured one, or the longest suffix among the
 * resource group's zones. */
static int find_zone(az_op *op, const char *name, char zone[CF_NAME_MAX + 1], cf_err *err)
{
	cf_buf url = { 0 };
	json_t *j = NULL;
	const json_t *z;
	size_t i, best = 0;
	long status;
	int page, rc = -1;

	if (op->c->zone[0] != '\0') {
		if (!cf_name_is_under(name, op->c->zone))
			return cf_err_set(err, CF_ERR_PERMANENT, WHO ": %s is not in zone %s", name,
					  op->c->zone);
		memcpy(zone, op->c->zone, CF_NAME_MAX + 1);
		return 0;
	}
	if (zones_url(op, &url) != 0 || cf_buf_append_str(&url, "?api-version=" API_VERSION)) {
		cf_err_oom(err, WHO);
		goto out;
	}
	for (page = 0; page < MAX_PAGES && url.len > 0; page++) {
		const char *next;

		if (api(op, "GET", (const char *)url.data, NULL, NULL, &j, &status, err) != 0)
			goto out;
		if (status != 200) {
			api_error(status, j, "list DNS zones", err);
			goto out;
		}
		json_array_foreach(json_object_get(j, "value"), i, z) {
			const char *zn = json_string_value(json_object_get(z, "name"));

			if (zn != NULL && strlen(zn) <= CF_NAME_MAX && strlen(zn) > best &&
			    cf_name_is_under(name, zn) && strchr(zn, '.') != NULL) {
				best = strlen(zn);
				snprintf(zone, CF_NAME_MAX + 1, "%s", zn);
			}
		}
		next = json_string_value(json_object_get(j, "nextLink"));
		cf_buf_reset(&url);
		/* only a next page on the same management endpoint */
		if (next != NULL && strncmp(next, op->c->mgmt, strlen(op->c->mgmt)) == 0 &&
		    cf_buf_append_str(&url, next) != 0) {
			cf_err_oom(err, WHO);
			goto out;
		}
		json_decref(j);
		j = NULL;
	}
	if (best == 0) {
		cf_err_set(err, CF_ERR_PERMANENT,
			   WHO ": no DNS zone of resource group %s holds %s (set the zone setting, "
			   "or check resource_group)",
			   op->c->rg, name);
		goto out;
	}
	rc = 0;
out:
	json_decref(j);
	cf_buf_free(&url);
	return rc;
}

/* The URL of name's TXT record set in zone. */
static int rrset_url(const az_op *op, const char *zone, const char *name, cf_buf *b)
{
	size_t nl = strlen(name), zl = strlen(zone);
	char rel[CF_NAME_MAX + 1];

	if (nl == zl)
		snprintf(rel, sizeof(rel), "@");
	else
		snprintf(rel, sizeof(rel), "%.*s", (int)(nl - zl - 1), name);
	if (zones_url(op, b) != 0 || cf_buf_append_str(b, "/") != 0 ||
	    cf_oauth_url_escape(b, zone) != 0 || cf_buf_append_str(b, "/TXT/") != 0 ||
	    cf_oauth_url_escape(b, rel) != 0 || cf_buf_append_str(b, "?api-version=" API_VERSION))
		return -1;
	return 0;
}

/* The value a TXTRecords entry stands for ({"value": [strings]}, joined) into
 * u; -1 when it is not one. */
static int record_value(const json_t *rec, cf_buf *u)
{
	const json_t *s;
	size_t i;

	cf_buf_reset(u);
	if (!json_is_array(json_object_get(rec, "value")))
		return -1;
	json_array_foreach(json_object_get(rec, "value"), i, s)
		if (!json_is_string(s) || cf_buf_append(u, json_string_value(s),
							 json_string_length(s)) != 0)
			return -1;
	return cf_buf_append(u, "", 0);
}

/* {"value": [value in strings of at most 255 bytes]}. */
static json_t *record_of(const char *value)
{
	json_t *arr = json_array();
	size_t n = strlen(value), i;

	for (i = 0; arr != NULL && i < n; i += 255)
		if (json_array_append_new(arr, json_stringn(value + i, n - i > 255 ? 255 : n - i)))
			break;
	return arr ? json_pack("{s:o}", "value", arr) : NULL;
}

/* ---- present and cleanup ---- */

/* One read-modify-write of name's record set towards the goal for the values
 * of recs[] at it (of[i] == k). 1 done, 0 raced (read again), -1 error. */
static int step(az_op *op, const char *zone, const char *name, cf_provider_rec *recs,
		const size_t *of, size_t n, size_t k, bool add, cf_err *err)
{
	cf_buf url = { 0 }, u = { 0 }, hdr = { 0 };
	json_t *cur = NULL, *want = json_array(), *ans = NULL, *body = NULL;
	const json_t *rec;
	const char *etag = NULL;
	char what[CF_NAME_MAX + 40];
	size_t i, j, have = 0;
	long status;
	char *text = NULL;
	int rc = -1;

	snprintf(what, sizeof(what), "TXT record set %s", name);
	if (want == NULL || rrset_url(op, zone, name, &url) != 0)
		goto oom;
	if (api(op, "GET", (const char *)url.data, NULL, NULL, &cur, &status, err) != 0)
		goto out;
	if (status == 200) {
		etag = json_string_value(json_object_get(cur, "etag"));
		json_array_foreach(json_object_get(json_object_get(cur, "properties"), "TXTRecords"),
				   i, rec) {
			bool ours = false;

			have++;
			/* an entry we cannot read is not ours: kept as it is */
			for (j = 0; !add && j < n && !ours && record_value(rec, &u) == 0; j++)
				ours = of[j] == k && strcmp((char *)u.data, recs[j].value) == 0;
			if (!ours && json_array_append(want, (json_t *)rec) != 0)
				goto oom;
		}
	} else if (status != 404) {
		api_error(status, cur, what, err);
		goto out;
	}
	for (j = 0; add && j < n; j++) {
		bool there = false;

		if (of[j] != k)
			continue;
		json_array_foreach(want, i, rec)
			there = there || (record_value(rec, &u) == 0 &&
					  strcmp((char *)u.data, recs[j].value) == 0);
		if (!there && json_array_append_new(want, record_of(recs[j].value)) != 0)
			goto oom;
	}
	if (json_array_size(want) == have) {
		rc = 1; /* as wanted already */
		goto out;
	}
	if (etag != NULL && (strlen(etag) > ETAG_MAX || strpbrk(etag, "\r\n") != NULL)) {
		cf_err_set(err, CF_ERR_PERMANENT, WHO ": %s: an etag that cannot be sent", what);
		goto out;
	}
	if (etag != NULL ? cf_buf_printf(&hdr, "If-Match: %s", etag)
			 : cf_buf_append_str(&hdr, "If-None-Match: *"))
		goto oom;
	if (json_array_size(want) == 0) {
		if (api(op, "DELETE", (const char *)url.data, NULL, (const char *)hdr.data, &ans,
			&status, err) != 0)
			goto out;
	} else {
		long ttl = add || cur == NULL ? op->c->ttl
			   : (long)json_integer_value(json_object_get(
				     json_object_get(cur, "properties"), "TTL"));

		body = json_pack("{s:{s:I, s:O}}", "properties", "TTL",
				 (json_int_t)(ttl > 0 ? ttl : op->c->ttl), "TXTRecords", want);
		if (body == NULL || (text = json_dumps(body, JSON_COMPACT)) == NULL)
			goto oom;
		if (api(op, "PUT", (const char *)url.data, text, (const char *)hdr.data, &ans,
			&status, err) != 0)
			goto out;
	}
	if (status == 412) {
		rc = 0; /* changed since we read it */
	} else if (status == 200 || status == 201 || status == 202 || status == 204) {
		rc = 1;
	} else {
		api_error(status, ans, what, err);
	}
	goto out;
oom:
	rc = cf_err_oom(err, WHO);
out:
	free(text);
	json_decref(body);
	json_decref(ans);
	json_decref(want);
	json_decref(cur);
	cf_buf_free(&hdr);
	cf_buf_free(&u);
	cf_buf_free(&url);
	return rc;
}

static int batch_update(const cf_provider_ctx *ctx, cf_provider_rec *recs, size_t n, bool add,
			cf_err *err)
{
	char (*names)[CF_NAME_MAX + 1] = calloc(n ? n : 1, sizeof(*names));
	size_t *of = calloc(n ? n : 1, sizeof(*of));
	char name[CF_NAME_MAX + 1], zone[CF_NAME_MAX + 1];
	az_conf c;
	az_op *op = calloc(1, sizeof(*op));
	size_t i, k, nn = 0;
	int rc = -1, st = 0, attempt;

	if (names == NULL || of == NULL || op == NULL) {
		cf_err_oom(err, WHO);
		goto out;
	}
	if (conf_load(ctx->settings, &c, err) != 0)
		goto out;
	op->c = &c;
	op->timeout_ms = ctx->timeout_ms > 0 ? ctx->timeout_ms : 10000;
	for (i = 0; i < n; i++) {
		if (cf_target_normalize(recs[i].fqdn, name, err) != 0) {
			cf_err_wrap(err, WHO);
			goto out;
		}
		if (recs[i].value == NULL || recs[i].value[0] == '\0' ||
		    strlen(recs[i].value) > VALUE_MAX) {
			cf_err_set(err, CF_ERR_PERMANENT, WHO ": TXT value empty or over %d bytes",
				   VALUE_MAX);
			goto out;
		}
		for (k = 0; k < nn && strcasecmp(names[k], name) != 0; k++)
			;
		if (k == nn)
			memcpy(names[nn++], name, sizeof(name));
		of[i] = k;
	}
	for (k = 0; k < nn; k++) { /* one record set at a time: one PUT for its values */
		pthread_mutex_t *lock = cf_txt_name_lock(names[k]);

		if (find_zone(op, names[k], zone, err) != 0)
			goto out;
		pthread_mutex_lock(lock);
		for (attempt = 0, st = 0; attempt < ATTEMPTS && st == 0; attempt++)
			st = step(op, zone, names[k], recs, of, n, k, add, err);
		pthread_mutex_unlock(lock);
		if (st == 0)
			cf_err_set(err, CF_ERR_TRANSIENT,
				   WHO ": the TXT record set %s kept changing under us (412 after %d "
				   "attempts)", names[k], ATTEMPTS);
		if (st != 1)
			goto out;
		for (i = 0; i < n; i++)
			if (of[i] == k)
				recs[i].done = true;
	}
	rc = 0;
out:
	if (op != NULL)
		cf_wipe(op->token, sizeof(op->token));
	free(op);
	free(of);
	free(names);
	return rc;
}

static int azure_present_many(const cf_provider_ctx *ctx, cf_provider_rec *recs, size_t n,
			      cf_err *err)
{
	return batch_update(ctx, recs, n, true, err);
}

static int azure_cleanup_many(const cf_provider_ctx *ctx, cf_provider_rec *recs, size_t n,
			      cf_err *err)
{
	return batch_update(ctx, recs, n, false, err);
}

static int azure_present(const cf_provider_ctx *ctx, const char *fqdn, const char *value,
			 cf_err *err)
{
	cf_provider_rec r = { .fqdn = fqdn, .value = value };

	return batch_update(ctx, &r, 1, true, err);
}

static int azure_cleanup(const cf_provider_ctx *ctx, const char *fqdn, const char *value,
			 cf_err *err)
{
	cf_provider_rec r = { .fqdn = fqdn, .value = value };

	return batch_update(ctx, &r, 1, false, err);
}

/* err must not be NULL: its class tells "cannot" (permanent) from "cannot tell".
 * The zone is found and the record set read (GETs only; absent is fine). */
static int azure_can_write(const cf_provider_ctx *ctx, const char *fqdn, cf_err *err)
{
	char name[CF_NAME_MAX + 1], zone[CF_NAME_MAX + 1];
	cf_buf url = { 0 };
	json_t *j = NULL;
	az_conf c;
	az_op *op;
	long status = 0;
	int rc;

	if (conf_load(ctx->settings, &c, err) != 0)
		return 0;
	if (cf_target_normalize(fqdn, name, err) != 0) {
		cf_err_wrap(err, WHO);
		return 0;
	}
	if ((op = calloc(1, sizeof(*op))) == NULL) {
		cf_err_oom(err, WHO);
		return -1;
	}
	op->c = &c;
	op->timeout_ms = ctx->timeout_ms > 0 ? ctx->timeout_ms : 10000;
	if (find_zone(op, name, zone, err) == 0 && rrset_url(op, zone, name, &url) == 0 &&
	    api(op, "GET", (const char *)url.data, NULL, NULL, &j, &status, err) == 0) {
		if (status == 200 || status == 404) {
			rc = 1;
		} else {
			api_error(status, j, "read the TXT record set", err);
			rc = err->cls == CF_ERR_PERMANENT ? 0 : -1;
		}
	} else {
		if (err->cls == CF_ERR_NONE)
			cf_err_oom(err, WHO);
		rc = err->cls == CF_ERR_PERMANENT ? 0 : -1;
	}
	json_decref(j);
	cf_buf_free(&url);
	cf_wipe(op->token, sizeof(op->token));
	free(op);
	return rc;
}

const cf_provider_ops cf_provider_azure = {
	.name = "azure",
	.secret_keys = secret_keys,
	.validate = azure_validate,
	.present = azure_present,
	.cleanup = azure_cleanup,
	.can_write = azure_can_write,
	.present_many = azure_present_many,
	.cleanup_many = azure_cleanup_many,
};
