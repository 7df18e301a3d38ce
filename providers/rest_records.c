/*
 * rest_records.c: the shared layer of the records-API providers: settings,
 * authenticated calls with Retry-After, the zone walk, and present/cleanup in
 * the records and rrset models; see rest_records.h for the contract.
 *
 * Nothing here knows a provider's URLs or JSON: those are the table's hooks.
 * Credential header lines live in stack buffers that are wiped after each call.
 */
#include "providers/rest_records.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "providers/txt.h"
#include "util/buf.h"
#include "util/http_client.h"

#define TOKEN_MAX 512
#define MAX_PAGES 50
#define MAX_MATCHES 32
#define RRSET_ATTEMPTS 4
#define RETRIES_429 4
#define PATH_MAX_LEN (3 * CF_NAME_MAX + 3 * CF_REST_VALUE_MAX + 256)

/* ---- settings ---- */

int cf_rest_check_secret(const char *who, const char *key, const char *value,
			 const char *hint, cf_err *err)
{
	size_t n;

	if (value == NULL || value[0] == '\0')
		return cf_err_set(err, CF_ERR_PERMANENT, "%s setting %s: required (%s)", who, key,
				  hint);
	for (n = 0; value[n] != '\0'; n++)
		if ((unsigned char)value[n] <= 0x20 || (unsigned char)value[n] >= 0x7f)
			break;
	if (value[n] != '\0' || n > TOKEN_MAX)
		return cf_err_set(err, CF_ERR_PERMANENT,
				  "%s setting %s: must be printable ASCII without blanks, at most "
				  "%d characters (the value is not shown)",
				  who, key, TOKEN_MAX);
	return 0;
}

int cf_rest_conf_load(const cf_rest_api *api, const json_t *s, cf_rest_conf *c, cf_err *err)
{
	const char *url = NULL, *zone = NULL, *who = api->who;
	size_t i;

	memset(c, 0, sizeof(*c));
	if (s == NULL || !json_is_object(s))
		return cf_err_set(err, CF_ERR_PERMANENT, "%s: settings must be an object", who);
	if (cf_api_settings_known(who, s, api->known_keys, err) != 0 ||
	    cf_api_setting_str(who, s, api->url_key, &url, err) != 0 ||
	    cf_api_setting_str(who, s, "zone", &zone, err) != 0)
		return -1;
	for (i = 0; api->extra_keys != NULL && i < CF_REST_EXTRA && api->extra_keys[i] != NULL; i++)
		if (cf_api_setting_str(who, s, api->extra_keys[i], &c->extra[i], err) != 0)
			return -1;
	if (api->token_key != NULL) {
		if (cf_api_setting_str(who, s, api->token_key, &c->token, err) != 0 ||
		    cf_rest_check_secret(who, api->token_key, c->token, api->token_hint, err) != 0)
			return -1;
	}
	if (url == NULL)
		url = api->default_url;
	if (cf_api_url_check(who, api->url_key, url, c->url, err) != 0)
		return -1;
	if (!cf_http_url_allowed(c->url, 0))
		return cf_err_set(err, CF_ERR_PERMANENT,
				  "%s setting %s: \"%.100s\" must be https:// (plain http:// only "
				  "to a loopback address, for tests)",
				  who, api->url_key, c->url);
	if (zone != NULL && cf_target_normalize(zone, c->zone, err) != 0)
		return cf_err_wrap(err, "%s setting zone", who);
	if (api->ttl_max > 0 &&
	    cf_api_setting_long(who, s, "ttl", api->ttl_min, api->ttl_max, api->ttl_def, &c->ttl,
				err) != 0)
		return -1;
	return api->conf_check != NULL ? api->conf_check(c, err) : 0;
}

int cf_rest_validate(const cf_rest_api *api, const json_t *settings, cf_err *err)
{
	cf_rest_conf c;

	return cf_rest_conf_load(api, settings, &c, err);
}

/* ---- helpers ---- */

int cf_rest_escape(const char *s, char *out, size_t cap)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	for (; *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;

		if (o + 4 > cap)
			return -1;
		if (isalnum(ch) || ch == '-' || ch == '.' || ch == '_' || ch == '~') {
			out[o++] = (char)ch;
		} else {
			out[o++] = '%';
			out[o++] = hex[ch >> 4];
			out[o++] = hex[ch & 15];
		}
	}
	if (o >= cap)
		return -1;
	out[o] = '\0';
	return 0;
}

void cf_rest_subname(const cf_rest_op *op, const char *apex, char out[CF_NAME_MAX + 1])
{
	size_t n = strlen(op->name), z = strlen(op->zone);

	if (n <= z || z == 0)
		snprintf(out, CF_NAME_MAX + 1, "%s", apex);
	else
		snprintf(out, CF_NAME_MAX + 1, "%.*s", (int)(n - z - 1), op->name);
}

int cf_rest_take_id(const json_t *obj, const char *key, char out[CF_REST_ID_MAX + 1])
{
	const json_t *v = json_object_get(obj, key);
	char tmp[CF_REST_ID_MAX + 2];
	size_t i, n;

	if (json_is_integer(v) && json_integer_value(v) >= 0)
		snprintf(tmp, sizeof(tmp), "%lld", (long long)json_integer_value(v));
	else if (json_is_string(v) && json_string_length(v) <= CF_REST_ID_MAX)
		snprintf(tmp, sizeof(tmp), "%s", json_string_value(v));
	else
		return -1;
	n = strlen(tmp);
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)tmp[i]) && tmp[i] != '-' && tmp[i] != '_' && tmp[i] != '.')
			return -1;
	if (n == 0)
		return -1;
	memcpy(out, tmp, n + 1);
	return 0;
}

bool cf_rest_content_is(const char *content, const char *value)
{
	cf_buf b = { 0 };
	bool same;

	if (content == NULL)
		return false;
	if (content[0] != '"')
		return strcmp(content, value) == 0;
	same = cf_txt_unquote(content, CF_TXT_DECIMAL, &b) == 0 && b.len == strlen(value) &&
	       (b.len == 0 || memcmp(b.data, value, b.len) == 0);
	cf_buf_free(&b);
	return same;
}

int cf_rest_collect(json_t *out, const json_t *records, const cf_rest_fields *f,
		    const char *name)
{
	const json_t *r;
	size_t i;

	json_array_foreach(records, i, r) {
		const char *t = json_string_value(json_object_get(r, f->type));
		const char *n = json_string_value(json_object_get(r, f->name));
		const char *c = json_string_value(json_object_get(r, f->content));
		const json_t *id = json_object_get(r, f->id);

		if (t == NULL || n == NULL || c == NULL || id == NULL || strcmp(t, "TXT") != 0 ||
		    strcasecmp(n, name) != 0)
			continue;
		if (json_array_append_new(out, json_pack("{s:O,s:s}", "id", id, "content", c)) != 0)
			return -1;
	}
	return 0;
}

/* The content that stands for value in this API's form. Caller frees; NULL when
 * out of memory. */
static char *content_of(const cf_rest_api *api, const char *value)
{
	cf_buf b = { 0 };

	if (!api->quoted)
		return strdup(value);
	if (cf_txt_quote(value, CF_TXT_DECIMAL, &b) != 0) {
		cf_buf_free(&b);
		return NULL;
	}
	return (char *)b.data;
}

/* The first string among obj's members keys (NULL-terminated), or NULL. */
static const char *first_str(const json_t *obj, const char *const *keys)
{
	for (; *keys != NULL; keys++) {
		const json_t *v = json_object_get(obj, *keys);

		if (json_is_string(v))
			return json_string_value(v);
	}
	return NULL;
}

void cf_rest_error_text(const cf_api_resp *resp, char *out, size_t outlen)
{
	static const char *const text_keys[] = { "detail", "message", "error", "reason", NULL };
	static const char *const code_keys[] = { "errorCode", "cause", "id", NULL };
	json_t *j = NULL;
	const json_t *o;
	const char *text = NULL, *code = NULL;
	cf_api_resp tmp = { 0 };
	char buf[600];

	if (outlen == 0)
		return;
	if (resp->body.len > 0)
		j = json_loadb((const char *)resp->body.data, resp->body.len, 0, NULL);
	o = j;
	if (json_is_object(json_object_get(j, "error")))
		o = json_object_get(j, "error");
	else if (json_is_array(json_object_get(j, "errors")))
		o = json_array_get(json_object_get(j, "errors"), 0);
	else if (json_is_array(j))
		o = json_array_get(j, 0); /* deSEC's bulk answers: one object per rrset */
	if (json_is_object(o)) {
		text = first_str(o, text_keys);
		code = first_str(o, code_keys);
		if (text == NULL && json_is_object(j))
			text = first_str(j, text_keys);
	}
	if (text == NULL && j != NULL && o != NULL) {
		char *dump = json_dumps(o, JSON_COMPACT);

		snprintf(buf, sizeof(buf), "%s", dump ? dump : "");
		free(dump);
		text = buf;
	}
	if (text != NULL) {
		char joined[700];

		snprintf(joined, sizeof(joined), code ? "[%s] %s" : "%s%s", code ? code : "", text);
		tmp.body.data = (uint8_t *)joined;
		tmp.body.len = strlen(joined);
		cf_api_error_text(&tmp, out, outlen);
	} else {
		cf_api_error_text(resp, out, outlen);
	}
	json_decref(j);
}

/* ---- calls ---- */

/* The credential header lines of one request into hdrs; how many, or -1. */
static int auth_lines(cf_rest_op *op, const char *method, const char *url, const char *body,
		      char hdrs[CF_REST_HDRS][CF_REST_HDR_MAX], cf_err *err)
{
	const cf_rest_api *api = op->api;

	if (api->sign != NULL)
		return api->sign(op, method, url, body ? body : "", hdrs, err);
	if (api->auth_header == NULL || op->conf->token == NULL)
		return 0;
	snprintf(hdrs[0], CF_REST_HDR_MAX, "%s%s", api->auth_header, op->conf->token);
	return 1;
}

/* Fills err for a non-2xx answer. */
static int status_error(const cf_rest_op *op, const char *what, const cf_api_resp *r,
			cf_err *err)
{
	const cf_rest_api *api = op->api;
	char text[400], wait[48] = "";

	cf_rest_error_text(r, text, sizeof(text));
	if (r->status == 429 && r->retry_after_s >= 0)
		snprintf(wait, sizeof(wait), " (Retry-After: %ld s)", r->retry_after_s);
	if ((r->status == 401 || r->status == 403) && api->token_key != NULL)
		return cf_err_set(err, CF_ERR_PERMANENT,
				  "%s: %s: HTTP %ld: %s (check the %s setting: %s)", api->who, what,
				  r->status, text, api->token_key, api->token_hint);
	if (r->status == 401 || r->status == 403)
		return cf_err_set(err, CF_ERR_PERMANENT, "%s: %s: HTTP %ld: %s (check %s)",
				  api->who, what, r->status, text, api->token_hint);
	return cf_err_set(err, cf_http_status_class(r->status), "%s: %s: HTTP %ld: %s%s", api->who,
			  what, r->status, text, wait);
}

/* Sleeps ms milliseconds (a 429's Retry-After). */
static void pause_ms(long ms)
{
	struct timespec d = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };

	while (nanosleep(&d, &d) != 0)
		;
}

/* One exchange, with the credential headers; wiped afterwards. */
static int exchange(cf_rest_op *op, const char *method, const char *url, const char *body,
		    cf_api_resp *resp, cf_err *err)
{
	char hdrs[CF_REST_HDRS][CF_REST_HDR_MAX];
	const char *lines[CF_REST_HDRS + 1] = { 0 };
	cf_api_req req = { .method = method,
			   .url = url,
			   .headers = lines,
			   .body = body,
			   .timeout_ms = op->timeout_ms,
			   .who = op->api->who };
	int n, i, rc = -1;

	memset(hdrs, 0, sizeof(hdrs));
	if ((n = auth_lines(op, method, url, body, hdrs, err)) < 0)
		goto out;
	for (i = 0; i < n && i < CF_REST_HDRS; i++)
		lines[i] = hdrs[i];
	rc = cf_api_http(&req, resp, err);
out:
	cf_wipe(hdrs, sizeof(hdrs));
	return rc;
}

int cf_rest_call(cf_rest_op *op, const char *method, const char *path, const json_t *body,
		 unsigned flags, long *status, json_t **out, cf_err *err)
{
	const cf_rest_api *api = op->api;
	char url[CF_API_URL_MAX + PATH_MAX_LEN], what[PATH_MAX_LEN + 16];
	char *text = NULL;
	cf_api_resp r = { 0 };
	int attempt, rc = -1;

	if (out != NULL)
		*out = NULL;
	*status = 0;
	if ((size_t)snprintf(url, sizeof(url), "%s%s", op->conf->url, path) >= sizeof(url))
		return cf_err_set(err, CF_ERR_PERMANENT, "%s: URL too long", api->who);
	snprintf(what, sizeof(what), "%s %s", method, path);
	if (body != NULL && (text = json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY)) == NULL)
		return cf_err_oom(err, api->who);
	for (attempt = 0;; attempt++) {
		cf_api_resp_free(&r);
		if (exchange(op, method, url, text, &r, err) != 0)
			goto out;
		if (r.status != 429 || api->retry_after_max_s <= 0 || attempt >= RETRIES_429 ||
		    r.retry_after_s < 0 ||
		    op->waited_ms + r.retry_after_s * 1000 > api->retry_after_max_s * 1000)
			break;
		/* rate limited: wait as long as the server asks, then send it again */
		pause_ms(r.retry_after_s * 1000);
		op->waited_ms += r.retry_after_s * 1000;
	}
	*status = r.status;
	if (r.status == 404 && (flags & CF_REST_OK_404)) {
		rc = 0;
		goto out;
	}
	if (r.status < 200 || r.status > 299) {
		status_error(op, what, &r, err);
		if (out != NULL && (flags & CF_REST_ERR_BODY) && r.body.len > 0)
			*out = json_loadb((const char *)r.body.data, r.body.len, 0, NULL);
		goto out;
	}
	if (out != NULL && r.body.len > 0)
		*out = json_loadb((const char *)r.body.data, r.body.len, 0, NULL);
	rc = 0;
out:
	if (text != NULL)
		cf_wipe(text, strlen(text));
	free(text);
	cf_api_resp_free(&r);
	return rc;
}

int cf_rest_send(cf_rest_op *op, const char *method, const char *path, json_t *body,
		 cf_err *err)
{
	long status;
	int rc;

	if (body == NULL)
		return cf_err_set(err, CF_ERR_PERMANENT, "%s: the TXT value is not UTF-8",
				  op->api->who);
	rc = cf_rest_call(op, method, path, body, 0, &status, NULL, err);
	json_decref(body);
	return rc;
}

int cf_rest_delete(cf_rest_op *op, const char *path, cf_err *err)
{
	long status;

	return cf_rest_call(op, "DELETE", path, NULL, CF_REST_OK_404, &status, NULL, err);
}

int cf_rest_list_get(cf_rest_op *op, const char *path, const cf_rest_listing *l, json_t *out,
		     long *pages, cf_err *err)
{
	char sub[CF_NAME_MAX + 1];
	const json_t *v;
	json_t *doc = NULL;
	json_int_t n;
	size_t i;
	long status;
	int rc = -1;

	if (cf_rest_call(op, "GET", path, NULL, 0, &status, &doc, err) != 0)
		goto out;
	for (v = doc, i = 0; l->pages[i] != NULL; i++)
		v = json_object_get(v, l->pages[i]);
	n = json_integer_value(v);
	if (l->per_page > 0)
		n = (n + l->per_page - 1) / l->per_page;
	*pages = n > 1 ? (long)n : 1;
	cf_rest_subname(op, l->apex, sub);
	if (cf_rest_collect(out, json_object_get(doc, l->member), &l->fields, sub) != 0) {
		cf_err_oom(err, op->api->who);
		goto out;
	}
	rc = 0;
out:
	json_decref(doc);
	return rc;
}

int cf_rest_get_array(cf_rest_op *op, const char *path, const char *member, json_t **out,
		      cf_err *err)
{
	json_t *doc = NULL, *arr;
	long status;

	*out = NULL;
	if (cf_rest_call(op, "GET", path, NULL, CF_REST_OK_404, &status, &doc, err) != 0)
		return -1;
	arr = json_object_get(doc, member);
	*out = json_is_array(arr) ? json_deep_copy(arr) : json_array();
	json_decref(doc);
	return *out != NULL ? 0 : cf_err_oom(err, op->api->who);
}

/* ---- the zone ---- */

int cf_rest_zone_by_path(cf_rest_op *op, const char *prefix, const char *candidate,
			 const char *suffix, cf_err *err)
{
	char esc[3 * CF_NAME_MAX + 1], path[3 * CF_NAME_MAX + 128];
	json_t *doc = NULL;
	long status = 0;
	int rc;

	if (cf_rest_escape(candidate, esc, sizeof(esc)) != 0 ||
	    (size_t)snprintf(path, sizeof(path), "%s%s%s", prefix, esc, suffix) >= sizeof(path))
		return cf_err_set(err, CF_ERR_PERMANENT, "%s: zone name too long", op->api->who);

	rc = cf_rest_call(op, "GET", path, NULL, CF_REST_OK_404 | CF_REST_ERR_BODY, &status, &doc,
			  err);
	if (rc != 0 && op->api->not_a_zone != NULL && op->api->not_a_zone(status, doc)) {
		cf_err_clear(err);
		status = 404;
		rc = 0;
	}
	json_decref(doc);
	if (rc != 0)
		return -1;
	if (status == 404)
		return 0;
	snprintf(op->zone_id, sizeof(op->zone_id), "%s", candidate);
	return 1;
}

static int find_zone(cf_rest_op *op, cf_err *err)
{
	const char *cand, *who = op->api->who;
	int found;

	if (op->conf->zone[0] != '\0') {
		if (!cf_name_is_under(op->name, op->conf->zone))
			return cf_err_set(err, CF_ERR_PERMANENT, "%s: %s is not in zone %s", who,
					  op->name, op->conf->zone);
		snprintf(op->zone, sizeof(op->zone), "%s", op->conf->zone);
		found = op->api->zone_find(op, op->conf->zone, err);
		if (found == 0)
			cf_err_set(err, CF_ERR_PERMANENT,
				   "%s: zone %s not found with these credentials (setting zone)", who,
				   op->conf->zone);
		return found == 1 ? 0 : -1;
	}
	for (cand = op->name; strchr(cand, '.') != NULL; cand = strchr(cand, '.') + 1) {
		snprintf(op->zone, sizeof(op->zone), "%s", cand);
		found = op->api->zone_find(op, cand, err);
		if (found != 0)
			return found == 1 ? 0 : -1;
	}
	op->zone[0] = '\0';
	return cf_err_set(err, CF_ERR_PERMANENT,
			  "%s: no zone holds %s (the API knows none of its suffixes with these "
			  "credentials: check them, or set the zone setting)",
			  who, op->name);
}

/* Loads the settings, checks name and value, finds the zone. */
static int begin(const cf_rest_api *api, const cf_provider_ctx *ctx, cf_rest_conf *conf,
		 cf_rest_op *op, const char *fqdn, const char *value, cf_err *err)
{
	memset(op, 0, sizeof(*op));
	op->api = api;
	op->conf = conf;
	op->timeout_ms = ctx->timeout_ms;
	if (cf_rest_conf_load(api, ctx->settings, conf, err) != 0)
		return -1;
	if (cf_target_normalize(fqdn, op->name, err) != 0)
		return cf_err_wrap(err, "%s", api->who);
	if (value == NULL || value[0] == '\0' || strlen(value) > CF_REST_VALUE_MAX)
		return cf_err_set(err, CF_ERR_PERMANENT, "%s: TXT value empty or over %d bytes",
				  api->who, CF_REST_VALUE_MAX);
	return find_zone(op, err);
}

/* ---- records model ---- */

/* The ids of the records at op->name holding value, over every page, collected
 * before anything is deleted (a deletion would shift later pages). */
static int matches(cf_rest_op *op, const char *value, char ids[MAX_MATCHES][CF_REST_ID_MAX + 1],
		   size_t *n, cf_err *err)
{
	json_t *recs = NULL;
	const json_t *r;
	long page, pages = 1;
	size_t i;
	int rc = -1;

	*n = 0;
	for (page = 1; page <= pages && page <= MAX_PAGES; page++) {
		json_decref(recs);
		if ((recs = json_array()) == NULL) {
			cf_err_oom(err, op->api->who);
			goto out;
		}
		if (op->api->list(op, page, recs, &pages, err) != 0)
			goto out;
		json_array_foreach(recs, i, r)
			if (*n < MAX_MATCHES &&
			    cf_rest_content_is(json_string_value(json_object_get(r, "content")),
					       value) &&
			    cf_rest_take_id(r, "id", ids[*n]) == 0)
				(*n)++;
	}
	rc = 0;
out:
	json_decref(recs);
	return rc;
}

static int records_present(cf_rest_op *op, const char *value, bool *changed, cf_err *err)
{
	char ids[MAX_MATCHES][CF_REST_ID_MAX + 1];
	char *content = NULL;
	size_t n = 0;
	int rc = -1;

	if (matches(op, value, ids, &n, err) != 0)
		return -1;
	*changed = n == 0;
	if (n > 0)
		return 0; /* the very value is there already */
	if ((content = content_of(op->api, value)) == NULL)
		return cf_err_oom(err, op->api->who);
	if (op->api->create(op, content, err) == 0)
		rc = 0;
	free(content);
	return rc;
}

static int records_cleanup(cf_rest_op *op, const char *value, bool *changed, cf_err *err)
{
	char ids[MAX_MATCHES][CF_REST_ID_MAX + 1];
	size_t n = 0, i;

	if (matches(op, value, ids, &n, err) != 0)
		return -1;
	for (i = 0; i < n; i++)
		if (op->api->remove(op, ids[i], err) != 0)
			return -1;
	*changed = n > 0;
	return 0;
}

/* ---- rrset model ---- */

/* contents with value added (add) or every copy of it dropped; *same when
 * nothing changes. NULL when out of memory. */
static json_t *rrset_next(const cf_rest_api *api, const json_t *contents, const char *value,
			  bool add, bool *same)
{
	json_t *next = json_array(), *c;
	char *mine = NULL;
	bool had = false;
	size_t i;

	if (next == NULL)
		return NULL;
	json_array_foreach(contents, i, c) {
		if (cf_rest_content_is(json_string_value(c), value)) {
			had = true;
			if (!add)
				continue;
		}
		if (json_array_append(next, c) != 0)
			goto oom;
	}
	*same = add == had;
	if (add && !had) {
		if ((mine = content_of(api, value)) == NULL ||
		    json_array_append_new(next, json_string(mine)) != 0)
			goto oom;
	}
	free(mine);
	return next;
oom:
	free(mine);
	json_decref(next);
	return NULL;
}

/* Read, change, write, and read again until the value is there (add) or gone. */
static int rrset_change(cf_rest_op *op, const char *value, bool add, bool *changed,
			cf_err *err)
{
	json_t *cur = NULL, *next = NULL;
	bool same = false;
	int attempt, rc = -1;

	*changed = false;
	for (attempt = 0; attempt <= RRSET_ATTEMPTS; attempt++) {
		json_decref(cur);
		json_decref(next);
		next = NULL;
		if (op->api->rrset_get(op, &cur, err) != 0)
			goto out;
		if ((next = rrset_next(op->api, cur, value, add, &same)) == NULL) {
			cf_err_oom(err, op->api->who);
			goto out;
		}
		if (same) {
			rc = 0;
			goto out;
		}
		if (attempt == RRSET_ATTEMPTS)
			break;
		if (op->api->rrset_put(op, next, err) != 0)
			goto out;
		*changed = true;
	}
	cf_err_set(err, CF_ERR_TRANSIENT,
		   "%s: the TXT value at %s %s after %d writes: another writer keeps replacing "
		   "the rrset",
		   op->api->who, op->name, add ? "did not stay" : "kept coming back",
		   RRSET_ATTEMPTS);
out:
	json_decref(cur);
	json_decref(next);
	return rc;
}

/* ---- entry points ---- */

static int change(const cf_rest_api *api, const cf_provider_ctx *ctx, const char *fqdn,
		  const char *value, bool add, cf_err *err)
{
	cf_rest_conf conf;
	cf_rest_op op;
	pthread_mutex_t *lock = NULL;
	bool changed = false;
	int rc = -1;

	/* one name's changes take turns in this process (begin checks the name) */
	lock = cf_txt_name_lock(fqdn ? fqdn : "");
	pthread_mutex_lock(lock);
	if (begin(api, ctx, &conf, &op, fqdn, value, err) != 0)
		goto out;
	if (api->rrset_get != NULL)
		rc = rrset_change(&op, value, add, &changed, err);
	else if (add)
		rc = records_present(&op, value, &changed, err);
	else
		rc = records_cleanup(&op, value, &changed, err);
	if (rc == 0 && changed && api->committed != NULL)
		rc = api->committed(&op, err);
out:
	pthread_mutex_unlock(lock);
	return rc;
}

int cf_rest_present(const cf_rest_api *api, const cf_provider_ctx *ctx, const char *fqdn,
		    const char *value, cf_err *err)
{
	return change(api, ctx, fqdn, value, true, err);
}

int cf_rest_cleanup(const cf_rest_api *api, const cf_provider_ctx *ctx, const char *fqdn,
		    const char *value, cf_err *err)
{
	return change(api, ctx, fqdn, value, false, err);
}

/* err must not be NULL: its class tells "cannot" (permanent) from "cannot tell". */
int cf_rest_can_write(const cf_rest_api *api, const cf_provider_ctx *ctx, const char *fqdn,
		      cf_err *err)
{
	cf_rest_conf conf;
	cf_rest_op op;

	if (begin(api, ctx, &conf, &op, fqdn, "probe", err) == 0)
		return 1;
	return err->cls == CF_ERR_PERMANENT ? 0 : -1;
}
