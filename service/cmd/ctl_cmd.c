/*
 * ctl_cmd.c: `certfleet ctl`, the admin command line over the HTTP API of a
 * running `serve` (the other subcommands work on the database or alone):
 *
 *   certfleet ctl [--server URL] [--token-file FILE] [--ca-file PEM] [--allow-http]
 *                 [-o table|json] RESOURCE VERB [ARGS]
 *
 * The server and the token file come from the options or from CERTFLEET_SERVER
 * and CERTFLEET_TOKEN_FILE. Global options may stand anywhere on the line (as
 * with kubectl); the rest is RESOURCE, VERB and the verb's own arguments, which
 * the verb tables of ctl_cert.c, ctl_job.c and ctl_admin.c describe (options,
 * number of positional arguments, usage line), so usage errors and help are
 * handled here, once.
 *
 * The token file is treated as ssh treats a private key: refused when group or
 * others may read or write it and the caller owns it (chmod 600), and refused in
 * any case when others (not the group) may read or write it, since a shared
 * root-owned file with mode 0640 and a group is a fair way to hand one token to a
 * service account, and a world-readable one is not. The token is wiped from
 * memory when the run ends.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "cmd/ctl.h"
#include "crypto/crypto.h"
#include "util/files.h"
#include "util/http_client.h"

#define TOKEN_MAX 4096

static const struct {
	const ctl_verb *verbs;
	const size_t *n;
} tables[] = {
	{ ctl_cert_verbs, &ctl_cert_nverbs },
	{ ctl_job_verbs, &ctl_job_nverbs },
	{ ctl_admin_verbs, &ctl_admin_nverbs },
};

typedef struct globals {
	const char *server, *token_file, *ca_file, *output;
	bool allow_http, help;
} globals;

static void usage(FILE *f)
{
	fprintf(f,
		"usage: certfleet ctl [--server URL] [--token-file FILE] [--ca-file PEM]\n"
		"                     [--allow-http] [-o table|json] RESOURCE VERB [ARGS]\n"
		"The admin command line over the API of a running `certfleet serve`.\n"
		"--server and --token-file default to CERTFLEET_SERVER and CERTFLEET_TOKEN_FILE;\n"
		"the token file must be private to its owner (chmod 600).\n\ncommands:\n");
	for (size_t t = 0; t < sizeof(tables) / sizeof(tables[0]); t++)
		for (size_t i = 0; i < *tables[t].n; i++) {
			const ctl_verb *v = &tables[t].verbs[i];
			char head[64];

			snprintf(head, sizeof(head), "%s%s%s", v->resource, v->verb ? " " : "",
				 v->verb ? v->verb : "");
			fprintf(f, "  %-18s %s\n", head, v->help);
		}
	fprintf(f, "\n`certfleet ctl RESOURCE VERB --help` shows a command's arguments.\n"
		   "exit status: 0 ok, 1 error, 2 usage, 3 not found, 4 unauthorised or "
		   "forbidden,\n             5 conflict, 6 a watched job failed or an alias "
		   "is not ok\n");
}

/* Takes the global options out of argv (wherever they are), leaving the rest in
 * order in rest[]. -1 with err on a malformed global option. */
static int take_globals(int argc, char **argv, globals *g, char **rest, int *nrest, cf_err *err)
{
	static const struct {
		const char *name;
		size_t off;
	} opts[] = {
		{ "--server", offsetof(globals, server) },
		{ "--token-file", offsetof(globals, token_file) },
		{ "--ca-file", offsetof(globals, ca_file) },
		{ "--output", offsetof(globals, output) },
		{ "-o", offsetof(globals, output) },
	};

	*nrest = 0;
	for (int i = 0; i < argc; i++) {
		bool taken = false;

		if (strcmp(argv[i], "--allow-http") == 0) {
			g->allow_http = true;
			continue;
		}
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			g->help = true;
			continue;
		}
		for (size_t k = 0; !taken && k < sizeof(opts) / sizeof(opts[0]); k++) {
			size_t n = strlen(opts[k].name);
			const char **slot = (const char **)(void *)((char *)g + opts[k].off);

			if (strncmp(argv[i], opts[k].name, n) != 0)
				continue;
			if (argv[i][n] == '=') {
				*slot = argv[i] + n + 1;
			} else if (argv[i][n] == '\0') {
				if (i + 1 >= argc)
					return cf_err_set(err, CF_ERR_PERMANENT, "%s needs a value",
							  opts[k].name);
				*slot = argv[++i];
			} else {
				continue;
			}
			taken = true;
		}
		if (!taken)
			rest[(*nrest)++] = argv[i];
	}
	return 0;
}

/* The token from the file, checked like an ssh private key (see the top). */
static char *read_token(const char *path, cf_err *err)
{
	struct stat st;
	char *t;
	size_t n = 0;

	if (stat(path, &st) != 0) {
		cf_err_set(err, CF_ERR_PERMANENT, "--token-file: cannot read %s: %s", path,
			   strerror(errno));
		return NULL;
	}
	if ((st.st_mode & 007) != 0 || (st.st_uid == getuid() && (st.st_mode & 077) != 0)) {
		cf_err_set(err, CF_ERR_PERMANENT,
			   "--token-file: %s is open to %s (mode %04o): chmod 600 it", path,
			   (st.st_mode & 007) ? "every user" : "its group",
			   (unsigned)(st.st_mode & 07777));
		return NULL;
	}
	if ((t = cf_read_file(path, TOKEN_MAX, &n, err)) == NULL)
		return NULL;
	while (n > 0 && (t[n - 1] == '\n' || t[n - 1] == '\r' || t[n - 1] == ' '))
		t[--n] = '\0';
	if (n == 0 || strpbrk(t, "\r\n") != NULL) {
		cf_secret_free(t);
		cf_err_set(err, CF_ERR_PERMANENT, "--token-file: %s must hold one token", path);
		return NULL;
	}
	return t;
}

/* https://, or http:// to loopback, or any http:// with --allow-http. */
static int check_server(const char *url, bool allow_http, cf_err *err)
{
	if (cf_http_url_allowed(url, allow_http ? CF_HTTP_PLAIN_ANY : 0))
		return 0;
	if (strncasecmp(url, "http://", 7) == 0)
		return cf_err_set(err, CF_ERR_PERMANENT,
				  "--server: plain http:// to a host that is not loopback would send "
				  "the token in clear: use https:// (or --allow-http)");
	return cf_err_set(err, CF_ERR_PERMANENT, "--server: \"%.200s\" is not an https:// URL",
			  url);
}

static const ctl_verb *find_verb(const char *resource, const char *verb, bool *known_resource)
{
	*known_resource = false;
	for (size_t t = 0; t < sizeof(tables) / sizeof(tables[0]); t++)
		for (size_t i = 0; i < *tables[t].n; i++) {
			const ctl_verb *v = &tables[t].verbs[i];

			if (strcmp(v->resource, resource) != 0)
				continue;
			*known_resource = true;
			if (v->verb == NULL || (verb != NULL && strcmp(v->verb, verb) == 0))
				return v;
		}
	return NULL;
}

static void verb_usage(FILE *f, const char *resource)
{
	for (size_t t = 0; t < sizeof(tables) / sizeof(tables[0]); t++)
		for (size_t i = 0; i < *tables[t].n; i++) {
			const ctl_verb *v = &tables[t].verbs[i];

			if (strcmp(v->resource, resource) == 0)
				fprintf(f, "usage: certfleet ctl %s%s%s %s\n       %s\n", v->resource,
					v->verb ? " " : "", v->verb ? v->verb : "", v->usage, v->help);
		}
}

/* Connects the run: server, token, handle. Exit code. */
static int ctl_open(ctl *c, const globals *g)
{
	const char *server = g->server ? g->server : getenv("CERTFLEET_SERVER");
	const char *tfile = g->token_file ? g->token_file : getenv("CERTFLEET_TOKEN_FILE");
	cf_err err = { 0 };
	size_t n;
	int rc = CTL_USAGE;

	if (server == NULL || *server == '\0') {
		ctl_errorf(c, rc, "no server: give --server URL or set CERTFLEET_SERVER");
		goto out;
	}
	if (tfile == NULL || *tfile == '\0') {
		ctl_errorf(c, rc, "no token: give --token-file FILE or set CERTFLEET_TOKEN_FILE");
		goto out;
	}
	rc = CTL_ERROR;
	if (check_server(server, g->allow_http, &err) != 0 ||
	    (c->token = read_token(tfile, &err)) == NULL) {
		ctl_errorf(c, rc, "%s", err.msg);
		goto out;
	}
	n = strlen(server);
	while (n > 0 && server[n - 1] == '/')
		n--;
	if ((c->server = strndup(server, n)) == NULL || (c->curl = curl_easy_init()) == NULL) {
		ctl_errorf(c, rc, "out of memory");
		goto out;
	}
	c->ca_file = g->ca_file;
	c->allow_http = g->allow_http;
	rc = CTL_OK;
out:
	cf_err_clear(&err);
	return rc;
}

/* Runs one verb with its own arguments rest[first..]. */
static int run_verb(ctl *c, const ctl_verb *v, const globals *g, int argc, char **argv)
{
	ctl_args a = { 0 };
	cf_err err = { 0 };
	int rc = CTL_USAGE;

	if (g->help) {
		verb_usage(stdout, v->resource);
		rc = CTL_OK;
		goto out;
	}
	if (ctl_args_parse(argc, argv, v->spec, &a, &err) != 0) {
		ctl_errorf(c, rc, "%s", err.msg);
		verb_usage(stderr, v->resource);
		goto out;
	}
	if ((int)a.npos < v->min_pos || (v->max_pos >= 0 && (int)a.npos > v->max_pos)) {
		ctl_errorf(c, rc, "%s", (int)a.npos < v->min_pos ? "missing arguments"
								 : "too many arguments");
		verb_usage(stderr, v->resource);
		goto out;
	}
	if ((rc = ctl_open(c, g)) == CTL_OK)
		rc = v->fn(c, &a);
out:
	ctl_args_free(&a);
	cf_err_clear(&err);
	return rc;
}

int cmd_ctl(int argc, char **argv)
{
	globals g = { 0 };
	ctl c = { 0 };
	cf_err err = { 0 };
	char **rest = calloc((size_t)argc + 1, sizeof(char *));
	const ctl_verb *v;
	bool known = false;
	int nrest = 0, rc = CTL_USAGE, skip;

	if (rest == NULL) {
		fprintf(stderr, "certfleet ctl: out of memory\n");
		return CTL_ERROR;
	}
	if (take_globals(argc - 1, argv + 1, &g, rest, &nrest, &err) != 0) {
		fprintf(stderr, "certfleet ctl: %s\n", err.msg);
		goto out;
	}
	if (g.output != NULL && strcmp(g.output, "json") != 0 && strcmp(g.output, "table") != 0) {
		fprintf(stderr, "certfleet ctl: -o: \"%s\" is not an output format (table, json)\n",
			g.output);
		goto out;
	}
	c.json = g.output != NULL && strcmp(g.output, "json") == 0;
	if (nrest == 0 || strcmp(rest[0], "help") == 0) {
		usage(nrest == 0 && !g.help ? stderr : stdout);
		rc = nrest == 0 && !g.help ? CTL_USAGE : CTL_OK;
		goto out;
	}
	v = find_verb(rest[0], nrest > 1 ? rest[1] : NULL, &known);
	if (v == NULL && known && nrest == 1 && g.help) {
		verb_usage(stdout, rest[0]);
		rc = CTL_OK;
		goto out;
	}
	if (v == NULL) {
		if (known && nrest > 1)
			fprintf(stderr, "certfleet ctl: %s: unknown verb \"%s\"\n", rest[0], rest[1]);
		else if (known)
			fprintf(stderr, "certfleet ctl: %s: a verb is needed\n", rest[0]);
		else
			fprintf(stderr, "certfleet ctl: unknown resource \"%s\"\n", rest[0]);
		if (known)
			verb_usage(stderr, rest[0]);
		else
			usage(stderr);
		goto out;
	}
	snprintf(c.what, sizeof(c.what), "%s%s%s", v->resource, v->verb ? " " : "",
		 v->verb ? v->verb : "");
	skip = v->verb ? 2 : 1;
	rc = run_verb(&c, v, &g, nrest - skip, rest + skip);
out:
	cf_secret_free(c.token);
	free(c.server);
	if (c.curl != NULL)
		curl_easy_cleanup(c.curl);
	free(rest);
	cf_err_clear(&err);
	return rc;
}
