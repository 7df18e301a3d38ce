/*
 * client.c: the client object and what every request needs: the directory
 * (fetched once, on first use), the nonce (RFC 8555 section 7.2: the Replay-Nonce
 * of every response is kept for the next request; a HEAD to newNonce only when
 * none is held), the event hook, clocks, and small JSON helpers shared by the
 * files that parse ACME objects. A client is single-threaded by contract (see
 * acme.h); nothing here locks.
 */
#include "acme/acme_int.h"
#include "util/http_client.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char *const status_names[] = {
	[CF_ACME_UNKNOWN] = "unknown",	   [CF_ACME_PENDING] = "pending",
	[CF_ACME_READY] = "ready",	   [CF_ACME_PROCESSING] = "processing",
	[CF_ACME_VALID] = "valid",	   [CF_ACME_INVALID] = "invalid",
	[CF_ACME_DEACTIVATED] = "deactivated", [CF_ACME_EXPIRED] = "expired",
	[CF_ACME_REVOKED] = "revoked",
};

const char *cf_acme_status_name(cf_acme_status s)
{
	if ((int)s < 0 || (size_t)s >= sizeof(status_names) / sizeof(status_names[0]))
		return "unknown";
	return status_names[s];
}

cf_acme_status cf_acme_status_parse(const char *s)
{
	size_t i;

	for (i = 1; s != NULL && i < sizeof(status_names) / sizeof(status_names[0]); i++)
		if (strcmp(s, status_names[i]) == 0)
			return (cf_acme_status)i;
	return CF_ACME_UNKNOWN;
}

int cf_acme_global_init(cf_err *err)
{
	CURLcode rc = curl_global_init(CURL_GLOBAL_DEFAULT);

	if (rc != CURLE_OK)
		return cf_err_set(err, CF_ERR_PERMANENT, "curl_global_init: %s",
				  curl_easy_strerror(rc));
	return 0;
}

void cf_acme_global_cleanup(void)
{
	curl_global_cleanup();
}

cf_acme_client *cf_acme_client_new(const cf_acme_options *o, const cf_key *account_key,
				   cf_err *err)
{
	cf_acme_client *c = NULL;

	if (o == NULL || o->directory_url == NULL || account_key == NULL) {
		cf_err_set(err, CF_ERR_PERMANENT, "ACME client: directory URL and key required");
		return NULL;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL || (c->dir_url = strdup(o->directory_url)) == NULL) {
		cf_err_oom(err, "ACME client");
		goto fail;
	}
	if (acme_http_init(&c->http, o->ca_file, o->connect_timeout_ms > 0 ? o->connect_timeout_ms : 10000,
			   o->timeout_ms > 0 ? o->timeout_ms : 30000,
			   o->max_body > 0 ? o->max_body : 1024 * 1024, err) != 0)
		goto fail;
	c->key = account_key;
	c->bad_nonce_timeout_ms = o->bad_nonce_timeout_ms > 0 ? o->bad_nonce_timeout_ms : 30000;
	c->bad_nonce_retries = o->bad_nonce_retries > 0 ? o->bad_nonce_retries : 0;
	c->max_inline_wait_ms = o->max_inline_wait_ms == 0 ? 10000
				: o->max_inline_wait_ms < 0 ? 0
							    : o->max_inline_wait_ms;
	c->poll_initial_ms = o->poll_initial_ms <= 0 ? CF_ACME_POLL_INITIAL_MS
			     : o->poll_initial_ms > CF_ACME_BACKOFF_MAX_MS ? CF_ACME_BACKOFF_MAX_MS
									 : o->poll_initial_ms;
	c->on_event = o->on_event;
	c->event_arg = o->event_arg;
	return c;
fail:
	cf_acme_client_free(c);
	return NULL;
}

static void directory_free(cf_acme_directory *d)
{
	free(d->new_nonce);
	free(d->new_account);
	free(d->new_order);
	free(d->revoke_cert);
	free(d->key_change);
	free(d->new_authz);
	free(d->renewal_info);
	free(d->terms_of_service);
	free(d->website);
	acme_strarray_free(d->profile_names, d->nprofiles);
	acme_strarray_free(d->profile_descriptions, d->nprofiles);
	memset(d, 0, sizeof(*d));
}

void cf_acme_client_free(cf_acme_client *c)
{
	if (c == NULL)
		return;
	if (c->http.curl)
		acme_http_cleanup(&c->http);
	directory_free(&c->dir);
	free(c->dir_url);
	free(c->nonce);
	free(c->kid);
	free(c);
}

void cf_acme_client_set_key(cf_acme_client *c, const cf_key *account_key)
{
	c->key = account_key;
}

int cf_acme_client_set_account(cf_acme_client *c, const char *kid, cf_err *err)
{
	char *k = kid ? strdup(kid) : NULL;

	if (kid && k == NULL)
		return cf_err_oom(err, NULL);
	free(c->kid);
	c->kid = k;
	return 0;
}

const char *cf_acme_client_account(const cf_acme_client *c)
{
	return c->kid;
}

long cf_acme_client_retry_after_ms(const cf_acme_client *c)
{
	return c->last.retry_after_ms;
}

void cf_acme_client_last_failure(const cf_acme_client *c, cf_acme_failure *out)
{
	*out = c->last;
}

void acme_failure_reset(cf_acme_client *c)
{
	memset(&c->last, 0, sizeof(c->last));
}

void acme_failure_note(cf_acme_client *c, const acme_resp *r)
{
	cf_acme_failure *f = &c->last;

	memset(f, 0, sizeof(*f));
	f->http_status = r->status;
	if (cf_acme_problem_type((char *)r->body.data, r->body.len, f->problem_type,
				 sizeof(f->problem_type)) == NULL)
		f->problem_type[0] = '\0';
	f->rate_limited = r->status == 429 ||
			  strcmp(f->problem_type, ACME_URN_PREFIX "rateLimited") == 0;
	f->unavailable = r->status == 503;
	f->retry_after_ms = acme_resp_retry_after_ms(r);
	f->retry_after_s = (f->retry_after_ms + 999) / 1000;
}

/* ---- directory ---- */

/* meta.profiles: an object of name -> description (a description that is not a
 * string counts as ""). On failure the caller's directory_free() releases what
 * was copied (nprofiles counts every slot written). */
static int parse_profiles(cf_acme_directory *d, const json_t *profiles, cf_err *err)
{
	const char *name;
	const json_t *v;
	size_t n = json_is_object(profiles) ? json_object_size(profiles) : 0;

	if (n == 0)
		return 0;
	d->profile_names = calloc(n, sizeof(char *));
	d->profile_descriptions = calloc(n, sizeof(char *));
	if (d->profile_names == NULL || d->profile_descriptions == NULL)
		goto oom;
	json_object_foreach((json_t *)profiles, name, v) {
		size_t i = d->nprofiles++;

		d->profile_names[i] = strdup(name);
		d->profile_descriptions[i] = strdup(json_is_string(v) ? json_string_value(v) : "");
		if (d->profile_names[i] == NULL || d->profile_descriptions[i] == NULL)
			goto oom;
	}
	return 0;
oom:
	return cf_err_oom(err, "directory: reading profiles");
}

static int parse_directory(cf_acme_directory *d, const json_t *j, cf_err *err)
{
	const json_t *meta = json_object_get(j, "meta");

	d->new_nonce = acme_json_strdup(j, "newNonce");
	d->new_account = acme_json_strdup(j, "newAccount");
	d->new_order = acme_json_strdup(j, "newOrder");
	d->revoke_cert = acme_json_strdup(j, "revokeCert");
	d->key_change = acme_json_strdup(j, "keyChange");
	d->new_authz = acme_json_strdup(j, "newAuthz");
	d->renewal_info = acme_json_strdup(j, "renewalInfo");
	d->terms_of_service = acme_json_strdup(meta, "termsOfService");
	d->website = acme_json_strdup(meta, "website");
	d->external_account_required =
		json_is_true(json_object_get(meta, "externalAccountRequired"));
	if (!d->new_nonce || !d->new_account || !d->new_order || !d->revoke_cert ||
	    !d->key_change)
		return cf_err_set(err, CF_ERR_PERMANENT,
				  "directory: newNonce, newAccount, newOrder, revokeCert or "
				  "keyChange missing");
	return parse_profiles(d, json_object_get(meta, "profiles"), err);
}

const char *cf_acme_directory_profile(const cf_acme_directory *d, const char *name)
{
	for (size_t i = 0; d != NULL && name != NULL && i < d->nprofiles; i++)
		if (strcmp(d->profile_names[i], name) == 0)
			return d->profile_descriptions[i];
	return NULL;
}

int cf_acme_directory_check_profile(const cf_acme_directory *d, const char *name, cf_err *err)
{
	char list[768] = "";
	size_t used = 0;

	if (name == NULL || name[0] == '\0' || cf_acme_directory_profile(d, name) != NULL)
		return 0;
	if (d == NULL || d->nprofiles == 0)
		return cf_err_set(err, CF_ERR_PERMANENT,
				  "profile \"%s\": the CA's directory offers no profiles", name);
	for (size_t i = 0; i < d->nprofiles && used < sizeof(list); i++) {
		int w = snprintf(list + used, sizeof(list) - used, "%s%s", i ? ", " : "",
				 d->profile_names[i]);
		if (w < 0)
			break;
		used += (size_t)w;
	}
	return cf_err_set(err, CF_ERR_PERMANENT,
			  "profile \"%s\" is not offered by the CA (offered: %s)", name, list);
}

static int fetch_directory(cf_acme_client *c, cf_err *err)
{
	acme_resp r = {0};
	json_t *j = NULL;
	long long t0 = cf_clock_mono_ms();
	int rc = -1;

	rc = acme_http_request(&c->http, "GET", c->dir_url, NULL, NULL, "application/json", &r,
			       err);
	acme_emit(c, CF_ACME_EV_HTTP, "directory", "GET", c->dir_url, r.status,
		  (long)(cf_clock_mono_ms() - t0), rc == 0 && r.status < 400,
		  rc ? acme_errmsg(err) : NULL);
	if (rc != 0)
		goto out;
	rc = -1;
	acme_take_nonce(c, &r);
	if (r.status != 200) {
		acme_failure_note(c, &r);
		cf_acme_problem_set_err(err, "directory", r.status, (char *)r.body.data, r.body.len);
		goto out;
	}
	j = json_loadb((char *)r.body.data, r.body.len, 0, NULL);
	if (!json_is_object(j)) {
		cf_err_set(err, CF_ERR_PERMANENT, "directory %s: not a JSON object", c->dir_url);
		goto out;
	}
	if (parse_directory(&c->dir, j, err) != 0) {
		directory_free(&c->dir);
		goto out;
	}
	c->have_dir = true;
	rc = 0;
out:
	json_decref(j);
	acme_resp_free(&r);
	return rc;
}

int cf_acme_client_directory(cf_acme_client *c, const cf_acme_directory **out, cf_err *err)
{
	long long t0;

	if (!c->have_dir) {
		acme_failure_reset(c);
		t0 = cf_clock_mono_ms();
		if (acme_step_done(c, "directory", c->dir_url, t0, fetch_directory(c, err), err,
				   NULL) != 0)
			return -1;
	}
	if (out)
		*out = &c->dir;
	return 0;
}

/* ---- nonces ---- */

void acme_take_nonce(cf_acme_client *c, acme_resp *r)
{
	if (r->nonce == NULL || r->nonce[0] == '\0')
		return;
	free(c->nonce);
	c->nonce = r->nonce;
	r->nonce = NULL;
}

int acme_ensure_nonce(cf_acme_client *c, cf_err *err)
{
	acme_resp r = {0};
	long long t0;
	int rc = -1;

	if (c->nonce != NULL)
		return 0;
	if (cf_acme_client_directory(c, NULL, err) != 0)
		return -1;
	t0 = cf_clock_mono_ms();
	rc = acme_http_request(&c->http, "HEAD", c->dir.new_nonce, NULL, NULL, NULL, &r, err);
	acme_emit(c, CF_ACME_EV_HTTP, "newNonce", "HEAD", c->dir.new_nonce, r.status,
		  (long)(cf_clock_mono_ms() - t0), rc == 0 && r.status < 400,
		  rc ? acme_errmsg(err) : NULL);
	if (rc == 0) {
		acme_take_nonce(c, &r);
		if (r.status >= 400)
			acme_failure_note(c, &r);
		if (c->nonce == NULL)
			rc = cf_err_set(err, cf_http_status_class(r.status),
					"newNonce %s: HTTP %ld without a Replay-Nonce",
					c->dir.new_nonce, r.status);
	}
	acme_resp_free(&r);
	return rc;
}

/* ---- sleeping and events ---- */

void acme_sleep_ms(long ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};

	while (ms > 0 && nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

void acme_emit(cf_acme_client *c, cf_acme_event_kind kind, const char *step,
	       const char *method, const char *url, long status, long duration_ms, bool ok,
	       const char *detail)
{
	cf_acme_event ev = {
		.kind = kind,
		.step = step,
		.method = method,
		.url = url,
		.http_status = status,
		.duration_ms = duration_ms,
		.ok = ok,
		.detail = detail,
	};

	if (c->on_event)
		c->on_event(&ev, c->event_arg);
}

int acme_step_done(cf_acme_client *c, const char *step, const char *url, long long t0,
		   int rc, const cf_err *err, const char *detail)
{
	if (rc != 0 && err != NULL)
		detail = err->msg;
	acme_emit(c, CF_ACME_EV_STEP, step, NULL, url, 0, (long)(cf_clock_mono_ms() - t0), rc == 0,
		  detail);
	return rc;
}

/* ---- JSON helpers ---- */

char *acme_json_strdup(const json_t *obj, const char *key)
{
	const char *s = json_string_value(json_object_get(obj, key));

	return s ? strdup(s) : NULL;
}

cf_acme_status acme_json_status(const json_t *obj)
{
	return cf_acme_status_parse(json_string_value(json_object_get(obj, "status")));
}

char *acme_json_problem(const json_t *obj)
{
	const json_t *e = json_object_get(obj, "error");

	return json_is_object(e) ? json_dumps(e, JSON_COMPACT) : NULL;
}

void acme_strarray_free(char **v, size_t n)
{
	size_t i;

	for (i = 0; v != NULL && i < n; i++)
		free(v[i]);
	free(v);
}

int acme_json_strarray(const json_t *obj, const char *key, char ***out, size_t *n)
{
	const json_t *a = json_object_get(obj, key), *s;
	char **v = NULL;
	size_t i;

	*out = NULL;
	*n = 0;
	if (!json_is_array(a) || json_array_size(a) == 0)
		return 0;
	if ((v = calloc(json_array_size(a), sizeof(*v))) == NULL)
		return -1;
	json_array_foreach(a, i, s) {
		if (!json_is_string(s) || (v[i] = strdup(json_string_value(s))) == NULL) {
			acme_strarray_free(v, i + 1);
			return -1;
		}
	}
	*out = v;
	*n = json_array_size(a);
	return 0;
}

long acme_resp_retry_after_ms(const acme_resp *r)
{
	long ms = 0;

	if (r->retry_after == NULL || cf_retry_after_parse(r->retry_after, time(NULL), &ms) != 0)
		return 0;
	return ms;
}
