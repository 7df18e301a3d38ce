/*
 * h_alerts.c: /v1/alerts: the alert rules (create, list, show, change,
 * delete), admin only.
 *
 * A rule is checked whole before anything is written, each violation naming its
 * field: name (a slug), channel ({"type": email | slack | teams | webhook, and
 * that type's settings}), events (the kinds of store/alerts.h), filters
 * ({"certificate_ids", "name_suffix", "issuer"}), expiring_within_days (1-365),
 * digest_hour (0-23, UTC) and enabled.
 *
 * Each channel type has one secret: email the SMTP password, slack and teams
 * the incoming-webhook URL (whoever has it can post), webhook the HMAC key. It
 * is sealed (store/alerts.h) and never returned: a representation says
 * "<secret>_set": true. A PATCH that gives a channel of the same type without
 * its secret keeps the sealed one. The request body holding a secret is wiped
 * when the request completes (server.c), the parsed copies here before release.
 */
#include "http/http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/validate.h"
#include "crypto/crypto.h"
#include "store/alerts.h"

#define ALERT_FIELDS "name, channel, events, filters, expiring_within_days, digest_hour, " \
		     "enabled"
#define MAX_RECIPIENTS 32
#define MAX_FILTER_IDS 1000

static bool known_field(const char *k)
{
	static const char *const fields[] = {"name", "channel", "events", "filters",
					     "expiring_within_days", "digest_hour", "enabled"};

	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		if (strcmp(k, fields[i]) == 0)
			return true;
	return false;
}

/* The secret member of a channel type ("" for an unknown type). */
static const char *secret_key(const char *type)
{
	if (type == NULL)
		return "";
	if (strcmp(type, "email") == 0)
		return "password";
	if (strcmp(type, "slack") == 0 || strcmp(type, "teams") == 0)
		return "url";
	if (strcmp(type, "webhook") == 0)
		return "secret";
	return "";
}

static bool printable(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s <= ' ' || *s == 0x7f)
			return false;
	return true;
}

static bool valid_address(const char *s)
{
	const char *at = s ? strchr(s, '@') : NULL;

	return s != NULL && strlen(s) <= 254 && at != NULL && at != s && at[1] != '\0' &&
	       strchr(at + 1, '@') == NULL && printable(s) && strpbrk(s, "<>,;\"()[]\\") == NULL;
}

/* An http(s) URL with a host: no blanks, no user information. */
static bool valid_http_url(const char *s)
{
	const char *host;

	if (s == NULL || strlen(s) > 2000 || !printable(s))
		return false;
	if (strncmp(s, "https://", 8) == 0)
		host = s + 8;
	else if (strncmp(s, "http://", 7) == 0)
		host = s + 7;
	else
		return false;
	return host[0] != '\0' && host[0] != '/' &&
	       memchr(host, '@', strcspn(host, "/?#")) == NULL;
}

static void check_string(const json_t *c, const char *key, bool required, size_t max,
			 cf_verrs *errs, const char *what)
{
	const json_t *v = json_object_get(c, key);
	char field[64];

	snprintf(field, sizeof(field), "channel.%s", key);
	if (v == NULL && !required)
		return;
	if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > max)
		cf_verrs_add(errs, field, "%s %s", required ? "required:" : "must be", what);
}

static void check_email(const json_t *c, bool need_secret, cf_verrs *errs)
{
	const char *url = json_string_value(json_object_get(c, "smtp_url"));
	const json_t *to = json_object_get(c, "to"), *v, *ca = json_object_get(c, "ca_file");
	cf_err err = {0};
	size_t i;

	if (url == NULL || (strncmp(url, "smtp://", 7) != 0 && strncmp(url, "smtps://", 8) != 0) ||
	    strlen(url) > 512 || !printable(url) ||
	    memchr(url, '@', strcspn(url + 8, "/?#") + 8) != NULL || strlen(url) < 9)
		cf_verrs_add(errs, "channel.smtp_url", "required: smtp://HOST[:PORT] (STARTTLS is "
			     "required) or smtps://HOST[:PORT], without user information");
	if (!valid_address(json_string_value(json_object_get(c, "from"))))
		cf_verrs_add(errs, "channel.from", "required: the sender's address, such as "
			     "certfleet@example.com");
	if (!json_is_array(to) || json_array_size(to) < 1 || json_array_size(to) > MAX_RECIPIENTS)
		cf_verrs_add(errs, "channel.to", "required: 1 to %d recipient addresses",
			     MAX_RECIPIENTS);
	json_array_foreach(to, i, v)
		if (!valid_address(json_string_value(v)))
			cf_verrs_add(errs, "channel.to", "item %zu is not an e-mail address", i);
	check_string(c, "username", false, 256, errs, "the SMTP AUTH user name");
	check_string(c, "password", need_secret && json_object_get(c, "username") != NULL, 1024,
		     errs, "the SMTP AUTH password (with username)");
	if (json_object_get(c, "password") != NULL && json_object_get(c, "username") == NULL)
		cf_verrs_add(errs, "channel.username", "required with a password");
	if (ca != NULL && !json_is_null(ca)) {
		if (!json_is_string(ca) || json_string_length(ca) > 262144)
			cf_verrs_add(errs, "channel.ca_file", "must be the PEM text of the CA "
				     "certificates that sign the SMTP server's certificate, or null");
		else if (cf_pem_chain_split(json_string_value(ca), json_string_length(ca), NULL,
					    NULL, &err) != 0)
			cf_verrs_add(errs, "channel.ca_file", "is not PEM certificates: %s", err.msg);
	}
	cf_err_clear(&err);
}

static void check_channel(const json_t *c, bool need_secret, cf_verrs *errs)
{
	static const char *const known[][8] = {
		{"email", "smtp_url", "from", "to", "username", "password", "ca_file", NULL},
		{"slack", "url", NULL},
		{"teams", "url", "format", NULL},
		{"webhook", "url", "secret", NULL},
	};
	const char *type = json_string_value(json_object_get(c, "type")), *k;
	const char *const *keys = NULL;
	char field[96];
	json_t *v;

	if (!json_is_object(c)) {
		cf_verrs_add(errs, "channel", "required: an object {\"type\": \"email\" | \"slack\" "
			     "| \"teams\" | \"webhook\", and its settings}");
		return;
	}
	for (size_t i = 0; type != NULL && i < sizeof(known) / sizeof(known[0]); i++)
		if (strcmp(type, known[i][0]) == 0)
			keys = known[i] + 1;
	if (keys == NULL) {
		cf_verrs_add(errs, "channel.type", "required: email, slack, teams or webhook");
		return;
	}
	json_object_foreach((json_t *)c, k, v) {
		bool ok = strcmp(k, "type") == 0 || (strlen(k) > 4 &&
			  strcmp(k + strlen(k) - 4, "_set") == 0);

		for (size_t i = 0; !ok && keys[i] != NULL; i++)
			ok = strcmp(k, keys[i]) == 0;
		snprintf(field, sizeof(field), "channel.%.60s", k);
		if (!ok)
			cf_verrs_add(errs, field, "unknown setting for a %s channel", type);
	}
	if (strcmp(type, "email") == 0) {
		check_email(c, need_secret, errs);
	} else if (strcmp(type, "webhook") == 0) {
		if (!valid_http_url(json_string_value(json_object_get(c, "url"))))
			cf_verrs_add(errs, "channel.url", "required: the http(s):// URL that "
				     "receives the signed alerts, without user information");
		check_string(c, "secret", need_secret, 1024, errs,
			     "the HMAC-SHA256 key that signs each delivery");
	} else {
		const json_t *u = json_object_get(c, "url"), *f = json_object_get(c, "format");

		if ((u != NULL || need_secret) && !valid_http_url(json_string_value(u)))
			cf_verrs_add(errs, "channel.url", "required: the incoming-webhook URL "
				     "(https://...)");
		if (f != NULL && (!json_is_string(f) ||
				  (strcmp(json_string_value(f), "adaptive") != 0 &&
				   strcmp(json_string_value(f), "messagecard") != 0)))
			cf_verrs_add(errs, "channel.format", "must be adaptive (an Adaptive Card, "
				     "the default) or messagecard");
	}
}

static void check_events(const json_t *e, cf_verrs *errs)
{
	const json_t *v;
	size_t i, j;

	if (!json_is_array(e) || json_array_size(e) < 1 || json_array_size(e) > CF_ALERT__MAX) {
		cf_verrs_add(errs, "events", "required: a list of issuance_failed, expiring, "
			     "issuer_paused, rollout_paused, digest");
		return;
	}
	json_array_foreach(e, i, v) {
		if (cf_alert_kind_parse(json_string_value(v)) == CF_ALERT__MAX)
			cf_verrs_add(errs, "events", "item %zu is not one of issuance_failed, "
				     "expiring, issuer_paused, rollout_paused, digest", i);
		for (j = 0; j < i; j++)
			if (json_equal(v, json_array_get(e, j)))
				cf_verrs_add(errs, "events", "item %zu repeats item %zu", i, j);
	}
}

static void check_filters(const json_t *f, cf_verrs *errs)
{
	const json_t *ids = json_object_get(f, "certificate_ids"), *v;
	const json_t *sfx = json_object_get(f, "name_suffix"), *iss = json_object_get(f, "issuer");
	const char *k;
	size_t i;

	if (f == NULL || json_is_null(f))
		return;
	if (!json_is_object(f)) {
		cf_verrs_add(errs, "filters", "must be {\"certificate_ids\", \"name_suffix\", "
			     "\"issuer\"}");
		return;
	}
	json_object_foreach((json_t *)f, k, v)
		if (strcmp(k, "certificate_ids") != 0 && strcmp(k, "name_suffix") != 0 &&
		    strcmp(k, "issuer") != 0) {
			char field[96];

			snprintf(field, sizeof(field), "filters.%.60s", k);
			cf_verrs_add(errs, field, "unknown filter (known: certificate_ids, "
				     "name_suffix, issuer)");
		}
	if (ids != NULL && (!json_is_array(ids) || json_array_size(ids) > MAX_FILTER_IDS))
		cf_verrs_add(errs, "filters.certificate_ids", "must be a list of certificate ids "
			     "(at most %d)", MAX_FILTER_IDS);
	json_array_foreach(ids, i, v)
		if (!cf_valid_slug(json_string_value(v)))
			cf_verrs_add(errs, "filters.certificate_ids", "item %zu is not a "
				     "certificate id", i);
	if (sfx != NULL && !json_is_null(sfx) && !cf_valid_host(json_string_value(sfx)))
		cf_verrs_add(errs, "filters.name_suffix", "must be a lower-case DNS name such as "
			     "example.com, or null");
	if (iss != NULL && !json_is_null(iss) && !cf_valid_slug(json_string_value(iss)))
		cf_verrs_add(errs, "filters.issuer", "must be an issuer name, or null");
}

static void check_int(const json_t *in, const char *key, long lo, long hi, cf_verrs *errs)
{
	const json_t *v = json_object_get(in, key);

	if (v != NULL && (!json_is_integer(v) || json_integer_value(v) < lo ||
			  json_integer_value(v) > hi))
		cf_verrs_add(errs, key, "must be a whole number from %ld to %ld", lo, hi);
}

/* Checks a whole rule; need_secret: the channel must carry its secret (a POST,
 * or a PATCH that changes the channel's type). 0 with *out a normalised copy
 * (the "<x>_set" members dropped), or 1 with errs. */
static int rule_validate(const json_t *in, bool need_secret, json_t **out, cf_verrs *errs)
{
	const json_t *v;
	const char *k;

	*out = NULL;
	if (!json_is_object(in)) {
		cf_verrs_add(errs, "body", "must be a JSON object");
		return 1;
	}
	json_object_foreach((json_t *)in, k, v)
		if (!known_field(k))
			cf_verrs_add(errs, k, "unknown field (known: " ALERT_FIELDS ")");
	if (!cf_valid_slug(json_string_value(json_object_get(in, "name"))))
		cf_verrs_add(errs, "name", "required: a slug (1-63 of a-z, 0-9 and '-', not "
			     "starting with '-') such as \"ops-mail\"");
	check_channel(json_object_get(in, "channel"), need_secret, errs);
	check_events(json_object_get(in, "events"), errs);
	check_filters(json_object_get(in, "filters"), errs);
	check_int(in, "expiring_within_days", 1, 365, errs);
	check_int(in, "digest_hour", 0, 23, errs);
	v = json_object_get(in, "enabled");
	if (v != NULL && !json_is_boolean(v))
		cf_verrs_add(errs, "enabled", "must be true or false");
	if (errs->n > 0)
		return 1;
	if ((*out = json_deep_copy(in)) == NULL) {
		cf_verrs_add(errs, "body", "out of memory");
		return 1;
	}
	{
		json_t *c = json_object_get(*out, "channel");
		void *tmp;

		json_object_foreach_safe(c, tmp, k, v)
			if (strlen(k) > 4 && strcmp(k + strlen(k) - 4, "_set") == 0)
				json_object_del(c, k);
	}
	return 0;
}

/* Wipes the secret string of doc's channel, if any, then releases doc. */
static void body_free(json_t *doc)
{
	json_t *c = json_object_get(doc, "channel");
	json_t *s = json_object_get(c, secret_key(json_string_value(json_object_get(c, "type"))));

	if (json_is_string(s))
		cf_wipe((void *)json_string_value(s), json_string_length(s));
	json_decref(doc);
}

/* Seals the channel's secret of doc (when it has one) into sealed, as the JSON
 * {"<key>": secret}, and removes it from doc (wiped). 0, or -1 with err. */
static int take_secret(cf_app *app, json_t *doc, cf_buf *sealed, cf_err *err)
{
	json_t *c = json_object_get(doc, "channel");
	const char *key = secret_key(json_string_value(json_object_get(c, "type")));
	json_t *s = json_object_get(c, key), *obj = NULL;
	char aad[CF_ALERT_AAD_MAX], *text = NULL;
	int rc = -1;

	if (!json_is_string(s))
		return 0;
	if (cf_alert_aad(json_string_value(json_object_get(doc, "name")), aad) != 0) {
		cf_err_set(err, CF_ERR_PERMANENT, "alert rule name too long");
		goto out;
	}
	if ((obj = json_pack("{s:O}", key, s)) == NULL ||
	    (text = json_dumps(obj, JSON_COMPACT)) == NULL) {
		cf_err_oom(err, NULL);
		goto out;
	}
	if (cf_seal(app->master_key, aad, text, strlen(text), sealed, err) != 0)
		goto out;
	rc = 0;
out:
	if (text != NULL)
		cf_secret_free(text);
	json_object_set_new(obj, key, json_null()); /* obj shares s: wiped below */
	json_decref(obj);
	cf_wipe((void *)json_string_value(s), json_string_length(s));
	json_object_del(c, key);
	return rc;
}

static json_t *audit_detail(const json_t *doc)
{
	return json_pack("{s:O, s:O}", "channel",
			 json_object_get(json_object_get(doc, "channel"), "type"), "events",
			 json_object_get(doc, "events"));
}

static void not_found(cf_http_resp *resp, const char *id)
{
	cf_resp_problem(resp, 404, "not-found", NULL, "no alert rule with id \"%.80s\"", id);
}

int cf_h_alerts_list(cf_app *app, cf_http_req *req, cf_http_resp *resp)
{
	json_t *out = NULL;
	cf_err err = {0};

	if (cf_alert_rule_list_json(req->db, &out, &err) != 0)
		cf_resp_store_error(req, resp, &err);
	else
		cf_resp_json(resp, 200, out);
	cf_err_clear(&err);
	return 0;
}

int cf_h_alerts_create(cf_app *app, cf_http_req *req, cf_http_resp *resp)
{
	json_t *body = NULL, *doc = NULL, *out = NULL, *detail = NULL;
	cf_buf sealed = {0};
	cf_verrs errs = {0};
	cf_err err = {0};
	char id[40];
	int r;

	if ((body = cf_req_json(req, resp, false)) == NULL)
		goto out;
	if (rule_validate(body, true, &doc, &errs) != 0) {
		cf_resp_invalid(resp, &errs);
		goto out;
	}
	if (take_secret(app, doc, &sealed, &err) != 0 ||
	    (r = cf_alert_rule_insert(req->db, doc, &sealed, id, &err)) < 0)
		goto fail;
	if (r == 0) {
		cf_resp_problem_ext(resp, 409, "conflict", json_pack("{s:s}", "field", "name"),
				    "name: an alert rule called \"%s\" already exists",
				    json_string_value(json_object_get(doc, "name")));
		goto out;
	}
	detail = audit_detail(doc);
	if (cf_api_audit(req, "alert.create", id, detail, &err) != 0 ||
	    cf_alert_rule_get_json(req->db, id, &out, &err) != 0 || out == NULL)
		goto fail;
	cf_resp_json(resp, 201, out);
	goto out;
fail:
	cf_resp_store_error(req, resp, &err);
out:
	json_decref(detail);
	body_free(doc);
	body_free(body);
	cf_buf_free_secret(&sealed);
	cf_err_clear(&err);
	return 0;
}

int cf_h_alert_get(cf_app *app, cf_http_req *req, cf_http_resp *resp)
{
	json_t *out = NULL;
	cf_err err = {0};

	if (cf_alert_rule_get_json(req->db, req->params[0], &out, &err) != 0)
		cf_resp_store_error(req, resp, &err);
	else if (out == NULL)
		not_found(resp, req->params[0]);
	else
		cf_resp_json(resp, 200, out);
	cf_err_clear(&err);
	return 0;
}

int cf_h_alert_patch(cf_app *app, cf_http_req *req, cf_http_resp *resp)
{
	const char *id = req->params[0], *old_type, *new_type;
	json_t *body = NULL, *current = NULL, *merged = NULL, *doc = NULL, *out = NULL,
	       *detail = NULL;
	cf_buf sealed = {0}, old_sealed = {0};
	cf_verrs errs = {0};
	cf_err err = {0};
	bool same_type;

	if ((body = cf_req_json(req, resp, false)) == NULL)
		goto out;
	if (cf_alert_rule_get_locked(req->db, id, &current, &old_sealed, &err) != 0)
		goto fail;
	if (current == NULL) {
		not_found(resp, id);
		goto out;
	}
	old_type = json_string_value(json_object_get(json_object_get(current, "channel"), "type"));
	if ((merged = cf_patch_merge_top(current, body, "rule", &errs)) == NULL) {
		cf_resp_invalid(resp, &errs);
		goto out;
	}
	new_type = json_string_value(json_object_get(json_object_get(merged, "channel"), "type"));
	same_type = old_type != NULL && new_type != NULL && strcmp(old_type, new_type) == 0;
	/* the sealed secret stays unless the type changes (then a new one is required:
	 * none for an email channel without AUTH) */
	if (rule_validate(merged, !same_type || old_sealed.len == 0, &doc, &errs) != 0) {
		cf_resp_invalid(resp, &errs);
		goto out;
	}
	if (take_secret(app, doc, &sealed, &err) != 0)
		goto fail;
	if (cf_alert_rule_update(req->db, id, doc, sealed.len > 0 || !same_type ? &sealed : NULL,
				 &err) < 0)
		goto fail;
	detail = audit_detail(doc);
	if (cf_api_audit(req, "alert.update", id, detail, &err) != 0 ||
	    cf_alert_rule_get_json(req->db, id, &out, &err) != 0 || out == NULL)
		goto fail;
	cf_resp_json(resp, 200, out);
	goto out;
fail:
	cf_resp_store_error(req, resp, &err);
out:
	json_decref(detail);
	body_free(doc);
	body_free(merged);
	json_decref(current);
	body_free(body);
	cf_buf_free_secret(&sealed);
	cf_buf_free_secret(&old_sealed);
	cf_err_clear(&err);
	return 0;
}

int cf_h_alert_delete(cf_app *app, cf_http_req *req, cf_http_resp *resp)
{
	const char *id = req->params[0];
	cf_err err = {0};
	int r = cf_alert_rule_delete(req->db, id, &err);

	if (r < 0)
		cf_resp_store_error(req, resp, &err);
	else if (r == 0)
		not_found(resp, id);
	else if (cf_api_audit(req, "alert.delete", id, NULL, &err) != 0)
		cf_resp_store_error(req, resp, &err);
	else
		cf_resp_empty(resp, 204);
	cf_err_clear(&err);
	return 0;
}
