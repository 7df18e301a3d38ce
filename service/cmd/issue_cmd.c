/*
 * issue_cmd.c: `certfleet issue`: one issuance in the foreground, with no
 * database, through DNS challenge aliases. Operators use it to try an alias before
 * handing a name to the service; the benchmarks use it to compare with other
 * clients. It prints every step with its duration, writes cert.pem, chain.pem,
 * fullchain.pem and privkey.pem (0600) to --out, and on failure prints the CA's
 * problem document and exits 1 (2 for usage errors). --profile asks for one of
 * the profiles the CA's directory offers (meta.profiles); any other name, or a
 * profile at a CA that offers none, fails before anything is ordered.
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cmd/cli_util.h"
#include "cmd/cmd.h"
#include "issue/engine.h"
#include "providers/scope.h"
#include "util/clock.h"
#include "util/files.h"

#define MAX_NAMES 100
#define MAX_ALIASES 100
#define MAX_CONTACTS 8

static volatile sig_atomic_t cancel_flag;

static void on_signal(int sig)
{
	cancel_flag = 1;
}

typedef struct opts {
	const char *directory, *ca_file, *provider, *out, *account_key_file;
	const char *preferred_chain, *eab_kid, *eab_hmac_key, *profile;
	const char *names[MAX_NAMES];
	size_t nnames;
	const char *aliases[MAX_ALIASES];
	size_t naliases;
	const char *contacts[MAX_CONTACTS];
	size_t ncontacts;
	json_t *settings;
	cf_dns_servers resolvers;
	cf_key_type key_type;
	cf_propagation propagation;
	long propagation_timeout_ms;
	bool reuse_key, verbose, no_preflight;
	double t0; /* cf_clock_mono_s() at the start */
} opts;

static void usage(FILE *f)
{
	fprintf(f,
		"usage: certfleet issue --directory URL [--ca-file PEM] [--email ADDR]\n"
		"         -d NAME [-d NAME ...] [--alias FQDN | --alias NAME=FQDN ... | --alias auto]\n"
		"         --provider rfc2136 --provider-setting KEY=VALUE|KEY=@FILE ...\n"
		"         [--key-type ec256|ec384|rsa2048|rsa3072|rsa4096] [--reuse-key]\n"
		"         [--account-key FILE] [--eab-kid KID --eab-hmac-key B64URL]\n"
		"         [--resolver HOST[:PORT] ...] [--propagation authoritative|resolvers|none]\n"
		"         [--propagation-timeout SECONDS] [--preferred-chain ISSUER_CN]\n"
		"         [--profile NAME] [--no-preflight] [--verbose] --out DIR\n");
}

static double since(const opts *o)
{
	return cf_clock_mono_s() - o->t0;
}

static void on_step(const char *step, long ms, bool ok, const char *detail, void *arg)
{
	const opts *o = arg;

	printf("[%7.3fs] %-14s %6ld ms  %s  %s\n", since(o), step, ms, ok ? "ok  " : "FAIL",
	       detail ? detail : "");
	fflush(stdout);
}

static void on_acme_event(const cf_acme_event *ev, void *arg)
{
	const opts *o = arg;

	if (!o->verbose || ev->kind != CF_ACME_EV_HTTP)
		return;
	printf("[%7.3fs]   http %-10s %-4s %ld %5ld ms %s\n", since(o), ev->step,
	       ev->method ? ev->method : "", ev->http_status, ev->duration_ms,
	       ev->url ? ev->url : "");
	fflush(stdout);
}

static int parse_args(int argc, char **argv, opts *o, cf_err *err)
{
	static const struct option lo[] = {
		{"directory", required_argument, NULL, 'D'}, {"ca-file", required_argument, NULL, 'C'},
		{"email", required_argument, NULL, 'e'}, {"domain", required_argument, NULL, 'd'},
		{"alias", required_argument, NULL, 'a'}, {"provider", required_argument, NULL, 'p'},
		{"provider-setting", required_argument, NULL, 's'},
		{"key-type", required_argument, NULL, 'k'}, {"reuse-key", no_argument, NULL, 'R'},
		{"account-key", required_argument, NULL, 'A'}, {"resolver", required_argument, NULL, 'r'},
		{"propagation", required_argument, NULL, 'P'},
		{"propagation-timeout", required_argument, NULL, 'T'},
		{"preferred-chain", required_argument, NULL, 'c'},
		{"eab-kid", required_argument, NULL, 'K'}, {"eab-hmac-key", required_argument, NULL, 'H'},
		{"profile", required_argument, NULL, 'F'},
		{"no-preflight", no_argument, NULL, 'N'}, {"verbose", no_argument, NULL, 'v'},
		{"out", required_argument, NULL, 'o'}, {"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0}};
	int c;

	o->key_type = CF_KEY_EC256;
	o->propagation = CF_PROP_AUTHORITATIVE;
	o->settings = json_object();
	optind = 1;
	while ((c = getopt_long(argc, argv, "d:vh", lo, NULL)) != -1) {
		switch (c) {
		case 'D': o->directory = optarg; break;
		case 'C': o->ca_file = optarg; break;
		case 'e':
			if (o->ncontacts == MAX_CONTACTS)
				return cf_err_set(err, CF_ERR_PERMANENT, "--email: at most %d", MAX_CONTACTS);
			o->contacts[o->ncontacts++] = optarg;
			break;
		case 'd':
			if (o->nnames == MAX_NAMES)
				return cf_err_set(err, CF_ERR_PERMANENT, "-d: at most %d names", MAX_NAMES);
			o->names[o->nnames++] = optarg;
			break;
		case 'a':
			if (o->naliases == MAX_ALIASES)
				return cf_err_set(err, CF_ERR_PERMANENT, "--alias: at most %d", MAX_ALIASES);
			o->aliases[o->naliases++] = optarg;
			break;
		case 'p': o->provider = optarg; break;
		case 's':
			if (cf_cli_settings_add(o->settings, optarg, err) != 0)
				return cf_err_wrap(err, "--provider-setting");
			break;
		case 'k':
			if (cf_key_type_parse(optarg, &o->key_type) != 0)
				return cf_err_set(err, CF_ERR_PERMANENT, "--key-type: unknown key type '%s' "
						  "(ec256, ec384, rsa2048, rsa3072, rsa4096)", optarg);
			break;
		case 'R': o->reuse_key = true; break;
		case 'A': o->account_key_file = optarg; break;
		case 'r':
			if (cf_dns_servers_add(&o->resolvers, optarg, err) != 0)
				return cf_err_wrap(err, "--resolver");
			break;
		case 'P':
			if (cf_propagation_parse(optarg, &o->propagation) != 0)
				return cf_err_set(err, CF_ERR_PERMANENT, "--propagation: expected "
						  "authoritative, resolvers or none, got '%s'", optarg);
			break;
		case 'T': o->propagation_timeout_ms = atol(optarg) * 1000; break;
		case 'c': o->preferred_chain = optarg; break;
		case 'K': o->eab_kid = optarg; break;
		case 'F':
			if (optarg[0] == '\0')
				return cf_err_set(err, CF_ERR_PERMANENT, "--profile: empty name");
			o->profile = optarg;
			break;
		case 'H': o->eab_hmac_key = optarg; break;
		case 'N': o->no_preflight = true; break;
		case 'v': o->verbose = true; break;
		case 'o': o->out = optarg; break;
		case 'h': usage(stdout); exit(0);
		default: return cf_err_set(err, CF_ERR_PERMANENT, "bad arguments (see --help)");
		}
	}
	if (optind < argc)
		return cf_err_set(err, CF_ERR_PERMANENT, "unexpected argument '%s'", argv[optind]);
	if (o->directory == NULL)
		return cf_err_set(err, CF_ERR_PERMANENT, "--directory is required");
	if (o->nnames == 0)
		return cf_err_set(err, CF_ERR_PERMANENT, "at least one -d NAME is required");
	if (o->provider == NULL)
		return cf_err_set(err, CF_ERR_PERMANENT, "--provider is required");
	if (o->out == NULL)
		return cf_err_set(err, CF_ERR_PERMANENT, "--out is required");
	if (!!o->eab_kid != !!o->eab_hmac_key)
		return cf_err_set(err, CF_ERR_PERMANENT, "--eab-kid and --eab-hmac-key go together");
	if (o->resolvers.n == 0 &&
	    cf_dns_servers_from_resolv_conf(&o->resolvers, "/etc/resolv.conf", err) != 0)
		return cf_err_wrap(err, "no --resolver given and /etc/resolv.conf is unusable");
	return 0;
}

/* --alias forms: none; one FQDN or "auto"; NAME=FQDN for each name. */
static int build_alias(const opts *o, cf_alias_spec *spec, cf_err *err)
{
	memset(spec, 0, sizeof(*spec));
	if (o->naliases == 0)
		return 0;
	if (o->naliases == 1 && strchr(o->aliases[0], '=') == NULL) {
		if (strcmp(o->aliases[0], "auto") == 0) {
			spec->mode = CF_ALIAS_AUTO;
			return 0;
		}
		spec->mode = CF_ALIAS_ONE;
		spec->one = strdup(o->aliases[0]);
		return spec->one ? 0 : -1;
	}
	spec->mode = CF_ALIAS_MAP;
	spec->map_names = calloc(o->naliases, sizeof(char *));
	spec->map_targets = calloc(o->naliases, sizeof(char *));
	if (spec->map_names == NULL || spec->map_targets == NULL)
		return cf_err_oom(err, NULL);
	for (size_t i = 0; i < o->naliases; i++) {
		const char *eq = strchr(o->aliases[i], '=');
		if (eq == NULL)
			return cf_err_set(err, CF_ERR_PERMANENT,
					  "--alias '%s': with several aliases each must be NAME=FQDN",
					  o->aliases[i]);
		spec->map_names[i] = strndup(o->aliases[i], (size_t)(eq - o->aliases[i]));
		spec->map_targets[i] = strdup(eq + 1);
		spec->nmap++;
	}
	return 0;
}

static cf_key *reused_key(const opts *o, cf_err *err)
{
	char path[4096], *pem;
	size_t len = 0;
	cf_key *k;

	snprintf(path, sizeof(path), "%s/privkey.pem", o->out);
	if (!o->reuse_key || access(path, F_OK) != 0)
		return NULL;
	if ((pem = cf_read_file(path, 1 << 20, &len, err)) == NULL)
		return NULL;
	k = cf_key_from_pem(pem, len, err);
	cf_secret_free(pem);
	return k;
}

static int write_outputs(const opts *o, const cf_issue_result *r, cf_err *err)
{
	if (mkdir(o->out, 0755) != 0 && errno != EEXIST)
		return cf_err_set(err, CF_ERR_PERMANENT, "--out %s: %s", o->out, strerror(errno));
	if (cf_write_file_atomic(o->out, "privkey.pem", r->key_pem, strlen(r->key_pem), 0600,
				 err) != 0 ||
	    cf_write_file_atomic(o->out, "cert.pem", r->cert.leaf, strlen(r->cert.leaf), 0644,
				 err) != 0 ||
	    cf_write_file_atomic(o->out, "chain.pem", r->cert.chain, strlen(r->cert.chain), 0644,
				 err) != 0 ||
	    cf_write_file_atomic(o->out, "fullchain.pem", r->cert.fullchain,
				 strlen(r->cert.fullchain), 0644, err) != 0)
		return -1;
	return 0;
}

int cmd_issue(int argc, char **argv)
{
	opts o = {0};
	cf_err err = {0};
	cf_alias_spec spec = {0};
	cf_issue_params p = {0};
	cf_issue_result res = {0};
	cf_key *acct = NULL, *reuse = NULL;
	const cf_provider_ops *ops, **provs = NULL;
	const json_t **sets = NULL;
	char contacts[MAX_CONTACTS][320];
	const char *cptr[MAX_CONTACTS];
	int rc = 1;

	o.t0 = cf_clock_mono_s();
	if (parse_args(argc, argv, &o, &err) != 0) {
		fprintf(stderr, "certfleet issue: %s\n", err.msg);
		usage(stderr);
		rc = 2;
		goto out;
	}
	cf_providers_init();
	if ((ops = cf_provider_find(o.provider)) == NULL) {
		cf_err_set(&err, CF_ERR_PERMANENT, "--provider: unknown provider '%s'", o.provider);
		goto out;
	}
	if (cf_provider_validate(ops, o.settings, &err) != 0 || build_alias(&o, &spec, &err) != 0)
		goto out;
	/* loaded from --account-key, or made (and saved there when given) */
	if ((acct = cf_cli_account_key_load_or_create("--account-key", o.account_key_file, NULL,
						      &err)) == NULL)
		goto out;
	reuse = reused_key(&o, &err);
	if (reuse == NULL && err.cls != CF_ERR_NONE)
		goto out;
	provs = calloc(o.nnames, sizeof(*provs));
	sets = calloc(o.nnames, sizeof(*sets));
	if (provs == NULL || sets == NULL)
		goto out;
	for (size_t i = 0; i < o.nnames; i++) {
		provs[i] = ops;
		sets[i] = o.settings;
	}
	for (size_t i = 0; i < o.ncontacts; i++) {
		snprintf(contacts[i], sizeof(contacts[i]), "%s%s",
			 strncmp(o.contacts[i], "mailto:", 7) ? "mailto:" : "", o.contacts[i]);
		cptr[i] = contacts[i];
	}
	p.directory_url = o.directory;
	p.ca_file = o.ca_file;
	p.contacts = cptr;
	p.ncontacts = o.ncontacts;
	p.account_key = acct;
	p.eab_kid = o.eab_kid;
	p.eab_hmac_key = o.eab_hmac_key;
	p.preferred_chain = o.preferred_chain;
	p.profile = o.profile;
	p.names = o.names;
	p.nnames = o.nnames;
	p.alias = &spec;
	p.providers = provs;
	p.provider_settings = sets;
	p.key_type = o.key_type;
	p.reuse_key = reuse;
	p.resolvers = &o.resolvers;
	p.propagation = o.propagation;
	p.propagation_timeout_ms = o.propagation_timeout_ms;
	p.skip_preflight = o.no_preflight;
	p.cancel = &cancel_flag;
	p.on_step = on_step;
	p.step_arg = &o;
	p.on_acme_event = on_acme_event;
	p.acme_event_arg = &o;
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	if (cf_issue_run(&p, &res, &err) != 0)
		goto out;
	if (write_outputs(&o, &res, &err) != 0)
		goto out;
	printf("[%7.3fs] done           certificate for %zu names written to %s%s%s\n", since(&o),
	       o.nnames, o.out, res.profile ? ", profile " : "", res.profile ? res.profile : "");
	rc = 0;
out:
	if (rc == 1) {
		fprintf(stderr, "certfleet issue: %s\n", err.msg);
		if (err.problem)
			fprintf(stderr, "CA problem document: %s\n", err.problem);
	}
	cf_issue_result_free(&res);
	cf_key_free(acct);
	cf_key_free(reuse);
	cf_alias_spec_free(&spec);
	free(provs);
	free(sets);
	json_decref(o.settings);
	cf_err_clear(&err);
	return rc;
}
