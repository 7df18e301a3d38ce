/*
 * ctl_admin.c: the rest of `certfleet ctl`: `alias check` (POST
 * /v1/aliases/check: the server's view of the challenge aliases, with the zone
 * lines that fix each problem), `provider list|add|delete`, `issuer list|get`,
 * `token list|create|revoke` and `audit`.
 *
 * Secrets: provider settings given as KEY=@FILE are read from the file
 * (cli_util.c, as `certfleet issue` does), so they stay out of argv; every
 * setting value is wiped once sent, and so is the request text (ctl_client.c).
 * A new token is printed once, alone on stdout (or in its JSON document with -o
 * json), and wiped from the answer afterwards; the server never shows it again.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cli_util.h"
#include "cmd/ctl.h"

#define NCOLS(a) (sizeof(a) / sizeof((a)[0]))

/* Prints {member: items} with -o json, else the table. */
static void print_list(const ctl *c, const char *member, json_t *items, const ctl_col *cols,
		       size_t ncols)
{
	if (c->json) {
		json_t *doc = json_pack("{s:O}", member, items);

		ctl_json(doc);
		json_decref(doc);
	} else {
		ctl_table(cols, ncols, items);
	}
}

/* "/v1/<what>/<name>" with name encoded. */
static const char *named_path(char *out, size_t n, const char *what, const char *name)
{
	char seg[512];

	snprintf(out, n, "/v1/%s/%s", what, ctl_seg(name, seg, sizeof(seg)) ? seg : "-");
	return out;
}

/* ---- alias check ---- */

/* ok, or insecure (a right chain through unsigned zones: information only, as in
 * `certfleet alias check`) */
static bool verdict_ok(const json_t *r)
{
	const char *v = json_string_value(json_object_get(r, "verdict"));

	return v != NULL && (strcmp(v, "ok") == 0 || strcmp(v, "insecure") == 0);
}

static const ctl_col alias_cols[] = {
	{ "NAME", "name", CTL_STR },
	{ "VERDICT", "verdict", CTL_STR },
	{ "WRITABLE", "writable", CTL_BOOL },
	{ "TARGET", "target", CTL_STR },
};

static int alias_check(ctl *c, const ctl_args *a)
{
	const char *cert = ctl_arg(a, "--certificate"), *prov = ctl_arg(a, "--provider");
	json_t *body = json_object(), *doc = NULL, *names = json_array(), *results, *r, *v;
	size_t i, j;
	int rc = CTL_USAGE;

	if (body == NULL || names == NULL) {
		rc = ctl_errorf(c, CTL_ERROR, "out of memory");
		goto out;
	}
	if ((cert != NULL) == (a->npos > 0)) {
		ctl_errorf(c, rc, "give NAME... or --certificate ID (not both)");
		goto out;
	}
	if (cert != NULL) {
		json_object_set_new(body, "certificate", json_string(cert));
	} else {
		for (i = 0; i < a->npos; i++)
			json_array_append_new(names, json_string(a->pos[i]));
		json_object_set(body, "domains", names);
		if ((rc = ctl_spec_flag(c, a, "--dns-alias", "dns_alias", body)) != CTL_OK)
			goto out;
		if (prov != NULL)
			json_object_set_new(body, "provider", json_string(prov));
	}
	if ((rc = ctl_call(c, "POST", "/v1/aliases/check", body, &doc)) != CTL_OK)
		goto out;
	results = json_object_get(doc, "results");
	if (c->json) {
		ctl_json(doc);
	} else {
		ctl_table(alias_cols, NCOLS(alias_cols), results);
		json_array_foreach(results, i, r) {
			const json_t *fix = json_object_get(r, "fix");

			if (verdict_ok(r))
				continue;
			printf("\n%s: %s: %s\n", json_string_value(json_object_get(r, "name")),
			       json_string_value(json_object_get(r, "verdict")),
			       json_string_value(json_object_get(r, "detail")));
			json_array_foreach(json_object_get(fix, "delete"), j, v)
				printf("  delete: %s\n", json_string_value(v));
			json_array_foreach(json_object_get(fix, "create"), j, v)
				printf("  create: %s\n", json_string_value(v));
		}
	}
	json_array_foreach(results, i, r)
		if (!verdict_ok(r))
			rc = CTL_FAILED;
out:
	json_decref(names);
	json_decref(body);
	json_decref(doc);
	return rc;
}

/* ---- providers ---- */

static const ctl_col provider_cols[] = {
	{ "NAME", "name", CTL_STR },
	{ "TYPE", "type", CTL_STR },
	{ "SETTINGS", "settings", CTL_LIST },
	{ "SECRETS", "secrets", CTL_LIST },
	{ "SECRETS OK", "secrets_valid", CTL_BOOL },
	{ "UPDATED", "updated_at", CTL_TIME },
};

static const ctl_col provider_fields[] = {
	{ "name", "name", CTL_STR },
	{ "type", "type", CTL_STR },
	{ "settings", "settings", CTL_ALL },
	{ "secrets", "secrets", CTL_ALL },
	{ "secrets_valid", "secrets_valid", CTL_BOOL },
	{ "created_at", "created_at", CTL_TIME },
	{ "updated_at", "updated_at", CTL_TIME },
};

static int provider_list(ctl *c, const ctl_args *a)
{
	json_t *items = NULL;
	long limit = 0;
	int rc = ctl_limit(c, a, &limit);

	if (rc == CTL_OK)
		rc = ctl_list(c, "/v1/providers", NULL, "providers", limit, &items);
	if (rc == CTL_OK)
		print_list(c, "providers", items, provider_cols, NCOLS(provider_cols));
	json_decref(items);
	return rc;
}

/* Wipes every string value of settings (any may be a credential). */
static void wipe_settings(json_t *settings)
{
	const char *key;
	json_t *v;

	json_object_foreach(settings, key, v)
		if (json_is_string(v))
			cf_wipe((char *)json_string_value(v), json_string_length(v));
}

static int provider_add(ctl *c, const ctl_args *a)
{
	const char *file = ctl_arg(a, "-f"), *type = ctl_arg(a, "--type");
	json_t *body = NULL, *doc = NULL, *settings;
	json_error_t jerr;
	cf_err err = { 0 };
	int rc = CTL_ERROR;

	body = file == NULL ? json_object()
	       : strcmp(file, "-") == 0 ? json_loadf(stdin, JSON_REJECT_DUPLICATES, &jerr)
				       : json_load_file(file, JSON_REJECT_DUPLICATES, &jerr);
	if (!json_is_object(body)) {
		ctl_errorf(c, rc, "-f %s: %s", file ? file : "", body ? "not a JSON object"
								      : jerr.text);
		goto out;
	}
	json_object_set_new(body, "name", json_string(a->pos[0]));
	if (type != NULL)
		json_object_set_new(body, "type", json_string(type));
	if (!json_is_object(json_object_get(body, "settings")))
		json_object_set_new(body, "settings", json_object());
	settings = json_object_get(body, "settings");
	for (size_t i = 0; i < a->nopt; i++)
		if (ctl_opt_is(&a->opt[i], "--provider-setting") &&
		    cf_cli_settings_add(settings, a->opt[i].val, &err) != 0) {
			rc = ctl_errorf(c, CTL_USAGE, "%s", err.msg);
			goto out;
		}
	if ((rc = ctl_call(c, "POST", "/v1/providers", body, &doc)) != CTL_OK)
		goto out;
	if (c->json)
		ctl_json(doc);
	else
		ctl_fields(provider_fields, NCOLS(provider_fields), doc);
out:
	if (body != NULL)
		wipe_settings(json_object_get(body, "settings"));
	json_decref(body);
	json_decref(doc);
	cf_err_clear(&err);
	return rc;
}

static int provider_delete(ctl *c, const ctl_args *a)
{
	char path[600];
	json_t *doc = NULL;
	int rc = ctl_call(c, "DELETE", named_path(path, sizeof(path), "providers", a->pos[0]),
			  NULL, &doc);

	if (rc == CTL_OK)
		printf(c->json ? "{\"deleted\": \"%s\"}\n" : "provider %s deleted\n", a->pos[0]);
	json_decref(doc);
	return rc;
}

/* ---- issuers ---- */

static const ctl_col issuer_cols[] = {
	{ "NAME", "name", CTL_STR },
	{ "DIRECTORY", "directory", CTL_STR },
	{ "PROFILE", "profile", CTL_STR },
	{ "PAUSED UNTIL", "state.paused.until", CTL_TIME },
	{ "ORDERS/H", "state.last_hour.orders", CTL_STR },
	{ "FAILURES/H", "state.last_hour.failures", CTL_STR },
};

static const ctl_col issuer_fields[] = {
	{ "name", "name", CTL_STR },
	{ "directory", "directory", CTL_STR },
	{ "email", "email", CTL_STR },
	{ "eab_kid", "eab.kid", CTL_STR },
	{ "profile", "profile", CTL_STR },
	{ "renewals_exempt", "renewals_exempt", CTL_BOOL },
	{ "paused_until", "state.paused.until", CTL_TIME },
	{ "pause_reason", "state.paused.reason", CTL_STR },
	{ "pause_problem", "state.paused.problem", CTL_STR },
	{ "orders_last_hour", "state.last_hour.orders", CTL_STR },
	{ "failures_last_hour", "state.last_hour.failures", CTL_STR },
	{ "created_at", "created_at", CTL_TIME },
	{ "updated_at", "updated_at", CTL_TIME },
};

static const ctl_col budget_cols[] = {
	{ "LIMIT", "limit", CTL_STR },
	{ "COUNT", "count", CTL_STR },
	{ "PER SECONDS", "per_seconds", CTL_STR },
	{ "USED", "used", CTL_STR },
	{ "LEFT", "left", CTL_STR },
	{ "NEXT FREES", "next_at", CTL_TIME },
};

static int issuer_list(ctl *c, const ctl_args *a)
{
	json_t *items = NULL;
	long limit = 0;
	int rc = ctl_limit(c, a, &limit);

	if (rc == CTL_OK)
		rc = ctl_list(c, "/v1/issuers", NULL, "issuers", limit, &items);
	if (rc == CTL_OK)
		print_list(c, "issuers", items, issuer_cols, NCOLS(issuer_cols));
	json_decref(items);
	return rc;
}

static int issuer_get(ctl *c, const ctl_args *a)
{
	char path[600];
	const char *key;
	json_t *doc = NULL, *rows = NULL, *b;
	int rc = ctl_call(c, "GET", named_path(path, sizeof(path), "issuers", a->pos[0]), NULL,
			  &doc);

	if (rc != CTL_OK)
		goto out;
	if (c->json) {
		ctl_json(doc);
		goto out;
	}
	ctl_fields(issuer_fields, NCOLS(issuer_fields), doc);
	if ((rows = json_array()) == NULL) {
		rc = ctl_errorf(c, CTL_ERROR, "out of memory");
		goto out;
	}
	json_object_foreach(ctl_path(doc, "state.budgets"), key, b) {
		json_t *row = json_deep_copy(b);

		if (row != NULL && json_object_set_new(row, "limit", json_string(key)) == 0)
			json_array_append(rows, row);
		json_decref(row);
	}
	if (json_array_size(rows) > 0) {
		printf("\n");
		ctl_table(budget_cols, NCOLS(budget_cols), rows);
	}
out:
	json_decref(rows);
	json_decref(doc);
	return rc;
}

/* ---- tokens ---- */

static const ctl_col token_cols[] = {
	{ "ID", "id", CTL_STR },
	{ "NAME", "name", CTL_STR },
	{ "ROLE", "role", CTL_STR },
	{ "CREATED", "created_at", CTL_TIME },
	{ "EXPIRES", "expires_at", CTL_TIME },
	{ "LAST USED", "last_used_at", CTL_TIME },
	{ "REVOKED", "revoked_at", CTL_TIME },
};

static int token_list(ctl *c, const ctl_args *a)
{
	json_t *items = NULL;
	long limit = 0;
	int rc = ctl_limit(c, a, &limit);

	if (rc == CTL_OK)
		rc = ctl_list(c, "/v1/tokens", NULL, "tokens", limit, &items);
	if (rc == CTL_OK)
		print_list(c, "tokens", items, token_cols, NCOLS(token_cols));
	json_decref(items);
	return rc;
}

static int token_create(ctl *c, const ctl_args *a)
{
	const char *name = ctl_arg(a, "--name"), *role = ctl_arg(a, "--role");
	const char *exp = ctl_arg(a, "--expires");
	json_t *body = NULL, *doc = NULL, *tok = NULL;
	int rc;

	if (name == NULL || role == NULL) {
		rc = ctl_errorf(c, CTL_USAGE, "--name and --role are needed");
		goto out;
	}
	body = json_pack("{s:s, s:s}", "name", name, "role", role);
	if (body == NULL || (exp != NULL && json_object_set_new(body, "expires_in",
								json_string(exp)) != 0)) {
		rc = ctl_errorf(c, CTL_ERROR, "out of memory");
		goto out;
	}
	rc = ctl_call(c, "POST", "/v1/tokens", body, &doc);
	tok = json_object_get(doc, "token");
	if (rc == CTL_OK && c->json) {
		ctl_json(doc);
	} else if (rc == CTL_OK && json_is_string(tok)) {
		printf("%s\n", json_string_value(tok));
		fprintf(stderr, "token %s (%s, role %s) created: this is the only time it is "
			"shown\n", json_string_value(json_object_get(doc, "id")), name, role);
	} else if (rc == CTL_OK) {
		rc = ctl_errorf(c, CTL_ERROR, "the answer holds no token");
	}
	fflush(stdout);
out:
	if (json_is_string(tok))
		cf_wipe((char *)json_string_value(tok), json_string_length(tok));
	json_decref(body);
	json_decref(doc);
	return rc;
}

static int token_revoke(ctl *c, const ctl_args *a)
{
	const char *id = ctl_arg(a, "--id");
	char path[700], seg[64];
	json_t *doc = NULL, *v;
	size_t i;
	int rc;

	named_path(path, sizeof(path) - 80, "tokens", a->pos[0]);
	if (id != NULL)
		snprintf(path + strlen(path), sizeof(path) - strlen(path), "?id=%s",
			 ctl_seg(id, seg, sizeof(seg)) ? seg : "-");
	rc = ctl_call(c, "DELETE", path, NULL, &doc);
	if (rc == CTL_OK && c->json) {
		ctl_json(doc);
	} else if (rc == CTL_OK) {
		printf("revoked %zu token(s) of %s:", json_array_size(json_object_get(doc, "revoked")),
		       a->pos[0]);
		json_array_foreach(json_object_get(doc, "revoked"), i, v)
			printf("%s %s", i ? "," : "", json_string_value(v));
		printf("\n");
	}
	json_decref(doc);
	return rc;
}

/* ---- audit ---- */

static const ctl_col audit_cols[] = {
	{ "AT", "at", CTL_TIME },
	{ "ACTOR", "actor", CTL_STR },
	{ "ACTION", "action", CTL_STR },
	{ "TARGET", "target", CTL_STR },
	{ "ADDRESS", "address", CTL_STR },
	{ "DETAIL", "detail", CTL_STR },
};

static int audit(ctl *c, const ctl_args *a)
{
	static const char *const filters[][2] = {
		{ "--since", "since" }, { "--actor", "actor" }, { "--action", "action" } };
	cf_buf q = { 0 };
	json_t *items = NULL;
	long limit = 0;
	int rc = ctl_limit(c, a, &limit);

	for (size_t i = 0; rc == CTL_OK && i < sizeof(filters) / sizeof(filters[0]); i++) {
		const char *v = ctl_arg(a, filters[i][0]);

		if (v != NULL && ctl_query_add(&q, filters[i][1], v) != 0)
			rc = ctl_errorf(c, CTL_ERROR, "out of memory");
	}
	if (rc == CTL_OK)
		rc = ctl_list(c, "/v1/audit", (const char *)q.data, "events", limit, &items);
	if (rc == CTL_OK)
		print_list(c, "events", items, audit_cols, NCOLS(audit_cols));
	json_decref(items);
	cf_buf_free(&q);
	return rc;
}

const ctl_verb ctl_admin_verbs[] = {
	{ "alias", "check", alias_check, "--certificate= --dns-alias= --provider=", 0, -1,
	  "NAME... [--dns-alias FQDN|auto|NAME=FQDN...] [--provider P] | --certificate ID",
	  "check challenge aliases as the server sees them (exit 6 when one is not ok)" },
	{ "provider", "list", provider_list, "--limit=", 0, 0, "[--limit N]",
	  "list DNS providers (secret settings by name only)" },
	{ "provider", "add", provider_add, "-f= --type= --provider-setting=", 1, 1,
	  "NAME --type TYPE [--provider-setting KEY=VALUE|KEY=@FILE]... [-f FILE.json]",
	  "create a DNS provider" },
	{ "provider", "delete", provider_delete, "", 1, 1, "NAME", "delete a DNS provider" },
	{ "issuer", "list", issuer_list, "--limit=", 0, 0, "[--limit N]",
	  "list issuers (CAs) with pauses and last hour's orders" },
	{ "issuer", "get", issuer_get, "", 1, 1, "NAME", "show an issuer and its budgets" },
	{ "token", "list", token_list, "--limit=", 0, 0, "[--limit N]",
	  "list API tokens (never their secrets)" },
	{ "token", "create", token_create, "--name= --role= --expires=", 0, 0,
	  "--name NAME --role ROLE [--expires 90d]", "create a token (printed once)" },
	{ "token", "revoke", token_revoke, "--id=", 1, 1, "NAME [--id ID]",
	  "revoke the live tokens of a name (or one, by id)" },
	{ "audit", NULL, audit, "--since= --actor= --action= --limit=", 0, 0,
	  "[--since RFC3339] [--actor NAME] [--action ACTION] [--limit N]",
	  "the audit trail, oldest first" },
};
const size_t ctl_admin_nverbs = sizeof(ctl_admin_verbs) / sizeof(ctl_admin_verbs[0]);
