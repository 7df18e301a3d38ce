/*
 * acmedns.c: the acme-dns provider (github.com/joohoi/acme-dns): a small DNS
 * server whose only records are TXT values that an account updates through its
 * HTTP API. The operator registers an account (POST /register) and points the
 * challenge record at the account's fulldomain:
 *     _acme-challenge.www.example.com. CNAME <subdomain>.auth.example.org.
 *
 * Settings (a JSON object of strings):
 *   api_url     http(s)://HOST[:PORT][/PATH] of the acme-dns API (required)
 *   username    the account's X-Api-User, a UUID (required; an identifier, shown)
 *   password    the account's X-Api-Key, 40 characters (required; a secret: never
 *               in a message, wiped from the request headers after each call)
 *   fulldomain  the account's full domain, the CNAME target (required); a value
 *               for any other name is refused, as the CA would never see it
 *   subdomain   the account's subdomain (default: the first label of fulldomain,
 *               which it must equal when given)
 *   ca_file     PEM bundle that signs the API's certificate (https only)
 *
 * present() POSTs {"subdomain", "txt"} to {api_url}/update with the X-Api-User and
 * X-Api-Key headers; the TXT value must be 43 characters of base64url, which is
 * checked first. acme-dns cannot delete: it keeps the two newest values of each
 * subdomain and an update replaces the older one. So cleanup() writes nothing
 * (the stale value is pushed out by the next update), and three values live at
 * once at one account would silently lose the first. This file therefore counts,
 * per process, the values presented and not yet cleaned up per account (API URL
 * and subdomain) and refuses a third; a value counts for at most
 * CF_ACMEDNS_SLOT_TTL_S, so a lost cleanup cannot block the account for ever.
 * Across processes it cannot see the other values: ops.max_values_per_name = 2
 * tells the service to enforce the limit across replicas.
 *
 * A value presented again while it is counted is not written again, since a
 * second update with the same value would push out the other live value; a
 * failed update un-counts the value, unless the request may have arrived with
 * no answer coming back (a timeout): then it may have been stored, and stays
 * counted until cleanup.
 *
 * can_write() needs no network: acme-dns serves values only at the account's
 * fulldomain, so a target is writable exactly when it is that name.
 *
 * Answers: 401 {"error":"forbidden"} names username/password (acme-dns gives the
 * same answer for a wrong subdomain or a client address outside the account's
 * allowfrom); 400 bad_txt / bad_subdomain name the value or the subdomain; 5xx and
 * transport failures are transient.
 */
#include "providers/provider.h"
#include "providers/acmedns.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "providers/api_http.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/http_client.h"

#define WHO "acmedns"
#define TXT_LEN 43
#define PASSWORD_LEN 40

static const char *const secret_keys[] = { "password", NULL };
static const char *const known_keys[] = { "api_url",   "username",  "password",
					  "subdomain", "fulldomain", "ca_file", NULL };

typedef struct acmedns_conf {
	char base[CF_API_URL_MAX];
	const char *user;
	const char *pass;
	const char *ca_file;
	char fulldomain[CF_NAME_MAX + 1];
	char subdomain[64];
} acmedns_conf;

/* ---- the TXT check and the table of live values (acmedns.h) ---- */

bool cf_acmedns_txt_ok(const char *value)
{
	size_t i;

	if (value == NULL || strlen(value) != TXT_LEN)
		return false;
	for (i = 0; i < TXT_LEN; i++) {
		char ch = value[i];

		if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
		      (ch >= '0' && ch <= '9') || ch == '-' || ch == '_'))
			return false;
	}
	return true;
}

typedef struct slot {
	char value[TXT_LEN + 1];
	long since;
} slot;

typedef struct account {
	struct account *next;
	slot slots[CF_ACMEDNS_MAX_VALUES];
	size_t n;
	char key[]; /* API URL "\n" subdomain */
} account;

/* Process-wide, never freed (one small entry per account used). */
static account *accounts;
static pthread_mutex_t accounts_lock = PTHREAD_MUTEX_INITIALIZER;

/* The entry of key with expired slots dropped; created when create. Lock held. */
static account *account_get(const char *key, long now_s, bool create)
{
	account *a;
	size_t i;

	for (a = accounts; a != NULL && strcmp(a->key, key) != 0; a = a->next)
		;
	if (a == NULL && create && (a = calloc(1, sizeof(*a) + strlen(key) + 1)) != NULL) {
		strcpy(a->key, key);
		a->next = accounts;
		accounts = a;
	}
	for (i = 0; a != NULL && i < a->n;) {
		if (now_s - a->slots[i].since >= CF_ACMEDNS_SLOT_TTL_S)
			a->slots[i] = a->slots[--a->n];
		else
			i++;
	}
	return a;
}

int cf_acmedns_slot_take(const char *account_key, const char *value, long now_s, bool *fresh,
			 cf_err *err)
{
	account *a;
	size_t i;
	int rc = -1;

	*fresh = false;
	if (strlen(value) > TXT_LEN)
		return cf_err_set(err, CF_ERR_PERMANENT, WHO ": TXT value longer than %d", TXT_LEN);
	pthread_mutex_lock(&accounts_lock);
	a = account_get(account_key, now_s, true);
	if (a == NULL) {
		cf_err_oom(err, WHO);
		goto out;
	}
	for (i = 0; i < a->n; i++)
		if (strcmp(a->slots[i].value, value) == 0) {
			rc = 0;
			goto out;
		}
	if (a->n >= CF_ACMEDNS_MAX_VALUES) {
		cf_err_set(err, CF_ERR_PERMANENT,
			   WHO ": acme-dns keeps only two TXT values per subdomain; two are "
			   "live already");
		goto out;
	}
	snprintf(a->slots[a->n].value, sizeof(a->slots[a->n].value), "%s", value);
	a->slots[a->n++].since = now_s;
	*fresh = true;
	rc = 0;
out:
	pthread_mutex_unlock(&accounts_lock);
	return rc;
}

void cf_acmedns_slot_drop(const char *account_key, const char *value)
{
	account *a;
	size_t i;

	pthread_mutex_lock(&accounts_lock);
	for (a = accounts; a != NULL && strcmp(a->key, account_key) != 0; a = a->next)
		;
	for (i = 0; a != NULL && i < a->n; i++)
		if (strcmp(a->slots[i].value, value) == 0) {
			a->slots[i] = a->slots[--a->n];
			break;
		}
	pthread_mutex_unlock(&accounts_lock);
}

int cf_acmedns_slot_count(const char *account_key, long now_s)
{
	account *a;
	int n;

	pthread_mutex_lock(&accounts_lock);
	a = account_get(account_key, now_s, false);
	n = a ? (int)a->n : 0;
	pthread_mutex_unlock(&accounts_lock);
	return n;
}

/* ---- settings ---- */

static bool uuid_ok(const char *s)
{
	size_t i;

	if (strlen(s) != 36)
		return false;
	for (i = 0; i < 36; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;
		char ch = s[i];

		if (dash ? ch != '-' :
			   !((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') ||
			     (ch >= 'A' && ch <= 'F')))
			return false;
	}
	return true;
}

static int conf_load(const json_t *s, acmedns_conf *c, cf_err *err)
{
	const char *url, *full, *sub;
	size_t n, i;

	memset(c, 0, sizeof(*c));
	if (s == NULL || !json_is_object(s))
		return cf_err_set(err, CF_ERR_PERMANENT, WHO ": settings must be an object");
	if (cf_api_settings_known(WHO, s, known_keys, err) != 0 ||
	    cf_api_setting_str(WHO, s, "api_url", &url, err) != 0 ||
	    cf_api_setting_str(WHO, s, "username", &c->user, err) != 0 ||
	    cf_api_setting_str(WHO, s, "password", &c->pass, err) != 0 ||
	    cf_api_setting_str(WHO, s, "fulldomain", &full, err) != 0 ||
	    cf_api_setting_str(WHO, s, "subdomain", &sub, err) != 0 ||
	    cf_api_setting_str(WHO, s, "ca_file", &c->ca_file, err) != 0)
		return -1;
	if (cf_api_url_check(WHO, "api_url", url, c->base, err) != 0)
		return -1;
	if (c->user == NULL || !uuid_ok(c->user))
		return cf_err_set(err, CF_ERR_PERMANENT,
				  WHO " setting username: required, the account's UUID (X-Api-User) "
				  "as /register returned it");
	if (c->pass == NULL || strlen(c->pass) != PASSWORD_LEN)
		return cf_err_set(err, CF_ERR_PERMANENT,
				  WHO " setting password: required, the account's %d-character "
				  "X-Api-Key as /register returned it (the value is not shown)",
				  PASSWORD_LEN);
	for (i = 0; i < PASSWORD_LEN; i++)
		if ((unsigned char)c->pass[i] <= 0x20 || c->pass[i] == 0x7f)
			return cf_err_set(err, CF_ERR_PERMANENT,
					  WHO " setting password: contains a blank or control "
					  "character (the value is not shown)");
	if (full == NULL)
		return cf_err_set(err, CF_ERR_PERMANENT,
				  WHO " setting fulldomain: required, the account's full domain "
				  "(the target of the _acme-challenge CNAME)");
	if (cf_target_normalize(full, c->fulldomain, err) != 0)
		return cf_err_wrap(err, WHO " setting fulldomain");
	n = strcspn(c->fulldomain, ".");
	if (n >= sizeof(c->subdomain))
		return cf_err_set(err, CF_ERR_PERMANENT,
				  WHO " setting fulldomain: first label longer than 63");
	memcpy(c->subdomain, c->fulldomain, n);
	c->subdomain[n] = '\0';
	if (sub != NULL && strcasecmp(sub, c->subdomain) != 0)
		return cf_err_set(err, CF_ERR_PERMANENT,
				  WHO " setting subdomain: \"%.63s\" is not the first label of "
				  "fulldomain %s",
				  sub, c->fulldomain);
	if (c->ca_file != NULL && c->ca_file[0] != '/')
		return cf_err_set(err, CF_ERR_PERMANENT,
				  WHO " setting ca_file: \"%.100s\" is not an absolute path",
				  c->ca_file);
	return 0;
}

static int acmedns_validate(const json_t *settings, cf_err *err)
{
	acmedns_conf c;

	return conf_load(settings, &c, err);
}

/* ---- the API ---- */

static int update_error(const acmedns_conf *c, const cf_api_resp *r, cf_err *err)
{
	char text[200];

	cf_api_error_text(r, text, sizeof(text));
	if (r->status == 401 || r->status == 403)
		return cf_err_set(err, CF_ERR_PERMANENT,
				  WHO ": %s refused the update of subdomain %s (HTTP %ld: %s): check "
				  "the username and password settings (acme-dns also says this for "
				  "a subdomain that is not the account's, or a client address "
				  "outside its allowfrom)",
				  c->base, c->subdomain, r->status, text);
	if (r->status == 400 && strcmp(text, "bad_subdomain") == 0)
		return cf_err_set(err, CF_ERR_PERMANENT,
				  WHO ": %s refused subdomain %s (HTTP 400: bad_subdomain): check the "
				  "subdomain and fulldomain settings",
				  c->base, c->subdomain);
	if (cf_http_status_class(r->status) == CF_ERR_TRANSIENT)
		return cf_err_set(err, CF_ERR_TRANSIENT, WHO ": update on %s failed (HTTP %ld: %s)",
				  c->base, r->status, text);
	return cf_err_set(err, CF_ERR_PERMANENT, WHO ": %s refused the update (HTTP %ld: %s)",
			  c->base, r->status, text);
}

/* POSTs the value. On failure, *maybe_stored tells whether acme-dns may have
 * stored it all the same: no answer came, yet the request may have arrived. */
static int post_update(const acmedns_conf *c, long timeout_ms, const char *value,
		       bool *maybe_stored, cf_err *err)
{
	char url[CF_API_URL_MAX + 16], user[80], key[80];
	const char *hdrs[] = { user, key, NULL };
	cf_api_req req = { .method = "POST",
			   .url = url,
			   .headers = hdrs,
			   .ca_file = c->ca_file,
			   .timeout_ms = timeout_ms,
			   .max_body = 64 * 1024,
			   .who = WHO " api_url" };
	cf_api_resp r = { 0 };
	char *body = NULL;
	json_t *doc;
	int rc = -1;

	*maybe_stored = false;
	snprintf(url, sizeof(url), "%s/update", c->base);
	snprintf(user, sizeof(user), "X-Api-User: %s", c->user);
	snprintf(key, sizeof(key), "X-Api-Key: %s", c->pass);
	doc = json_pack("{s:s,s:s}", "subdomain", c->subdomain, "txt", value);
	if (doc == NULL || (body = json_dumps(doc, JSON_COMPACT)) == NULL) {
		cf_err_oom(err, WHO);
		goto out;
	}
	req.body = body;
	if (cf_api_http(&req, &r, err) != 0) {
		*maybe_stored = r.maybe_delivered;
		goto out;
	}
	if (r.status != 200) {
		update_error(c, &r, err);
		goto out;
	}
	rc = 0;
out:
	cf_wipe(key, sizeof(key));
	cf_api_resp_free(&r);
	free(body);
	json_decref(doc);
	return rc;
}

/* Checks settings, name and value; fills c and the account key. */
static int prepare(const cf_provider_ctx *ctx, const char *fqdn, const char *value,
		   bool check_value, acmedns_conf *c, char *account_key, size_t keylen,
		   cf_err *err)
{
	char name[CF_NAME_MAX + 1];

	if (conf_load(ctx->settings, c, err) != 0)
		return -1;
	if (cf_target_normalize(fqdn, name, err) != 0)
		return cf_err_wrap(err, WHO);
	if (strcmp(name, c->fulldomain) != 0)
		return cf_err_set(err, CF_ERR_PERMANENT,
				  WHO ": %s is not this account's fulldomain %s: acme-dns serves "
				  "values only there, so the challenge alias must point at %s.",
				  name, c->fulldomain, c->fulldomain);
	if (value == NULL || (check_value && !cf_acmedns_txt_ok(value)))
		return cf_err_set(err, CF_ERR_PERMANENT,
				  WHO ": the TXT value must be 43 characters of base64url (an ACME "
				  "DNS-01 digest), got %zu characters%s",
				  value ? strlen(value) : 0,
				  value && strlen(value) == TXT_LEN ? " with others than A-Za-z0-9-_" :
								      "");
	snprintf(account_key, keylen, "%s\n%s", c->base, c->subdomain);
	return 0;
}

static int acmedns_present(const cf_provider_ctx *ctx, const char *fqdn, const char *value,
			   cf_err *err)
{
	acmedns_conf c;
	char account_key[CF_API_URL_MAX + 80];
	bool fresh, maybe_stored;

	if (prepare(ctx, fqdn, value, true, &c, account_key, sizeof(account_key), err) != 0)
		return -1;
	if (cf_acmedns_slot_take(account_key, value, (long)(cf_clock_mono_ms() / 1000), &fresh,
				 err) != 0) {
		if (err == NULL || err->cls != CF_ERR_PERMANENT)
			return -1;
		return cf_err_set(err, CF_ERR_PERMANENT,
				  WHO ": acme-dns keeps only two TXT values per subdomain; %s "
				  "(subdomain %s at %s) already holds two live values from this "
				  "certfleet process, and a third would push out one that the CA "
				  "may still be checking: put at most two names (a wildcard and its "
				  "apex) through one acme-dns account at a time, or give the others "
				  "accounts of their own",
				  c.fulldomain, c.subdomain, c.base);
	}
	if (!fresh)
		return 0;
	if (post_update(&c, ctx->timeout_ms, value, &maybe_stored, err) != 0) {
		/* an update that may have been stored keeps counting until cleanup */
		if (!maybe_stored)
			cf_acmedns_slot_drop(account_key, value);
		return -1;
	}
	return 0;
}

/* Nothing to write (acme-dns cannot delete; the next update replaces the
 * oldest value): the value stops counting against the account. */
static int acmedns_cleanup(const cf_provider_ctx *ctx, const char *fqdn, const char *value,
			   cf_err *err)
{
	acmedns_conf c;
	char account_key[CF_API_URL_MAX + 80];

	if (prepare(ctx, fqdn, value, false, &c, account_key, sizeof(account_key), err) != 0)
		return -1;
	cf_acmedns_slot_drop(account_key, value);
	return 0;
}

/* err must not be NULL. Never -1: the answer follows from the settings alone. */
static int acmedns_can_write(const cf_provider_ctx *ctx, const char *fqdn, cf_err *err)
{
	acmedns_conf c;
	char account_key[CF_API_URL_MAX + 80];

	return prepare(ctx, fqdn, "", false, &c, account_key, sizeof(account_key), err) == 0;
}

const cf_provider_ops cf_provider_acmedns = {
	.name = "acmedns",
	.secret_keys = secret_keys,
	.validate = acmedns_validate,
	.present = acmedns_present,
	.cleanup = acmedns_cleanup,
	.max_values_per_name = CF_ACMEDNS_MAX_VALUES,
	.can_write = acmedns_can_write,
};
