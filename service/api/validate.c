/*
 * validate.c: the input checks of the admin API; see validate.h.
 *
 * A certificate document is checked member by member, collecting every
 * violation rather than stopping at the first, so one 400 tells a client all it
 * must fix. Checks that depend on another member (an alias map must cover the
 * certificate's names) run only when that member was itself valid, so one
 * mistake does not cascade into a list of follow-on errors. The normalised
 * document built along the way is what the store writes: names lower-case
 * without trailing dots, map keys normalised the same way.
 */
#include "api/validate.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dns/dns.h"
#include "providers/scope.h"
#include "util/utf8.h"

#define KNOWN_KEY_TYPES "ec256, ec384, rsa2048, rsa3072, rsa4096"
#define CERT_FIELDS \
	"id, domains, dns_alias, provider, key_type, hosts, admin_keys, renew_fraction, issuers, " \
	"profile"

typedef char name_t[CF_NAME_MAX + 1];

int cf_verrs_add(cf_verrs *v, const char *field, const char *fmt, ...)
{
	va_list ap;
	cf_verr *e;
	int n;

	if (v->n >= CF_VERR_MAX) {
		v->dropped++;
		return -1;
	}
	e = &v->e[v->n++];
	snprintf(e->field, sizeof(e->field), "%s", field);
	n = snprintf(e->detail, sizeof(e->detail), "%s: ", field);
	if (n < 0 || (size_t)n >= sizeof(e->detail))
		return -1;
	va_start(ap, fmt);
	vsnprintf(e->detail + n, sizeof(e->detail) - (size_t)n, fmt, ap);
	va_end(ap);
	cf_utf8_scrub(e->detail); /* quoted input, or a cut character, stays JSON-safe */
	return -1;
}

bool cf_valid_slug(const char *s)
{
	size_t i, n = s ? strlen(s) : 0;

	if (n == 0 || n > 63 || s[0] == '-')
		return false;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return false;
	return true;
}

bool cf_valid_host(const char *s)
{
	size_t i, n = s ? strlen(s) : 0, label = 0;

	if (n == 0 || n > CF_NAME_MAX)
		return false;
	for (i = 0; i <= n; i++) {
		char c = s[i];

		if (c == '.' || c == '\0') {
			if (label == 0 || label > 63 || s[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
			return false;
		if (label == 0 && c == '-')
			return false;
		label++;
	}
	return true;
}

bool cf_valid_token_name(const char *s)
{
	size_t i, n = s ? strlen(s) : 0;

	if (n == 0 || n > 128)
		return false;
	for (i = 0; i < n; i++) {
		char c = s[i];
		bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			     (c >= '0' && c <= '9');

		if (!alnum && (i == 0 || (c != '.' && c != '_' && c != '@' && c != '-')))
			return false;
	}
	return true;
}

bool cf_valid_key_type(const char *s)
{
	static const char *const types[] = { "ec256", "ec384", "rsa2048", "rsa3072", "rsa4096" };

	for (size_t i = 0; s != NULL && i < sizeof(types) / sizeof(types[0]); i++)
		if (strcmp(s, types[i]) == 0)
			return true;
	return false;
}

bool cf_valid_profile_name(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n > 64)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
		      s[i] == '-' || s[i] == '_' || s[i] == '.'))
			return false;
	return true;
}

/* ---- certificates ---- */

/* What the checks of one document share. */
typedef struct cert_ctx {
	const cf_cert_rules *rules;
	cf_verrs *errs;
	name_t *names; /* normalised domains */
	size_t n;
	bool names_ok; /* every domain valid and distinct */
} cert_ctx;

static bool known_cert_field(const char *k)
{
	static const char *const fields[] = { "id", "domains", "dns_alias", "provider",
					      "key_type", "hosts", "admin_keys", "renew_fraction",
					      "issuers", "profile" };

	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		if (strcmp(k, fields[i]) == 0)
			return true;
	return false;
}

static void check_id(cert_ctx *c, const json_t *id)
{
	if (id == NULL)
		cf_verrs_add(c->errs, "id", "required (a slug such as \"web\")");
	else if (!json_is_string(id))
		cf_verrs_add(c->errs, "id", "must be a string");
	else if (!cf_valid_slug(json_string_value(id)))
		cf_verrs_add(c->errs, "id",
			     "\"%.80s\" is not a slug (1-63 of a-z, 0-9 and '-', not starting "
			     "with '-')",
			     json_string_value(id));
}

/* Normalises the domains into c->names; out gets the normalised list. */
static void check_domains(cert_ctx *c, const json_t *d, json_t *out)
{
	char field[32];
	size_t i, j, before = c->errs->n + c->errs->dropped;
	const json_t *v;
	cf_err e = { 0 };

	if (d == NULL) {
		cf_verrs_add(c->errs, "domains", "required (a non-empty array of DNS names)");
		return;
	}
	if (!json_is_array(d)) {
		cf_verrs_add(c->errs, "domains", "must be an array of DNS names");
		return;
	}
	c->n = json_array_size(d);
	if (c->n == 0) {
		cf_verrs_add(c->errs, "domains", "must hold at least one name");
		return;
	}
	if (c->n > (size_t)c->rules->max_names) {
		cf_verrs_add(c->errs, "domains",
			     "%zu names, more than the %d allowed per certificate "
			     "(CERTFLEET_MAX_NAMES)",
			     c->n, c->rules->max_names);
		return;
	}
	c->names = calloc(c->n, sizeof(name_t));
	if (c->names == NULL) {
		cf_verrs_add(c->errs, "domains", "out of memory");
		return;
	}
	json_array_foreach(d, i, v) {
		snprintf(field, sizeof(field), "domains[%zu]", i);
		if (!json_is_string(v)) {
			cf_verrs_add(c->errs, field, "must be a string");
			continue;
		}
		if (cf_name_normalize(json_string_value(v), true, c->names[i], &e) != 0) {
			cf_verrs_add(c->errs, field, "%s", e.msg);
			cf_err_clear(&e);
			continue;
		}
		for (j = 0; j < i; j++)
			if (strcmp(c->names[i], c->names[j]) == 0)
				break;
		if (j < i) {
			cf_verrs_add(c->errs, field, "\"%s\" is listed twice (as domains[%zu] too)",
				     c->names[i], j);
			continue;
		}
		json_array_append_new(out, json_string(c->names[i]));
	}
	c->names_ok = c->errs->n + c->errs->dropped == before;
}

static json_t *check_key_type(cert_ctx *c, const json_t *k)
{
	if (k == NULL)
		return json_string("ec256");
	if (!json_is_string(k)) {
		cf_verrs_add(c->errs, "key_type", "must be a string, one of " KNOWN_KEY_TYPES);
		return NULL;
	}
	if (!cf_valid_key_type(json_string_value(k))) {
		cf_verrs_add(c->errs, "key_type", "\"%.40s\" is not a known key type (" KNOWN_KEY_TYPES
			     ")", json_string_value(k));
		return NULL;
	}
	return json_string(json_string_value(k));
}

static json_t *check_hosts(cert_ctx *c, const json_t *h)
{
	char field[32];
	json_t *out;
	const json_t *v;
	size_t i, j;

	if (h == NULL)
		return json_array();
	if (!json_is_array(h)) {
		cf_verrs_add(c->errs, "hosts", "must be an array of host names");
		return NULL;
	}
	if (json_array_size(h) > CF_HOSTS_MAX) {
		cf_verrs_add(c->errs, "hosts", "at most %d host names (got %zu)", CF_HOSTS_MAX,
			     json_array_size(h));
		return NULL;
	}
	out = json_array();
	json_array_foreach(h, i, v) {
		snprintf(field, sizeof(field), "hosts[%zu]", i);
		if (!json_is_string(v)) {
			cf_verrs_add(c->errs, field, "must be a string");
			continue;
		}
		if (!cf_valid_host(json_string_value(v))) {
			cf_verrs_add(c->errs, field,
				     "\"%.80s\" is not a host name or slug (lower-case labels of "
				     "a-z, 0-9 and '-', joined by dots)",
				     json_string_value(v));
			continue;
		}
		for (j = 0; j < i; j++)
			if (json_equal(json_array_get(h, j), (json_t *)v))
				break;
		if (j < i) {
			cf_verrs_add(c->errs, field, "\"%s\" is listed twice", json_string_value(v));
			continue;
		}
		json_array_append_new(out, json_string(json_string_value(v)));
	}
	return out;
}

/* A value of the dns_alias member or of its map: an FQDN, normalised into out. */
static int alias_value(cert_ctx *c, const char *field, const json_t *v, json_t **out)
{
	name_t t;
	cf_err e = { 0 };

	if (!json_is_string(v))
		return cf_verrs_add(c->errs, field, "must be a DNS name (a string)");
	if (cf_target_normalize(json_string_value(v), t, &e) != 0) {
		cf_verrs_add(c->errs, field, "alias target: %s", e.msg);
		cf_err_clear(&e);
		return -1;
	}
	*out = json_string(t);
	return 0;
}

/* A value of the provider member or of its map: a provider name (a slug). */
static int provider_value(cert_ctx *c, const char *field, const json_t *v, json_t **out)
{
	if (!json_is_string(v))
		return cf_verrs_add(c->errs, field, "must be a provider name (a string)");
	if (!cf_valid_slug(json_string_value(v)))
		return cf_verrs_add(c->errs, field, "\"%.80s\" is not a provider name (a slug)",
				    json_string_value(v));
	*out = json_string(json_string_value(v));
	return 0;
}

typedef int (*value_fn)(cert_ctx *c, const char *field, const json_t *v, json_t **out);

/* A map by name ({"name": value}) for member what: keys are the certificate's
 * names (all of them), values checked by fn, and two names sharing a challenge
 * record get the same value. Returns the normalised map or NULL. */
static json_t *check_map(cert_ctx *c, const char *what, const json_t *map, value_fn fn)
{
	char field[CF_NAME_MAX + 32], rec_i[CF_NAME_MAX + 1], rec_j[CF_NAME_MAX + 1];
	size_t before = c->errs->n + c->errs->dropped, i, j;
	json_t *out = json_object(), *val;
	const char *k;
	const json_t *v;
	name_t key;
	cf_err e = { 0 };

	if (json_object_size(map) == 0)
		cf_verrs_add(c->errs, what, "a map must not be empty: give one entry per domain");
	json_object_foreach((json_t *)map, k, v) {
		snprintf(field, sizeof(field), "%s[\"%.253s\"]", what, k);
		if (cf_name_normalize(k, true, key, &e) != 0) {
			cf_verrs_add(c->errs, field, "the key is not a DNS name: %s", e.msg);
			cf_err_clear(&e);
			continue;
		}
		if (json_object_get(out, key) != NULL) {
			cf_verrs_add(c->errs, field, "names \"%s\" twice", key);
			continue;
		}
		for (i = 0; c->names_ok && i < c->n && strcmp(c->names[i], key) != 0; i++)
			;
		if (c->names_ok && i == c->n) {
			cf_verrs_add(c->errs, field, "\"%s\" is not one of the certificate's domains",
				     key);
			continue;
		}
		val = NULL;
		if (fn(c, field, v, &val) == 0)
			json_object_set_new(out, key, val);
	}
	for (i = 0; c->names_ok && i < c->n; i++)
		if (json_object_get(out, c->names[i]) == NULL &&
		    c->errs->n + c->errs->dropped == before)
			cf_verrs_add(c->errs, what, "the map has no entry for \"%s\" (it must cover "
				     "every domain)", c->names[i]);
	for (i = 0; c->names_ok && i < c->n; i++)
		for (j = i + 1; j < c->n; j++) {
			const json_t *a = json_object_get(out, c->names[i]);
			const json_t *b = json_object_get(out, c->names[j]);

			if (a == NULL || b == NULL || json_equal((json_t *)a, (json_t *)b) ||
			    cf_challenge_record(c->names[i], rec_i, NULL) != 0 ||
			    cf_challenge_record(c->names[j], rec_j, NULL) != 0 ||
			    strcmp(rec_i, rec_j) != 0)
				continue;
			cf_verrs_add(c->errs, what,
				     "\"%s\" and \"%s\" share the challenge record %s, so they need "
				     "the same %s (got \"%s\" and \"%s\")",
				     c->names[i], c->names[j], rec_i, what, json_string_value(a),
				     json_string_value(b));
		}
	if (c->errs->n + c->errs->dropped != before) {
		json_decref(out);
		return NULL;
	}
	return out;
}

static json_t *check_alias(cert_ctx *c, const json_t *a)
{
	json_t *out = NULL;

	if (a == NULL || json_is_null(a))
		return json_null();
	if (json_is_string(a) && strcmp(json_string_value(a), "auto") == 0)
		return json_string("auto");
	if (json_is_string(a))
		return alias_value(c, "dns_alias", a, &out) == 0 ? out : NULL;
	if (json_is_object(a))
		return check_map(c, "dns_alias", a, alias_value);
	cf_verrs_add(c->errs, "dns_alias",
		     "must be null, \"auto\", a DNS name, or a map from each domain to a DNS name");
	return NULL;
}

/* Asks the callback about each distinct provider named in p (normalised). */
static int providers_exist(cert_ctx *c, const json_t *p, cf_err *err)
{
	char field[CF_NAME_MAX + 32];
	const char *k, *name;
	const json_t *v;
	int r;

	if (c->rules->provider_exists == NULL)
		return 0;
	if (json_is_string(p)) {
		r = c->rules->provider_exists(c->rules->arg, json_string_value(p), err);
		if (r == 0)
			cf_verrs_add(c->errs, "provider", "DNS provider \"%s\" does not exist "
				     "(create it with POST /v1/providers)", json_string_value(p));
		return r < 0 ? -1 : 0;
	}
	json_object_foreach((json_t *)p, k, v) {
		const char *k2;
		const json_t *v2;
		bool seen = false;

		name = json_string_value(v);
		json_object_foreach((json_t *)p, k2, v2) {
			if (k2 == k)
				break;
			if (strcmp(json_string_value(v2), name) == 0)
				seen = true;
		}
		if (seen)
			continue;
		r = c->rules->provider_exists(c->rules->arg, name, err);
		if (r < 0)
			return -1;
		snprintf(field, sizeof(field), "provider[\"%s\"]", k);
		if (r == 0)
			cf_verrs_add(c->errs, field, "DNS provider \"%s\" does not exist (create it "
				     "with POST /v1/providers)", name);
	}
	return 0;
}

static json_t *check_provider(cert_ctx *c, const json_t *p)
{
	json_t *out = NULL;

	if (p == NULL) {
		cf_verrs_add(c->errs, "provider",
			     "required (a provider name, or a map from each domain to one)");
		return NULL;
	}
	if (json_is_string(p))
		return provider_value(c, "provider", p, &out) == 0 ? out : NULL;
	if (json_is_object(p))
		return check_map(c, "provider", p, provider_value);
	cf_verrs_add(c->errs, "provider",
		     "must be a provider name or a map from each domain to a provider name");
	return NULL;
}

/* issuers: an ordered list of 1-8 distinct issuer names that exist (default
 * ["default"]); a copy in *out. 0, or -1 when the callback failed (err). */
static int check_issuers(cert_ctx *c, const json_t *a, json_t **out, cf_err *err)
{
	char field[32];
	json_t *v;
	size_t i, k;

	*out = NULL;
	if (a == NULL) {
		*out = json_pack("[s]", "default");
		return 0;
	}
	if (!json_is_array(a) || json_array_size(a) < 1 || json_array_size(a) > 8) {
		cf_verrs_add(c->errs, "issuers", "must be a list of 1 to 8 issuer names, in the "
			     "order they are tried (e.g. [\"le\", \"backup\"])");
		return 0;
	}
	json_array_foreach(a, i, v) {
		const char *s = json_string_value(v);
		int r;

		snprintf(field, sizeof(field), "issuers[%zu]", i);
		if (!cf_valid_slug(s)) {
			cf_verrs_add(c->errs, field, "must be an issuer name (a slug)");
			continue;
		}
		for (k = 0; k < i; k++)
			if (json_equal(v, json_array_get(a, k)))
				break;
		if (k < i) {
			cf_verrs_add(c->errs, field, "\"%s\" is named twice", s);
			continue;
		}
		if (c->rules->issuer_exists == NULL)
			continue;
		if ((r = c->rules->issuer_exists(c->rules->arg, s, err)) < 0)
			return -1;
		if (r == 0)
			cf_verrs_add(c->errs, field, "no issuer called \"%s\" (GET /v1/issuers)", s);
	}
	*out = json_deep_copy(a);
	return 0;
}

int cf_cert_validate(const json_t *in, const cf_cert_rules *rules, json_t **out,
		     cf_verrs *errs, cf_err *err)
{
	cert_ctx c = { .rules = rules, .errs = errs };
	json_t *doc = NULL, *domains = NULL, *key_type = NULL, *hosts = NULL, *alias = NULL,
	       *provider = NULL, *admin_keys, *renew, *issuers = NULL, *profile;
	const char *k;
	const json_t *v;
	int rc = 1;

	*out = NULL;
	if (!json_is_object(in)) {
		cf_verrs_add(errs, "body", "must be a JSON object");
		goto out;
	}
	json_object_foreach((json_t *)in, k, v)
		if (!known_cert_field(k))
			cf_verrs_add(errs, k, "unknown field (known: " CERT_FIELDS ")");
	check_id(&c, json_object_get(in, "id"));
	domains = json_array();
	check_domains(&c, json_object_get(in, "domains"), domains);
	key_type = check_key_type(&c, json_object_get(in, "key_type"));
	hosts = check_hosts(&c, json_object_get(in, "hosts"));
	admin_keys = json_object_get(in, "admin_keys");
	if (admin_keys != NULL && !json_is_boolean(admin_keys))
		cf_verrs_add(errs, "admin_keys", "must be true or false");
	renew = json_object_get(in, "renew_fraction");
	if (renew != NULL && (!json_is_number(renew) || json_number_value(renew) < 0.05 ||
			      json_number_value(renew) > 0.95))
		cf_verrs_add(errs, "renew_fraction", "must be a number from 0.05 to 0.95 (the "
			     "share of the lifetime after which the certificate is renewed)");
	alias = check_alias(&c, json_object_get(in, "dns_alias"));
	provider = check_provider(&c, json_object_get(in, "provider"));
	if (provider != NULL && providers_exist(&c, provider, err) != 0) {
		rc = -1;
		goto out;
	}
	if (check_issuers(&c, json_object_get(in, "issuers"), &issuers, err) != 0) {
		rc = -1;
		goto out;
	}
	profile = json_object_get(in, "profile");
	if (profile != NULL && !json_is_null(profile) &&
	    !cf_valid_profile_name(json_string_value(profile)))
		cf_verrs_add(errs, "profile", "must be a profile name the issuers offer (such as "
			     "\"tlsserver\") or null (the issuer's default)");
	if (errs->n > 0)
		goto out;
	doc = json_pack("{s:O, s:O, s:O, s:O, s:O, s:O, s:b, s:O, s:O}", "id",
			json_object_get(in, "id"), "domains", domains, "dns_alias", alias,
			"provider", provider, "key_type", key_type, "hosts", hosts, "admin_keys",
			json_is_true(admin_keys), "issuers", issuers, "profile",
			profile ? profile : json_null());
	if (doc != NULL && renew != NULL &&
	    json_object_set_new(doc, "renew_fraction", json_real(json_number_value(renew))) != 0) {
		json_decref(doc);
		doc = NULL;
	}
	if (doc == NULL) {
		cf_err_oom(err, NULL);
		rc = -1;
		goto out;
	}
	*out = doc;
	rc = 0;
out:
	free(c.names);
	json_decref(domains);
	json_decref(key_type);
	json_decref(hosts);
	json_decref(alias);
	json_decref(provider);
	json_decref(issuers);
	return rc;
}

int cf_cert_patch_merge(const json_t *current, const json_t *patch, json_t **merged,
			cf_verrs *errs)
{
	static const char *const patchable[] = { "domains", "dns_alias", "provider", "key_type",
						 "hosts", "admin_keys", "renew_fraction",
						 "issuers", "profile" };
	const json_t *id, *v;
	const char *k;
	json_t *m;
	size_t i;

	*merged = NULL;
	if (!json_is_object(patch)) {
		cf_verrs_add(errs, "body", "must be a JSON object");
		return 1;
	}
	id = json_object_get(patch, "id");
	if (id != NULL && !json_equal((json_t *)id, json_object_get(current, "id")))
		cf_verrs_add(errs, "id", "cannot be changed (create a new certificate instead)");
	json_object_foreach((json_t *)patch, k, v) {
		for (i = 0; i < sizeof(patchable) / sizeof(patchable[0]); i++)
			if (strcmp(k, patchable[i]) == 0)
				break;
		if (i == sizeof(patchable) / sizeof(patchable[0]) && strcmp(k, "id") != 0)
			cf_verrs_add(errs, k, "unknown field (a PATCH may change domains, "
				     "dns_alias, provider, key_type, hosts, admin_keys, "
				     "renew_fraction, issuers and profile)");
	}
	if (errs->n > 0)
		return 1;
	m = json_deep_copy(current);
	if (m == NULL) {
		cf_verrs_add(errs, "body", "out of memory");
		return 1;
	}
	json_object_foreach((json_t *)patch, k, v) {
		if (strcmp(k, "id") == 0)
			continue;
		if (json_is_null(v))
			json_object_del(m, k);
		else
			json_object_set_new(m, k, json_deep_copy(v));
	}
	*merged = m;
	return 0;
}

/* ---- providers ---- */

/* The submitted setting that a provider's message is about: the word after
 * "setting " or the first quoted word, when it is a key of settings. */
static const char *setting_named(const char *msg, const json_t *settings, char word[64])
{
	const char *p = strstr(msg, "setting ");
	const char *k;
	const json_t *v;
	size_t n;

	if (p != NULL) {
		p += strlen("setting ");
		p += *p == '"';
	} else if ((p = strchr(msg, '"')) != NULL) {
		p++;
	} else {
		return NULL;
	}
	n = strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-");
	if (n == 0 || n >= 64)
		return NULL;
	json_object_foreach((json_t *)settings, k, v)
		if (strlen(k) == n && strncmp(k, p, n) == 0)
			return k;
	/* a required setting that was not given is named too */
	memcpy(word, p, n);
	word[n] = '\0';
	return strstr(msg, "required") != NULL ? word : NULL;
}

int cf_provider_doc_validate(const json_t *in, const cf_provider_ops **ops, cf_verrs *errs)
{
	char field[128], known[256] = "", word[64];
	const char *names[32], *k, *key;
	const json_t *name, *type, *settings, *v;
	cf_err e = { 0 };
	size_t i, n;

	*ops = NULL;
	if (!json_is_object(in)) {
		cf_verrs_add(errs, "body", "must be a JSON object");
		return 1;
	}
	json_object_foreach((json_t *)in, k, v)
		if (strcmp(k, "name") != 0 && strcmp(k, "type") != 0 && strcmp(k, "settings") != 0)
			cf_verrs_add(errs, k, "unknown field (known: name, type, settings)");
	name = json_object_get(in, "name");
	if (!json_is_string(name) || !cf_valid_slug(json_string_value(name)))
		cf_verrs_add(errs, "name", "required: a slug (1-63 of a-z, 0-9 and '-', not "
			     "starting with '-')");
	type = json_object_get(in, "type");
	n = cf_provider_names(names, sizeof(names) / sizeof(names[0]));
	for (i = 0; i < n && i < sizeof(names) / sizeof(names[0]); i++)
		snprintf(known + strlen(known), sizeof(known) - strlen(known), "%s%s",
			 i ? ", " : "", names[i]);
	if (!json_is_string(type))
		cf_verrs_add(errs, "type", "required: a provider type (known: %s)", known);
	else if ((*ops = cf_provider_find(json_string_value(type))) == NULL)
		cf_verrs_add(errs, "type", "\"%.40s\" is not a known provider type (known: %s)",
			     json_string_value(type), known);
	settings = json_object_get(in, "settings");
	if (!json_is_object(settings)) {
		cf_verrs_add(errs, "settings", "required: an object of strings");
	} else {
		json_object_foreach((json_t *)settings, k, v)
			if (!json_is_string(v) && strcmp(k, CF_SCOPE_SETTING) != 0) {
				snprintf(field, sizeof(field), "settings.%.100s", k);
				cf_verrs_add(errs, field, "must be a string");
			}
	}
	if (errs->n > 0) {
		*ops = NULL;
		return 1;
	}
	/* allowed_names is normalised in place (the caller's body is stored as it is
	 * then); the provider validates the rest */
	if (cf_provider_validate(*ops, (json_t *)settings, &e) != 0) {
		key = strstr(e.msg, CF_SCOPE_SETTING) != NULL ? CF_SCOPE_SETTING
							      : setting_named(e.msg, settings, word);
		if (key != NULL)
			snprintf(field, sizeof(field), "settings.%.100s", key);
		else
			snprintf(field, sizeof(field), "settings");
		cf_verrs_add(errs, field, "%s", e.msg);
		cf_err_clear(&e);
		*ops = NULL;
		return 1;
	}
	return 0;
}

json_t *cf_patch_merge_top(const json_t *current, const json_t *patch, const char *kind,
			   cf_verrs *errs)
{
	const json_t *v;
	const char *k;
	json_t *m;

	if (!json_is_object(patch)) {
		cf_verrs_add(errs, "body", "must be a JSON object");
		return NULL;
	}
	v = json_object_get(patch, "name");
	if (v != NULL && !json_equal((json_t *)v, json_object_get(current, "name")))
		cf_verrs_add(errs, "name", "cannot be changed (create a new %s instead)", kind);
	if (errs->n > 0 || (m = json_deep_copy(current)) == NULL)
		return NULL;
	json_object_foreach((json_t *)patch, k, v) {
		if (json_is_null(v))
			json_object_del(m, k);
		else
			json_object_set_new(m, k, json_deep_copy(v));
	}
	return m;
}
