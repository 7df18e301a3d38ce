/*
 * ovh.c: the OVH provider, API v1 with an application key and secret and a
 * consumer key, every request signed. The shared layer (rest_records.c) does
 * settings, calls and the flow; this file is the table, the signature and the
 * JSON mapping.
 *
 * Settings: application_key, application_secret (secret), consumer_key
 * (secret), api_url (default https://eu.api.ovh.com/1.0; ca.api.ovh.com,
 * api.us.ovhcloud.com, ... for the other regions), zone (else the longest
 * suffix of the name that GET /domain/zone/{zone} knows), ttl 60-86400
 * (default 60).
 *
 * Signature: X-Ovh-Signature "$1$" + hex(SHA-1(AS+"+"+CK+"+"+METHOD+"+"+URL+
 * "+"+BODY+"+"+TIMESTAMP)) with URL the full URL and BODY the exact JSON text
 * sent ("" for none), beside X-Ovh-Application, X-Ovh-Consumer and
 * X-Ovh-Timestamp. The timestamp is the server's clock: GET /auth/time (not
 * signed) once per api_url and process (again after an hour), and the offset
 * to the local clock is kept, so a skewed local clock does not matter.
 *
 * Records API: GET /domain/zone/{zone}/record?fieldType=TXT&subDomain= lists
 * ids, GET .../record/{id} reads one {"id","fieldType","subDomain","target"},
 * POST .../record {"fieldType","subDomain" ("" at the apex),"target","ttl"}
 * creates one, DELETE .../record/{id} removes one, and POST
 * /domain/zone/{zone}/refresh publishes the zone after a change. Errors are
 * {"errorCode","httpCode","message"} (or {"class","message"}).
 */
#include "providers/provider.h"
#include "providers/rest_records.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crypto/crypto.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/http_client.h"

#define WHO "ovh"
#define AK 0 /* conf->extra[] */
#define AS 1

static const char *const secret_keys[] = { "application_secret", "consumer_key", NULL };
static const char *const known_keys[] = { "application_key", "application_secret",
					  "consumer_key",    "api_url",
					  "zone",	    "ttl",
					  NULL };
static const char *const extra_keys[] = { "application_key", "application_secret", NULL };
static const cf_rest_fields fields = { "fieldType", "subDomain", "target", "id" };

#define HINT "an application key and secret and a consumer key granted GET, POST and " \
	     "DELETE on /domain/zone/ZONE/* only"

static int ovh_check(const cf_rest_conf *c, cf_err *err)
{
	if (cf_rest_check_secret(WHO, "application_key", c->extra[AK], HINT, err) != 0 ||
	    cf_rest_check_secret(WHO, "application_secret", c->extra[AS], HINT, err) != 0)
		return -1;
	return 0;
}

/* ---- the server's clock ---- */

#define CLOCK_KEEP_MS (3600 * 1000LL) /* asked again after an hour: clocks drift */

static pthread_mutex_t clock_lock = PTHREAD_MUTEX_INITIALIZER;
static char clock_url[CF_API_URL_MAX]; /* whose offset is kept */
static long long clock_offset;         /* server time - local time, seconds */
static long long clock_asked_ms;       /* when (cf_clock_mono_ms) */

/* The offset of the server's clock: kept, or from GET /auth/time. */
static int server_offset(const cf_rest_op *op, long long *off, cf_err *err)
{
	char url[CF_API_URL_MAX + 16];
	cf_api_req req = { .method = "GET", .url = url, .timeout_ms = op->timeout_ms, .who = WHO };
	cf_api_resp r = { 0 };
	char *end = NULL;
	long long t;
	int rc = -1;

	pthread_mutex_lock(&clock_lock);
	if (strcmp(clock_url, op->conf->url) == 0 &&
	    cf_clock_mono_ms() - clock_asked_ms < CLOCK_KEEP_MS) {
		*off = clock_offset;
		rc = 0;
	}
	pthread_mutex_unlock(&clock_lock);
	if (rc == 0)
		return 0;
	snprintf(url, sizeof(url), "%s/auth/time", op->conf->url);
	if (cf_api_http(&req, &r, err) != 0)
		return -1;
	t = r.body.data != NULL ? strtoll((const char *)r.body.data, &end, 10) : 0;
	if (r.status != 200 || end == (char *)r.body.data || t <= 0) {
		cf_err_set(err, cf_http_status_class(r.status == 200 ? 500 : r.status),
			   WHO ": GET /auth/time: HTTP %ld: not a timestamp", r.status);
		goto out;
	}
	*off = t - (long long)time(NULL);
	pthread_mutex_lock(&clock_lock);
	snprintf(clock_url, sizeof(clock_url), "%s", op->conf->url);
	clock_offset = *off;
	clock_asked_ms = cf_clock_mono_ms();
	pthread_mutex_unlock(&clock_lock);
	rc = 0;
out:
	cf_api_resp_free(&r);
	return rc;
}

/* ---- the signature ---- */

#define FMT "%s+%s+%s+%s+%s+%lld" /* AS+CK+METHOD+URL+BODY+TIMESTAMP */

static int ovh_sign(cf_rest_op *op, const char *method, const char *url, const char *body,
		    char hdrs[CF_REST_HDRS][CF_REST_HDR_MAX], cf_err *err)
{
	static const char hex[] = "0123456789abcdef";
	const cf_rest_conf *c = op->conf;
	uint8_t md[20];
	char sig[2 * sizeof(md) + 1];
	char *text = NULL;
	long long off, ts;
	size_t i;
	int n;

	if (server_offset(op, &off, err) != 0)
		return -1;
	ts = (long long)time(NULL) + off;
	/* sized first, so the text holding the secret is written once and wiped */
	n = snprintf(NULL, 0, FMT, c->extra[AS], c->token, method, url, body, ts);
	if (n < 0 || (text = malloc((size_t)n + 1)) == NULL)
		return cf_err_oom(err, WHO);
	snprintf(text, (size_t)n + 1, FMT, c->extra[AS], c->token, method, url, body, ts);
	cf_sha1(text, (size_t)n, md);
	cf_wipe(text, (size_t)n);
	free(text);
	for (i = 0; i < sizeof(md); i++) {
		sig[2 * i] = hex[md[i] >> 4];
		sig[2 * i + 1] = hex[md[i] & 15];
	}
	sig[2 * sizeof(md)] = '\0';
	snprintf(hdrs[0], CF_REST_HDR_MAX, "X-Ovh-Application: %s", c->extra[AK]);
	snprintf(hdrs[1], CF_REST_HDR_MAX, "X-Ovh-Consumer: %s", c->token);
	snprintf(hdrs[2], CF_REST_HDR_MAX, "X-Ovh-Timestamp: %lld", ts);
	snprintf(hdrs[3], CF_REST_HDR_MAX, "X-Ovh-Signature: $1$%s", sig);
	cf_wipe(md, sizeof(md));
	return 4;
}

/* ---- the records ---- */

/* A consumer key granted only /domain/zone/ZONE gets 403 NOT_GRANTED_CALL for every
 * other name the walk tries: not an error, just not its zone. */
static bool ovh_not_granted(long status, const json_t *body)
{
	const char *code = json_string_value(json_object_get(body, "errorCode"));

	return status == 403 && code != NULL && strcmp(code, "NOT_GRANTED_CALL") == 0;
}

static int ovh_zone(cf_rest_op *op, const char *candidate, cf_err *err)
{
	return cf_rest_zone_by_path(op, "/domain/zone/", candidate, "", err);
}

static int ovh_list(cf_rest_op *op, long page, json_t *out, long *pages, cf_err *err)
{
	char path[4 * CF_NAME_MAX + 96], sub[CF_NAME_MAX + 1], esc[3 * CF_NAME_MAX + 1];
	json_t *ids = NULL, *rec = NULL, *one = NULL;
	const json_t *v;
	long status;
	size_t i;
	int rc = -1;

	(void)page;
	*pages = 1;
	cf_rest_subname(op, "", sub);
	if (cf_rest_escape(sub, esc, sizeof(esc)) != 0)
		return cf_err_set(err, CF_ERR_PERMANENT, WHO ": name too long");
	snprintf(path, sizeof(path), "/domain/zone/%s/record?fieldType=TXT&subDomain=%s",
		 op->zone_id, esc);
	if (cf_rest_call(op, "GET", path, NULL, 0, &status, &ids, err) != 0)
		goto out;
	json_array_foreach(ids, i, v) {
		if (!json_is_integer(v))
			continue;
		snprintf(path, sizeof(path), "/domain/zone/%s/record/%lld", op->zone_id,
			 (long long)json_integer_value(v));
		if (cf_rest_call(op, "GET", path, NULL, CF_REST_OK_404, &status, &rec, err) != 0)
			goto out;
		if (rec != NULL && ((one = json_pack("[O]", rec)) == NULL ||
				    cf_rest_collect(out, one, &fields, sub) != 0)) {
			cf_err_oom(err, WHO);
			goto out;
		}
		json_decref(rec);
		json_decref(one);
		rec = one = NULL;
	}
	rc = 0;
out:
	json_decref(one);
	json_decref(rec);
	json_decref(ids);
	return rc;
}

static int ovh_create(cf_rest_op *op, const char *content, cf_err *err)
{
	char path[CF_NAME_MAX + 32], sub[CF_NAME_MAX + 1];

	cf_rest_subname(op, "", sub);
	snprintf(path, sizeof(path), "/domain/zone/%s/record", op->zone_id);
	return cf_rest_send(op, "POST", path,
			    json_pack("{s:s,s:s,s:s,s:I}", "fieldType", "TXT", "subDomain", sub,
				      "target", content, "ttl", (json_int_t)op->conf->ttl),
			    err);
}

static int ovh_remove(cf_rest_op *op, const char *id, cf_err *err)
{
	char path[CF_NAME_MAX + CF_REST_ID_MAX + 32];

	snprintf(path, sizeof(path), "/domain/zone/%s/record/%s", op->zone_id, id);
	return cf_rest_delete(op, path, err);
}

static int ovh_refresh(cf_rest_op *op, cf_err *err)
{
	char path[CF_NAME_MAX + 32];
	long status;

	snprintf(path, sizeof(path), "/domain/zone/%s/refresh", op->zone_id);
	return cf_rest_call(op, "POST", path, NULL, 0, &status, NULL, err);
}

static const cf_rest_api api = {
	.who = WHO,
	.known_keys = known_keys,
	.url_key = "api_url",
	.default_url = "https://eu.api.ovh.com/1.0",
	.token_key = "consumer_key",
	.token_hint = HINT,
	.extra_keys = extra_keys,
	.ttl_min = 60,
	.ttl_max = 86400,
	.ttl_def = 60,
	.conf_check = ovh_check,
	.sign = ovh_sign,
	.zone_find = ovh_zone,
	.not_a_zone = ovh_not_granted,
	.list = ovh_list,
	.create = ovh_create,
	.remove = ovh_remove,
	.committed = ovh_refresh,
};

CF_REST_PROVIDER(ovh, "ovh", api, secret_keys);
