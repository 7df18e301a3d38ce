/*
 * route53.c: the Amazon Route 53 provider (REST-XML API 2013-04-01, SigV4).
 *
 * Settings (a JSON object of strings; ttl and insync_timeout may be numbers):
 *   access_key_id      the AWS access key id (required)
 *   secret_access_key  its secret (required; a secret: only fed to HMAC, never in
 *                      a message or a log)
 *   session_token      STS session token (optional; a secret: sent as the signed
 *                      X-Amz-Security-Token header, wiped after each request)
 *   region             the signing region (default us-east-1, Route 53's own)
 *   hosted_zone_id     "Z..." or "/hostedzone/Z..." (optional: otherwise the
 *                      longest suffix of the FQDN, of two labels or more, that
 *                      ListHostedZonesByName names as one public hosted zone)
 *   endpoint           default https://route53.amazonaws.com; https:// only, or
 *                      http:// to a loopback host (127.0.0.0/8, ::1, localhost)
 *                      for the test fake
 *   ttl                TTL of the TXT rrset, 1-86400 (default 60)
 *   insync_timeout     seconds to wait for GetChange to say INSYNC, 0-900
 *                      (default 120; 0 does not wait)
 *
 * Route 53 keeps a name's TXT values in one rrset and replaces it whole, so each
 * change is a read-modify-write: ListResourceRecordSets (name, type TXT,
 * maxitems 1; the first rrset listed may be another one, which means there is
 * none), then ChangeResourceRecordSets. present() UPSERTs the union of the
 * current Value texts (kept verbatim) and the new one. cleanup() DELETEs the
 * rrset with its exact current values and TTL when ours is the only value (a
 * DELETE must match exactly), or UPSERTs the others with the current TTL; a
 * value already gone is success. Then GetChange is polled (200 ms doubling to 3 s)
 * until INSYNC. Like powerdns.c, changes to one name are serialised within the
 * process (cf_txt_name_lock, providers/txt.c), and after INSYNC the rrset is read
 * again: the change is redone (up to ATTEMPTS times) unless the value is there
 * (present) or gone (cleanup), and an InvalidChangeBatch (the rrset changed
 * under a DELETE) also leads to a fresh read. Across processes the service
 * serialises writers per FQDN; this file cannot.
 *
 * present_many() and cleanup_many() (the service's workers use them) do the
 * same for all of a job's values at once: per hosted zone, the rrsets of all the
 * names are read, ONE ChangeResourceRecordSets carries a change for each name
 * that needs one (Route 53 applies a batch all or none), GetChange is polled
 * once, and the rrsets are read again to check; a wildcard and its apex at one
 * name are one UPSERT of both values.
 *
 * can_write() (for the alias check) finds the hosted zone as a write would and
 * reads the name's TXT rrset there (GETs only): with a zone id that is wrong,
 * credentials that may not read it, or a name outside it, Route 53 says so.
 *
 * Requests go through the shared transport (util/http_client.c) but not through
 * api_http.c: the body is XML, and the Host header must be exactly the one that
 * was signed. One easy handle per operation (r53_op). Answers: 403 (a
 * signature that does not match, an unknown key, no permission) is permanent and
 * names the settings to check; NoSuchHostedZone and InvalidChangeBatch are
 * permanent; Throttling, PriorRequestNotComplete, 429, 5xx and transport
 * failures are transient.
 */
#include "providers/provider.h"
#include "providers/route53.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "providers/api_http.h"
#include "providers/sigv4.h"
#include "providers/txt.h"
#include "util/clock.h"
#include "util/http_client.h"

#define WHO "route53"
#define DEFAULT_ENDPOINT "https://route53.amazonaws.com"
#define DEFAULT_REGION "us-east-1"
#define API "/2013-04-01"
#define DEFAULT_TTL 60
#define DEFAULT_INSYNC_S 120
#define VALUE_MAX 1024
#define TOKEN_MAX 8192
#define ATTEMPTS 4
#define BODY_MAX (1024 * 1024)
#define PATH_LEN (CF_API_URL_MAX + 3 * CF_NAME_MAX + 128)

static const char *const secret_keys[] = { "secret_access_key", "session_token", NULL };
static const char *const known_keys[] = { "access_key_id", "secret_access_key", "session_token",
					  "region", "hosted_zone_id", "endpoint", "ttl",
					  "insync_timeout", NULL };

/* The settings, checked. Strings point into the settings object (not owned). */
typedef struct r53_conf {
	const char *akid, *secret, *token, *region;
	char zone_id[CF_R53_ID_MAX + 1]; /* "" = find it */
	char endpoint[CF_API_URL_MAX];   /* no trailing slash */
	char authority[CF_API_URL_MAX];  /* host[:port], the signed Host header */
	const char *base_path;           /* into endpoint: "" or "/prefix" */
	long ttl, insync_s;
} r53_conf;

/* One present or cleanup. */
typedef struct r53_op {
	const r53_conf *c;
	CURL *curl;
	long timeout_ms;
	const char *name; /* normalised FQDN */
	char zone_id[CF_R53_ID_MAX + 1];
} r53_op;

/* ---- settings ---- */

/* A printable word without blanks, of 1..max characters; forbid lists more. */
static bool word_ok(const char *s, size_t max, const char *forbid)
{
	size_t n = 0;

	for (; s != NULL && s[n] != '\0'; n++)
		if ((unsigned char)s[n] <= 0x20 || (unsigned char)s[n] >= 0x7f ||
		    strchr(forbid, s[n]) != NULL)
			return false;
	return n > 0 && n <= max;
}

/* Fills authority and base_path from the checked endpoint; https://, or http://
 * to a loopback host only. */
static int endpoint_split(r53_conf *c, cf_err *err)
{
	const char *h, *slash;
	size_t n, i;
	bool https = strncasecmp(c->endpoint, "https://", 8) == 0;

	h = c->endpoint + (https ? 8 : 7);
	slash = h + strcspn(h, "/");
	n = (size_t)(slash - h);
	memcpy(c->authority, h, n);
	c->authority[n] = '\0';
	for (i = 0; i < n; i++)
		if (c->authority[i] >= 'A' && c->authority[i] <= 'Z')
			c->authority[i] = (char)(c->authority[i] - 'A' + 'a');
	c->base_path = slash;
	if (strspn(slash, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~/") !=
	    strlen(slash))
		return cf_err_set(err, CF_ERR_PERMANENT,
				  WHO " setting endpoint: the path may hold only unreserved "
				  "characters");
	if (cf_http_url_allowed(c->endpoint, 0))
		return 0;
	return cf_err_set(err, CF_ERR_PERMANENT,
			  WHO " setting endpoint: \"%.100s\" must be https:// (plain http:// only "
			  "to a loopback address, for tests)",
			  c->endpoint);
}

static int conf_load(const json_t *s, r53_conf *c, cf_err *err)
{
	const char *zone, *endpoint;

	memset(c, 0, sizeof(*c));
	if (s == NULL || !json_is_object(s))
		return cf_err_set(err, CF_ERR_PERMANENT, WHO ": settings must be an object");
	if (cf_api_settings_known(WHO, s, known_keys, err) != 0 ||
	    cf_api_setting_str(WHO, s, "access_key_id", &c->akid, err) != 0 ||
	    cf_api_setting_str(WHO, s, "secret_access_key", &c->secret, err) != 0 ||
	    cf_api_setting_str(WHO, s, "session_token", &c->token, err) != 0 ||
	    cf_api_setting_str(WHO, s, "region", &c->region, err) != 0 ||
	    cf_api_setting_str(WHO, s, "hosted_zone_id", &zone, err) != 0 ||
	    cf_api_setting_str(WHO, s, "endpoint", &endpoint, err) != 0 ||
	    cf_api_setting_long(WHO, s, "ttl", 1, 86400, DEFAULT_TTL, &c->ttl, err) != 0 ||
	    cf_api_setting_long(WHO, s, "insync_timeout", 0, 900, DEFAULT_INSYNC_S, &c->insync_s,
				err) != 0)
		return -1;
	if (!word_ok(c->akid, 128, "/,="))
		return cf_err_set(err, CF_ERR_PERMANENT,
				  WHO " setting access_key_id: required, printable, without "
				  "blanks, '/', ',' or '=', at most 128 characters");
	if (!word_ok(c->secret, 256, ""))
		return cf_err_set(err, CF_ERR_PERMANENT,
				  WHO " setting secret_access_key: required, printable ASCII "
				  "without blanks, at most 256 characters (the value is not shown)");
	if (c->token != NULL && !word_ok(c->token, TOKEN_MAX, ""))
		return cf_err_set(err, CF_ERR_PERMANENT,
				  WHO " setting session_token: printable ASCII without blanks, at "
				  "most %d characters (the value is not shown)",
				  TOKEN_MAX);
	if (c->region == NULL)
		c->region = DEFAULT_REGION;
	if (strspn(c->region, "abcdefghijklmnopqrstuvwxyz0123456789-") != strlen(c->region) ||
	    !word_ok(c->region, 32, ""))
		return cf_err_set(err, CF_ERR_PERMANENT,
				  WHO " setting region: \"%.40s\" is not a region name such as "
				  "us-east-1",
				  c->region);
	if (zone != NULL && cf_r53_id(zone, c->zone_id) != 0)
		return cf_err_set(err, CF_ERR_PERMANENT,
				  WHO " setting hosted_zone_id: \"%.80s\" is not an id such as "
				  "Z1D633PJN98FT9 or /hostedzone/Z1D633PJN98FT9",
				  zone);
	if (cf_api_url_check(WHO, "endpoint", endpoint ? endpoint : DEFAULT_ENDPOINT, c->endpoint,
			     err) != 0)
		return -1;
	return endpoint_split(c, err);
}

static int route53_validate(const json_t *settings, cf_err *err)
{
	r53_conf c;

	return conf_load(settings, &c, err);
}

/* ---- signed requests ---- */

/* Builds, signs and sends one request; path is below the endpoint ("/2013-04-01
 * /..."), query decoded. 0 when an answer arrived (*status, resp), -1 otherwise. */
static int send_signed(r53_op *op, const char *method, const char *path, const cf_sigv4_kv *q,
		       size_t nq, const char *body, long *status, cf_buf *resp, cf_err *err)
{
	const r53_conf *c = op->c;
	char date[CF_SIGV4_AMZ_DATE_LEN + 1], full[PATH_LEN];
	cf_sigv4_kv h[3] = { { "host", c->authority }, { "x-amz-date", date },
			     { "x-amz-security-token", c->token } };
	cf_sigv4_request req = { method, full, q, nq, h, c->token ? 3 : 2, body,
				 body ? strlen(body) : 0 };
	cf_sigv4_scope scope = { c->akid, c->secret, date, c->region, "route53" };
	cf_sigv4_result sig = { 0 };
	cf_outreq hreq = { .method = method,
			     .body = body,
			     .user_agent = CF_HTTP_USER_AGENT,
			     .connect_timeout_ms = op->timeout_ms < 5000 ? op->timeout_ms : 5000L,
			     .timeout_ms = op->timeout_ms,
			     .who = WHO };
	struct curl_slist *hdrs = NULL;
	cf_buf url = { 0 };
	char *query = NULL;
	int rc = -1;

	cf_sigv4_amz_date(time(NULL), date);
	snprintf(full, sizeof(full), "%s%s", c->base_path, path);
	if (cf_sigv4_sign(&req, &scope, &sig, err) != 0)
		goto out;
	query = cf_sigv4_canonical_query(q, nq);
	if (query == NULL || cf_buf_printf(&url, "%.*s", (int)(c->base_path - c->endpoint),
					   c->endpoint) != 0 ||
	    cf_sigv4_uri_encode(&url, full, 1) != 0 ||
	    (query[0] && cf_buf_printf(&url, "?%s", query) != 0) ||
	    cf_http_header_add(&hdrs, "Host", c->authority) != 0 ||
	    cf_http_header_add(&hdrs, "X-Amz-Date", date) != 0 ||
	    cf_http_header_add(&hdrs, "Authorization", sig.authorization) != 0 ||
	    (c->token && cf_http_header_add(&hdrs, "X-Amz-Security-Token", c->token) != 0) ||
	    (body && cf_http_header_add(&hdrs, "Content-Type", "application/xml") != 0) ||
	    cf_http_header_add(&hdrs, "Expect", "") != 0) {
		cf_err_oom(err, WHO);
		goto out;
	}
	hreq.url = (const char *)url.data;
	hreq.headers = hdrs;
	resp->max = BODY_MAX;
	rc = cf_http_perform(op->curl, &hreq, resp, status, NULL, err);
out:
	cf_http_headers_free(hdrs);
	cf_sigv4_result_free(&sig);
	cf_buf_free(&url);
	free(query);
	return rc;
}

/* A request whose answer must be 200 and XML: *doc is the parsed answer (caller
 * frees). Otherwise -1 with the error of the answer; *code gets its code. */
static int call(r53_op *op, const char *method, const char *path, const cf_sigv4_kv *q,
		size_t nq, const char *body, cf_xml **doc, char code[64], cf_err *err)
{
	char what[PATH_LEN + 16];
	cf_buf resp = { 0 };
	long status = 0;
	int rc = -1;

	*doc = NULL;
	code[0] = '\0';
	snprintf(what, sizeof(what), "%s %s", method, path);
	if (send_signed(op, method, path, q, nq, body, &status, &resp, err) != 0)
		goto out;
	if (status != 200) {
		cf_r53_error(status, (const char *)resp.data, resp.len, what, code, 64, err);
		goto out;
	}
	if ((*doc = cf_xml_parse((const char *)resp.data, resp.len, err)) == NULL) {
		cf_err_wrap(err, WHO ": %s", what);
		goto out;
	}
	rc = 0;
out:
	cf_buf_free(&resp);
	return rc;
}

/* ---- the API ---- */

static int find_zone(r53_op *op, cf_err *err)
{
	const char *cand;
	char code[64];
	cf_xml *doc = NULL;
	int found = 0;

	if (op->c->zone_id[0] != '\0') {
		memcpy(op->zone_id, op->c->zone_id, sizeof(op->zone_id));
		return 0;
	}
	for (cand = op->name; found == 0 && strchr(cand, '.') != NULL;
	     cand = strchr(cand, '.') + 1) {
		cf_sigv4_kv q[2] = { { "dnsname", cand }, { "maxitems", "10" } };

		if (call(op, "GET", API "/hostedzonesbyname", q, 2, NULL, &doc, code, err) != 0)
			return -1;
		found = cf_r53_parse_zone(doc, cand, op->zone_id, err);
		cf_xml_free(doc);
		if (found < 0)
			return -1;
	}
	if (found == 0)
		return cf_err_set(err, CF_ERR_PERMANENT,
				  WHO ": no public hosted zone holds %s (ListHostedZonesByName "
				  "found none of its suffixes; set hosted_zone_id)",
				  op->name);
	return 0;
}

static int read_rrset(r53_op *op, cf_r53_rrset *rr, cf_err *err)
{
	char path[CF_R53_ID_MAX + 64], fq[CF_NAME_MAX + 2], code[64];
	cf_sigv4_kv q[3] = { { "name", fq }, { "type", "TXT" }, { "maxitems", "1" } };
	cf_xml *doc = NULL;
	int rc;

	snprintf(fq, sizeof(fq), "%s.", op->name);
	snprintf(path, sizeof(path), API "/hostedzone/%s/rrset", op->zone_id);
	if (call(op, "GET", path, q, 3, NULL, &doc, code, err) != 0)
		return -1;
	rc = cf_r53_parse_rrset(doc, op->name, rr, err);
	cf_xml_free(doc);
	return rc;
}

/* Polls GetChange until INSYNC (or insync_timeout). */
static int wait_insync(r53_op *op, const char *change_id, const char *status, cf_err *err)
{
	struct timespec nap;
	char path[CF_R53_ID_MAX + 32], st[32], id[CF_R53_ID_MAX + 1], code[64];
	long delay_ms = 200, waited_ms = 0;
	cf_xml *doc = NULL;

	snprintf(st, sizeof(st), "%s", status);
	snprintf(path, sizeof(path), API "/change/%s", change_id);
	long long start = cf_clock_mono_ms();

	while (strcmp(st, "INSYNC") != 0) {
		if (op->c->insync_s == 0)
			return 0; /* told not to wait */
		if (waited_ms >= op->c->insync_s * 1000)
			return cf_err_set(err, CF_ERR_TRANSIENT,
					  WHO ": change %s is still %s after %ld s (insync_timeout)",
					  change_id, st, op->c->insync_s);
		nap.tv_sec = delay_ms / 1000;
		nap.tv_nsec = (delay_ms % 1000) * 1000000L;
		nanosleep(&nap, NULL);
		delay_ms = delay_ms * 2 > 3000 ? 3000 : delay_ms * 2;
		if (call(op, "GET", path, NULL, 0, NULL, &doc, code, err) != 0)
			return -1;
		if (cf_r53_parse_change(doc, id, st, sizeof(st), err) != 0) {
			cf_xml_free(doc);
			return -1;
		}
		cf_xml_free(doc);
		waited_ms = (long)(cf_clock_mono_ms() - start);
	}
	return 0;
}

/* ChangeResourceRecordSets with one change. *conflict is set (and 0 returned)
 * when Route 53 refused the batch because the rrset is not as read. */
static int change(r53_op *op, const char *action, long ttl, const char *const *values,
		  size_t n, char id[CF_R53_ID_MAX + 1], char *status, size_t slen,
		  bool *conflict, cf_err *err)
{
	char path[CF_R53_ID_MAX + 64], code[64];
	char *body = cf_r53_change_body(action, op->name, ttl, values, n, "certfleet");
	cf_xml *doc = NULL;
	int rc = -1;

	*conflict = false;
	if (body == NULL)
		return cf_err_oom(err, WHO);
	snprintf(path, sizeof(path), API "/hostedzone/%s/rrset/", op->zone_id);
	if (call(op, "POST", path, NULL, 0, body, &doc, code, err) != 0) {
		if (strcmp(code, "InvalidChangeBatch") == 0 && strcmp(action, "DELETE") == 0) {
			cf_err_clear(err); /* read again and decide anew */
			*conflict = true;
			rc = 0;
		}
		goto out;
	}
	rc = cf_r53_parse_change(doc, id, status, slen, err);
out:
	cf_xml_free(doc);
	free(body);
	return rc;
}

/* ---- present and cleanup ---- */

/* Reads the rrset; *done when the goal holds (value there when add, gone when
 * not). Otherwise, when may_write, one write towards it from what is there now:
 * the change's id and status, or *conflict when Route 53 refused a DELETE whose
 * values no longer match. */
static int step(r53_op *op, const char *value, const char *quoted, bool add, bool may_write,
		bool *done, bool *conflict, char id[CF_R53_ID_MAX + 1], char *status, size_t slen,
		cf_err *err)
{
	cf_r53_rrset rr = { 0 };
	const char **vals = NULL;
	cf_buf b = { 0 };
	size_t i, n = 0;
	int rc = -1;

	*done = *conflict = false;
	if (read_rrset(op, &rr, err) != 0)
		goto out;
	if (cf_r53_rrset_has(&rr, value) == add) {
		*done = true;
		rc = 0;
		goto out;
	}
	if (!may_write) {
		cf_err_set(err, CF_ERR_TRANSIENT,
			   WHO ": the TXT rrset at %s kept changing under us: the value is still "
			   "%s after %d writes",
			   op->name, add ? "missing" : "present", ATTEMPTS);
		goto out;
	}
	if ((vals = calloc(rr.n + 1, sizeof(*vals))) == NULL) {
		cf_err_oom(err, WHO);
		goto out;
	}
	for (i = 0; i < rr.n; i++) { /* the others, verbatim */
		cf_buf_reset(&b);
		if (add || cf_txt_unquote(rr.values[i], CF_TXT_OCTAL, &b) != 0 || strcmp((char *)b.data, value))
			vals[n++] = rr.values[i];
	}
	if (add) {
		vals[n++] = quoted;
		rc = change(op, "UPSERT", op->c->ttl, vals, n, id, status, slen, conflict, err);
	} else if (n == 0) {
		rc = change(op, "DELETE", rr.ttl, (const char *const *)rr.values, rr.n, id, status,
			    slen, conflict, err);
	} else {
		rc = change(op, "UPSERT", rr.ttl, vals, n, id, status, slen, conflict, err);
	}
out:
	cf_buf_free(&b);
	free(vals);
	cf_r53_rrset_free(&rr);
	return rc;
}

static int update(const cf_provider_ctx *ctx, const char *fqdn, const char *value, bool add,
		  cf_err *err)
{
	char name[CF_NAME_MAX + 1], id[CF_R53_ID_MAX + 1], status[32];
	r53_conf c;
	r53_op op = { 0 };
	cf_buf quoted = { 0 };
	pthread_mutex_t *lock;
	bool done = false, conflict = false;
	int attempt, rc = -1;

	if (conf_load(ctx->settings, &c, err) != 0)
		return -1;
	if (cf_target_normalize(fqdn, name, err) != 0)
		return cf_err_wrap(err, WHO);
	if (value == NULL || value[0] == '\0' || strlen(value) > VALUE_MAX ||
	    cf_txt_quote(value, CF_TXT_OCTAL, &quoted) != 0) {
		cf_buf_free(&quoted);
		return cf_err_set(err, CF_ERR_PERMANENT, WHO ": TXT value empty or over %d bytes",
				  VALUE_MAX);
	}
	op.c = &c;
	op.name = name;
	op.timeout_ms = ctx->timeout_ms > 0 ? ctx->timeout_ms : 10000;
	if ((op.curl = curl_easy_init()) == NULL) {
		cf_err_set(err, CF_ERR_TRANSIENT, WHO ": curl_easy_init failed");
		goto out;
	}
	if (find_zone(&op, err) != 0)
		goto out;
	lock = cf_txt_name_lock(name);
	/* ATTEMPTS writes at most, each followed by a read that checks it held */
	for (attempt = 0; attempt <= ATTEMPTS; attempt++) {
		pthread_mutex_lock(lock);
		rc = step(&op, value, (char *)quoted.data, add, attempt < ATTEMPTS, &done, &conflict,
			  id, status, sizeof(status), err);
		pthread_mutex_unlock(lock);
		if (rc != 0 || done)
			break;
		if (!conflict && (rc = wait_insync(&op, id, status, err)) != 0)
			break;
	}
out:
	if (op.curl != NULL)
		curl_easy_cleanup(op.curl);
	cf_buf_free(&quoted);
	return rc;
}

static int route53_present(const cf_provider_ctx *ctx, const char *fqdn, const char *value,
			   cf_err *err)
{
	return update(ctx, fqdn, value, true, err);
}

static int route53_cleanup(const cf_provider_ctx *ctx, const char *fqdn, const char *value,
			   cf_err *err)
{
	return update(ctx, fqdn, value, false, err);
}

/* err must not be NULL: its class tells "cannot" (permanent) from "cannot tell". */
static int route53_can_write(const cf_provider_ctx *ctx, const char *fqdn, cf_err *err)
{
	char name[CF_NAME_MAX + 1];
	r53_conf c;
	r53_op op = { 0 };
	cf_r53_rrset rr = { 0 };
	int rc = -1;

	if (conf_load(ctx->settings, &c, err) != 0)
		return err->cls == CF_ERR_PERMANENT ? 0 : -1;
	if (cf_target_normalize(fqdn, name, err) != 0) {
		cf_err_wrap(err, WHO);
		return 0;
	}
	op.c = &c;
	op.name = name;
	op.timeout_ms = ctx->timeout_ms > 0 ? ctx->timeout_ms : 10000;
	if ((op.curl = curl_easy_init()) == NULL) {
		cf_err_set(err, CF_ERR_TRANSIENT, WHO ": curl_easy_init failed");
		return -1;
	}
	if (find_zone(&op, err) == 0 && read_rrset(&op, &rr, err) >= 0)
		rc = 1;
	else
		rc = err->cls == CF_ERR_PERMANENT ? 0 : -1;
	cf_r53_rrset_free(&rr);
	curl_easy_cleanup(op.curl);
	return rc;
}

/* ---- batches (present_many, cleanup_many) ---- */

/* A distinct name of a batch: its zone, and its rrset as last read with the
 * Value texts it should have (borrowed from rr and the quoted values). */
typedef struct r53_bname {
	char name[CF_NAME_MAX + 1];
	char zone_id[CF_R53_ID_MAX + 1];
	cf_r53_rrset rr;
	const char **vals;
	size_t nvals;
} r53_bname;

/* The input of a batch: recs[i] is at names[of[i]], its value quoted[i]. */
typedef struct r53_batch {
	cf_provider_rec *recs;
	size_t n;
	size_t *of;
	cf_buf *quoted;
	r53_bname *names;
	size_t nn;
	bool add;
} r53_batch;

static int ptr_cmp(const void *a, const void *b)
{
	uintptr_t x = (uintptr_t) * (pthread_mutex_t *const *)a;
	uintptr_t y = (uintptr_t) * (pthread_mutex_t *const *)b;

	return x < y ? -1 : x > y;
}

/* Reads name k's rrset and works out its change: 1 with *ch filled when one is
 * needed, 0 when every value of the batch at k is as wanted (marked done). */
static int plan_name(r53_op *op, r53_batch *b, size_t k, cf_r53_change *ch, cf_err *err)
{
	r53_bname *nm = &b->names[k];
	cf_buf u = { 0 };
	size_t i, j;
	int rc = -1;

	cf_r53_rrset_free(&nm->rr);
	free(nm->vals);
	nm->vals = NULL;
	nm->nvals = 0;
	op->name = nm->name;
	if (read_rrset(op, &nm->rr, err) != 0)
		goto out;
	if ((nm->vals = calloc(nm->rr.n + b->n + 1, sizeof(*nm->vals))) == NULL) {
		cf_err_oom(err, WHO);
		goto out;
	}
	for (i = 0; i < nm->rr.n; i++) { /* the others verbatim; ours dropped on cleanup */
		bool ours = false;

		cf_buf_reset(&u);
		if (!b->add && cf_txt_unquote(nm->rr.values[i], CF_TXT_OCTAL, &u) == 0)
			for (j = 0; j < b->n && !ours; j++)
				ours = b->of[j] == k && strcmp((char *)u.data, b->recs[j].value) == 0;
		if (!ours)
			nm->vals[nm->nvals++] = nm->rr.values[i];
	}
	for (j = 0; b->add && j < b->n; j++) {
		bool dup = false;

		if (b->of[j] != k || cf_r53_rrset_has(&nm->rr, b->recs[j].value))
			continue;
		for (i = nm->rr.n; i < nm->nvals && !dup; i++)
			dup = strcmp(nm->vals[i], (char *)b->quoted[j].data) == 0;
		if (!dup)
			nm->vals[nm->nvals++] = (char *)b->quoted[j].data;
	}
	rc = nm->nvals != nm->rr.n;
	if (rc == 0) {
		for (j = 0; j < b->n; j++)
			if (b->of[j] == k)
				b->recs[j].done = true;
	} else if (b->add || nm->nvals > 0) {
		*ch = (cf_r53_change){ "UPSERT", nm->name, b->add ? op->c->ttl : nm->rr.ttl,
				       nm->vals, nm->nvals };
	} else {
		*ch = (cf_r53_change){ "DELETE", nm->name, nm->rr.ttl,
				       (const char *const *)nm->rr.values, nm->rr.n };
	}
out:
	cf_buf_free(&u);
	return rc;
}

/* Every name of b in zone: read, one ChangeResourceRecordSets with all their
 * changes, one wait for INSYNC, read again to check (redone up to ATTEMPTS
 * times when the rrsets changed under us). */
static int batch_zone(r53_op *op, r53_batch *b, const char *zone, cf_err *err)
{
	pthread_mutex_t **locks = calloc(b->nn, sizeof(*locks));
	cf_r53_change *ch = calloc(b->nn, sizeof(*ch));
	char path[CF_R53_ID_MAX + 64], code[64], id[CF_R53_ID_MAX + 1], status[32];
	size_t k, nl = 0, i, nch;
	cf_xml *doc = NULL;
	char *body = NULL;
	int attempt, rc = -1;

	if (locks == NULL || ch == NULL) {
		free(locks);
		free(ch);
		return cf_err_oom(err, WHO);
	}
	for (k = 0; k < b->nn; k++)
		if (strcmp(b->names[k].zone_id, zone) == 0)
			locks[nl++] = cf_txt_name_lock(b->names[k].name);
	qsort(locks, nl, sizeof(*locks), ptr_cmp); /* one order: no lock cycles */
	for (i = 0; i < nl; i++)
		if (i == 0 || locks[i] != locks[i - 1])
			pthread_mutex_lock(locks[i]);
	memcpy(op->zone_id, zone, sizeof(op->zone_id));
	snprintf(path, sizeof(path), API "/hostedzone/%s/rrset/", zone);
	for (attempt = 0;; attempt++) {
		bool any_delete = false;
		int p = 0;

		for (k = 0, nch = 0; k < b->nn; k++)
			if (strcmp(b->names[k].zone_id, zone) == 0 &&
			    (p = plan_name(op, b, k, &ch[nch], err)) != 0) {
				if (p < 0)
					break;
				any_delete = any_delete || strcmp(ch[nch].action, "DELETE") == 0;
				nch++;
			}
		if (p < 0)
			break;
		if (nch == 0) {
			rc = 0;
			break;
		}
		if (attempt == ATTEMPTS) {
			cf_err_set(err, CF_ERR_TRANSIENT,
				   WHO ": the TXT rrsets in zone %s kept changing under us: %zu "
				   "still differ after %d changes", zone, nch, ATTEMPTS);
			break;
		}
		free(body);
		cf_xml_free(doc);
		doc = NULL;
		if ((body = cf_r53_changes_body(ch, nch, "certfleet")) == NULL) {
			cf_err_oom(err, WHO);
			break;
		}
		if (call(op, "POST", path, NULL, 0, body, &doc, code, err) != 0) {
			if (strcmp(code, "InvalidChangeBatch") == 0 && any_delete) {
				cf_err_clear(err); /* a DELETE met a changed rrset: read again */
				continue;
			}
			break;
		}
		if (cf_r53_parse_change(doc, id, status, sizeof(status), err) != 0 ||
		    wait_insync(op, id, status, err) != 0)
			break;
	}
	while (nl-- > 0)
		if (nl == 0 || locks[nl] != locks[nl - 1])
			pthread_mutex_unlock(locks[nl]);
	cf_xml_free(doc);
	free(body);
	free(ch);
	free(locks);
	return rc;
}

static int batch_update(const cf_provider_ctx *ctx, cf_provider_rec *recs, size_t n, bool add,
			cf_err *err)
{
	r53_batch b = { .recs = recs, .n = n, .add = add };
	char name[CF_NAME_MAX + 1];
	r53_conf c;
	r53_op op = { 0 };
	size_t i, k;
	int rc = -1;

	if (conf_load(ctx->settings, &c, err) != 0)
		return -1;
	b.of = calloc(n ? n : 1, sizeof(*b.of));
	b.quoted = calloc(n ? n : 1, sizeof(*b.quoted));
	b.names = calloc(n ? n : 1, sizeof(*b.names));
	op.c = &c;
	op.timeout_ms = ctx->timeout_ms > 0 ? ctx->timeout_ms : 10000;
	if (b.of == NULL || b.quoted == NULL || b.names == NULL) {
		cf_err_oom(err, WHO);
		goto out;
	}
	if ((op.curl = curl_easy_init()) == NULL) {
		cf_err_set(err, CF_ERR_TRANSIENT, WHO ": curl_easy_init failed");
		goto out;
	}
	for (i = 0; i < n; i++) {
		const char *v = recs[i].value;

		if (cf_target_normalize(recs[i].fqdn, name, err) != 0) {
			cf_err_wrap(err, WHO);
			goto out;
		}
		if (v == NULL || v[0] == '\0' || strlen(v) > VALUE_MAX ||
		    cf_txt_quote(v, CF_TXT_OCTAL, &b.quoted[i]) != 0) {
			cf_err_set(err, CF_ERR_PERMANENT, WHO ": TXT value empty or over %d bytes",
				   VALUE_MAX);
			goto out;
		}
		for (k = 0; k < b.nn && strcasecmp(b.names[k].name, name) != 0; k++)
			;
		if (k == b.nn) { /* a new name: find its zone */
			memcpy(b.names[k].name, name, sizeof(name));
			op.name = b.names[k].name;
			if (find_zone(&op, err) != 0)
				goto out;
			memcpy(b.names[k].zone_id, op.zone_id, sizeof(op.zone_id));
			b.nn++;
		}
		b.of[i] = k;
	}
	for (k = 0; k < b.nn; k++) { /* each zone once, in the order first named */
		for (i = 0; i < k && strcmp(b.names[i].zone_id, b.names[k].zone_id) != 0; i++)
			;
		if (i == k && batch_zone(&op, &b, b.names[k].zone_id, err) != 0)
			goto out;
	}
	rc = 0;
out:
	for (i = 0; b.names != NULL && i < b.nn; i++) {
		cf_r53_rrset_free(&b.names[i].rr);
		free(b.names[i].vals);
	}
	for (i = 0; b.quoted != NULL && i < n; i++)
		cf_buf_free(&b.quoted[i]);
	if (op.curl != NULL)
		curl_easy_cleanup(op.curl);
	free(b.names);
	free(b.quoted);
	free(b.of);
	return rc;
}

static int route53_present_many(const cf_provider_ctx *ctx, cf_provider_rec *recs, size_t n,
				cf_err *err)
{
	return batch_update(ctx, recs, n, true, err);
}

static int route53_cleanup_many(const cf_provider_ctx *ctx, cf_provider_rec *recs, size_t n,
				cf_err *err)
{
	return batch_update(ctx, recs, n, false, err);
}

const cf_provider_ops cf_provider_route53 = {
	.name = "route53",
	.secret_keys = secret_keys,
	.validate = route53_validate,
	.present = route53_present,
	.cleanup = route53_cleanup,
	.can_write = route53_can_write,
	.present_many = route53_present_many,
	.cleanup_many = route53_cleanup_many,
};
