/*
 * powerdns.c: the PowerDNS provider, through the HTTP API of the authoritative
 * server (tested against 4.7).
 *
 * Settings (a JSON object of strings; ttl may also be a number):
 *   api_url    http(s)://HOST[:PORT][/PREFIX] of the API (required); a trailing
 *              "/api/v1" is dropped. PowerDNS's own web server speaks plain HTTP
 *              only, so http:// is allowed anywhere: put TLS in front of it when
 *              the API is reached over an untrusted network.
 *   api_key    the X-API-Key (required; a secret: never in a message or a log,
 *              wiped from the request headers after each call)
 *   server_id  the server in the API's URL (default "localhost")
 *   zone       the zone to write in (optional: otherwise the first of the name and
 *              its parents, longest first, that GET .../zones/{zone} finds)
 *   ttl        TTL of the TXT rrset, 1-86400 (default 60)
 *   ca_file    PEM bundle that signs the API's certificate (https only)
 *
 * PowerDNS replaces whole rrsets, so each change is a read-modify-write: read the
 * TXT rrset of the name (GET with ?rrset_name=&rrset_type=, which 4.7 honours;
 * the records are filtered here too, for older servers), add or drop exactly one
 * value, keep every other record as it was, and PATCH the rrset back (REPLACE, or
 * DELETE when it becomes empty). Two writers at one name could each read the
 * old set and the second write would drop the first one's value, so:
 *  - within a process, changes to one name are serialised by the name's mutex
 *    (cf_txt_name_lock, shared with the other API providers in providers/txt.c);
 *  - after each write the rrset is read again, and the write is redone (up to
 *    ATTEMPTS times, with a short random pause) unless the value is there
 *    (present) or gone (cleanup). A write answered with a 5xx is redone the same
 *    way: PowerDNS on SQLite answers 500 "database is locked" when two writers
 *    hit one zone at once, and the failed transaction changed nothing.
 * A residual race remains between processes (replicas, or the CLI next to the
 * service): a writer whose read preceded our write and whose write follows our
 * check can still drop our value. The service closes it by serialising changes
 * per FQDN across replicas (its dns_records rows and a PostgreSQL advisory lock
 * on the FQDN); this file cannot.
 *
 * Answers: 401/403 name the api_key (never its value), 404 the zone or the
 * server_id, 422 and other 4xx carry PowerDNS's {"error": ...}; 5xx, timeouts and
 * refused connections are transient.
 *
 * can_write() (for the alias check) finds the zone exactly as a write would (a
 * GET, nothing written): the name can be written when the API, with this
 * api_key, has a zone that holds it.
 */
#include "providers/provider.h"
#include "providers/powerdns.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "providers/api_http.h"
#include "providers/txt.h"
#include "util/buf.h"
#include "util/http_client.h"

#define WHO "powerdns"
#define DEFAULT_TTL 60
#define VALUE_MAX 1024
#define ATTEMPTS 5
#define ZONE_DOC_MAX (8 * 1024 * 1024)
#define URL_LEN (CF_API_URL_MAX + 3 * CF_NAME_MAX + 128)

static const char *const secret_keys[] = { "api_key", NULL };
static const char *const known_keys[] = { "api_url", "api_key", "server_id", "zone",
					  "ttl",     "ca_file", NULL };

/* The settings, checked. Strings point into the settings object (not owned). */
typedef struct pdns_conf {
	char base[CF_API_URL_MAX]; /* api_url without "/api/v1" and trailing slashes */
	const char *key;
	const char *server_id;
	const char *ca_file;
	char zone[CF_NAME_MAX + 1]; /* "" = find it */
	long ttl;
} pdns_conf;

/* One call's context, for requests and messages. */
typedef struct pdns_call {
	const pdns_conf *c;
	long timeout_ms;
	const char *name; /* the normalised FQDN, no trailing dot */
} pdns_call;

/* ---- settings ---- */

static int server_id_ok(const char *s)
{
	size_t i;

	for (i = 0; s[i]; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '.' || s[i] == '-' || s[i] == '_'))
			return 0;
	return i > 0 && i <= 64;
}

static int conf_load(const json_t *s, pdns_conf *c, cf_err *err)
{
	const char *url, *zone;
	size_t n;

	memset(c, 0, sizeof(*c));
	if (s == NULL || !json_is_object(s))
		return cf_err_set(err, CF_ERR_PERMANENT, WHO ": settings must be an object");
	if (cf_api_settings_known(WHO, s, known_keys, err) != 0 ||
	    cf_api_setting_str(WHO, s, "api_url", &url, err) != 0 ||
	    cf_api_setting_str(WHO, s, "api_key", &c->key, err) != 0 ||
	    cf_api_setting_str(WHO, s, "server_id", &c->server_id, err) != 0 ||
	    cf_api_setting_str(WHO, s, "zone", &zone, err) != 0 ||
	    cf_api_setting_str(WHO, s, "ca_file", &c->ca_file, err) != 0)
		return -1;
	if (cf_api_url_check(WHO, "api_url", url, c->base, err) != 0)
		return -1;
	n = strlen(c->base);
	if (n >= 7 && strcasecmp(c->base + n - 7, "/api/v1") == 0)
		c->base[n - 7] = '\0';
	if (c->key == NULL || c->key[0] == '\0')
		return cf_err_set(err, CF_ERR_PERMANENT,
				  WHO " setting api_key: required (the API's X-API-Key)");
	for (n = 0; c->key[n]; n++)
		if ((unsigned char)c->key[n] < 0x20 || c->key[n] == 0x7f)
			return cf_err_set(err, CF_ERR_PERMANENT,
					  WHO " setting api_key: contains a control character "
					  "(the value is not shown)");
	if (c->server_id == NULL)
		c->server_id = "localhost";
	if (!server_id_ok(c->server_id))
		return cf_err_set(err, CF_ERR_PERMANENT,
				  WHO " setting server_id: \"%.64s\" is not [A-Za-z0-9._-], 1-64 "
				  "characters",
				  c->server_id);
	if (zone != NULL && cf_target_normalize(zone, c->zone, err) != 0)
		return cf_err_wrap(err, WHO " setting zone");
	if (c->ca_file != NULL && c->ca_file[0] != '/')
		return cf_err_set(err, CF_ERR_PERMANENT,
				  WHO " setting ca_file: \"%.100s\" is not an absolute path",
				  c->ca_file);
	return cf_api_setting_long(WHO, s, "ttl", 1, 86400, DEFAULT_TTL, &c->ttl, err);
}

static int pdns_validate(const json_t *settings, cf_err *err)
{
	pdns_conf c;

	return conf_load(settings, &c, err);
}

/* ---- pure parts (powerdns.h) ---- */

int cf_pdns_zone_id(const char *zone, char *out, size_t outlen)
{
	size_t i, o = 0;

	for (i = 0; zone[i]; i++) {
		unsigned char ch = (unsigned char)zone[i];

		if (o + 4 >= outlen)
			return -1;
		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || ch == '.' || ch == '-')
			out[o++] = (char)ch;
		else
			o += (size_t)snprintf(out + o, outlen - o, "=%02X", ch);
	}
	if (o == 0 || out[o - 1] != '.')
		out[o++] = '.';
	out[o] = '\0';
	return 0;
}

int cf_pdns_zone_url(const char *base, const char *server_id, const char *zone,
		     const char *name, char *out, size_t outlen)
{
	char id[3 * CF_NAME_MAX + 8];
	size_t n;
	int k;

	if (cf_pdns_zone_id(zone, id, sizeof(id)) != 0)
		return -1;
	if (name != NULL) {
		n = strlen(name);
		k = snprintf(out, outlen,
			     "%s/api/v1/servers/%s/zones/%s?rrset_name=%s%s&rrset_type=TXT", base,
			     server_id, id, name, n > 0 && name[n - 1] == '.' ? "" : ".");
	} else {
		k = snprintf(out, outlen, "%s/api/v1/servers/%s/zones/%s", base, server_id, id);
	}
	return k < 0 || (size_t)k >= outlen ? -1 : 0;
}

/* true when content stands for value. */
static bool content_is(const char *content, const char *value)
{
	cf_buf b = { 0 };
	bool same;

	same = content != NULL && cf_txt_unquote(content, CF_TXT_DECIMAL, &b) == 0 &&
	       b.len == strlen(value) && (b.len == 0 || memcmp(b.data, value, b.len) == 0);
	cf_buf_free(&b);
	return same;
}

json_t *cf_pdns_txt_records(const json_t *zone_doc, const char *name)
{
	json_t *out = json_array(), *rrset, *rec;
	size_t i, j;

	if (out == NULL)
		return NULL;
	json_array_foreach(json_object_get(zone_doc, "rrsets"), i, rrset) {
		const char *n = json_string_value(json_object_get(rrset, "name"));
		const char *t = json_string_value(json_object_get(rrset, "type"));

		if (n == NULL || t == NULL || strcmp(t, "TXT") != 0 || !cf_name_equal(n, name))
			continue;
		json_array_foreach(json_object_get(rrset, "records"), j, rec) {
			const char *c = json_string_value(json_object_get(rec, "content"));

			if (c == NULL)
				continue;
			if (json_array_append_new(out, json_pack("{s:s,s:b}", "content", c,
								  "disabled",
								  json_is_true(json_object_get(
									  rec, "disabled")))) != 0) {
				json_decref(out);
				return NULL;
			}
		}
	}
	return out;
}

bool cf_pdns_records_have(const json_t *records, const char *value)
{
	const json_t *rec;
	size_t i;

	json_array_foreach(records, i, rec)
		if (!json_is_true(json_object_get(rec, "disabled")) &&
		    content_is(json_string_value(json_object_get(rec, "content")), value))
			return true;
	return false;
}

int cf_pdns_patch_body(const json_t *records, const char *name, long ttl, const char *value,
		       bool add, char **body, cf_err *err)
{
	json_t *keep = NULL, *rrset = NULL, *doc = NULL, *rec;
	char fqdn[CF_NAME_MAX + 2];
	cf_buf quoted = { 0 };
	size_t i, n = strlen(name);
	bool had = false;
	int rc = -1;

	*body = NULL;
	if (add && cf_pdns_records_have(records, value))
		return 0;
	snprintf(fqdn, sizeof(fqdn), "%s%s", name, n > 0 && name[n - 1] == '.' ? "" : ".");
	if ((keep = json_array()) == NULL)
		goto oom;
	json_array_foreach(records, i, rec) {
		if (content_is(json_string_value(json_object_get(rec, "content")), value)) {
			had = true; /* a disabled copy of ours goes too (add re-adds it) */
			continue;
		}
		if (json_array_append(keep, (json_t *)rec) != 0)
			goto oom;
	}
	if (!add && !had) {
		rc = 0;
		goto out;
	}
	if (add) {
		if (cf_txt_quote(value, CF_TXT_DECIMAL, &quoted) != 0 ||
		    json_array_append_new(keep, json_pack("{s:s,s:b}", "content",
							  (const char *)quoted.data, "disabled",
							  0)) != 0)
			goto oom;
	}
	if (json_array_size(keep) > 0)
		rrset = json_pack("{s:s,s:s,s:I,s:s,s:O}", "name", fqdn, "type", "TXT", "ttl",
				  (json_int_t)ttl, "changetype", "REPLACE", "records", keep);
	else
		rrset = json_pack("{s:s,s:s,s:s}", "name", fqdn, "type", "TXT", "changetype",
				  "DELETE");
	if (rrset == NULL || (doc = json_pack("{s:[O]}", "rrsets", rrset)) == NULL ||
	    (*body = json_dumps(doc, JSON_COMPACT)) == NULL)
		goto oom;
	rc = 0;
	goto out;
oom:
	cf_err_oom(err, WHO);
out:
	cf_buf_free(&quoted);
	json_decref(doc);
	json_decref(rrset);
	json_decref(keep);
	return rc;
}

/* ---- API calls ---- */

/* Fills err for a non-2xx answer to `what` (e.g. "GET zone pdns-alias.test"). */
static int status_error(const pdns_call *k, const char *what, const cf_api_resp *r,
			cf_err *err)
{
	char text[300];

	cf_api_error_text(r, text, sizeof(text));
	if (r->status == 401 || r->status == 403)
		return cf_err_set(err, CF_ERR_PERMANENT,
				  WHO ": %s rejected the api_key (HTTP %ld: %s) on %s: check the "
				  "api_key setting",
				  k->c->base, r->status, text, what);
	if (cf_http_status_class(r->status) == CF_ERR_TRANSIENT)
		return cf_err_set(err, CF_ERR_TRANSIENT, WHO ": %s on %s failed (HTTP %ld: %s)",
				  what, k->c->base, r->status, text);
	return cf_err_set(err, CF_ERR_PERMANENT, WHO ": %s on %s refused (HTTP %ld: %s)", what,
			  k->c->base, r->status, text);
}

static int call(const pdns_call *k, const char *method, const char *url, const char *body,
		cf_api_resp *resp, cf_err *err)
{
	char hdr[1100];
	const char *hdrs[2] = { hdr, NULL };
	cf_api_req req = { .method = method,
			   .url = url,
			   .headers = hdrs,
			   .body = body,
			   .ca_file = k->c->ca_file,
			   .timeout_ms = k->timeout_ms,
			   .max_body = ZONE_DOC_MAX,
			   .who = WHO " api_url" };
	int rc;

	if (strlen(k->c->key) > sizeof(hdr) - 20)
		return cf_err_set(err, CF_ERR_PERMANENT, WHO " setting api_key: too long");
	snprintf(hdr, sizeof(hdr), "X-API-Key: %s", k->c->key);
	rc = cf_api_http(&req, resp, err);
	cf_wipe(hdr, sizeof(hdr));
	return rc;
}

/* GETs zone, filtered on the name's TXT rrset. 0 with *doc (caller's), or 0 with
 * *doc NULL for a 404 (no such zone), or -1. */
static int get_zone(const pdns_call *k, const char *zone, json_t **doc, cf_err *err)
{
	char url[URL_LEN], what[CF_NAME_MAX + 32];
	cf_api_resp r = { 0 };
	int rc = -1;

	*doc = NULL;
	snprintf(what, sizeof(what), "GET zone %s", zone);
	if (cf_pdns_zone_url(k->c->base, k->c->server_id, zone, k->name, url, sizeof(url)) != 0)
		return cf_err_set(err, CF_ERR_PERMANENT, WHO ": URL for zone %s too long", zone);
	if (call(k, "GET", url, NULL, &r, err) != 0)
		goto out;
	if (r.status == 404) {
		rc = 0;
		goto out;
	}
	if (r.status != 200) {
		status_error(k, what, &r, err);
		goto out;
	}
	*doc = json_loadb((const char *)r.body.data, r.body.len, 0, NULL);
	if (!json_is_object(*doc)) {
		json_decref(*doc);
		*doc = NULL;
		cf_err_set(err, CF_ERR_TRANSIENT, WHO ": %s on %s: the answer is not a JSON object",
			   what, k->c->base);
		goto out;
	}
	rc = 0;
out:
	cf_api_resp_free(&r);
	return rc;
}

/* Why no zone was found: a wrong server_id, or really no zone. */
static int no_zone(const pdns_call *k, const char *tried, cf_err *err)
{
	char url[URL_LEN];
	cf_api_resp r = { 0 };
	cf_err e2 = { 0 };

	snprintf(url, sizeof(url), "%s/api/v1/servers/%s", k->c->base, k->c->server_id);
	if (call(k, "GET", url, NULL, &r, &e2) == 0 && r.status == 404) {
		cf_api_resp_free(&r);
		return cf_err_set(err, CF_ERR_PERMANENT,
				  WHO " setting server_id: %s has no server \"%s\" (GET %s: 404)",
				  k->c->base, k->c->server_id, url);
	}
	cf_api_resp_free(&r);
	cf_err_clear(&e2);
	return cf_err_set(err, CF_ERR_PERMANENT,
			  WHO ": no zone on %s (server %s) holds %s (tried %s): create the "
			  "zone, or set the zone setting",
			  k->c->base, k->c->server_id, k->name, tried);
}

/* The zone of the name (configured, or found by walking up) and its document. */
static int find_zone(const pdns_call *k, char zone[CF_NAME_MAX + 1], json_t **doc, cf_err *err)
{
	char tried[600] = "";
	const char *p = k->name;
	size_t off = 0;

	if (k->c->zone[0] != '\0') {
		if (!cf_name_is_under(k->name, k->c->zone))
			return cf_err_set(err, CF_ERR_PERMANENT, WHO ": %s is not in zone %s",
					  k->name, k->c->zone);
		snprintf(zone, CF_NAME_MAX + 1, "%s", k->c->zone);
		if (get_zone(k, zone, doc, err) != 0)
			return -1;
		return *doc != NULL ? 0 : no_zone(k, zone, err);
	}
	while (p != NULL && *p) {
		if (get_zone(k, p, doc, err) != 0)
			return -1;
		if (*doc != NULL) {
			snprintf(zone, CF_NAME_MAX + 1, "%s", p);
			return 0;
		}
		if (off < sizeof(tried))
			off += (size_t)snprintf(tried + off, sizeof(tried) - off, "%s%s",
						off ? ", " : "", p);
		p = strchr(p, '.');
		if (p != NULL)
			p++;
	}
	return no_zone(k, tried, err);
}

/* PATCHes the rrset; *busy tells a 5xx answer (e.g. SQLite's "database is
 * locked" when two writers hit one zone), after which the write is redone. */
static int patch(const pdns_call *k, const char *zone, const char *body, bool *busy,
		 cf_err *err)
{
	char url[URL_LEN], what[CF_NAME_MAX + 64];
	cf_api_resp r = { 0 };
	int rc = -1;

	snprintf(what, sizeof(what), "PATCH of TXT %s. in zone %s", k->name, zone);
	if (cf_pdns_zone_url(k->c->base, k->c->server_id, zone, NULL, url, sizeof(url)) != 0)
		return cf_err_set(err, CF_ERR_PERMANENT, WHO ": URL for zone %s too long", zone);
	if (call(k, "PATCH", url, body, &r, err) != 0)
		goto out;
	if (r.status != 204 && r.status != 200) {
		*busy = r.status >= 500;
		status_error(k, what, &r, err);
		goto out;
	}
	rc = 0;
out:
	cf_api_resp_free(&r);
	return rc;
}

static void short_pause(int attempt)
{
	struct timespec now, d;

	clock_gettime(CLOCK_MONOTONIC, &now);
	d.tv_sec = 0;
	d.tv_nsec = (20 + (long)(now.tv_nsec % 30) * attempt) * 1000000L;
	nanosleep(&d, NULL);
}

/* The read-modify-write loop of present (add) and cleanup. */
static int change(const cf_provider_ctx *ctx, const char *fqdn, const char *value, bool add,
		  cf_err *err)
{
	pdns_conf c;
	char name[CF_NAME_MAX + 1], zone[CF_NAME_MAX + 1];
	pdns_call k = { .c = &c, .timeout_ms = ctx->timeout_ms, .name = name };
	pthread_mutex_t *lock = NULL;
	json_t *doc = NULL, *recs = NULL;
	cf_err perr = { 0 };
	char *body = NULL;
	bool busy = false;
	int attempt, rc = -1;

	if (conf_load(ctx->settings, &c, err) != 0)
		return -1;
	if (cf_target_normalize(fqdn, name, err) != 0)
		return cf_err_wrap(err, WHO);
	if (value == NULL || strlen(value) > VALUE_MAX)
		return cf_err_set(err, CF_ERR_PERMANENT, WHO ": TXT value missing or over %d bytes",
				  VALUE_MAX);
	lock = cf_txt_name_lock(name);
	pthread_mutex_lock(lock);
	if (find_zone(&k, zone, &doc, err) != 0)
		goto out;
	for (attempt = 0;; attempt++) {
		json_decref(recs);
		free(body);
		body = NULL;
		if ((recs = cf_pdns_txt_records(doc, name)) == NULL) {
			cf_err_oom(err, WHO);
			goto out;
		}
		if (cf_pdns_patch_body(recs, name, c.ttl, value, add, &body, err) != 0)
			goto out;
		if (body == NULL) { /* already as wanted (maybe after a retry) */
			rc = 0;
			goto out;
		}
		if (attempt == ATTEMPTS)
			break;
		if (attempt > 0)
			short_pause(attempt);
		busy = false;
		cf_err_clear(&perr);
		if (patch(&k, zone, body, &busy, &perr) != 0 && !busy) {
			cf_err_set(err, perr.cls, "%s", perr.msg);
			goto out;
		}
		json_decref(doc);
		doc = NULL;
		if (get_zone(&k, zone, &doc, err) != 0)
			goto out;
		if (doc == NULL) {
			cf_err_set(err, CF_ERR_TRANSIENT, WHO ": zone %s vanished from %s", zone,
				   c.base);
			goto out;
		}
	}
	if (busy)
		cf_err_set(err, perr.cls, "%s (%d attempts)", perr.msg, ATTEMPTS);
	else
		cf_err_set(err, CF_ERR_TRANSIENT,
			   WHO ": the TXT value at %s. %s after %d writes: another writer keeps "
			   "replacing the rrset in zone %s",
			   name, add ? "did not stay" : "kept coming back", ATTEMPTS, zone);
out:
	cf_err_clear(&perr);
	pthread_mutex_unlock(lock);
	json_decref(recs);
	json_decref(doc);
	free(body);
	return rc;
}

static int pdns_present(const cf_provider_ctx *ctx, const char *fqdn, const char *value,
			cf_err *err)
{
	return change(ctx, fqdn, value, true, err);
}

static int pdns_cleanup(const cf_provider_ctx *ctx, const char *fqdn, const char *value,
			cf_err *err)
{
	return change(ctx, fqdn, value, false, err);
}

/* err must not be NULL: its class tells "cannot" (permanent) from "cannot tell". */
static int pdns_can_write(const cf_provider_ctx *ctx, const char *fqdn, cf_err *err)
{
	pdns_conf c;
	char name[CF_NAME_MAX + 1], zone[CF_NAME_MAX + 1];
	pdns_call k = { .c = &c, .timeout_ms = ctx->timeout_ms, .name = name };
	json_t *doc = NULL;
	int rc;

	if (conf_load(ctx->settings, &c, err) != 0)
		return err->cls == CF_ERR_PERMANENT ? 0 : -1;
	if (cf_target_normalize(fqdn, name, err) != 0) {
		cf_err_wrap(err, WHO);
		return 0;
	}
	rc = find_zone(&k, zone, &doc, err);
	json_decref(doc);
	if (rc == 0)
		return 1;
	return err->cls == CF_ERR_PERMANENT ? 0 : -1;
}

const cf_provider_ops cf_provider_powerdns = {
	.name = "powerdns",
	.secret_keys = secret_keys,
	.validate = pdns_validate,
	.present = pdns_present,
	.cleanup = pdns_cleanup,
	.can_write = pdns_can_write,
};
