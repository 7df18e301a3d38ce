/*
 * db.h: PostgreSQL access on libpq: a small connection pool and the helpers every
 * store file uses (parameterised exec with error reporting, transactions).
 *
 * The pool hands a PGconn to one thread at a time. A connection that failed
 * (the server went away) is released as broken and replaced lazily, so the service
 * recovers from a database restart without restarting itself.
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
 * fails (err says why; class transient). */
PGconn *cf_db_acquire(cf_db_pool *pool, cf_err *err);
/* Returns a connection; broken = true closes it (it will be replaced). */
void cf_db_release(cf_db_pool *pool, PGconn *conn, bool broken);
void cf_db_pool_free(cf_db_pool *pool);

/* Runs a parameterised statement (text parameters, text results). Returns the
 * result (caller PQclear()s it) when its status is COMMAND_OK or TUPLES_OK;
 * otherwise NULL with "what: <server message>" in err. *broken (may be NULL) is
 * set when the connection itself is gone. */
PGresult *cf_db_exec(PGconn *conn, const char *what, const char *sql, int nparams,
		     const char *const *params, bool *broken, cf_err *err);
/* Same with binary-capable parameters (lengths and formats per parameter). */
PGresult *cf_db_execb(PGconn *conn, const char *what, const char *sql, int nparams,
		      const char *const *params, const int *lengths, const int *formats,
		      bool *broken, cf_err *err);
/* exec + PQclear for statements without results. */
int cf_db_run(PGconn *conn, const char *what, const char *sql, int nparams,
	      const char *const *params, bool *broken, cf_err *err);

#endif
