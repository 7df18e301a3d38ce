/*
 * revoke_cmd.c: `certfleet revoke`: revokes one certificate at its ACME CA (RFC
 * 8555 section 7.6), with a reason, signed either by the account that ordered it
 * (--account-key: the account is looked up, never created) or by the
 * certificate's own key (--cert-key: the request carries that key's JWK, so no
 * account is needed, e.g. after the key leaked). The first certificate of --cert
 * is revoked, so a fullchain.pem works as well as a cert.pem.
 *
 * A certificate the CA reports as alreadyRevoked is what the operator wanted: it
 * is said so on stdout and the exit status is 0. Output: "KEY: VALUE" lines on
 * stdout, errors and the CA's problem document on stderr. Exit 0 revoked (or
 * already revoked), 1 failed, 2 usage. No key is ever printed.
 */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acme/acme.h"
#include "api/revocation.h"
#include "cmd/cli_util.h"
#include "cmd/cmd.h"
#include "util/files.h"

typedef struct opts {
	const char *directory, *ca_file, *cert_file, *account_key_file, *cert_key_file;
	int reason; /* CF_ACME_REASON_NONE when not given */
	bool verbose;
} opts;

static void usage(FILE *f)
{
	fprintf(f,
		"usage: certfleet revoke --directory URL [--ca-file PEM] --cert FILE\n"
		"         (--account-key FILE | --cert-key FILE) [--reason REASON] [--verbose]\n"
		"\n"
		"Revokes the first certificate in FILE (cert.pem or fullchain.pem), signed by\n"
		"the account that ordered it (--account-key; the account must exist) or by\n"
		"the certificate's own private key (--cert-key).\n"
		"REASON: a number 0-10 but 7, or unspecified, keyCompromise, affiliationChanged,\n"
		"  superseded, cessationOfOperation (the reasons a subscriber may give; the\n"
		"  CA may refuse others). Without --reason none is sent (the CA records none).\n"
		"Exit status: 0 revoked, or already revoked (the CA's alreadyRevoked, reported\n"
		"  as 'result: already revoked'); 1 failed (the CA's problem document on\n"
		"  stderr); 2 usage.\n");
}

static int parse_reason(const char *s, int *out, cf_err *err)
{
	long v;

	if (s[0] >= '0' && s[0] <= '9') {
		if (cf_cli_parse_long("--reason", s, 0, CF_REVOCATION_REASON_MAX, &v, err) != 0)
			return -1;
		if (cf_revocation_reason_name((int)v) == NULL)
			return cf_err_set(err, CF_ERR_PERMANENT, "--reason: %ld is not a reason code",
					  v);
		*out = (int)v;
		return 0;
	}
	if ((*out = cf_revocation_reason_code(s, true)) >= 0)
		return 0;
	return cf_err_set(err, CF_ERR_PERMANENT, "--reason: unknown reason '%.40s' (a number, or "
			  "unspecified, keyCompromise, affiliationChanged, superseded, "
			  "cessationOfOperation)", s);
}

static int parse_args(int argc, char **argv, opts *o, cf_err *err)
{
	static const struct option lo[] = {
		{"directory", required_argument, NULL, 'D'}, {"ca-file", required_argument, NULL, 'C'},
		{"cert", required_argument, NULL, 'c'}, {"account-key", required_argument, NULL, 'A'},
		{"cert-key", required_argument, NULL, 'k'}, {"reason", required_argument, NULL, 'r'},
		{"verbose", no_argument, NULL, 'v'}, {"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0}};
	int c;

	o->reason = CF_ACME_REASON_NONE;
	optind = 1;
	while ((c = getopt_long(argc, argv, "vh", lo, NULL)) != -1) {
		switch (c) {
		case 'D': o->directory = optarg; break;
		case 'C': o->ca_file = optarg; break;
		case 'c': o->cert_file = optarg; break;
		case 'A': o->account_key_file = optarg; break;
		case 'k': o->cert_key_file = optarg; break;
		case 'r':
			if (parse_reason(optarg, &o->reason, err) != 0)
				return -1;
			break;
		case 'v': o->verbose = true; break;
		case 'h': usage(stdout); exit(0);
		default: return cf_err_set(err, CF_ERR_PERMANENT, "bad arguments (see --help)");
		}
	}
	if (optind < argc)
		return cf_err_set(err, CF_ERR_PERMANENT, "unexpected argument '%s'", argv[optind]);
	if (o->directory == NULL)
		return cf_err_set(err, CF_ERR_PERMANENT, "--directory is required");
	if (o->cert_file == NULL)
		return cf_err_set(err, CF_ERR_PERMANENT, "--cert is required");
	if (!!o->account_key_file == !!o->cert_key_file)
		return cf_err_set(err, CF_ERR_PERMANENT,
				  "exactly one of --account-key and --cert-key is required");
	return 0;
}

static bool already_revoked(const cf_err *err)
{
	json_t *j = err->problem ? json_loads(err->problem, 0, NULL) : NULL;
	const char *t = json_string_value(json_object_get(j, "type"));
	bool yes = t != NULL && strcmp(t, "urn:ietf:params:acme:error:alreadyRevoked") == 0;

	json_decref(j);
	return yes;
}

/* Revokes; *already is set when the CA says the certificate was revoked before. */
static int revoke(const opts *o, const char *pem, size_t len, bool *already, cf_err *err)
{
	cf_acme_options ao = {0};
	cf_acme_client *c = NULL;
	cf_acme_account acct = {0};
	cf_acme_account_req req = {.only_return_existing = true};
	cf_key *key = NULL;
	bool by_cert_key = o->cert_key_file != NULL;
	int rc = -1;

	if (by_cert_key) {
		if ((key = cf_cli_key_load("--cert-key", o->cert_key_file, err)) == NULL)
			goto out;
		if (!cf_cert_matches_key(pem, len, key)) {
			cf_err_set(err, CF_ERR_PERMANENT, "--cert-key %s is not the key of the "
				   "certificate in %s", o->cert_key_file, o->cert_file);
			goto out;
		}
	} else if ((key = cf_cli_key_load("--account-key", o->account_key_file, err)) == NULL) {
		goto out;
	}
	ao.directory_url = o->directory;
	ao.ca_file = o->ca_file;
	ao.on_event = cf_cli_acme_event_print;
	ao.event_arg = (void *)&o->verbose;
	/* by the certificate key, the client's key is never used to sign with kid */
	if ((c = cf_acme_client_new(&ao, key, err)) == NULL)
		goto out;
	if (!by_cert_key) {
		if (cf_acme_account_register(c, &req, &acct, err) != 0) {
			cf_err_wrap(err, "finding the account of --account-key");
			goto out;
		}
		printf("account: %s\n", acct.url);
	}
	printf("signed by: %s\n", by_cert_key ? "the certificate's key" : "the account key");
	fflush(stdout);
	if (cf_acme_cert_revoke(c, pem, len, o->reason, by_cert_key ? key : NULL, err) != 0) {
		if (!already_revoked(err))
			goto out;
		*already = true;
	}
	rc = 0;
out:
	cf_acme_account_free(&acct);
	cf_acme_client_free(c);
	cf_key_free(key);
	return rc;
}

int cmd_revoke(int argc, char **argv)
{
	opts o = {0};
	cf_err err = {0};
	cf_cert_info info = {0};
	char *pem = NULL;
	size_t len = 0;
	bool already = false;
	int rc = 1;

	if (parse_args(argc, argv, &o, &err) != 0) {
		fprintf(stderr, "certfleet revoke: %s\n", err.msg);
		usage(stderr);
		cf_err_clear(&err);
		return 2;
	}
	if ((pem = cf_read_file(o.cert_file, 1 << 20, &len, &err)) == NULL) {
		cf_err_wrap(&err, "--cert");
		goto out;
	}
	if (cf_cert_info_from_pem(pem, len, &info, &err) != 0) {
		cf_err_wrap(&err, "--cert %s", o.cert_file);
		goto out;
	}
	printf("certificate: serial %s, %s%s\n", info.serial,
	       info.nsans ? "for " : "subject ", info.nsans ? info.sans[0] : info.subject_cn);
	if (o.reason != CF_ACME_REASON_NONE)
		printf("reason: %d (%s)\n", o.reason, cf_revocation_reason_name(o.reason));
	if (revoke(&o, pem, len, &already, &err) != 0)
		goto out;
	if (already)
		printf("result: already revoked (the CA says: %s)\n", err.msg);
	else
		printf("result: revoked\n");
	rc = 0;
out:
	fflush(stdout);
	if (rc != 0) {
		fprintf(stderr, "certfleet revoke: %s\n", err.msg);
		if (err.problem)
			fprintf(stderr, "CA problem document: %s\n", err.problem);
	}
	cf_cert_info_free(&info);
	free(pem);
	cf_err_clear(&err);
	return rc;
}
