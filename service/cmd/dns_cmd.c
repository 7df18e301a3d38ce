/*
 * dns_cmd.c: `certfleet dns`, the DNS module and the providers from the shell.
 *
 * Each action maps onto one call of dns/ or providers/ with the same server
 * lists the service would use, so an operator can see what certfleet sees: the
 * TXT values at a name, the CNAME chain of a challenge record, the zone of a
 * name, whether every authoritative server serves a value yet; and can present
 * or clean up a TXT value through a provider exactly as a job would. Results go
 * to stdout, one item per line; errors to stderr (never a setting's value).
 */
#include "cmd/dns_cmd.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cli_util.h"
#include "dns/dns.h"
#include "providers/provider.h"
#include "providers/scope.h"
#include "util/buf.h"

#define DEFAULT_WAIT_MS 60000L
#define MAX_WANTS 32

typedef struct dns_opts {
	cf_dns_servers resolvers;
	const char *provider;
	json_t *settings;
	cf_propagation prop;
	long timeout_ms;
	bool help;
	char **args; /* positional arguments after the action */
	int nargs;
} dns_opts;

static void usage(FILE *f)
{
	fprintf(f,
		"usage: certfleet dns txt NAME [--resolver HOST[:PORT]]...\n"
		"       certfleet dns chain NAME [--resolver ...]\n"
		"       certfleet dns zone NAME [--resolver ...]\n"
		"       certfleet dns present|cleanup FQDN VALUE --provider NAME\n"
		"                 [--provider-setting KEY=VALUE]... [--resolver ...] "
		"[--timeout-ms N]\n"
		"       certfleet dns wait FQDN VALUE [FQDN VALUE]...\n"
		"                 [--propagation authoritative|resolvers] [--resolver ...] "
		"[--timeout-ms N]\n"
		"Without --resolver, the nameservers of /etc/resolv.conf are asked.\n");
}

/* The options; each takes a value. */
enum opt_id { OPT_RESOLVER, OPT_PROVIDER, OPT_SETTING, OPT_PROPAGATION, OPT_TIMEOUT };
static const struct {
	const char *lng, *shrt;
	enum opt_id id;
} opts[] = {
	{ "--resolver", "-r", OPT_RESOLVER },
	{ "--provider", "-p", OPT_PROVIDER },
	{ "--provider-setting", "-s", OPT_SETTING },
	{ "--propagation", NULL, OPT_PROPAGATION },
	{ "--timeout-ms", "-t", OPT_TIMEOUT },
};

static int apply_opt(dns_opts *o, enum opt_id id, const char *val, cf_err *err)
{
	switch (id) {
	case OPT_RESOLVER:
		return cf_cli_resolvers_add(&o->resolvers, val, err);
	case OPT_PROVIDER:
		o->provider = val;
		return 0;
	case OPT_SETTING:
		return cf_cli_settings_add(o->settings, val, err);
	case OPT_PROPAGATION:
		if (cf_propagation_parse(val, &o->prop) != 0 || o->prop == CF_PROP_NONE)
			return cf_err_set(err, CF_ERR_PERMANENT,
					  "--propagation: authoritative or resolvers, got \"%.40s\"",
					  val);
		return 0;
	case OPT_TIMEOUT:
		return cf_cli_parse_long("--timeout-ms", val, 1, 3600000L, &o->timeout_ms, err);
	}
	return -1;
}

/* Parses the arguments after the action by hand rather than with getopt: TXT
 * values are base64url and may begin with '-' or "--", so only the exact option
 * names are options (as "--opt VALUE" or "--opt=VALUE"), "--" ends them, and
 * everything else is a positional argument. */
static int parse_opts(int argc, char **argv, dns_opts *o, cf_err *err)
{
	bool options = true;
	size_t k, n;
	int i;

	for (i = 0; i < argc; i++) {
		const char *a = argv[i], *val = NULL;

		if (options && strcmp(a, "--") == 0) {
			options = false;
			continue;
		}
		if (options && (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)) {
			o->help = true;
			continue;
		}
		for (k = 0; options && k < sizeof(opts) / sizeof(opts[0]); k++) {
			n = strlen(opts[k].lng);
			if (strcmp(a, opts[k].lng) == 0 ||
			    (opts[k].shrt != NULL && strcmp(a, opts[k].shrt) == 0)) {
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
		if (val == NULL) {
			o->args[o->nargs++] = argv[i];
			continue;
		}
		if (apply_opt(o, opts[k].id, val, err) != 0)
			return -1;
	}
	return 0;
}

static int do_txt(dns_opts *o, cf_err *err)
{
	char **vals = NULL;
	size_t n = 0, i;

	if (cf_dns_txt(&o->resolvers, o->args[0], &vals, &n, err) != 0)
		return -1;
	for (i = 0; i < n; i++)
		printf("%s\n", vals[i]);
	if (n == 0)
		fprintf(stderr, "certfleet dns: no TXT record at %s\n", o->args[0]);
	cf_strv_free(vals);
	return 0;
}

static int do_chain(dns_opts *o, cf_err *err)
{
	cf_cname_chain c = { 0 };
	size_t i;
	int rc = -1;

	if (cf_dns_cname_chain(&o->resolvers, o->args[0], &c, err) != 0)
		goto out;
	for (i = 0; i < c.n; i++)
		printf("%s\n", c.names[i]);
	if (c.unresolved)
		fprintf(stderr, "certfleet dns: the chain stops at %s: %s\n", c.names[c.n - 1],
			c.unresolved_why);
	if (c.loop || c.too_long) {
		cf_err_set(err, CF_ERR_PERMANENT, "the CNAME chain of %s %s", o->args[0],
			   c.loop ? "loops" : "is longer than 16 hops");
		goto out;
	}
	rc = 0;
out:
	cf_cname_chain_free(&c);
	return rc;
}

static int do_zone(dns_opts *o, cf_err *err)
{
	char *zone = NULL;

	if (cf_dns_find_zone(&o->resolvers, o->args[0], &zone, err) != 0)
		return -1;
	printf("%s\n", zone);
	free(zone);
	return 0;
}

static int do_provider(dns_opts *o, bool present, cf_err *err)
{
	const cf_provider_ops *ops;
	cf_provider_ctx ctx = { 0 };

	if (o->provider == NULL)
		return cf_err_set(err, CF_ERR_PERMANENT, "--provider is required");
	ops = cf_provider_find(o->provider);
	if (ops == NULL)
		return cf_err_set(err, CF_ERR_PERMANENT, "no provider named \"%.60s\"",
				  o->provider);
	if (cf_provider_validate(ops, o->settings, err) != 0)
		return -1;
	ctx.settings = o->settings;
	ctx.resolvers = o->resolvers.n > 0 ? &o->resolvers : NULL;
	ctx.timeout_ms = o->timeout_ms;
	/* any FQDN may be given here: allowed_names holds for a removal too */
	if ((present ? cf_provider_present(ops, ops->name, &ctx, o->args[0], o->args[1], err)
		     : cf_provider_cleanup(ops, ops->name, &ctx, o->args[0], o->args[1], true,
					   err)) != 0)
		return -1;
	printf("%s TXT \"%s\" at %s\n", present ? "presented" : "removed", o->args[1],
	       o->args[0]);
	return 0;
}

static int do_wait(dns_opts *o, cf_err *err)
{
	cf_txt_want wants[MAX_WANTS];
	int i, n = o->nargs / 2;

	if (o->nargs % 2 != 0 || n > MAX_WANTS)
		return cf_err_set(err, CF_ERR_PERMANENT,
				  "wait takes FQDN VALUE pairs (at most %d)", MAX_WANTS);
	for (i = 0; i < n; i++) {
		wants[i].fqdn = o->args[2 * i];
		wants[i].value = o->args[2 * i + 1];
	}
	if (cf_dns_wait_txt(o->prop, &o->resolvers, wants, (size_t)n,
			    o->timeout_ms > 0 ? o->timeout_ms : DEFAULT_WAIT_MS, err) != 0)
		return -1;
	printf("served (%s): %d value%s\n", cf_propagation_name(o->prop), n, n == 1 ? "" : "s");
	return 0;
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

int cmd_dns(int argc, char **argv)
{
	dns_opts o = { 0 };
	cf_err err = { 0 };
	const char *action = argc > 1 ? argv[1] : NULL;
	int want_args, rc = 1, failed;

	if (action == NULL || strcmp(action, "-h") == 0 || strcmp(action, "--help") == 0 ||
	    strcmp(action, "help") == 0) {
		usage(action ? stdout : stderr);
		return action ? 0 : 2;
	}
	o.settings = json_object();
	o.args = calloc((size_t)argc, sizeof(char *));
	if (o.settings == NULL || o.args == NULL) {
		fprintf(stderr, "certfleet dns: out of memory\n");
		goto out;
	}
	if (parse_opts(argc - 2, argv + 2, &o, &err) != 0) {
		fprintf(stderr, "certfleet dns %s: %s (see certfleet dns --help)\n", action,
			err.msg);
		rc = 2;
		goto out;
	}
	if (o.help) {
		usage(stdout);
		rc = 0;
		goto out;
	}
	if (strcmp(action, "txt") == 0 || strcmp(action, "chain") == 0 ||
	    strcmp(action, "zone") == 0)
		want_args = 1;
	else if (strcmp(action, "present") == 0 || strcmp(action, "cleanup") == 0)
		want_args = 2;
	else if (strcmp(action, "wait") == 0)
		want_args = o.nargs >= 2 ? o.nargs : 2;
	else
		want_args = -1;
	if (want_args < 0 || o.nargs != want_args) {
		fprintf(stderr, "certfleet dns: %s\n",
			want_args < 0 ? "unknown action" : "wrong number of arguments");
		usage(stderr);
		rc = 2;
		goto out;
	}
	/* present/cleanup use resolvers only to find zones; the others need some. */
	if (strcmp(action, "present") != 0 && strcmp(action, "cleanup") != 0 &&
	    cf_cli_resolvers_default(&o.resolvers, &err) != 0) {
		fprintf(stderr, "certfleet dns %s: %s\n", action, err.msg);
		goto out;
	}
	if (strcmp(action, "txt") == 0)
		failed = do_txt(&o, &err);
	else if (strcmp(action, "chain") == 0)
		failed = do_chain(&o, &err);
	else if (strcmp(action, "zone") == 0)
		failed = do_zone(&o, &err);
	else if (strcmp(action, "wait") == 0)
		failed = do_wait(&o, &err);
	else
		failed = do_provider(&o, strcmp(action, "present") == 0, &err);
	if (failed != 0) {
		fprintf(stderr, "certfleet dns %s: %s\n", action, err.msg);
		goto out;
	}
	rc = 0;
out:
	free(o.args);
	settings_free(o.settings);
	cf_err_clear(&err);
	return rc;
}
