/*
 * migrate.h: forward-only schema migrations.
 *
 * Migrations are the files `NNNN_name.sql` of one folder, applied in order of NNNN,
 * each in its own transaction, under a PostgreSQL advisory lock so that replicas
 * starting together apply each file exactly once. Applied files are recorded in
 * `schema_migrations` with a SHA-256 of their text; a recorded file whose text has
 * changed since is an error (migrations are never edited once applied).
 */
#ifndef CERTFLEET_STORE_MIGRATE_H
#define CERTFLEET_STORE_MIGRATE_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdio.h>

#include "util/err.h"

typedef struct cf_migration {
	int version;
	char *name; /* file name without .sql, e.g. "0001_core" */
	char *path;
} cf_migration;

/* Lists the migrations of dir sorted by version; rejects files that look like
 * migrations but are misnamed, and duplicate versions. Free with cf_migrations_free. */
CF_MUST_CHECK int cf_migrations_list(const char *dir, cf_migration **out, size_t *n, cf_err *err);
void cf_migrations_free(cf_migration *m, size_t n);

/* Applies what is missing. Progress lines go to log (may be NULL). Returns the
 * number applied (0 when the schema was current) or -1. */
CF_MUST_CHECK int cf_migrate(PGconn *conn, const char *dir, FILE *log, cf_err *err);

/* The highest applied version (0 when none; -1 on error, e.g. database down). */
CF_MUST_CHECK int cf_migrate_current(PGconn *conn, cf_err *err);

#endif
