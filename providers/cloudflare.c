/*
 * cloudflare.c: the Cloudflare provider, API v4 with an API token (bearer).
 *
 * Settings (a JSON object of strings):
 *   api_token  the API token (a secret: sent only in the Authorization header,
 *              never logged, never in a message, wiped from our buffers)
 *   api_url    default https://api.cloudflare.com/client/v4; https:// only, or
 *              http:// to a loopback host (127.0.0.0/8, ::1, localhost) so tests
 *              can run a fake; no user info, query or fragment
 *   zone       the zone name (optional: otherwise the longest suffix of the FQDN,
 *              of two labels or more, that GET /zones?name=<candidate> knows)
 *   ttl        1 (Cloudflare's "automatic") or 30-86400 seconds (default 60)
 *
 * present() creates one TXT record (POST /zones/{id}/dns_records). Cloudflare
 * keeps several TXT records under one name, so the other values stay; an
 * identical record (error 81058) counts as success. cleanup() lists the TXT
 * records at the name with that content (GET .../dns_records?type&name&content,
 * every page up to result_info.total_pages), checks name, type and content again
 * itself (the record ids are collected before anything is deleted, so deletions
 * cannot shift the pages under us), and deletes exactly those ids; nothing
 * found is success.
 *
 * can_write() (for the alias check) finds the zone as a write would (GETs only):
 * the name can be written when the token sees a zone that holds it.
 *
 * HTTP goes through the shared client of the API providers (api_http.c): a
 * fresh handle per request, the token in a header that is wiped after use.
 *
 * Every answer is the v4 envelope {success, errors[{code,message}], messages,
 * result, result_info}; an unsuccessful one becomes an error carrying the method,
 * the path, the HTTP status and each code and message. 401/403 and other 4xx are
 * permanent; 429, 5xx and transport failures (timeouts, refused connections)
 * are transient.
 */
#include "providers/provider.h"
#include "providers/cloudflare.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "providers/api_http.h"
#include "util/http_client.h"

#define WHO "cloudflare"
#define DEFAULT_API_URL "https://api.cloudflare.com/client/v4"
#define DEFAULT_TTL 60
#define TOKEN_MAX 512
#define VALUE_MAX 2048
#define ID_MAX 64
#define MAX_PAGES 200
#define MAX_MATCHES 32
#define PER_PAGE 100
#define CODE_IDENTICAL 81058 /* "An identical record already exists." */
#define CODE_NO_RECORD 81044 /* "Record does not exist." */
#define PATH_MAX_LEN (3 * CF_NAME_MAX + 3 * VALUE_MAX + 200)

static const char *const secret_keys[] = { "api_token", NULL };
static const char *const known_keys[] = { "api_token", "api_url", "zone", "ttl", NULL };

/* The settings, checked. token points into the settings object (not owned). */
typedef struct cfl_conf {
	const char *token;
	char url[CF_API_URL_MAX];   /* api_url without trailing slashes */
	char zone[CF_NAME_MAX + 1]; /* "" = find it */
	long ttl;
} cfl_conf;

/* One present or cleanup: the settings and the per-request timeout. */
typedef struct cfl_op {
	const cfl_conf *conf;
	long timeout_ms;
} cfl_op;

/* ---- settings ---- */

bool cf_cloudflare_url_allowed(const char *url)
{
	/* the shared rule: https, or plain http only to a loopback address */
	return cf_http_url_allowed(url, 0);
}

static int conf_load(const json_t *s, cfl_conf *c, cf_err *err)
{
	const char *url, *zone, *p;

	memset(c, 0, sizeof(*c));
	if (s == NULL || !json_is_object(s))
		return cf_err_set(err, CF_ERR_PERMANENT, WHO ": settings must be an object");
	if (cf_api_settings_known(WHO, s, known_keys, err) != 0 ||
	    cf_api_setting_str(WHO, s, "api_token", &c->token, err) != 0 ||
	    cf_api_setting_str(WHO, s, "api_url", &url, err) != 0 ||
	    cf_api_setting_str(WHO, s, "zone", &zone, err) != 0 ||
	    cf_api_setting_long(WHO, s, "ttl", 1, 86400, DEFAULT_TTL, &c->ttl, err) != 0)
		return -1;
	if (c->ttl > 1 && c->ttl < 30)
		return cf_err_set(err, CF_ERR_PERMANENT,
				  WHO " setting ttl: 1 (automatic) or 30-86400 seconds");
	if (c->token == NULL || c->token[0] == '\0')
		return cf_err_set(err, CF_ERR_PERMANENT,
				  WHO " setting api_token: required (an API token with Zone:Read "
				  "and DNS:Edit)");
	for (p = c->token; *p != '\0'; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
			break;
	if (*p != '\0' || p - c->token > TOKEN_MAX)
		return cf_err_set(err, CF_ERR_PERMANENT,
				  WHO " setting api_token: must be printable ASCII without blanks, "
				  "at most %d characters (the value is not shown)",
				  TOKEN_MAX);
	if (cf_api_url_check(WHO, "api_url", url ? url : DEFAULT_API_URL, c->url, err) != 0)
		return -1;
	if (!cf_cloudflare_url_allowed(c->url))
		return cf_err_set(err, CF_ERR_PERMANENT,
				  WHO " setting api_url: \"%.100s\" must be https:// (plain http:// "
				  "only to a loopback address, for tests)",
				  c->url);
	if (zone != NULL && cf_target_normalize(zone, c->zone, err) != 0)
		return cf_err_wrap(err, WHO " setting zone");
	return 0;
}

static int cloudflare_validate(const json_t *settings, cf_err *err)
{
	cfl_conf c;

	return conf_load(settings, &c, err);
}

/* ---- the envelope (cloudflare.h) ---- */

/* Appends "[code] message" for each entry of errors[] to msg. */
static void describe_errors(const json_t *errors, char *msg, size_t cap)
{
	const json_t *e;
	size_t i, len = strlen(msg);

	json_array_foreach(errors, i, e) {
		const char *m = json_string_value(json_object_get(e, "message"));
		json_int_t code = json_integer_value(json_object_get(e, "code"));

		if (len + 1 >= cap || i >= 8)
			break;
		snprintf(msg + len, cap - len, "%s[%lld] %.200s", i ? "; " : "", (long long)code,
			 m ? m : "(no message)");
		len = strlen(msg);
	}
}

int cf_cloudflare_envelope(long status, const char *body, size_t len, const char *what,
			   json_t **root, cf_err *err)
{
	cf_err_class cls = cf_http_status_class(status);
	const json_t *errors;
	char detail[700] = "";
	json_t *j;

	*root = NULL;
	j = json_loadb(body ? body : "", len, 0, NULL);
	if (j == NULL || !json_is_object(j) || !json_is_boolean(json_object_get(j, "success"))) {
		json_decref(j);
		return cf_err_set(err, cls,
				  WHO ": %s: HTTP %ld: the answer is not a Cloudflare API envelope",
				  what, status);
	}
	*root = j;
	if (status >= 200 && status < 300 && json_is_true(json_object_get(j, "success")))
		return 0;
	errors = json_object_get(j, "errors");
	if (json_is_array(errors) && json_array_size(errors) > 0)
		describe_errors(errors, detail, sizeof(detail));
	else
		snprintf(detail, sizeof(detail), "success false, no error detail");
	if (status == 401 || status == 403)
		return cf_err_set(err, CF_ERR_PERMANENT,
				  WHO ": %s: HTTP %ld: %s (check the api_token setting and the "
				  "token's permissions: Zone:Read, DNS:Edit)",
				  what, status, detail);
	return cf_err_set(err, cls, WHO ": %s: HTTP %ld: %s", what, status, detail);
}

bool cf_cloudflare_has_code(const json_t *root, long long code)
{
	const json_t *e;
	size_t i;

	json_array_foreach(json_object_get(root, "errors"), i, e)
		if (json_integer_value(json_object_get(e, "code")) == code)
			return true;
	return false;
}

long cf_cloudflare_total_pages(const json_t *root)
{
	const json_t *t = json_object_get(json_object_get(root, "result_info"), "total_pages");
	json_int_t v = json_integer_value(t);

	return json_is_integer(t) && v > 0 && v <= MAX_PAGES ? (long)v
	       : json_is_integer(t) && v > MAX_PAGES	       ? MAX_PAGES
							       : 1;
}

bool cf_cloudflare_record_matches(const json_t *r, const char *name, const char *value)
{
	const char *t = json_string_value(json_object_get(r, "type"));
	const char *n = json_string_value(json_object_get(r, "name"));
	const char *c = json_string_value(json_object_get(r, "content"));
	size_t vl = strlen(value);

	if (t == NULL || n == NULL || c == NULL || strcmp(t, "TXT") != 0 || !cf_name_equal(n, name))
		return false;
	if (strcmp(c, value) == 0)
		return true;
	return strlen(c) == vl + 2 && c[0] == '"' && c[vl + 1] == '"' &&
	       memcmp(c + 1, value, vl) == 0;
}

char *cf_cloudflare_create_body(const char *name, const char *value, long ttl)
{
	json_t *j = json_pack("{s:s, s:s, s:s, s:I}", "type", "TXT", "name", name, "content",
			      value, "ttl", (json_int_t)ttl);
	char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;

	json_decref(j);
	return text;
}

/* ---- requests ---- */

/* One API call: method on api_url + path (path begins with '/', its query already
 * escaped), optional JSON body. The verdict and *root of cf_cloudflare_envelope. */
static int api(const cfl_op *op, const char *method, const char *path, const char *body,
	       json_t **root, cf_err *err)
{
	char url[CF_API_URL_MAX + PATH_MAX_LEN], what[PATH_MAX_LEN + 16];
	char auth[TOKEN_MAX + 32];
	const char *hdrs[2] = { auth, NULL };
	cf_api_req req = { .method = method,
			   .url = url,
			   .headers = hdrs,
			   .body = body,
			   .timeout_ms = op->timeout_ms,
			   .who = WHO };
	cf_api_resp resp = { 0 };
	int rc = -1;

	*root = NULL;
	snprintf(url, sizeof(url), "%s%s", op->conf->url, path);
	snprintf(what, sizeof(what), "%s %s", method, path);
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", op->conf->token);
	if (cf_api_http(&req, &resp, err) == 0)
		rc = cf_cloudflare_envelope(resp.status, (const char *)resp.body.data,
					    resp.body.len, what, root, err);
	explicit_bzero(auth, sizeof(auth));
	cf_api_resp_free(&resp);
	return rc;
}

/* Percent-encodes s for a query value (unreserved characters kept); out holds
 * cap bytes, 3 * strlen(s) + 1 always suffice. -1 when it does not fit. */
static int qescape(const char *s, char *out, size_t cap)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (o + 3 >= cap)
			return -1;
		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '.' || c == '_' || c == '~') {
			out[o++] = (char)c;
		} else {
			out[o++] = '%';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	out[o] = '\0';
	return 0;
}

/* An id from the API, checked before it goes into a path: [A-Za-z0-9]{1,64}. */
static int take_id(const json_t *obj, char out[ID_MAX + 1])
{
	const char *id = json_string_value(json_object_get(obj, "id"));
	size_t i, n = id ? strlen(id) : 0;

	if (n == 0 || n > ID_MAX)
		return -1;
	for (i = 0; i < n; i++)
		if (!((id[i] >= 'a' && id[i] <= 'z') || (id[i] >= 'A' && id[i] <= 'Z') ||
		      (id[i] >= '0' && id[i] <= '9')))
			return -1;
	memcpy(out, id, n + 1);
	return 0;
}
/* ---- zone, present, cleanup ---- */

/* The id of zone `name`: 1 when found, 0 when the API does not know it, -1. */
static int zone_by_name(const cfl_op *op, const char *name, char id[ID_MAX + 1], cf_err *err)
{
	char path[3 * CF_NAME_MAX + 64], esc[3 * CF_NAME_MAX + 1];
	json_t *root = NULL;
	const json_t *z;
	size_t i;
	int rc = 0;

	if (qescape(name, esc, sizeof(esc)) != 0)
		return cf_err_set(err, CF_ERR_PERMANENT, WHO ": zone name too long");
	snprintf(path, sizeof(path), "/zones?name=%s", esc);
	if (api(op, "GET", path, NULL, &root, err) != 0) {
		rc = -1;
		goto out;
	}
	json_array_foreach(json_object_get(root, "result"), i, z) {
		const char *zn = json_string_value(json_object_get(z, "name"));

		if (zn != NULL && cf_name_equal(zn, name) && take_id(z, id) == 0) {
			rc = 1;
			break;
		}
	}
out:
	json_decref(root);
	return rc;
}

/* The zone of fqdn: the configured one, or the longest suffix the API knows. */
static int find_zone(const cfl_op *op, const char *fqdn, char id[ID_MAX + 1], cf_err *err)
{
	const char *cand;
	int found;

	if (op->conf->zone[0] != '\0') {
		if (!cf_name_is_under(fqdn, op->conf->zone))
			return cf_err_set(err, CF_ERR_PERMANENT, WHO ": %s is not in zone %s", fqdn,
					  op->conf->zone);
		found = zone_by_name(op, op->conf->zone, id, err);
		if (found == 0)
			cf_err_set(err, CF_ERR_PERMANENT,
				   WHO ": zone %s not found (GET /zones?name=%s returned no such "
				   "zone for this token)",
				   op->conf->zone, op->conf->zone);
		return found == 1 ? 0 : -1;
	}
	for (cand = fqdn; strchr(cand, '.') != NULL; cand = strchr(cand, '.') + 1) {
		found = zone_by_name(op, cand, id, err);
		if (found != 0)
			return found == 1 ? 0 : -1;
	}
	return cf_err_set(err, CF_ERR_PERMANENT,
			  WHO ": no zone holds %s (GET /zones?name= knows none of its suffixes: "
			  "check the token's zones, or set the zone setting)",
			  fqdn);
}

/* Loads the settings and finds the zone: what present and cleanup share. */
static int begin(const cf_provider_ctx *ctx, cfl_conf *conf, cfl_op *op, const char *fqdn,
		 const char *value, char name[CF_NAME_MAX + 1], char zone_id[ID_MAX + 1],
		 cf_err *err)
{
	if (conf_load(ctx->settings, conf, err) != 0)
		return -1;
	if (cf_target_normalize(fqdn, name, err) != 0)
		return cf_err_wrap(err, WHO);
	if (value == NULL || value[0] == '\0' || strlen(value) > VALUE_MAX)
		return cf_err_set(err, CF_ERR_PERMANENT, WHO ": TXT value empty or over %d bytes",
				  VALUE_MAX);
	op->conf = conf;
	op->timeout_ms = ctx->timeout_ms;
	return find_zone(op, name, zone_id, err);
}

static int cloudflare_present(const cf_provider_ctx *ctx, const char *fqdn, const char *value,
			      cf_err *err)
{
	char name[CF_NAME_MAX + 1], zone_id[ID_MAX + 1], path[ID_MAX + 32];
	char *body = NULL;
	cfl_conf conf;
	cfl_op op;
	json_t *root = NULL;
	int rc = -1;

	if (begin(ctx, &conf, &op, fqdn, value, name, zone_id, err) != 0)
		goto out;
	if ((body = cf_cloudflare_create_body(name, value, conf.ttl)) == NULL) {
		cf_err_set(err, CF_ERR_PERMANENT, WHO ": the TXT value is not valid UTF-8");
		goto out;
	}
	snprintf(path, sizeof(path), "/zones/%s/dns_records", zone_id);
	if (api(&op, "POST", path, body, &root, err) != 0) {
		if (root == NULL || !cf_cloudflare_has_code(root, CODE_IDENTICAL))
			goto out;
		cf_err_clear(err); /* the very record is there already */
	}
	rc = 0;
out:
	json_decref(root);
	free(body);
	return rc;
}

/* Collects the ids of every record that is exactly ours, over all pages, before
 * anything is deleted (a deletion would shift the later pages). */
static int list_matches(const cfl_op *op, const char *zone_id, const char *name,
			const char *value, char ids[MAX_MATCHES][ID_MAX + 1], size_t *n,
			cf_err *err)
{
	char ename[3 * CF_NAME_MAX + 1], evalue[3 * VALUE_MAX + 1], path[PATH_MAX_LEN];
	json_t *root = NULL;
	const json_t *r;
	long page, pages = 1;
	size_t i;

	*n = 0;
	if (qescape(name, ename, sizeof(ename)) != 0 || qescape(value, evalue, sizeof(evalue)) != 0)
		return cf_err_set(err, CF_ERR_PERMANENT, WHO ": name or value too long");
	for (page = 1; page <= pages; page++) {
		snprintf(path, sizeof(path),
			 "/zones/%s/dns_records?type=TXT&name=%s&content=%s&page=%ld&per_page=%d",
			 zone_id, ename, evalue, page, PER_PAGE);
		if (api(op, "GET", path, NULL, &root, err) != 0) {
			json_decref(root);
			return -1;
		}
		pages = cf_cloudflare_total_pages(root);
		json_array_foreach(json_object_get(root, "result"), i, r)
			if (*n < MAX_MATCHES && cf_cloudflare_record_matches(r, name, value) &&
			    take_id(r, ids[*n]) == 0)
				(*n)++;
		json_decref(root);
		root = NULL;
	}
	return 0;
}

static int cloudflare_cleanup(const cf_provider_ctx *ctx, const char *fqdn, const char *value,
			      cf_err *err)
{
	char name[CF_NAME_MAX + 1], zone_id[ID_MAX + 1], path[2 * ID_MAX + 32];
	char ids[MAX_MATCHES][ID_MAX + 1];
	cfl_conf conf;
	cfl_op op;
	json_t *root = NULL;
	size_t n = 0, i;
	int rc = -1;

	if (begin(ctx, &conf, &op, fqdn, value, name, zone_id, err) != 0 ||
	    list_matches(&op, zone_id, name, value, ids, &n, err) != 0)
		goto out;
	for (i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "/zones/%s/dns_records/%s", zone_id, ids[i]);
		if (api(&op, "DELETE", path, NULL, &root, err) != 0) {
			/* gone meanwhile (another cleanup of the same value): fine */
			if (root == NULL || !cf_cloudflare_has_code(root, CODE_NO_RECORD))
				goto out;
			cf_err_clear(err);
		}
		json_decref(root);
		root = NULL;
	}
	rc = 0;
out:
	json_decref(root);
	return rc;
}

/* err must not be NULL: its class tells "cannot" (permanent) from "cannot tell". */
static int cloudflare_can_write(const cf_provider_ctx *ctx, const char *fqdn, cf_err *err)
{
	char name[CF_NAME_MAX + 1], zone_id[ID_MAX + 1];
	cfl_conf conf;
	cfl_op op = { 0 };

	if (begin(ctx, &conf, &op, fqdn, "probe", name, zone_id, err) == 0)
		return 1;
	return err->cls == CF_ERR_PERMANENT ? 0 : -1;
}

const cf_provider_ops cf_provider_cloudflare = {
	.name = "cloudflare",
	.secret_keys = secret_keys,
	.validate = cloudflare_validate,
	.present = cloudflare_present,
	.cleanup = cloudflare_cleanup,
	.can_write = cloudflare_can_write,
};
