/*
 * oauth.c: form bodies, token requests and the token cache of the cloud
 * providers; see oauth.h for the contract.
 *
 * The cache is a small fixed table under one mutex: a process talks to a few
 * credentials at most, and a token is good for about an hour, so a job's calls
 * and the jobs after it reuse one token instead of asking the identity endpoint
 * every time. An entry is not handed out in its last minute (a request that
 * starts with it must not meet its expiry).
 */
#include "providers/oauth.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/clock.h"
#include "util/http_client.h"

#define CACHE_SLOTS 16
#define MARGIN_MS 60000LL

typedef struct slot {
	unsigned char key[CF_OAUTH_KEY_LEN];
	char *tok; /* owned; NULL = free */
	long long expires_ms; /* monotonic */
} slot;

static slot cache[CACHE_SLOTS];
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;

static int escape(cf_buf *b, const char *s, bool form)
{
	static const char hex[] = "0123456789ABCDEF";
	char e[3];

	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '.' || c == '_' || c == '~') {
			if (cf_buf_append(b, s, 1) != 0)
				return -1;
			continue;
		}
		if (form && c == ' ') {
			if (cf_buf_append(b, "+", 1) != 0)
				return -1;
			continue;
		}
		e[0] = '%';
		e[1] = hex[c >> 4];
		e[2] = hex[c & 15];
		if (cf_buf_append(b, e, 3) != 0)
			return -1;
	}
	return 0;
}

int cf_oauth_form_add(cf_buf *b, const char *key, const char *value)
{
	if ((b->len > 0 && cf_buf_append(b, "&", 1) != 0) || escape(b, key, true) != 0 ||
	    cf_buf_append(b, "=", 1) != 0 || escape(b, value ? value : "", true) != 0)
		return -1;
	return 0;
}

int cf_oauth_url_escape(cf_buf *b, const char *s)
{
	return escape(b, s, false);
}

void cf_oauth_cache_key(const char *const *parts, size_t n, unsigned char key[CF_OAUTH_KEY_LEN])
{
	EVP_MD_CTX *m = EVP_MD_CTX_new();
	unsigned int len = CF_OAUTH_KEY_LEN;
	size_t i;
	int ok = m != NULL && EVP_DigestInit_ex(m, EVP_sha256(), NULL) == 1;

	for (i = 0; ok && i < n; i++) {
		const char *p = parts[i] ? parts[i] : "";
		unsigned long long l = strlen(p);

		ok = EVP_DigestUpdate(m, &l, sizeof(l)) == 1 && EVP_DigestUpdate(m, p, l) == 1;
	}
	if (!ok || EVP_DigestFinal_ex(m, key, &len) != 1)
		memset(key, 0, CF_OAUTH_KEY_LEN); /* a key nothing is ever stored under */
	EVP_MD_CTX_free(m);
}

static bool key_null(const unsigned char key[CF_OAUTH_KEY_LEN])
{
	for (size_t i = 0; i < CF_OAUTH_KEY_LEN; i++)
		if (key[i] != 0)
			return false;
	return true;
}

static void slot_clear(slot *s)
{
	if (s->tok != NULL) {
		cf_wipe(s->tok, strlen(s->tok));
		free(s->tok);
	}
	memset(s, 0, sizeof(*s));
}

int cf_oauth_cache_get(const unsigned char key[CF_OAUTH_KEY_LEN], char *tok, size_t cap)
{
	long long now = cf_clock_mono_ms();
	int found = 0;

	if (key_null(key))
		return 0;
	pthread_mutex_lock(&cache_lock);
	for (size_t i = 0; i < CACHE_SLOTS && !found; i++) {
		slot *s = &cache[i];

		if (s->tok == NULL || memcmp(s->key, key, CF_OAUTH_KEY_LEN) != 0)
			continue;
		if (s->expires_ms - MARGIN_MS > now && strlen(s->tok) < cap) {
			memcpy(tok, s->tok, strlen(s->tok) + 1);
			found = 1;
		} else {
			slot_clear(s);
		}
	}
	pthread_mutex_unlock(&cache_lock);
	return found;
}

void cf_oauth_cache_put(const unsigned char key[CF_OAUTH_KEY_LEN], const char *tok,
			long expires_in_s)
{
	char *copy = strdup(tok);
	size_t i, pick = 0;

	if (copy == NULL || key_null(key)) {
		free(copy);
		return; /* uncached: the next call asks again */
	}
	pthread_mutex_lock(&cache_lock);
	for (i = 0; i < CACHE_SLOTS; i++) {
		if (cache[i].tok != NULL && memcmp(cache[i].key, key, CF_OAUTH_KEY_LEN) == 0) {
			pick = i;
			break;
		}
		if (cache[i].tok == NULL || cache[i].expires_ms < cache[pick].expires_ms)
			pick = i;
	}
	slot_clear(&cache[pick]);
	memcpy(cache[pick].key, key, CF_OAUTH_KEY_LEN);
	cache[pick].tok = copy;
	cache[pick].expires_ms = cf_clock_mono_ms() + 1000LL * expires_in_s;
	pthread_mutex_unlock(&cache_lock);
}

void cf_oauth_cache_drop(const unsigned char key[CF_OAUTH_KEY_LEN])
{
	pthread_mutex_lock(&cache_lock);
	for (size_t i = 0; i < CACHE_SLOTS; i++)
		if (cache[i].tok != NULL && memcmp(cache[i].key, key, CF_OAUTH_KEY_LEN) == 0)
			slot_clear(&cache[i]);
	pthread_mutex_unlock(&cache_lock);
}

/* expires_in as a number or a decimal string; def when absent or nonsense. */
static long expires_of(const json_t *v, long def)
{
	long n = def;

	if (json_is_integer(v))
		n = (long)json_integer_value(v);
	else if (json_is_string(v))
		n = strtol(json_string_value(v), NULL, 10);
	return n > 0 && n <= 86400 ? n : def;
}

int cf_oauth_fetch(const cf_api_req *req, const char *what, const char *hint, char *tok,
		   size_t cap, long *expires_in, cf_err *err)
{
	const char *who = req->who ? req->who : "oauth";
	cf_api_resp resp = { 0 };
	json_t *j = NULL;
	const char *at, *code, *desc;
	char text[400];
	int rc = -1;

	if (cf_api_http(req, &resp, err) != 0) {
		cf_err_wrap(err, "%s: token endpoint (%s)", who, what);
		goto out;
	}
	j = json_loadb(resp.body.data ? (const char *)resp.body.data : "", resp.body.len, 0, NULL);
	at = json_string_value(json_object_get(j, "access_token"));
	if (resp.status == 200 && at != NULL && at[0] != '\0' && strlen(at) < cap &&
	    strcspn(at, " \t\r\n") == strlen(at)) {
		memcpy(tok, at, strlen(at) + 1);
		*expires_in = expires_of(json_object_get(j, "expires_in"), 3600);
		rc = 0;
		goto out;
	}
	code = json_string_value(json_object_get(j, "error"));
	desc = json_string_value(json_object_get(j, "error_description"));
	if (code == NULL && desc == NULL) {
		cf_api_error_text(&resp, text, sizeof(text));
		desc = resp.status == 200 ? "no access_token in the answer" : text;
	}
	cf_err_set(err,
		   resp.status == 200 ? CF_ERR_PERMANENT : cf_http_status_class(resp.status),
		   "%s: token endpoint (%s): HTTP %ld %s%s%.300s (%s)", who, what, resp.status,
		   code ? code : "", code && desc ? ": " : "", desc ? desc : "", hint);
out:
	if (j != NULL) {
		json_t *a = json_object_get(j, "access_token");

		if (json_is_string(a)) /* jansson keeps its copy: wipe it */
			cf_wipe((char *)json_string_value(a), json_string_length(a));
	}
	json_decref(j);
	if (resp.body.data != NULL)
		cf_wipe(resp.body.data, resp.body.len);
	cf_api_resp_free(&resp);
	return rc;
}
