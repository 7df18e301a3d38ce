/*
 * db.c: libpq connection pool and exec helpers; see db.h.
 */
#include "store/db.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/clock.h"

struct cf_db_pool {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	char *url;
	PGconn **idle;
	int nidle;
	int open; /* connections that exist: idle + lent out */
	int size;
	int acquire_timeout_ms; /* 0 = wait as long as it takes */
};

PGconn *cf_db_connect(const char *url, cf_err *err)
{
	const char *keys[] = {"dbname", "connect_timeout", "application_name", NULL};
	const char *vals[] = {url, "5", "certfleet", NULL};
	PGconn *c;

	/* expand_dbname=1: the URL's own settings win over these defaults */
	c = PQconnectdbParams(keys, vals, 1);
	if (c == NULL) {
		cf_err_oom(err, "database");
		return NULL;
	}
	if (PQstatus(c) != CONNECTION_OK) {
		char msg[512];
		snprintf(msg, sizeof(msg), "%s", PQerrorMessage(c));
		msg[strcspn(msg, "\n")] = '\0';
		cf_err_set(err, CF_ERR_TRANSIENT, "database: cannot connect: %s", msg);
		PQfinish(c);
		return NULL;
	}
	return c;
}

cf_db_pool *cf_db_pool_new(const char *url, int size)
{
	cf_db_pool *p = calloc(1, sizeof(*p));
	pthread_condattr_t ca;

	if (p == NULL)
		return NULL;
	p->url = strdup(url);
	p->idle = calloc((size_t)size, sizeof(PGconn *));
	if (p->url == NULL || p->idle == NULL) {
		free(p->url);
		free(p->idle);
		free(p);
		return NULL;
	}
	p->size = size;
	pthread_mutex_init(&p->mu, NULL);
	/* CLOCK_MONOTONIC: cf_db_acquire's timed wait uses cf_clock_deadline */
	if (pthread_condattr_init(&ca) != 0 || pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) != 0 ||
	    pthread_cond_init(&p->cv, &ca) != 0) {
		pthread_mutex_destroy(&p->mu);
		free(p->url);
		free(p->idle);
		free(p);
		return NULL;
	}
	pthread_condattr_destroy(&ca);
	return p;
}

PGconn *cf_db_acquire(cf_db_pool *p, cf_err *err)
{
	PGconn *c = NULL;
	struct timespec until = cf_clock_deadline(p->acquire_timeout_ms / 1000.0);

	pthread_mutex_lock(&p->mu);
	while (p->nidle == 0 && p->open >= p->size) {
		if (p->acquire_timeout_ms <= 0) {
			pthread_cond_wait(&p->cv, &p->mu);
		} else if (pthread_cond_timedwait(&p->cv, &p->mu, &until) != 0 &&
			   p->nidle == 0 && p->open >= p->size) {
			pthread_mutex_unlock(&p->mu);
			cf_err_set(err, CF_ERR_TRANSIENT, "database: no pool connection free "
				   "within %d ms (all %d in use)", p->acquire_timeout_ms, p->size);
			return NULL;
		}
	}
	if (p->nidle > 0) {
		c = p->idle[--p->nidle];
		pthread_mutex_unlock(&p->mu);
		if (PQstatus(c) == CONNECTION_OK)
			return c;
		PQfinish(c);
		pthread_mutex_lock(&p->mu);
		p->open--;
	}
	p->open++; /* reserve the slot, connect outside the lock */
	pthread_mutex_unlock(&p->mu);
	c = cf_db_connect(p->url, err);
	if (c == NULL) {
		pthread_mutex_lock(&p->mu);
		p->open--;
		pthread_cond_signal(&p->cv);
		pthread_mutex_unlock(&p->mu);
	}
	return c;
}

void cf_db_pool_set_acquire_timeout(cf_db_pool *p, int ms)
{
	pthread_mutex_lock(&p->mu);
	p->acquire_timeout_ms = ms;
	pthread_mutex_unlock(&p->mu);
}

void cf_db_release(cf_db_pool *p, PGconn *c, bool broken)
{
	if (c == NULL)
		return;
	if (!broken && PQtransactionStatus(c) != PQTRANS_IDLE)
		broken = true; /* never hand out a connection inside a transaction */
	pthread_mutex_lock(&p->mu);
	if (broken || PQstatus(c) != CONNECTION_OK) {
		PQfinish(c);
		p->open--;
	} else {
		p->idle[p->nidle++] = c;
	}
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

void cf_db_pool_free(cf_db_pool *p)
{
	if (p == NULL)
		return;
	for (int i = 0; i < p->nidle; i++)
		PQfinish(p->idle[i]);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv);
	free(p->idle);
	free(p->url);
	free(p);
}

bool cf_db_lost(const PGconn *conn)
{
	return conn != NULL && PQstatus(conn) != CONNECTION_OK;
}

/* The statements prepared by this thread, keyed by (connection, its backend PID,
 * SQL text pointer): a thread-local table, so no lock; the PID tells a new
 * connection at a reused address from the old one. A full table reuses its slots
 * in turn (the statement then stays prepared on its connection, unused). */
#define CF_DB_PREP_MAX 32

typedef struct prep_slot {
	const PGconn *conn;
	int pid;
	const char *sql;
	char name[24];
} prep_slot;

static _Thread_local prep_slot prep_cache[CF_DB_PREP_MAX];
static _Thread_local unsigned prep_next;
static atomic_ulong prep_seq; /* statement names, unique in the process */

/* The name of sql prepared on conn (prepared now when it is not yet), or NULL
 * when it cannot be prepared (the caller runs it unprepared, which reports why). */
static const char *prepared(PGconn *conn, const char *sql, int nparams)
{
	int pid = PQbackendPID(conn);
	prep_slot *s;
	PGresult *r;

	for (int i = 0; i < CF_DB_PREP_MAX; i++)
		if (prep_cache[i].sql == sql && prep_cache[i].conn == conn &&
		    prep_cache[i].pid == pid)
			return prep_cache[i].name;
	s = &prep_cache[prep_next++ % CF_DB_PREP_MAX];
	memset(s, 0, sizeof(*s));
	snprintf(s->name, sizeof(s->name), "cf_%lu", atomic_fetch_add(&prep_seq, 1));
	r = PQprepare(conn, s->name, sql, nparams, NULL);
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		PQclear(r);
		memset(s, 0, sizeof(*s));
		return NULL;
	}
	PQclear(r);
	s->conn = conn;
	s->pid = pid;
	s->sql = sql;
	return s->name;
}

/* The session no longer has the statement (26000: DISCARD ALL, a pooler between us
 * and the server): forget every statement of the connection. true when the
 * statement can run again unprepared (outside a transaction). */
static bool prepared_gone(PGconn *conn, const PGresult *r)
{
	const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;

	if (state == NULL || strcmp(state, "26000") != 0)
		return false;
	for (int i = 0; i < CF_DB_PREP_MAX; i++)
		if (prep_cache[i].conn == conn)
			memset(&prep_cache[i], 0, sizeof(prep_cache[i]));
	return PQtransactionStatus(conn) == PQTRANS_IDLE;
}

static PGresult *exec_any(PGconn *conn, const char *what, const char *sql, bool cached,
			  int nparams, const char *const *params, const int *lengths,
			  const int *formats, cf_err *err)
{
	const char *name = cached ? prepared(conn, sql, nparams) : NULL;
	PGresult *r = name ? PQexecPrepared(conn, name, nparams, params, lengths, formats, 0)
			   : PQexecParams(conn, sql, nparams, NULL, params, lengths, formats, 0);
	ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
	char msg[512];

	if (name != NULL && st == PGRES_FATAL_ERROR && prepared_gone(conn, r)) {
		PQclear(r);
		r = PQexecParams(conn, sql, nparams, NULL, params, lengths, formats, 0);
		st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
	}

	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
		return r;
	snprintf(msg, sizeof(msg), "%s",
		 r ? PQresultErrorMessage(r) : PQerrorMessage(conn));
	msg[strcspn(msg, "\n")] = '\0';
	if (cf_db_lost(conn)) {
		cf_err_set(err, CF_ERR_TRANSIENT, "%s: database connection lost: %s", what,
			   msg);
	} else {
		cf_err_set(err, CF_ERR_PERMANENT, "%s: %s", what, msg);
	}
	PQclear(r);
	return NULL;
}

PGresult *cf_db_execb(PGconn *conn, const char *what, const char *sql, int nparams,
		      const char *const *params, const int *lengths, const int *formats,
		      cf_err *err)
{
	return exec_any(conn, what, sql, false, nparams, params, lengths, formats, err);
}

PGresult *cf_db_exec(PGconn *conn, const char *what, const char *sql, int nparams,
		     const char *const *params, cf_err *err)
{
	return exec_any(conn, what, sql, false, nparams, params, NULL, NULL, err);
}

PGresult *cf_db_execp(PGconn *conn, const char *what, const char *sql, int nparams,
		      const char *const *params, cf_err *err)
{
	return exec_any(conn, what, sql, true, nparams, params, NULL, NULL, err);
}

PGresult *cf_db_execbp(PGconn *conn, const char *what, const char *sql, int nparams,
		       const char *const *params, const int *lengths, const int *formats,
		       cf_err *err)
{
	return exec_any(conn, what, sql, true, nparams, params, lengths, formats, err);
}

int cf_db_run(PGconn *conn, const char *what, const char *sql, int nparams,
	      const char *const *params, cf_err *err)
{
	PGresult *r = cf_db_exec(conn, what, sql, nparams, params, err);

	if (r == NULL)
		return -1;
	PQclear(r);
	return 0;
}

int cf_db_begin(PGconn *conn, cf_err *err)
{
	return cf_db_run(conn, "starting a transaction", "BEGIN", 0, NULL, err);
}

int cf_db_commit(PGconn *conn, cf_err *err)
{
	return cf_db_run(conn, "committing", "COMMIT", 0, NULL, err);
}

void cf_db_rollback(PGconn *conn)
{
	PGTransactionStatusType ts;

	if (conn == NULL || cf_db_lost(conn))
		return;
	ts = PQtransactionStatus(conn);
	if (ts == PQTRANS_INTRANS || ts == PQTRANS_INERROR)
		PQclear(PQexec(conn, "ROLLBACK"));
}
