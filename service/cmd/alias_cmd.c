/*
 * alias_cmd.c: `certfleet alias check`, the operator's check of challenge aliases
 * before (or after) handing names to the service, with no database:
 *
 *   certfleet alias check NAME... [--alias FQDN | --alias NAME=FQDN ... | --alias auto]
 *       [--provider TYPE --provider-setting KEY=VALUE|KEY=@FILE ...]
 *       [--resolver HOST[:PORT] ...] [--timeout-ms N] [--json]
 *
 * For each name it runs the check of dns/alias_check.h (the same one behind
 * POST /v1/aliases/check) and prints a table, one row per name (NAME, VERDICT,
 * WRITABLE, TARGET), then one block per name: the challenge record, the chain as
 * the resolvers and as the authoritative servers see it, the provider's answer,
 * and for every problem the exact zone-file lines to delete and to create. --json
 * prints {"results": [...]} in the API's shape instead ("provider" is the type).
 *
 * --alias works as for `certfleet issue`: none (the values go at the challenge
 * record itself), one FQDN for every name, NAME=FQDN per name, or auto (the end
 * of each record's CNAME chain). With --provider (a provider type and its
 * settings, validated as the API would), the check asks the provider whether it
 * can write each target, when the provider can tell (providers/provider.h,
 * can_write), and first whether its allowed_names cover the target (providers/scope.h).
 * Exit status: 0 when every name is ok or insecure (unsigned zones: information), 1
 * when one is not (or on an error), 2 for usage errors. Setting values are never printed and are wiped.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cli_util.h"
#include "cmd/cmd.h"
#include "dns/alias_check.h"
#include "providers/provider.h"
#include "providers/scope.h"
#include "util/buf.h"

#define DEFAULT_TIMEOUT_MS 10000L

typedef struct alias_opts {
	cf_dns_servers resolvers;
	const char *provider;
	json_t *settings;
	const char **aliases;
	size_t naliases;
	const char **names;
	size_t nnames;
	long timeout_ms;
	bool json, help;
} alias_opts;

static void usage(FILE *f)
{
	fprintf(f,
		"usage: certfleet alias check NAME... [--alias FQDN | --alias NAME=FQDN ... | "
		"--alias auto]\n"
		"           [--provider TYPE --provider-setting KEY=VALUE|KEY=@FILE ...]\n"
		"           [--resolver HOST[:PORT] ...] [--timeout-ms N] [--json]\n"
		"Checks each name's challenge alias through the resolvers and at the authoritative\n"
		"servers, and prints the zone-file lines that fix every problem. Without\n"
		"--resolver, the nameservers of /etc/resolv.conf are asked. Exit status 0 when\n"
		"every name is ok, 1 otherwise.\n");
}

enum opt_id { OPT_ALIAS, OPT_PROVIDER, OPT_SETTING, OPT_RESOLVER, OPT_TIMEOUT };
static const struct {
	const char *lng;
	enum opt_id id;
} opts[] = {
	{ "--alias", OPT_ALIAS },       { "--provider", OPT_PROVIDER },
	{ "--provider-setting", OPT_SETTING }, { "--resolver", OPT_RESOLVER },
	{ "--timeout-ms", OPT_TIMEOUT },
};

static int apply_opt(alias_opts *o, enum opt_id id, const char *val, cf_err *err)
{
	switch (id) {
	case OPT_ALIAS:
		o->aliases[o->naliases++] = val;
		return 0;
	case OPT_PROVIDER:
		o->provider = val;
		return 0;
	case OPT_SETTING:
		return cf_cli_settings_add(o->settings, val, err);
	case OPT_RESOLVER:
		return cf_cli_resolvers_add(&o->resolvers, val, err);
	case OPT_TIMEOUT:
		return cf_cli_parse_long("--timeout-ms", val, 1, 600000L, &o->timeout_ms, err);
	}
	return -1;
}

/* "--opt VALUE" or "--opt=VALUE"; --json and --help; everything else is a name. */
static int parse_opts(int argc, char **argv, alias_opts *o, cf_err *err)
{
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i], *val = NULL;
		size_t k, n;

		if (strcmp(a, "--json") == 0) {
			o->json = true;
			continue;
		}
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			o->help = true;
			continue;
		}
		for (k = 0; k < sizeof(opts) / sizeof(opts[0]); k++) {
			n = strlen(opts[k].lng);
			if (strcmp(a, opts[k].lng) == 0) {
				if (i + 1 >= argc)
					return cf_err_set(err, CF_ERR_PERMANENT, "%s needs a value",
							  opts[k].lng);
				val = argv[++i];
				break;
			}
			if (strncmp(a, opts[k].lng, n) == 0 && a[n] == '=') {
				val = a + n + 1;
				break;
			}
		}
		if (val != NULL) {
			if (apply_opt(o, opts[k].id, val, err) != 0)
				return -1;
		} else if (a[0] == '-') {
			return cf_err_set(err, CF_ERR_PERMANENT, "unknown option %.60s", a);
		} else {
			o->names[o->nnames++] = a;
		}
	}
	return 0;
}

/* --alias forms, as `certfleet issue` takes them. */
static int build_alias(const alias_opts *o, cf_alias_spec *spec, cf_err *err)
{
	memset(spec, 0, sizeof(*spec));
	if (o->naliases == 0)
		return 0;
	if (o->naliases == 1 && strchr(o->aliases[0], '=') == NULL) {
		spec->mode = strcmp(o->aliases[0], "auto") == 0 ? CF_ALIAS_AUTO : CF_ALIAS_ONE;
		if (spec->mode == CF_ALIAS_ONE && (spec->one = strdup(o->aliases[0])) == NULL)
			return cf_err_oom(err, NULL);
		return 0;
	}
	spec->mode = CF_ALIAS_MAP;
	spec->map_names = calloc(o->naliases, sizeof(char *));
	spec->map_targets = calloc(o->naliases, sizeof(char *));
	if (spec->map_names == NULL || spec->map_targets == NULL)
		return cf_err_oom(err, NULL);
	for (size_t i = 0; i < o->naliases; i++) {
		const char *eq = strchr(o->aliases[i], '=');

		if (eq == NULL || eq == o->aliases[i] || eq[1] == '\0')
			return cf_err_set(err, CF_ERR_PERMANENT,
					  "--alias: with several, each must be NAME=FQDN (got \"%.100s\")",
					  o->aliases[i]);
		spec->map_names[spec->nmap] = strndup(o->aliases[i], (size_t)(eq - o->aliases[i]));
		spec->map_targets[spec->nmap] = strdup(eq + 1);
		spec->nmap++;
		if (spec->map_names[spec->nmap - 1] == NULL || spec->map_targets[spec->nmap - 1] == NULL)
			return cf_err_oom(err, NULL);
	}
	return 0;
}

typedef struct writable_arg {
	const cf_provider_ops *ops;
	cf_provider_ctx ctx;
} writable_arg;

static int can_write(void *arg, size_t name_index, const char *fqdn, cf_err *err)
{
	const writable_arg *w = arg;

	return cf_provider_can_write(w->ops, w->ops->name, &w->ctx, fqdn, err);
}

static int suggest(void *arg, size_t name_index, const char *name, char *out, size_t len)
{
	const writable_arg *w = arg;

	return cf_provider_suggest_target(w->ctx.settings, name, out, len);
}

/* The text of a JSON string member, or def. */
static const char *str_of(const json_t *o, const char *key, const char *def)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s != NULL ? s : def;
}

static void print_chain(const char *label, const json_t *r)
{
	const json_t *names = json_object_get(r, "resolver_chain"), *v;
	size_t i;

	printf("  %-15s", label);
	json_array_foreach(names, i, v)
		printf("%s%s", i ? " -> " : "", json_string_value(v));
	if (json_is_string(json_object_get(r, "resolver_error")))
		printf("%s(%s)", i ? " " : "", str_of(r, "resolver_error", ""));
	printf("\n");
}

static void print_auth(const json_t *r)
{
	const json_t *hops = json_object_get(r, "authoritative_chain"), *h, *srv;
	size_t i;

	printf("  %-15s", "authoritative:");
	json_array_foreach(hops, i, h) {
		srv = json_array_get(json_object_get(h, "servers"), 0);
		printf("%s%s [%s @%s]%s%s", i ? " -> " : "", str_of(h, "name", "?"),
		       str_of(h, "zone", "no zone"), str_of(srv, "server", "-"),
		       json_is_true(json_object_get(h, "wildcard")) ? " (wildcard)" : "",
		       json_is_false(json_object_get(h, "consistent")) ? " (servers disagree)" : "");
		if (json_is_string(json_object_get(h, "cname")) && i + 1 == json_array_size(hops))
			printf(" -> %s", str_of(h, "cname", ""));
	}
	if (json_is_string(json_object_get(r, "authoritative_error")))
		printf("%s(%s)", i ? " " : "", str_of(r, "authoritative_error", ""));
	printf("\n");
}

static void print_lines(const char *label, const json_t *list)
{
	const json_t *v;
	size_t i;

	json_array_foreach(list, i, v)
		printf("  %-15s%s\n", label, json_string_value(v));
}

static const char *writable_word(const json_t *r)
{
	const json_t *w = json_object_get(r, "writable");

	return json_is_true(w) ? "yes" : json_is_false(w) ? "no" : "-";
}

/* The table, then one block per name. */
static void print_table(const json_t *results)
{
	int wn = 4, wv = 7;
	const json_t *r;
	size_t i;

	json_array_foreach(results, i, r) {
		int a = (int)strlen(str_of(r, "name", "")), b = (int)strlen(str_of(r, "verdict", ""));

		wn = a > wn ? a : wn;
		wv = b > wv ? b : wv;
	}
	printf("%-*s  %-*s  %-8s  %s\n", wn, "NAME", wv, "VERDICT", "WRITABLE", "TARGET");
	json_array_foreach(results, i, r)
		printf("%-*s  %-*s  %-8s  %s\n", wn, str_of(r, "name", ""), wv,
		       str_of(r, "verdict", ""), writable_word(r), str_of(r, "target", "-"));
	json_array_foreach(results, i, r) {
		printf("\n%s: %s: %s\n", str_of(r, "name", ""), str_of(r, "verdict", ""),
		       str_of(r, "detail", ""));
		printf("  %-15s%s (target from %s)\n", "record:", str_of(r, "record", ""),
		       str_of(r, "target_from", ""));
		print_chain("resolvers:", r);
		print_auth(r);
		if (!json_is_null(json_object_get(r, "writable")) ||
		    json_is_string(json_object_get(r, "writable_detail")))
			printf("  %-15s%s%s%s\n", "writable:", writable_word(r),
			       json_is_string(json_object_get(r, "writable_detail")) ? ": " : "",
			       str_of(r, "writable_detail", ""));
		print_lines("delete:", json_object_get(json_object_get(r, "fix"), "delete"));
		print_lines("create:", json_object_get(json_object_get(r, "fix"), "create"));
	}
}

/* Wipes every setting value (any may be a credential) before the object goes. */
static void settings_free(json_t *settings)
{
	const char *key;
	json_t *v;

	json_object_foreach(settings, key, v)
		if (json_is_string(v))
			cf_wipe((char *)json_string_value(v), json_string_length(v));
	json_decref(settings);
}

/* Runs the check; 0 all ok, 1 a problem or an error (printed). */
static int run_check(alias_opts *o, cf_err *err)
{
	cf_alias_spec spec = { 0 };
	writable_arg w = { 0 };
	cf_alias_check_req req = { .names = o->names, .n = o->nnames, .spec = &spec,
				   .resolvers = &o->resolvers };
	json_t *results = NULL, *r;
	size_t i;
	int rc = -1;

	if (build_alias(o, &spec, err) != 0)
		goto out;
	if (o->provider != NULL) {
		if ((w.ops = cf_provider_find(o->provider)) == NULL) {
			cf_err_set(err, CF_ERR_PERMANENT, "--provider: no provider type \"%.60s\"",
				   o->provider);
			goto out;
		}
		if (cf_provider_validate(w.ops, o->settings, err) != 0)
			goto out;
		w.ctx = (cf_provider_ctx){ .settings = o->settings, .resolvers = &o->resolvers,
					   .timeout_ms = o->timeout_ms };
		req.writable = can_write; /* allowed_names, then the provider's own probe */
		req.suggest = suggest;
		req.arg = &w;
	} else if (json_object_size(o->settings) > 0) {
		cf_err_set(err, CF_ERR_PERMANENT, "--provider-setting needs --provider");
		goto out;
	}
	if (cf_alias_check_run(&req, &results, err) != 0)
		goto out;
	json_array_foreach(results, i, r)
		json_object_set_new(r, "provider", o->provider ? json_string(o->provider) : json_null());
	if (o->json) {
		json_t *doc = json_pack("{s:O}", "results", results);

		json_dumpf(doc, stdout, JSON_INDENT(2));
		printf("\n");
		json_decref(doc);
	} else {
		print_table(results);
	}
	rc = 0;
	json_array_foreach(results, i, r)
		if (strcmp(str_of(r, "verdict", ""), "ok") != 0 &&
		    strcmp(str_of(r, "verdict", ""), "insecure") != 0) /* information only */
			rc = 1;
out:
	json_decref(results);
	cf_alias_spec_free(&spec);
	return rc;
}

int cmd_alias(int argc, char **argv)
{
	alias_opts o = { .timeout_ms = DEFAULT_TIMEOUT_MS };
	cf_err err = { 0 };
	const char *action = argc > 1 ? argv[1] : NULL;
	int rc = 2;

	if (action == NULL || strcmp(action, "-h") == 0 || strcmp(action, "--help") == 0 ||
	    strcmp(action, "help") == 0) {
		usage(action ? stdout : stderr);
		return action ? 0 : 2;
	}
	o.settings = json_object();
	o.aliases = calloc((size_t)argc, sizeof(char *));
	o.names = calloc((size_t)argc, sizeof(char *));
	if (o.settings == NULL || o.aliases == NULL || o.names == NULL) {
		fprintf(stderr, "certfleet alias: out of memory\n");
		rc = 1;
		goto out;
	}
	if (strcmp(action, "check") != 0) {
		fprintf(stderr, "certfleet alias: unknown action '%.40s'\n", action);
		usage(stderr);
		goto out;
	}
	if (parse_opts(argc - 2, argv + 2, &o, &err) != 0) {
		fprintf(stderr, "certfleet alias check: %s (see certfleet alias --help)\n", err.msg);
		goto out;
	}
	if (o.help) {
		usage(stdout);
		rc = 0;
		goto out;
	}
	if (o.nnames == 0) {
		fprintf(stderr, "certfleet alias check: at least one NAME is required\n");
		usage(stderr);
		goto out;
	}
	if (cf_cli_resolvers_default(&o.resolvers, &err) != 0) {
		fprintf(stderr, "certfleet alias check: %s\n", err.msg);
		rc = 1;
		goto out;
	}
	rc = run_check(&o, &err);
	if (rc < 0) {
		fprintf(stderr, "certfleet alias check: %s\n", err.msg);
		rc = 1;
	}
out:
	free(o.aliases);
	free(o.names);
	settings_free(o.settings);
	cf_err_clear(&err);
	return rc;
}
