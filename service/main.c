/*
 * main.c: the certfleet binary: subcommand dispatch and usage. Every subcommand
 * lives in service/cmd/ and returns the process exit code.
 */
#include <curl/curl.h>
#include <stdio.h>
#include <string.h>

#include "cmd/cmd.h"
#include "config.h"

typedef struct subcommand {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *help;
} subcommand;

static int cmd_version(int argc, char **argv)
{
	printf("certfleet %s\n", CERTFLEET_VERSION);
	return 0;
}

static const subcommand commands[] = {
	{"serve", cmd_serve, "run the API (and workers)"},
	{"migrate", cmd_migrate, "apply database migrations"},
	{"issue", cmd_issue, "one issuance in the foreground, no database (see --help)"},
	{"dns", cmd_dns, "DNS tools: txt, chain, zone, present, cleanup, wait"},
	{"alias", cmd_alias, "check challenge aliases: alias check NAME... (see --help)"},
	{"token", cmd_token, "API tokens: create (prints the secret once), list, revoke"},
	{"fetch", cmd_fetch, "host agent: install a certificate and key from certfleet (see --help)"},
	{"account", cmd_account, "ACME account: register (or look up), key rollover"},
	{"revoke", cmd_revoke, "revoke a certificate at its CA, with a reason"},
	{"ctl", cmd_ctl, "admin command line over the API of a running serve (see ctl help)"},
	{"version", cmd_version, "print the version"},
};

static void usage(FILE *f)
{
	fprintf(f, "usage: certfleet COMMAND [ARGS]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].help);
	fprintf(f, "\nsettings (environment, or NAME=VALUE lines in CERTFLEET_CONFIG):\n");
	cf_config_print_help(f);
}

int main(int argc, char **argv)
{
	int rc;

	if (argc < 2 || strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "-h") == 0) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	rc = -1;
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(argv[1], commands[i].name) == 0)
			rc = commands[i].fn(argc - 1, argv + 1);
	if (rc == -1) {
		fprintf(stderr, "certfleet: unknown command '%s'\n", argv[1]);
		usage(stderr);
		rc = 2;
	}
	curl_global_cleanup();
	return rc;
}
