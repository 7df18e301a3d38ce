/*
 * db.h: PostgreSQL access on libpq: a small connection pool and the helpers every
 * store file uses: parameterised exec with error reporting, the one test of
 * whether a connection is gone (cf_db_lost), and BEGIN / COMMIT / ROLLBACK.
 *
 * The pool hands a PGconn to one thread at a time. A connection that failed
 * (the server went away) is released as lost and replaced lazily, so the service
 * recovers from a database restart without restarting itself.
 *
 * Store functions report errors in a cf_err only; a caller that must know whether
 * the connection itself is gone (to release or drop it) asks cf_db_lost(conn)
 * afterwards, rather than every store function threading a flag back.
 */
#ifndef CERTFLEET_STORE_DB_H
#define CERTFLEET_STORE_DB_H

#include <libpq-fe.h>
#include <stdbool.h>

#include "util/err.h"

typedef struct cf_db_pool cf_db_pool;

/* Opens a connection with a bounded connect timeout (5 s unless the URL sets one)
 * and application_name=certfleet. Returns NULL with the libpq message in err. */
PGconn *cf_db_connect(const char *url, cf_err *err);

/* A pool of at most size connections (created on demand). Returns NULL on OOM. */
cf_db_pool *cf_db_pool_new(const char *url, int size);
/* Takes a connection, waiting for one when all are in use. NULL when connecting
 * fails or the wait ran out (err says why; class transient). */
PGconn *cf_db_acquire(cf_db_pool *pool, cf_err *err);
/* Bounds cf_db_acquire's wait for a free connection to ms (0, the default: no
 * bound); after it, cf_db_acquire returns NULL with a transient error. */
void cf_db_pool_set_acquire_timeout(cf_db_pool *pool, int ms);
/* Returns a connection; broken = true closes it (it will be replaced). Callers pass
 * cf_db_lost(conn). A connection left inside a transaction is closed as well. */
void cf_db_release(cf_db_pool *pool, PGconn *conn, bool broken);
void cf_db_pool_free(cf_db_pool *pool);

/* true when the connection itself is gone (PQstatus is no longer CONNECTION_OK):
 * libpq marks it CONNECTION_BAD as soon as a statement finds the socket broken
 * (server restart, network cut), so after a failed cf_db_exec this tells a lost
 * connection (err is transient, the connection must be dropped) from a statement
 * the server refused (the connection is still usable). false for NULL: there is
 * no connection to lose. */
bool cf_db_lost(const PGconn *conn);

/* Runs a parameterised statement (text parameters, text results). Returns the
 * result (caller PQclear()s it) when its status is COMMAND_OK or TUPLES_OK;
 * otherwise NULL with "what: <server message>" in err, classed transient when
 * the connection was lost (cf_db_lost) and permanent otherwise. */
PGresult *cf_db_exec(PGconn *conn, const char *what, const char *sql, int nparams,
		     const char *const *params, cf_err *err);
/* Same with binary-capable parameters (lengths and formats per parameter). */
PGresult *cf_db_execb(PGconn *conn, const char *what, const char *sql, int nparams,
		      const char *const *params, const int *lengths, const int *formats,
		      cf_err *err);
/* The same as cf_db_exec / cf_db_execb for the hot statements of the workers: sql
 * is prepared once per connection (PQprepare; by the calling thread, which keeps
 * the names in a small table of its own keyed by connection and SQL pointer) and
 * then only executed, which spares PostgreSQL the parsing and planning. sql must
 * be a string with static storage (its address is the key): never text built at
 * run time. A session that lost its prepared statements (DISCARD ALL, a pooler in
 * transaction mode) has them prepared again; the statement that found one gone
 * runs unprepared, or inside a transaction fails (a retry prepares it again). */
PGresult *cf_db_execp(PGconn *conn, const char *what, const char *sql, int nparams,
		      const char *const *params, cf_err *err);
PGresult *cf_db_execbp(PGconn *conn, const char *what, const char *sql, int nparams,
		       const char *const *params, const int *lengths, const int *formats,
		       cf_err *err);
/* exec + PQclear for statements without results. */
CF_MUST_CHECK int cf_db_run(PGconn *conn, const char *what, const char *sql, int nparams,
	      const char *const *params, cf_err *err);

/* Transactions, one spelling for every store file and caller:
 * cf_db_begin / cf_db_commit run BEGIN / COMMIT and return 0, or -1 with err (a
 * failed COMMIT has rolled back on the server). cf_db_rollback is best effort: it
 * sends ROLLBACK only when the connection is inside a transaction (active or
 * failed), ignores its outcome and never touches an err, so the caller's first
 * error is the one reported; on a lost connection it does nothing (the server
 * rolled back when the session ended, and cf_db_lost still says so). */
CF_MUST_CHECK int cf_db_begin(PGconn *conn, cf_err *err);
CF_MUST_CHECK int cf_db_commit(PGconn *conn, cf_err *err);
void cf_db_rollback(PGconn *conn);

/* Whether url keeps sessions, as LISTEN and session advisory locks need (pooler.c):
 * 1 yes (PostgreSQL, or a pooler in session mode), 0 no (a pooler in transaction or
 * statement mode; err is left clear), -1 could not tell (err: connecting or a
 * statement failed). Opens two connections for the moment of the probe. */
int cf_db_sessions_kept(const char *url, cf_err *err);

#endif
