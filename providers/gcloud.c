/*
 * gcloud.c: the Google Cloud DNS provider (API v1, `changes`), authenticated as
 * a service account: a JWT signed with the account's key (RS256) is exchanged
 * at the token endpoint for an access token (RFC 7523, grant type
 * urn:ietf:params:oauth:grant-type:jwt-bearer), which is cached until shortly
 * before it expires (providers/oauth.c).
 *
 * Settings (a JSON object of strings; ttl and change_timeout may be numbers):
 *   service_account_key  the JSON key file of the service account, its text
 *                        (a secret: sealed by the service; only its private key
 *                        signs, and no message ever holds any of it)
 *   project              the project id (default: the key's project_id)
 *   managed_zone         the managed zone's name (optional: otherwise the
 *                        public zone whose dnsName is the longest suffix of the
 *                        FQDN, of two labels or more)
 *   endpoint             default https://dns.googleapis.com/dns/v1
 *   token_uri            default: the key's token_uri, else
 *                        https://oauth2.googleapis.com/token
 *                        (both URLs https://, or http:// to a loopback host for
 *                        the test fake)
 *   ttl                  TTL of the TXT rrset, 1-86400 (default 60)
 *   change_timeout       seconds to wait for a change to be "done", 0-900
 *                        (default 120; 0 does not wait)
 *
 * Cloud DNS keeps a name's TXT values in one rrset, changed whole: a change
 * deletes the rrset exactly as it is and adds the new one, in one `changes`
 * POST that Cloud DNS applies all or none (412 conditionNotMet when the
 * deletion no longer matches, 409 alreadyExists when an addition meets an
 * rrset we did not see: both mean "read again"). present() adds the value to
 * what is there, cleanup() removes exactly it (deleting the rrset when it was
 * the last); a value already there (gone) is success. GET changes/{id} is
 * polled (200 ms doubling to 3 s) until its status is "done", then the rrsets
 * are read again to check.
 *
 * present_many() and cleanup_many() do this for all of a job's values at once:
 * per managed zone, ONE change carries the deletions and additions of every
 * name, and it is polled once. present() and cleanup() are a batch of one.
 * Within the process changes to one name are serialised (cf_txt_name_lock);
 * across processes the service serialises writers per FQDN.
 *
 * Errors: Google's {"error": {code, message, status}} becomes "gcloud: <method>
 * <path>: HTTP <code> <status>: <message>"; 401 (token refused: it is dropped
 * from the cache and fetched once more) and 403 are permanent and name the
 * settings to check; 429, 5xx and no answer are transient.
 */
#include "providers/provider.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "providers/api_http.h"
#include "providers/oauth.h"
#include "providers/txt.h"
#include "util/b64.h"
#include "util/clock.h"
#include "util/http_client.h"

#define WHO "gcloud"
#define DEFAULT_ENDPOINT "https://dns.googleapis.com/dns/v1"
#define DEFAULT_TOKEN_URI "https://oauth2.googleapis.com/token"
#define SCOPE "https://www.googleapis.com/auth/ndev.clouddns.readwrite"
#define GRANT "urn:ietf:params:oauth:grant-type:jwt-bearer"
#define DEFAULT_TTL 60
#define DEFAULT_CHANGE_S 120
#define VALUE_MAX 1024
#define KEY_MAX (16 * 1024)
#define ATTEMPTS 4
#define NAME_LEN 64
#define ID_LEN 64

static const char *const secret_keys[] = { "service_account_key", NULL };
static const char *const known_keys[] = { "service_account_key", "project", "managed_zone",
					  "endpoint", "token_uri", "ttl", "change_timeout",
					  NULL };

/* The settings, checked. key is the parsed key file (owned); the strings
 * point into it. */
typedef struct gc_conf {
	json_t *key;
	const char *email, *key_id, *pem;
	char project[NAME_LEN + 1];
	char zone[NAME_LEN + 1]; /* "" = find it */
	char endpoint[CF_API_URL_MAX];
	char token_uri[CF_API_URL_MAX];
	long ttl, change_s;
} gc_conf;

/* One operation: the settings, the per-request timeout, the token. */
typedef struct gc_op {
	const gc_conf *c;
	long timeout_ms;
	unsigned char cache_key[CF_OAUTH_KEY_LEN];
	char token[CF_OAUTH_TOKEN_MAX];
	bool have_token;
} gc_op;

/* ---- settings ---- */

static void conf_free(gc_conf *c)
{
	if (c->key != NULL) {
		json_t *pk = json_object_get(c->key, "private_key");

		if (json_is_string(pk))
			cf_wipe((char *)json_string_value(pk), json_string_length(pk));
		json_decref(c->key);
	}
	memset(c, 0, sizeof(*c));
}

/* [a-z][a-z0-9-]* of min..max characters, not ending in '-'. */
static bool id_ok(const char *s, size_t min, size_t max)
{
	size_t n = strlen(s);

	if (n < min || n > max || !(s[0] >= 'a' && s[0] <= 'z') || s[n - 1] == '-')
		return false;
	return strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-") == n;
}

/* The private key of the key file, or NULL (an RSA key is required). */
static EVP_PKEY *load_pkey(const char *pem)
{
	BIO *bio = BIO_new_mem_buf(pem, -1);
	EVP_PKEY *k = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;

	BIO_free(bio);
	if (k != NULL && EVP_PKEY_base_id(k) != EVP_PKEY_RSA) {
		EVP_PKEY_free(k);
		k = NULL;
	}
	return k;
}

static int url_setting(const char *key, const char *v, char out[CF_API_URL_MAX], cf_err *err)
{
	if (cf_api_url_check(WHO, key, v, out, err) != 0)
		return -1;
	if (!cf_http_url_allowed(out, 0))
		return cf_err_set(err, CF_ERR_PERMANENT,
				  WHO " setting %s: \"%.100s\" must be https:// (plain http:// only "
				  "to a loopback address, for tests)",
				  key, out);
	return 0;
}

static int conf_load(const json_t *s, gc_conf *c, cf_err *err)
{
	const char *text, *project, *zone, *endpoint, *token_uri, *type, *kp, *kt;
	EVP_PKEY *pkey;

	memset(c, 0, sizeof(*c));
	if (s == NULL || !json_is_object(s))
		return cf_err_set(err, CF_ERR_PERMANENT, WHO ": settings must be an object");
	if (cf_api_settings_known(WHO, s, known_keys, err) != 0 ||
	    cf_api_setting_str(WHO, s, "service_account_key", &text, err) != 0 ||
	    cf_api_setting_str(WHO, s, "project", &project, err) != 0 ||
	    cf_api_setting_str(WHO, s, "managed_zone", &zone, err) != 0 ||
	    cf_api_setting_str(WHO, s, "endpoint", &endpoint, err) != 0 ||
	    cf_api_setting_str(WHO, s, "token_uri", &token_uri, err) != 0 ||
	    cf_api_setting_long(WHO, s, "ttl", 1, 86400, DEFAULT_TTL, &c->ttl, err) != 0 ||
	    cf_api_setting_long(WHO, s, "change_timeout", 0, 900, DEFAULT_CHANGE_S, &c->change_s,
				err) != 0)
		return -1;
	if (text == NULL || text[0] == '\0' || strlen(text) > KEY_MAX ||
	    (c->key = json_loads(text, 0, NULL)) == NULL || !json_is_object(c->key)) {
		conf_free(c);
		return cf_err_set(err, CF_ERR_PERMANENT,
				  WHO " setting service_account_key: required, the JSON key file "
				  "of a service account (at most %d bytes; the value is not shown)",
				  KEY_MAX);
	}
	type = json_string_value(json_object_get(c->key, "type"));
	c->email = json_string_value(json_object_get(c->key, "client_email"));
	c->key_id = json_string_value(json_object_get(c->key, "private_key_id"));
	c->pem = json_string_value(json_object_get(c->key, "private_key"));
	kp = json_string_value(json_object_get(c->key, "project_id"));
	kt = json_string_value(json_object_get(c->key, "token_uri"));
	if (type == NULL || strcmp(type, "service_account") != 0 || c->email == NULL ||
	    strchr(c->email, '@') == NULL || strlen(c->email) > 256 || c->pem == NULL ||
	    (c->key_id != NULL && strlen(c->key_id) > 128)) {
		conf_free(c);
		return cf_err_set(err, CF_ERR_PERMANENT,
				  WHO " setting service_account_key: not a service account key "
				  "(type \"service_account\", client_email and private_key needed)");
	}
	if ((pkey = load_pkey(c->pem)) == NULL) {
		conf_free(c);
		return cf_err_set(err, CF_ERR_PERMANENT,
				  WHO " setting service_account_key: its private_key is not an RSA "
				  "private key in PEM (the value is not shown)");
	}
	EVP_PKEY_free(pkey);
	if (project == NULL)
		project = kp;
	if (project == NULL || !id_ok(project, 6, 30)) {
		cf_err_set(err, CF_ERR_PERMANENT,
			   WHO " setting project: \"%.40s\" is not a project id (6-30 characters "
			   "a-z, 0-9, '-'; default: the key's project_id)",
			   project ? project : "");
		conf_free(c);
		return -1;
	}
	snprintf(c->project, sizeof(c->project), "%s", project);
	if (zone != NULL && !id_ok(zone, 1, 63)) {
		cf_err_set(err, CF_ERR_PERMANENT,
			   WHO " setting managed_zone: \"%.70s\" is not a managed zone name "
			   "(1-63 characters a-z, 0-9, '-', starting with a letter)",
			   zone);
		conf_free(c);
		return -1;
	}
	snprintf(c->zone, sizeof(c->zone), "%s", zone ? zone : "");
	if (url_setting("endpoint", endpoint ? endpoint : DEFAULT_ENDPOINT, c->endpoint, err) ||
	    url_setting("token_uri", token_uri ? token_uri : kt ? kt : DEFAULT_TOKEN_URI,
			c->token_uri, err)) {
		conf_free(c);
		return -1;
	}
	return 0;
}

static int gcloud_validate(const json_t *settings, cf_err *err)
{
	gc_conf c;

	if (conf_load(settings, &c, err) != 0)
		return -1;
	conf_free(&c);
	return 0;
}

/* ---- the access token ---- */

static int b64url_part(cf_buf *out, const void *data, size_t len)
{
	char *e = cf_b64url_encode(data, len);
	int rc = e != NULL ? cf_buf_append_str(out, e) : -1;

	free(e);
	return rc;
}

/* The signed JWT assertion (RFC 7523) into out. */
static int make_jwt(const gc_conf *c, cf_buf *out, cf_err *err)
{
	json_t *hdr = NULL, *claims = NULL;
	char *h = NULL, *cl = NULL;
	unsigned char *sig = NULL;
	size_t siglen = 0;
	EVP_PKEY *pkey = load_pkey(c->pem);
	EVP_MD_CTX *m = EVP_MD_CTX_new();
	long long now = (long long)time(NULL);
	int rc = -1;

	hdr = c->key_id ? json_pack("{s:s, s:s, s:s}", "alg", "RS256", "typ", "JWT", "kid",
				    c->key_id)
			: json_pack("{s:s, s:s}", "alg", "RS256", "typ", "JWT");
	claims = json_pack("{s:s, s:s, s:s, s:I, s:I}", "iss", c->email, "scope", SCOPE, "aud",
			   c->token_uri, "iat", (json_int_t)now, "exp", (json_int_t)(now + 3600));
	if (pkey == NULL || m == NULL || hdr == NULL || claims == NULL ||
	    (h = json_dumps(hdr, JSON_COMPACT)) == NULL ||
	    (cl = json_dumps(claims, JSON_COMPACT)) == NULL || b64url_part(out, h, strlen(h)) ||
	    cf_buf_append(out, ".", 1) || b64url_part(out, cl, strlen(cl))) {
		cf_err_set(err, CF_ERR_TRANSIENT, WHO ": cannot build the JWT (out of memory?)");
		goto out;
	}
	if (EVP_DigestSignInit(m, NULL, EVP_sha256(), NULL, pkey) != 1 ||
	    EVP_DigestSign(m, NULL, &siglen, out->data, out->len) != 1 ||
	    (sig = malloc(siglen)) == NULL ||
	    EVP_DigestSign(m, sig, &siglen, out->data, out->len) != 1 ||
	    cf_buf_append(out, ".", 1) || b64url_part(out, sig, siglen)) {
		cf_err_set(err, CF_ERR_PERMANENT, WHO ": cannot sign the JWT with the "
			   "service_account_key's private key");
		goto out;
	}
	rc = 0;
out:
	free(sig);
	free(h);
	free(cl);
	json_decref(hdr);
	json_decref(claims);
	EVP_MD_CTX_free(m);
	EVP_PKEY_free(pkey);
	return rc;
}

/* op->token: the cached one, or a new one from token_uri. */
static int get_token(gc_op *op, cf_err *err)
{
	const char *parts[5] = { WHO, op->c->token_uri, op->c->email, op->c->key_id, op->c->pem };
	cf_buf jwt = { 0 }, form = { 0 };
	cf_api_req req = { .method = "POST",
			   .url = op->c->token_uri,
			   .timeout_ms = op->timeout_ms,
			   .who = WHO,
			   .content_type = "application/x-www-form-urlencoded" };
	long expires = 0;
	int rc = -1;

	if (op->have_token)
		return 0;
	cf_oauth_cache_key(parts, 5, op->cache_key);
	if (cf_oauth_cache_get(op->cache_key, op->token, sizeof(op->token)) == 1) {
		op->have_token = true;
		return 0;
	}
	if (make_jwt(op->c, &jwt, err) != 0)
		goto out;
	if (cf_oauth_form_add(&form, "grant_type", GRANT) != 0 ||
	    cf_oauth_form_add(&form, "assertion", (const char *)jwt.data) != 0) {
		cf_err_oom(err, WHO);
		goto out;
	}
	req.body = (const char *)form.data;
	if (cf_oauth_fetch(&req, "service account JWT", "check the service_account_key "
			   "setting: the key may be deleted or disabled", op->token,
			   sizeof(op->token), &expires, err) != 0)
		goto out;
	cf_oauth_cache_put(op->cache_key, op->token, expires);
	op->have_token = true;
	rc = 0;
out:
	cf_buf_free_secret(&jwt);
	cf_buf_free_secret(&form);
	return rc;
}

/* ---- requests ---- */

/* The error of a Google API answer: "gcloud: <what>: HTTP <code> <status>:
 * <message>". */
static int api_error(long status, const json_t *j, const char *what, cf_err *err)
{
	const json_t *e = json_object_get(j, "error");
	const char *st = json_string_value(json_object_get(e, "status"));
	const char *msg = json_string_value(json_object_get(e, "message"));
	cf_err_class cls = cf_http_status_class(status);

	if (status == 401 || status == 403)
		return cf_err_set(err, CF_ERR_PERMANENT,
				  WHO ": %s: HTTP %ld %s: %.300s (check the service_account_key and "
				  "project settings, and the account's role on the zone: DNS "
				  "Administrator, roles/dns.admin)",
				  what, status, st ? st : "", msg ? msg : "");
	return cf_err_set(err, cls, WHO ": %s: HTTP %ld %s: %.300s", what, status, st ? st : "",
			  msg ? msg : "(no message)");
}

/* method on endpoint + path (query escaped), with a JSON body or none. 0 with
 * *out (the parsed 2xx answer; caller decrefs) or -1; *status is the HTTP
 * status (0: none). A refused token is fetched anew once. */
static int api(gc_op *op, const char *method, const char *path, const char *body, json_t **out,
	       long *status, cf_err *err)
{
	char what[600];
	cf_buf url = { 0 }, auth = { 0 };
	const char *hdrs[2] = { NULL, NULL };
	cf_api_req req = { .method = method, .body = body, .timeout_ms = op->timeout_ms,
			   .who = WHO };
	cf_api_resp resp = { 0 };
	json_t *j = NULL;
	int attempt, rc = -1;

	*out = NULL;
	*status = 0;
	snprintf(what, sizeof(what), "%s %.500s", method, path);
	if (cf_buf_printf(&url, "%s%s", op->c->endpoint, path) != 0)
		return cf_err_oom(err, WHO);
	req.url = (const char *)url.data;
	for (attempt = 0; attempt < 2; attempt++) {
		cf_api_resp_free(&resp);
		json_decref(j);
		j = NULL;
		cf_buf_free_secret(&auth);
		if (get_token(op, err) != 0)
			goto out;
		if (cf_buf_printf(&auth, "Authorization: Bearer %s", op->token) != 0) {
			cf_err_oom(err, WHO);
			goto out;
		}
		hdrs[0] = (const char *)auth.data;
		req.headers = hdrs;
		if (cf_api_http(&req, &resp, err) != 0)
			goto out;
		*status = resp.status;
		j = json_loadb(resp.body.data ? (const char *)resp.body.data : "", resp.body.len, 0,
			       NULL);
		if (resp.status != 401)
			break;
		cf_oauth_cache_drop(op->cache_key); /* expired or revoked: once more */
		op->have_token = false;
	}
	if (resp.status < 200 || resp.status >= 300) {
		api_error(resp.status, j, what, err);
		goto out;
	}
	if (!json_is_object(j)) {
		cf_err_set(err, CF_ERR_TRANSIENT, WHO ": %s: HTTP %ld: the answer is not JSON", what,
			   resp.status);
		goto out;
	}
	*out = j;
	j = NULL;
	rc = 0;
out:
	json_decref(j);
	cf_api_resp_free(&resp);
	cf_buf_free_secret(&auth);
	cf_buf_free(&url);
	return rc;
}

/* "/projects/{project}/managedZones/{zone}" + tail into b. */
static int zone_path(const gc_op *op, const char *zone, const char *tail, cf_buf *b)
{
	cf_buf_reset(b);
	return cf_buf_printf(b, "/projects/%s/managedZones/%s%s", op->c->project, zone, tail);
}

/* ---- zones and rrsets ---- */

/* The public managed zone whose dnsName is exactly cand + ".": 1 found, 0 not. */
static int zone_by_dns_name(gc_op *op, const char *cand, char zone[NAME_LEN + 1], cf_err *err)
{
	cf_buf path = { 0 };
	json_t *j = NULL;
	const json_t *z;
	long status;
	size_t i;
	int rc = -1;

	if (cf_buf_printf(&path, "/projects/%s/managedZones?dnsName=", op->c->project) != 0 ||
	    cf_oauth_url_escape(&path, cand) != 0 || cf_buf_append_str(&path, ".") != 0) {
		cf_err_oom(err, WHO);
		goto out;
	}
	if (api(op, "GET", (const char *)path.data, NULL, &j, &status, err) != 0)
		goto out;
	rc = 0;
	json_array_foreach(json_object_get(j, "managedZones"), i, z) {
		const char *dn = json_string_value(json_object_get(z, "dnsName"));
		const char *nm = json_string_value(json_object_get(z, "name"));
		const char *vis = json_string_value(json_object_get(z, "visibility"));

		if (dn != NULL && nm != NULL && cf_name_equal(dn, cand) && id_ok(nm, 1, 63) &&
		    (vis == NULL || strcmp(vis, "private") != 0)) {
			snprintf(zone, NAME_LEN + 1, "%s", nm);
			rc = 1;
			break;
		}
	}
out:
	json_decref(j);
	cf_buf_free(&path);
	return rc;
}

static int find_zone(gc_op *op, const char *name, char zone[NAME_LEN + 1], cf_err *err)
{
	const char *cand;
	int found;

	if (op->c->zone[0] != '\0') {
		memcpy(zone, op->c->zone, NAME_LEN + 1);
		return 0;
	}
	for (cand = name; strchr(cand, '.') != NULL; cand = strchr(cand, '.') + 1)
		if ((found = zone_by_dns_name(op, cand, zone, err)) != 0)
			return found == 1 ? 0 : -1;
	return cf_err_set(err, CF_ERR_PERMANENT,
			  WHO ": no public managed zone of project %s holds %s (managedZones?dnsName= "
			  "knows none of its suffixes; set managed_zone)",
			  op->c->project, name);
}

/* The TXT rrset at name as Cloud DNS lists it (a JSON object, caller decrefs),
 * or *rr NULL when there is none. */
static int read_rrset(gc_op *op, const char *zone, const char *name, json_t **rr, cf_err *err)
{
	cf_buf path = { 0 };
	json_t *j = NULL;
	const json_t *r;
	long status;
	size_t i;
	int rc = -1;

	*rr = NULL;
	if (zone_path(op, zone, "/rrsets?type=TXT&name=", &path) != 0 ||
	    cf_oauth_url_escape(&path, name) != 0 || cf_buf_append_str(&path, ".") != 0) {
		cf_err_oom(err, WHO);
		goto out;
	}
	if (api(op, "GET", (const char *)path.data, NULL, &j, &status, err) != 0)
		goto out;
	json_array_foreach(json_object_get(j, "rrsets"), i, r) {
		const char *n = json_string_value(json_object_get(r, "name"));
		const char *t = json_string_value(json_object_get(r, "type"));

		if (n != NULL && t != NULL && strcmp(t, "TXT") == 0 && cf_name_equal(n, name) &&
		    json_is_array(json_object_get(r, "rrdatas"))) {
			*rr = json_incref((json_t *)r);
			break;
		}
	}
	rc = 0;
out:
	json_decref(j);
	cf_buf_free(&path);
	return rc;
}

/* true when rrdata stands for value. */
static bool rrdata_is(const char *rrdata, const char *value)
{
	cf_buf u = { 0 };
	bool same = cf_txt_unquote(rrdata, CF_TXT_DECIMAL, &u) == 0 &&
		    strcmp((const char *)u.data, value) == 0;

	cf_buf_free(&u);
	return same;
}

/* ---- batches ---- */

/* A distinct name of a batch and its zone. */
typedef struct gc_name {
	char name[CF_NAME_MAX + 1];
	char zone[NAME_LEN + 1];
} gc_name;

typedef struct gc_batch {
	cf_provider_rec *recs;
	size_t n;
	size_t *of;     /* recs[i] is at names[of[i]] */
	cf_buf *quoted; /* recs[i].value as an rrdata */
	gc_name *names;
	size_t nn;
	bool add;
} gc_batch;

/* Reads name k and adds what its change needs to dels and adds: 1 when one is
 * needed, 0 when every value of the batch at k is as wanted (marked done). */
static int plan_name(gc_op *op, gc_batch *b, size_t k, json_t *dels, json_t *adds, cf_err *err)
{
	const gc_name *nm = &b->names[k];
	json_t *rr = NULL, *want = json_array(), *rec;
	const json_t *d;
	size_t i, j, have = 0;
	int rc = -1;

	if (want == NULL) {
		cf_err_oom(err, WHO);
		goto out;
	}
	if (read_rrset(op, nm->zone, nm->name, &rr, err) != 0)
		goto out;
	json_array_foreach(json_object_get(rr, "rrdatas"), i, d) {
		bool ours = false;

		have++;
		for (j = 0; !b->add && j < b->n && !ours; j++)
			ours = b->of[j] == k && rrdata_is(json_string_value(d), b->recs[j].value);
		if (!ours && json_array_append(want, (json_t *)d) != 0)
			goto oom;
	}
	for (j = 0; b->add && j < b->n; j++) {
		bool there = false;

		if (b->of[j] != k)
			continue;
		json_array_foreach(want, i, d)
			there = there || rrdata_is(json_string_value(d), b->recs[j].value);
		if (!there && json_array_append_new(want, json_string((char *)b->quoted[j].data)))
			goto oom;
	}
	rc = json_array_size(want) != have;
	if (rc == 0) {
		for (j = 0; j < b->n; j++)
			if (b->of[j] == k)
				b->recs[j].done = true;
		goto out;
	}
	if (rr != NULL && json_array_append(dels, rr) != 0)
		goto oom;
	if (json_array_size(want) > 0) {
		long ttl = b->add || rr == NULL ? op->c->ttl
						: (long)json_integer_value(json_object_get(rr, "ttl"));
		char fq[CF_NAME_MAX + 2];

		snprintf(fq, sizeof(fq), "%s.", nm->name);
		rec = json_pack("{s:s, s:s, s:I, s:O}", "name", fq, "type", "TXT", "ttl",
				(json_int_t)(ttl > 0 ? ttl : op->c->ttl), "rrdatas", want);
		if (rec == NULL || json_array_append_new(adds, rec) != 0)
			goto oom;
	}
	goto out;
oom:
	rc = cf_err_oom(err, WHO);
out:
	json_decref(want);
	json_decref(rr);
	return rc;
}

/* Polls changes/{id} until "done" (or change_timeout). */
static int wait_done(gc_op *op, const char *zone, const char *id, const char *status,
		     cf_err *err)
{
	char st[32];
	long delay_ms = 200;
	long long start = cf_clock_mono_ms();
	cf_buf path = { 0 };
	json_t *j = NULL;
	long http;
	int rc = -1;

	snprintf(st, sizeof(st), "%s", status);
	if (zone_path(op, zone, "/changes/", &path) != 0 || cf_buf_append_str(&path, id) != 0) {
		cf_err_oom(err, WHO);
		goto out;
	}
	while (strcmp(st, "done") != 0) {
		struct timespec nap = { delay_ms / 1000, (delay_ms % 1000) * 1000000L };

		if (op->c->change_s == 0)
			break; /* told not to wait */
		if (cf_clock_mono_ms() - start >= op->c->change_s * 1000LL) {
			cf_err_set(err, CF_ERR_TRANSIENT,
				   WHO ": change %s is still %s after %ld s (change_timeout)", id, st,
				   op->c->change_s);
			goto out;
		}
		nanosleep(&nap, NULL);
		delay_ms = delay_ms * 2 > 3000 ? 3000 : delay_ms * 2;
		if (api(op, "GET", (const char *)path.data, NULL, &j, &http, err) != 0)
			goto out;
		snprintf(st, sizeof(st), "%s",
			 json_is_string(json_object_get(j, "status"))
				 ? json_string_value(json_object_get(j, "status"))
				 : "(none)");
		json_decref(j);
		j = NULL;
	}
	rc = 0;
out:
	cf_buf_free(&path);
	return rc;
}

static int ptr_cmp(const void *a, const void *b)
{
	uintptr_t x = (uintptr_t) * (pthread_mutex_t *const *)a;
	uintptr_t y = (uintptr_t) * (pthread_mutex_t *const *)b;

	return x < y ? -1 : x > y;
}

/* The names of b in zone: one change with all their deletions and additions,
 * polled until done, then read again (redone up to ATTEMPTS times when the
 * rrsets changed under us). */
static int batch_zone(gc_op *op, gc_batch *b, const char *zone, cf_err *err)
{
	pthread_mutex_t **locks = calloc(b->nn ? b->nn : 1, sizeof(*locks));
	cf_buf path = { 0 };
	size_t k, nl = 0, i;
	int attempt, rc = -1;

	if (locks == NULL || zone_path(op, zone, "/changes", &path) != 0) {
		free(locks);
		cf_buf_free(&path);
		return cf_err_oom(err, WHO);
	}
	for (k = 0; k < b->nn; k++)
		if (strcmp(b->names[k].zone, zone) == 0)
			locks[nl++] = cf_txt_name_lock(b->names[k].name);
	qsort(locks, nl, sizeof(*locks), ptr_cmp); /* one order: no lock cycles */
	for (i = 0; i < nl; i++)
		if (i == 0 || locks[i] != locks[i - 1])
			pthread_mutex_lock(locks[i]);
	for (attempt = 0;; attempt++) {
		json_t *dels = json_array(), *adds = json_array(), *ch = NULL, *ans = NULL;
		char *body = NULL;
		size_t nch = 0;
		long status = 0;
		int p = 0, step = -1;

		for (k = 0; dels && adds && k < b->nn && p >= 0; k++)
			if (strcmp(b->names[k].zone, zone) == 0 &&
			    (p = plan_name(op, b, k, dels, adds, err)) > 0)
				nch++;
		if (dels == NULL || adds == NULL) {
			cf_err_oom(err, WHO);
		} else if (p < 0) {
			/* err says why */
		} else if (nch == 0) {
			step = 1;
		} else if (attempt == ATTEMPTS) {
			cf_err_set(err, CF_ERR_TRANSIENT,
				   WHO ": the TXT rrsets in zone %s kept changing under us: %zu "
				   "still differ after %d changes", zone, nch, ATTEMPTS);
		} else if ((ch = json_pack("{s:O, s:O}", "additions", adds, "deletions", dels)) ==
				   NULL ||
			   (body = json_dumps(ch, JSON_COMPACT)) == NULL) {
			cf_err_oom(err, WHO);
		} else if (api(op, "POST", (const char *)path.data, body, &ans, &status, err) != 0) {
			if (status == 409 || status == 412) {
				cf_err_clear(err); /* not as we read it: read again */
				step = 0;
			}
		} else {
			const char *id = json_string_value(json_object_get(ans, "id"));
			const char *st = json_string_value(json_object_get(ans, "status"));

			if (id == NULL || strlen(id) > ID_LEN ||
			    strspn(id, "0123456789abcdefghijklmnopqrstuvwxyz-_") != strlen(id))
				cf_err_set(err, CF_ERR_TRANSIENT,
					   WHO ": POST %s: the answer has no change id",
					   (const char *)path.data);
			else if (wait_done(op, zone, id, st ? st : "pending", err) == 0)
				step = 0;
		}
		free(body);
		json_decref(ch);
		json_decref(ans);
		json_decref(dels);
		json_decref(adds);
		if (step != 0) {
			rc = step > 0 ? 0 : -1;
			break;
		}
	}
	while (nl-- > 0)
		if (nl == 0 || locks[nl] != locks[nl - 1])
			pthread_mutex_unlock(locks[nl]);
	free(locks);
	cf_buf_free(&path);
	return rc;
}

static int batch_update(const cf_provider_ctx *ctx, cf_provider_rec *recs, size_t n, bool add,
			cf_err *err)
{
	gc_batch b = { .recs = recs, .n = n, .add = add };
	char name[CF_NAME_MAX + 1];
	gc_conf c;
	gc_op *op = NULL;
	size_t i, k;
	int rc = -1;

	if (conf_load(ctx->settings, &c, err) != 0)
		return -1;
	op = calloc(1, sizeof(*op));
	b.of = calloc(n ? n : 1, sizeof(*b.of));
	b.quoted = calloc(n ? n : 1, sizeof(*b.quoted));
	b.names = calloc(n ? n : 1, sizeof(*b.names));
	if (op == NULL || b.of == NULL || b.quoted == NULL || b.names == NULL) {
		cf_err_oom(err, WHO);
		goto out;
	}
	op->c = &c;
	op->timeout_ms = ctx->timeout_ms > 0 ? ctx->timeout_ms : 10000;
	for (i = 0; i < n; i++) {
		const char *v = recs[i].value;

		if (cf_target_normalize(recs[i].fqdn, name, err) != 0) {
			cf_err_wrap(err, WHO);
			goto out;
		}
		if (v == NULL || v[0] == '\0' || strlen(v) > VALUE_MAX ||
		    cf_txt_quote(v, CF_TXT_DECIMAL, &b.quoted[i]) != 0) {
			cf_err_set(err, CF_ERR_PERMANENT, WHO ": TXT value empty or over %d bytes",
				   VALUE_MAX);
			goto out;
		}
		for (k = 0; k < b.nn && strcasecmp(b.names[k].name, name) != 0; k++)
			;
		if (k == b.nn) { /* a new name: find its zone */
			memcpy(b.names[k].name, name, sizeof(name));
			if (find_zone(op, name, b.names[k].zone, err) != 0)
				goto out;
			b.nn++;
		}
		b.of[i] = k;
	}
	for (k = 0; k < b.nn; k++) { /* each zone once, in the order first named */
		for (i = 0; i < k && strcmp(b.names[i].zone, b.names[k].zone) != 0; i++)
			;
		if (i == k && batch_zone(op, &b, b.names[k].zone, err) != 0)
			goto out;
	}
	rc = 0;
out:
	for (i = 0; b.quoted != NULL && i < n; i++)
		cf_buf_free(&b.quoted[i]);
	if (op != NULL)
		cf_wipe(op->token, sizeof(op->token));
	free(op);
	free(b.names);
	free(b.quoted);
	free(b.of);
	conf_free(&c);
	return rc;
}

static int gcloud_present_many(const cf_provider_ctx *ctx, cf_provider_rec *recs, size_t n,
			       cf_err *err)
{
	return batch_update(ctx, recs, n, true, err);
}

static int gcloud_cleanup_many(const cf_provider_ctx *ctx, cf_provider_rec *recs, size_t n,
			       cf_err *err)
{
	return batch_update(ctx, recs, n, false, err);
}

static int gcloud_present(const cf_provider_ctx *ctx, const char *fqdn, const char *value,
			  cf_err *err)
{
	cf_provider_rec r = { .fqdn = fqdn, .value = value };

	return batch_update(ctx, &r, 1, true, err);
}

static int gcloud_cleanup(const cf_provider_ctx *ctx, const char *fqdn, const char *value,
			  cf_err *err)
{
	cf_provider_rec r = { .fqdn = fqdn, .value = value };

	return batch_update(ctx, &r, 1, false, err);
}

/* err must not be NULL: its class tells "cannot" (permanent) from "cannot tell".
 * The zone is found and the name's TXT rrset read, as a write would (GETs only). */
static int gcloud_can_write(const cf_provider_ctx *ctx, const char *fqdn, cf_err *err)
{
	char name[CF_NAME_MAX + 1], zone[NAME_LEN + 1];
	gc_conf c;
	gc_op *op;
	json_t *rr = NULL;
	int rc;

	if (conf_load(ctx->settings, &c, err) != 0)
		return 0;
	if (cf_target_normalize(fqdn, name, err) != 0) {
		conf_free(&c);
		cf_err_wrap(err, WHO);
		return 0;
	}
	if ((op = calloc(1, sizeof(*op))) == NULL) {
		conf_free(&c);
		cf_err_oom(err, WHO);
		return -1;
	}
	op->c = &c;
	op->timeout_ms = ctx->timeout_ms > 0 ? ctx->timeout_ms : 10000;
	if (find_zone(op, name, zone, err) == 0 && read_rrset(op, zone, name, &rr, err) == 0)
		rc = 1;
	else
		rc = err->cls == CF_ERR_PERMANENT ? 0 : -1;
	json_decref(rr);
	cf_wipe(op->token, sizeof(op->token));
	free(op);
	conf_free(&c);
	return rc;
}

const cf_provider_ops cf_provider_gcloud = {
	.name = "gcloud",
	.secret_keys = secret_keys,
	.validate = gcloud_validate,
	.present = gcloud_present,
	.cleanup = gcloud_cleanup,
	.can_write = gcloud_can_write,
	.present_many = gcloud_present_many,
	.cleanup_many = gcloud_cleanup_many,
};
