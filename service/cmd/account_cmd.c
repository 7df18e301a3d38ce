/*
 * account_cmd.c: `certfleet account`: the operator's handle on an ACME account
 * outside the service. `register` creates the account of a key (or finds the one
 * it already has), with contacts and, for CAs that require it, External Account
 * Binding; `rollover` moves the account to a new key (RFC 8555 section 7.3.5) and
 * then replaces the key file, keeping the old key beside it as FILE.old.
 *
 * The order of a rollover is chosen so that no key is ever lost: the new key is
 * on disk (--new-key) before the CA hears of it; only after the CA accepted it is
 * FILE.old written and FILE replaced, each atomically with mode 0600. A rollover
 * that stopped between the CA's answer and the files is completed by running it
 * again (the old key then has no account, the new one has: the files are fixed).
 *
 * Output: "KEY: VALUE" lines on stdout (account, new, status, ...), errors and the
 * CA's problem document on stderr. Exit 0 done, 1 failed, 2 usage. No key, HMAC
 * key or signed request is ever printed.
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "acme/acme.h"
#include "cmd/cli_util.h"
#include "cmd/cmd.h"

#define MAX_CONTACTS 8

typedef struct opts {
	const char *action; /* "register" or "rollover" */
	const char *directory, *ca_file, *key_file, *new_key_file;
	const char *eab_kid, *eab_hmac_arg; /* the argument: the key or @FILE */
	const char *contacts[MAX_CONTACTS];
	size_t ncontacts;
	bool only_existing, verbose;
} opts;

static void usage(FILE *f)
{
	fprintf(f,
		"usage: certfleet account register --directory URL [--ca-file PEM]\n"
		"         --account-key FILE [--email ADDR ...] [--only-existing]\n"
		"         [--eab-kid KID --eab-hmac-key B64URL|@FILE] [--verbose]\n"
		"       certfleet account rollover --directory URL [--ca-file PEM]\n"
		"         --account-key FILE --new-key FILE [--verbose]\n"
		"\n"
		"register: creates the ACME account of the key in FILE, or finds the one it\n"
		"  has (agreeing to the CA's terms of service). FILE is created (P-256, mode\n"
		"  0600) when missing, except with --only-existing, which only looks the\n"
		"  account up and fails with accountDoesNotExist when there is none.\n"
		"  --eab-hmac-key @FILE reads the MAC key from FILE (keeps it out of argv).\n"
		"  Prints 'account: URL' and 'new: yes|no'.\n"
		"rollover: moves the account of --account-key to --new-key (made, P-256,\n"
		"  0600, when missing). Once the CA has accepted it, FILE.old gets the old\n"
		"  key and FILE is replaced by the new one (both 0600, atomically). Run it\n"
		"  again to complete one that stopped after the CA's answer.\n"
		"Exit status: 0 done, 1 failed (the CA's problem document on stderr), 2 usage.\n");
}

static int parse_args(int argc, char **argv, opts *o, cf_err *err)
{
	static const struct option lo[] = {
		{"directory", required_argument, NULL, 'D'}, {"ca-file", required_argument, NULL, 'C'},
		{"account-key", required_argument, NULL, 'A'}, {"new-key", required_argument, NULL, 'N'},
		{"email", required_argument, NULL, 'e'}, {"eab-kid", required_argument, NULL, 'K'},
		{"eab-hmac-key", required_argument, NULL, 'H'},
		{"only-existing", no_argument, NULL, 'O'}, {"verbose", no_argument, NULL, 'v'},
		{"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
	bool reg;
	int c;

	if (argc < 2)
		return cf_err_set(err, CF_ERR_PERMANENT, "expected register or rollover");
	o->action = argv[1];
	if (strcmp(o->action, "--help") == 0 || strcmp(o->action, "-h") == 0 ||
	    strcmp(o->action, "help") == 0) {
		usage(stdout);
		exit(0);
	}
	reg = strcmp(o->action, "register") == 0;
	if (!reg && strcmp(o->action, "rollover") != 0)
		return cf_err_set(err, CF_ERR_PERMANENT, "unknown action '%s' (register, rollover)",
				  o->action);
	optind = 1;
	while ((c = getopt_long(argc - 1, argv + 1, "vh", lo, NULL)) != -1) {
		switch (c) {
		case 'D': o->directory = optarg; break;
		case 'C': o->ca_file = optarg; break;
		case 'A': o->key_file = optarg; break;
		case 'N': o->new_key_file = optarg; break;
		case 'e':
			if (o->ncontacts == MAX_CONTACTS)
				return cf_err_set(err, CF_ERR_PERMANENT, "--email: at most %d",
						  MAX_CONTACTS);
			o->contacts[o->ncontacts++] = optarg;
			break;
		case 'K': o->eab_kid = optarg; break;
		case 'H': o->eab_hmac_arg = optarg; break;
		case 'O': o->only_existing = true; break;
		case 'v': o->verbose = true; break;
		case 'h': usage(stdout); exit(0);
		default: return cf_err_set(err, CF_ERR_PERMANENT, "bad arguments (see --help)");
		}
	}
	if (optind < argc - 1)
		return cf_err_set(err, CF_ERR_PERMANENT, "unexpected argument '%s'", argv[optind + 1]);
	if (o->directory == NULL)
		return cf_err_set(err, CF_ERR_PERMANENT, "--directory is required");
	if (o->key_file == NULL)
		return cf_err_set(err, CF_ERR_PERMANENT, "--account-key is required");
	if (reg) {
		if (o->new_key_file != NULL)
			return cf_err_set(err, CF_ERR_PERMANENT, "--new-key belongs to rollover");
		if (!!o->eab_kid != !!o->eab_hmac_arg)
			return cf_err_set(err, CF_ERR_PERMANENT,
					  "--eab-kid and --eab-hmac-key go together");
	} else {
		if (o->new_key_file == NULL)
			return cf_err_set(err, CF_ERR_PERMANENT, "rollover needs --new-key FILE");
		if (o->ncontacts || o->eab_kid || o->eab_hmac_arg || o->only_existing)
			return cf_err_set(err, CF_ERR_PERMANENT,
					  "rollover takes no --email, --eab-* or --only-existing");
		if (strcmp(o->new_key_file, o->key_file) == 0)
			return cf_err_set(err, CF_ERR_PERMANENT,
					  "--new-key must be another file than --account-key");
	}
	return 0;
}

static cf_acme_client *make_client(const opts *o, const cf_key *key, cf_err *err)
{
	cf_acme_options ao = {0};

	ao.directory_url = o->directory;
	ao.ca_file = o->ca_file;
	ao.on_event = cf_cli_acme_event_print;
	ao.event_arg = (void *)&o->verbose;
	return cf_acme_client_new(&ao, key, err);
}

/* The "type" of the problem document in err, or "". */
static const char *problem_type(const cf_err *err, char *buf, size_t len)
{
	json_t *j = err->problem ? json_loads(err->problem, 0, NULL) : NULL;
	const char *t = json_string_value(json_object_get(j, "type"));

	snprintf(buf, len, "%s", t ? t : "");
	json_decref(j);
	return buf;
}

static bool is_problem(const cf_err *err, const char *short_type)
{
	char t[256];

	problem_type(err, t, sizeof(t));
	return strncmp(t, "urn:ietf:params:acme:error:", 27) == 0 &&
	       strcmp(t + 27, short_type) == 0;
}

static void print_account(const cf_acme_account *a)
{
	printf("account: %s\n", a->url);
	printf("new: %s\n", a->created ? "yes" : "no");
	printf("status: %s\n", cf_acme_status_name(a->status));
}

static int do_register(const opts *o, cf_err *err)
{
	cf_acme_client *c = NULL;
	cf_acme_account_req req = {0};
	cf_acme_account acct = {0};
	const cf_acme_directory *dir = NULL;
	cf_key *key = NULL;
	char *hmac = NULL;
	bool created = false;
	int rc = -1;

	if (o->only_existing && access(o->key_file, F_OK) != 0) {
		cf_err_set(err, CF_ERR_PERMANENT, "--account-key %s: %s (--only-existing makes "
			   "no key)", o->key_file, strerror(errno));
		goto out;
	}
	if ((key = cf_cli_account_key_load_or_create("--account-key", o->key_file, &created,
						     err)) == NULL)
		goto out;
	if (o->eab_hmac_arg && (hmac = cf_cli_secret_arg("--eab-hmac-key", o->eab_hmac_arg,
							  err)) == NULL)
		goto out;
	if ((c = make_client(o, key, err)) == NULL || cf_acme_client_directory(c, &dir, err) != 0)
		goto out;
	printf("key: %s (%s)\n", o->key_file, created ? "created" : "existing");
	if (dir->terms_of_service && !o->only_existing)
		printf("terms of service (agreed): %s\n", dir->terms_of_service);
	fflush(stdout);
	req.contacts = o->contacts;
	req.ncontacts = o->ncontacts;
	req.terms_agreed = true;
	req.only_return_existing = o->only_existing;
	req.eab_kid = o->eab_kid;
	req.eab_hmac_key = hmac;
	if (cf_acme_account_register(c, &req, &acct, err) != 0)
		goto out;
	print_account(&acct);
	rc = 0;
out:
	cf_acme_account_free(&acct);
	cf_acme_client_free(c);
	cf_secret_free(hmac);
	cf_key_free(key);
	return rc;
}

/* The account of key, looked up (onlyReturnExisting); the client keeps it. */
static int find_account(cf_acme_client *c, const cf_key *key, cf_acme_account *out,
			cf_err *err)
{
	cf_acme_account_req req = {.only_return_existing = true};

	cf_acme_client_set_key(c, key);
	return cf_acme_account_register(c, &req, out, err);
}

/* FILE.old = the old key, then FILE = the new key; both 0600, atomically. */
static int replace_key_files(const opts *o, const cf_key *old_key, const cf_key *new_key,
			     cf_err *err)
{
	char old_path[4096];
	char *old_pem = NULL, *new_pem = NULL;
	int rc = -1;

	if ((size_t)snprintf(old_path, sizeof(old_path), "%s.old", o->key_file) >=
	    sizeof(old_path)) {
		cf_err_set(err, CF_ERR_PERMANENT, "--account-key: path too long");
		goto out;
	}
	if ((old_pem = cf_key_to_pem(old_key, err)) == NULL ||
	    (new_pem = cf_key_to_pem(new_key, err)) == NULL ||
	    cf_cli_write_secret_file(old_path, old_pem, err) != 0 ||
	    cf_cli_write_secret_file(o->key_file, new_pem, err) != 0)
		goto out;
	printf("old key kept: %s\n", old_path);
	printf("key replaced: %s\n", o->key_file);
	rc = 0;
out:
	cf_secret_free(old_pem);
	cf_secret_free(new_pem);
	return rc;
}

static int do_rollover(const opts *o, cf_err *err)
{
	cf_acme_client *c = NULL;
	cf_acme_account acct = {0};
	cf_key *old_key = NULL, *new_key = NULL;
	cf_err e2 = {0};
	bool created = false;
	int rc = -1;

	if ((old_key = cf_cli_key_load("--account-key", o->key_file, err)) == NULL ||
	    (new_key = cf_cli_account_key_load_or_create("--new-key", o->new_key_file, &created,
							 err)) == NULL)
		goto out;
	printf("new key: %s (%s)\n", o->new_key_file, created ? "created" : "existing");
	fflush(stdout);
	if ((c = make_client(o, old_key, err)) == NULL)
		goto out;
	if (cf_key_public_equal(old_key, new_key)) {
		/* a rollover completed earlier: FILE already holds the new key */
		if (find_account(c, old_key, &acct, err) != 0)
			goto out;
		print_account(&acct);
		printf("key: unchanged (%s already holds the key of %s)\n", o->key_file,
		       o->new_key_file);
		rc = 0;
		goto out;
	}
	if (find_account(c, old_key, &acct, err) != 0) {
		/* An earlier run may have finished at the CA and stopped before the files:
		 * then the new key has the account. */
		if (!is_problem(err, "accountDoesNotExist") ||
		    find_account(c, new_key, &acct, &e2) != 0)
			goto out;
		cf_err_clear(err);
		print_account(&acct);
		printf("rollover: already done at the CA (the old key has no account, the new "
		       "key has this one); completing the key files\n");
	} else {
		print_account(&acct);
		fflush(stdout);
		if (cf_acme_account_key_change(c, new_key, err) != 0)
			goto out;
		printf("rollover: the CA accepted the new key\n");
	}
	fflush(stdout);
	if (replace_key_files(o, old_key, new_key, err) != 0) {
		cf_err_wrap(err, "the account now uses the key in %s, but the key files could "
			    "not be replaced", o->new_key_file);
		goto out;
	}
	rc = 0;
out:
	cf_err_clear(&e2);
	cf_acme_account_free(&acct);
	cf_acme_client_free(c);
	cf_key_free(old_key);
	cf_key_free(new_key);
	return rc;
}

int cmd_account(int argc, char **argv)
{
	opts o = {0};
	cf_err err = {0};
	int rc;

	if (parse_args(argc, argv, &o, &err) != 0) {
		fprintf(stderr, "certfleet account: %s\n", err.msg);
		usage(stderr);
		cf_err_clear(&err);
		return 2;
	}
	rc = strcmp(o.action, "register") == 0 ? do_register(&o, &err) : do_rollover(&o, &err);
	fflush(stdout);
	if (rc != 0) {
		fprintf(stderr, "certfleet account %s: %s\n", o.action, err.msg);
		if (err.problem)
			fprintf(stderr, "CA problem document: %s\n", err.problem);
	}
	cf_err_clear(&err);
	return rc == 0 ? 0 : 1;
}
