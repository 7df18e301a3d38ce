/*
 * migrate_cmd.c: `certfleet migrate [--config FILE]`: applies the pending
 * migrations of CERTFLEET_MIGRATIONS_DIR to CERTFLEET_DATABASE_URL. Safe to run
 * from several replicas at once (see store/migrate.c); a second run is a no-op.
 */
#include <stdio.h>
#include <string.h>

#include "cmd/cmd.h"
#include "config.h"
#include "store/db.h"
#include "store/migrate.h"

int cmd_migrate(int argc, char **argv)
{
	cf_config cfg = {0};
	cf_err err = {0};
	const char *file = NULL;
	PGconn *c = NULL;
	int rc = 1;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
			file = argv[++i];
		} else {
			fprintf(stderr, "usage: certfleet migrate [--config FILE]\n");
			return 2;
		}
	}
	if (cf_config_load(&cfg, file, &err) != 0)
		goto out;
	if ((c = cf_db_connect(cf_config_session_url(&cfg), &err)) == NULL)
		goto out;
	if (cf_migrate(c, cfg.migrations_dir, stdout, &err) < 0)
		goto out;
	rc = 0;
out:
	if (rc != 0)
		fprintf(stderr, "certfleet migrate: %s\n", err.msg);
	PQfinish(c);
	cf_config_free(&cfg);
	cf_err_clear(&err);
	return rc;
}
