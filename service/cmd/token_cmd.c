/*
 * token_cmd.c: `certfleet token create|list|revoke`: API tokens, managed straight
 * in the database (CERTFLEET_DATABASE_URL), which is how the first admin token
 * comes to exist.
 *
 *   certfleet token create --role admin|host|keys --name NAME [--expires 90d]
 *       prints the token ("cf_<id>_<secret>") once, alone on stdout; only its
 *       HMAC (keyed by a key derived from the master key, which create therefore
 *       needs) is stored, so it cannot be shown again. A host token's name is the
 *       host name that certificates list in "hosts". Whoever can run this with
 *       the database's credentials can make any token: it is the one way to make
 *       a keys token (README "Who gets the key").
 *   certfleet token list [--json]
 *   certfleet token revoke NAME | --id ID
 *
 * Creation and revocation write an audit event (actor "cli", no token id) in
 * the same transaction. The names "cli", "worker" and "db:*" are refused. Every
 * form takes --config FILE like the other commands.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/validate.h"
#include "cmd/cmd.h"
#include "config.h"
#include "crypto/crypto.h"
#include "store/audit.h"
#include "store/db.h"
#include "store/tokens.h"

#define ACTOR "cli"
#define ADDRESS "local"

static int usage(void)
{
	fprintf(stderr,
		"usage: certfleet token create --role admin|host|keys --name NAME [--expires 90d]\n"
		"       certfleet token list [--json]\n"
		"       certfleet token revoke NAME | --id ID\n"
		"(each takes --config FILE; the database is CERTFLEET_DATABASE_URL)\n");
	return 2;
}

typedef struct token_args {
	const char *config, *role, *name, *expires, *id;
	int json;
	/* results, shown only once the transaction has committed */
	char *token;       /* create: the new token (wiped with cf_secret_free) */
	char token_id[CF_TOKEN_ID_LEN + 1];
	json_t *revoked;   /* revoke: the ids revoked */
} token_args;

/* Parses argv[2..] (argv[1] is the verb). Returns 0, or -1 on a usage error. */
static int parse_args(int argc, char **argv, token_args *a)
{
	for (int i = 2; i < argc; i++) {
		const char **slot = NULL;

		if (strcmp(argv[i], "--config") == 0)
			slot = &a->config;
		else if (strcmp(argv[i], "--role") == 0)
			slot = &a->role;
		else if (strcmp(argv[i], "--name") == 0)
			slot = &a->name;
		else if (strcmp(argv[i], "--expires") == 0)
			slot = &a->expires;
		else if (strcmp(argv[i], "--id") == 0)
			slot = &a->id;
		else if (strcmp(argv[i], "--json") == 0)
			a->json = 1;
		else if (argv[i][0] != '-' && a->name == NULL)
			a->name = argv[i]; /* revoke NAME */
		else
			return -1;
		if (slot != NULL) {
			if (i + 1 >= argc)
				return -1;
			*slot = argv[++i];
		}
	}
	return 0;
}

static int run_in_txn(PGconn *c, int (*fn)(PGconn *, token_args *, cf_err *), token_args *a,
		      cf_err *err)
{
	if (cf_db_begin(c, err) != 0)
		return -1;
	if (fn(c, a, err) != 0) {
		cf_db_rollback(c);
		return -1;
	}
	return cf_db_commit(c, err);
}

static int do_create(PGconn *c, token_args *a, cf_err *err)
{
	char *id = a->token_id;
	cf_role role = cf_role_parse(a->role);
	long expires = 0;
	json_t *detail = NULL;
	int rc = -1;

	if (role == CF_ROLE_NONE)
		return cf_err_set(err, CF_ERR_PERMANENT, "--role: expected admin, host or keys");
	if (!cf_valid_token_name(a->name))
		return cf_err_set(err, CF_ERR_PERMANENT,
				  "--name: expected 1-128 of A-Z a-z 0-9 . _ @ - (starting with a "
				  "letter or digit)");
	if (cf_token_name_reserved(a->name))
		return cf_err_set(err, CF_ERR_PERMANENT,
				  "--name: \"%s\" is reserved (cli, worker and db:* are the audit "
				  "trail's own actors)", a->name);
	if (role == CF_ROLE_HOST && !cf_valid_host(a->name))
		return cf_err_set(err, CF_ERR_PERMANENT,
				  "--name: a host token is named after its host: lower-case "
				  "labels of a-z, 0-9 and '-', joined by dots");
	if (a->expires != NULL && cf_parse_duration(a->expires, &expires) != 0)
		return cf_err_set(err, CF_ERR_PERMANENT,
				  "--expires: expected a duration such as 90d, 12h, 30m or 3600s");
	if (cf_token_create(c, a->name, role, expires, &a->token, id, err) != 0)
		goto out;
	detail = json_pack("{s:s, s:s, s:I}", "name", a->name, "role", cf_role_name(role),
			   "expires_in_s", (json_int_t)expires);
	if (cf_audit_write(c, ACTOR, NULL, "token.create", id, ADDRESS, detail, err) != 0)
		goto out;
	rc = 0;
out:
	json_decref(detail);
	return rc;
}

static int do_revoke(PGconn *c, token_args *a, cf_err *err)
{
	json_t *ids = NULL;
	size_t i;
	int n, rc = -1;

	if ((a->name == NULL) == (a->id == NULL))
		return cf_err_set(err, CF_ERR_PERMANENT, "revoke: give a NAME or --id ID");
	n = cf_token_revoke(c, a->id ? NULL : a->name, a->id, CF_ROLE_NONE, &ids, err);
	if (n < 0)
		goto out;
	if (n == 0) {
		cf_err_set(err, CF_ERR_PERMANENT, "no live token %s %s", a->id ? "with id" : "named",
			   a->id ? a->id : a->name);
		goto out;
	}
	for (i = 0; i < json_array_size(ids); i++) {
		const char *id = json_string_value(json_array_get(ids, i));
		json_t *d = json_pack("{s:s}", "by", a->id ? "id" : "name");

		if (cf_audit_write(c, ACTOR, NULL, "token.revoke", id, ADDRESS, d, err) != 0) {
			json_decref(d);
			goto out;
		}
		json_decref(d);
	}
	a->revoked = ids;
	ids = NULL;
	rc = 0;
out:
	json_decref(ids);
	return rc;
}

static const char *or_dash(const json_t *v)
{
	return json_is_string(v) ? json_string_value(v) : "-";
}

static int do_list(PGconn *c, token_args *a, cf_err *err)
{
	json_t *list = NULL, *t;
	size_t i;

	if (cf_token_list(c, &list, err) != 0)
		return -1;
	if (a->json) {
		json_dumpf(list, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		printf("\n");
	} else {
		printf("%-12s  %-20s  %-5s  %-24s  %-24s  %-24s  %s\n", "ID", "NAME", "ROLE",
		       "CREATED", "EXPIRES", "REVOKED", "LAST USED");
		json_array_foreach(list, i, t)
			printf("%-12s  %-20s  %-5s  %-24s  %-24s  %-24s  %s\n",
			       or_dash(json_object_get(t, "id")), or_dash(json_object_get(t, "name")),
			       or_dash(json_object_get(t, "role")),
			       or_dash(json_object_get(t, "created_at")),
			       or_dash(json_object_get(t, "expires_at")),
			       or_dash(json_object_get(t, "revoked_at")),
			       or_dash(json_object_get(t, "last_used_at")));
	}
	json_decref(list);
	return 0;
}

int cmd_token(int argc, char **argv)
{
	token_args a = { 0 };
	cf_config cfg = { 0 };
	cf_err err = { 0 };
	PGconn *c = NULL;
	int rc = 1, r = -1;

	if (argc < 2 || parse_args(argc, argv, &a) != 0)
		return usage();
	if (strcmp(argv[1], "create") != 0 && strcmp(argv[1], "list") != 0 &&
	    strcmp(argv[1], "revoke") != 0)
		return usage();
	if (strcmp(argv[1], "create") == 0 && (a.role == NULL || a.name == NULL))
		return usage();
	if (cf_config_load(&cfg, a.config, &err) != 0)
		goto out;
	if (strcmp(argv[1], "create") == 0) {
		uint8_t master[32];
		int k = cf_config_master_key(&cfg, master, &err);

		if (k == 0 && cf_tokens_init(master) != 0)
			k = cf_err_set(&err, CF_ERR_PERMANENT, "deriving the token key failed");
		cf_wipe(master, sizeof(master));
		if (k != 0)
			goto out;
	}
	if ((c = cf_db_connect(cfg.database_url, &err)) == NULL)
		goto out;
	if (strcmp(argv[1], "create") == 0)
		r = run_in_txn(c, do_create, &a, &err);
	else if (strcmp(argv[1], "revoke") == 0)
		r = run_in_txn(c, do_revoke, &a, &err);
	else
		r = do_list(c, &a, &err);
	if (r != 0)
		goto out;
	if (a.token != NULL) {
		/* alone on stdout, the rest on stderr: `t=$(certfleet token create ...)` */
		printf("%s\n", a.token);
		fprintf(stderr, "token %s created for %s (role %s%s%s); this is the only time it "
			"is shown\n", a.token_id, a.name, a.role, a.expires ? ", expires in " : "",
			a.expires ? a.expires : "");
	}
	for (size_t i = 0; i < json_array_size(a.revoked); i++)
		printf("revoked %s\n", json_string_value(json_array_get(a.revoked, i)));
	rc = 0;
out:
	cf_secret_free(a.token);
	json_decref(a.revoked);
	if (rc != 0)
		fprintf(stderr, "certfleet token %s: %s\n", argv[1], err.msg);
	PQfinish(c);
	cf_tokens_done();
	cf_config_free(&cfg);
	cf_err_clear(&err);
	return rc;
}
