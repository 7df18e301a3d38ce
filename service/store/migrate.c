/*
 * migrate.c: applies migrations/NNNN_name.sql under an advisory lock; see
 * migrate.h.
 *
 * The lock is a session-level advisory lock on a fixed key pair, taken before the
 * bookkeeping table is even created, so two `certfleet migrate` processes started
 * at the same moment serialise completely: the second one waits, then finds every
 * file recorded and does nothing.
 */
#include "store/migrate.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "store/db.h"

/* 'cert' and 1: the advisory lock of the migrator */
#define LOCK_SQL "SELECT pg_advisory_lock(1667592820, 1)"
#define UNLOCK_SQL "SELECT pg_advisory_unlock(1667592820, 1)"

static int cmp_migration(const void *a, const void *b)
{
	return ((const cf_migration *)a)->version - ((const cf_migration *)b)->version;
}

/* "0001_core.sql" -> 1; -1 when the name is not a migration's. */
static int parse_name(const char *f)
{
	size_t len = strlen(f), i;

	if (len < 10 || strcmp(f + len - 4, ".sql") != 0)
		return -1;
	for (i = 0; i < 4; i++)
		if (!isdigit((unsigned char)f[i]))
			return -1;
	if (f[4] != '_')
		return -1;
	for (i = 5; i < len - 4; i++)
		if (!(islower((unsigned char)f[i]) || isdigit((unsigned char)f[i]) || f[i] == '_'))
			return -1;
	return atoi(f);
}

int cf_migrations_list(const char *dir, cf_migration **out, size_t *n, cf_err *err)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	cf_migration *m = NULL, *tmp;
	size_t cnt = 0, i;
	int rc = -1;

	if (d == NULL)
		return cf_err_set(err, CF_ERR_PERMANENT,
				  "CERTFLEET_MIGRATIONS_DIR: cannot open %s: %s", dir,
				  strerror(errno));
	while ((e = readdir(d)) != NULL) {
		int v;
		size_t len = strlen(e->d_name);

		if (len < 4 || strcmp(e->d_name + len - 4, ".sql") != 0)
			continue;
		v = parse_name(e->d_name);
		if (v <= 0) {
			cf_err_set(err, CF_ERR_PERMANENT,
				   "migration %s/%s: name must be NNNN_lower_case.sql", dir,
				   e->d_name);
			goto out;
		}
		tmp = realloc(m, (cnt + 1) * sizeof(*m));
		if (tmp == NULL)
			goto out;
		m = tmp;
		m[cnt].version = v;
		m[cnt].name = strndup(e->d_name, len - 4);
		m[cnt].path = malloc(strlen(dir) + len + 2);
		if (m[cnt].path != NULL)
			sprintf(m[cnt].path, "%s/%s", dir, e->d_name);
		cnt++;
		if (m[cnt - 1].name == NULL || m[cnt - 1].path == NULL)
			goto out;
	}
	qsort(m, cnt, sizeof(*m), cmp_migration);
	for (i = 1; i < cnt; i++) {
		if (m[i].version == m[i - 1].version) {
			cf_err_set(err, CF_ERR_PERMANENT, "migrations %s and %s share version %d",
				   m[i - 1].name, m[i].name, m[i].version);
			goto out;
		}
	}
	*out = m;
	*n = cnt;
	m = NULL;
	rc = 0;
out:
	if (rc != 0 && err && err->cls == CF_ERR_NONE)
		cf_err_oom(err, "migrations");
	cf_migrations_free(m, cnt);
	closedir(d);
	return rc;
}

void cf_migrations_free(cf_migration *m, size_t n)
{
	if (m == NULL)
		return;
	for (size_t i = 0; i < n; i++) {
		free(m[i].name);
		free(m[i].path);
	}
	free(m);
}

static char *read_all(const char *path, cf_err *err)
{
	FILE *f = fopen(path, "r");
	cf_buf b = {0};
	char chunk[8192];
	size_t r;

	if (f == NULL) {
		cf_err_set(err, CF_ERR_PERMANENT, "cannot read %s: %s", path, strerror(errno));
		return NULL;
	}
	while ((r = fread(chunk, 1, sizeof(chunk), f)) > 0)
		if (cf_buf_append(&b, chunk, r) != 0)
			break;
	fclose(f);
	return cf_buf_steal(&b);
}

static void sha256_hex(const char *s, char out[65])
{
	uint8_t d[32];

	cf_sha256(s, strlen(s), d);
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
}

/* Applies one file in its own transaction, or checks its recorded checksum. */
static int apply_one(PGconn *c, const cf_migration *m, FILE *log, int *applied, cf_err *err)
{
	char *sql = NULL, sum[65], ver[16];
	const char *p[3];
	PGresult *r = NULL;
	int rc = -1;

	if ((sql = read_all(m->path, err)) == NULL)
		goto out;
	sha256_hex(sql, sum);
	snprintf(ver, sizeof(ver), "%d", m->version);
	p[0] = ver;
	r = cf_db_exec(c, "schema_migrations", "SELECT checksum FROM schema_migrations "
		       "WHERE version = $1", 1, p, err);
	if (r == NULL)
		goto out;
	if (PQntuples(r) == 1) {
		if (strcmp(PQgetvalue(r, 0, 0), sum) != 0) {
			cf_err_set(err, CF_ERR_PERMANENT,
				   "migration %s was changed after it was applied "
				   "(migrations are forward-only: add a new file instead)",
				   m->name);
			goto out;
		}
		rc = 0;
		goto out;
	}
	if (cf_db_begin(c, err) != 0)
		goto out;
	PQclear(r);
	r = PQexec(c, sql); /* simple protocol: the file may hold many statements */
	if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK) {
		char msg[512];
		snprintf(msg, sizeof(msg), "%s", PQresultErrorMessage(r));
		msg[strcspn(msg, "\n")] = '\0';
		cf_err_set(err, CF_ERR_PERMANENT, "migration %s failed: %s", m->name, msg);
		cf_db_rollback(c);
		goto out;
	}
	p[1] = m->name;
	p[2] = sum;
	if (cf_db_run(c, "schema_migrations", "INSERT INTO schema_migrations "
		      "(version, name, checksum) VALUES ($1, $2, $3)", 3, p, err) != 0 ||
	    cf_db_commit(c, err) != 0) {
		cf_db_rollback(c);
		goto out;
	}
	(*applied)++;
	if (log)
		fprintf(log, "migrate: applied %s\n", m->name);
	rc = 0;
out:
	PQclear(r);
	free(sql);
	return rc;
}

int cf_migrate(PGconn *c, const char *dir, FILE *log, cf_err *err)
{
	cf_migration *m = NULL;
	size_t n = 0, i;
	int applied = 0, rc = -1, locked = 0;

	if (cf_migrations_list(dir, &m, &n, err) != 0)
		goto out;
	if (cf_db_run(c, "advisory lock", LOCK_SQL, 0, NULL, err) != 0)
		goto out;
	locked = 1;
	if (cf_db_run(c, "schema_migrations",
		      "CREATE TABLE IF NOT EXISTS schema_migrations ("
		      " version integer PRIMARY KEY,"
		      " name text NOT NULL,"
		      " checksum text NOT NULL,"
		      " applied_at timestamptz NOT NULL DEFAULT now())",
		      0, NULL, err) != 0)
		goto out;
	for (i = 0; i < n; i++)
		if (apply_one(c, &m[i], log, &applied, err) != 0)
			goto out;
	if (log && applied == 0)
		fprintf(log, "migrate: schema is current (version %d)\n",
			n ? m[n - 1].version : 0);
	rc = applied;
out:
	if (locked)
		PQclear(PQexec(c, UNLOCK_SQL));
	cf_migrations_free(m, n);
	return rc;
}

int cf_migrate_current(PGconn *c, cf_err *err)
{
	PGresult *r;
	int v;

	r = cf_db_exec(c, "schema version",
		       "SELECT coalesce(max(version), 0) FROM schema_migrations", 0, NULL, err);
	if (r == NULL)
		return -1;
	v = atoi(PQgetvalue(r, 0, 0));
	PQclear(r);
	return v;
}
