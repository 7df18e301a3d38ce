/*
 * pooler.c: whether a database URL keeps sessions (a direct PostgreSQL or a pooler
 * in session mode), or hands each transaction to whichever server connection is
 * free (PgBouncer in transaction or statement mode). certfleet's listeners (LISTEN
 * / NOTIFY) and its session advisory locks need kept sessions: through a
 * transaction pooler a LISTEN lands on a server connection that the next client
 * then uses, notifications are lost without an error, and an advisory lock is held
 * by nobody in particular. serve checks its session URL at start (cmd/serve.c).
 *
 * The probe needs no knowledge of the pooler: two connections A and B. A opens a
 * transaction (a pooler must then give it a server connection of its own) and
 * reads pg_backend_pid(); B reads its backend pid; A commits; B reads it again.
 * With kept sessions B's backend never changes. A transaction pooler releases B's
 * server connection after each statement and A's at its commit, and then gives B
 * one of them; three rounds make a round-robin pooler show itself as well. A
 * pooler in statement mode refuses the BEGIN, which counts the same.
 */
#include "store/db.h"

#include <stdio.h>
#include <string.h>

#define POOLER_ROUNDS 3

/* pg_backend_pid() on c into pid; -1 (err) when the statement failed. */
static int backend_pid(PGconn *c, char *pid, size_t size, cf_err *err)
{
	PGresult *r = cf_db_exec(c, "pooler probe", "SELECT pg_backend_pid()", 0, NULL, err);

	if (r == NULL)
		return -1;
	snprintf(pid, size, "%s", PQgetvalue(r, 0, 0));
	PQclear(r);
	return 0;
}

int cf_db_sessions_kept(const char *url, cf_err *err)
{
	PGconn *a = NULL, *b = NULL;
	char pa[32], pb[32], pb2[32];
	int rc = -1, round;

	if ((a = cf_db_connect(url, err)) == NULL || (b = cf_db_connect(url, err)) == NULL)
		goto out;
	for (round = 0; round < POOLER_ROUNDS; round++) {
		if (cf_db_begin(a, err) != 0) {
			/* A server always accepts BEGIN: a pooler in statement mode does not. */
			rc = cf_db_lost(a) ? -1 : 0;
			goto out;
		}
		if (backend_pid(a, pa, sizeof(pa), err) != 0 ||
		    backend_pid(b, pb, sizeof(pb), err) != 0 || cf_db_commit(a, err) != 0 ||
		    backend_pid(b, pb2, sizeof(pb2), err) != 0)
			goto out;
		if (strcmp(pb, pb2) != 0 || strcmp(pa, pb) == 0) {
			rc = 0;
			goto out;
		}
	}
	rc = 1;
out:
	if (a != NULL)
		PQfinish(a);
	if (b != NULL)
		PQfinish(b);
	return rc;
}
