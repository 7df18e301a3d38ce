/*
 * listen.c: the LISTEN loop shared by the worker pool and the fetch cache; see
 * listen.h.
 *
 * The connection's settings: connect_timeout 5 s; keepalives after 5 s idle,
 * every 2 s, 3 lost probes; tcp_user_timeout 10 s (unacknowledged data). The
 * URL is expanded (expand_dbname), so its own settings win over these.
 *
 * A heartbeat is sent asynchronously (PQsendQuery), so the loop keeps draining
 * notifications while it is under way; its command result is consumed as it
 * arrives. At most one heartbeat is outstanding: the next is sent heartbeat_s
 * seconds after the previous one came back.
 */
#include "store/listen.h"

#include <errno.h>
#include <libpq-fe.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "store/db.h"
#include "util/clock.h"

#define POLL_MS 250

/* One listening connection and its heartbeat state. */
typedef struct conn {
	PGconn *pg;
	char hb[64];         /* the private heartbeat channel, "" without heartbeats */
	char hb_sql[160];    /* NOTIFY <hb>, the identifier quoted */
	long long sent_ms;   /* when the outstanding heartbeat was sent; 0: none */
	long long next_ms;   /* when the next heartbeat is due */
	bool up;             /* on_connect ran for this connection */
} conn;

/* Runs "<verb> <ident>" on pg; false when it failed. */
static bool exec_ident(PGconn *pg, const char *verb, const char *name, char *sql, size_t len)
{
	char *ident = PQescapeIdentifier(pg, name, strlen(name));
	PGresult *r;
	bool ok;

	if (ident == NULL)
		return false;
	snprintf(sql, len, "%s %s", verb, ident);
	PQfreemem(ident);
	r = PQexec(pg, sql);
	ok = PQresultStatus(r) == PGRES_COMMAND_OK;
	PQclear(r);
	return ok;
}

/* Connects and LISTENs on l->channel (and the heartbeat channel); false when it
 * failed (the reason is logged at debug level: the caller's backoff decides how
 * often). */
static bool listen_connect(const cf_listen *l, conn *c)
{
	const char *keys[] = { "dbname", "connect_timeout", "application_name", "keepalives",
			       "keepalives_idle", "keepalives_interval", "keepalives_count",
			       "tcp_user_timeout", NULL };
	const char *vals[] = { l->url, "5", l->app_name, "1", "5", "2", "3", "10000", NULL };
	PGconn *pg = PQconnectdbParams(keys, vals, 1);
	char sql[200];

	memset(c, 0, sizeof(*c));
	if (pg == NULL || cf_db_lost(pg) || !exec_ident(pg, "LISTEN", l->channel, sql, sizeof(sql)))
		goto fail;
	if (l->heartbeat_s > 0) {
		snprintf(c->hb, sizeof(c->hb), "%.40s_hb_%d", l->channel, PQbackendPID(pg));
		if (!exec_ident(pg, "LISTEN", c->hb, sql, sizeof(sql)))
			goto fail;
		snprintf(c->hb_sql, sizeof(c->hb_sql), "NOTIFY%s", sql + strlen("LISTEN"));
		c->next_ms = cf_clock_mono_ms(); /* the first one at once */
	}
	c->pg = pg;
	return true;
fail:
	snprintf(sql, sizeof(sql), "%s", pg ? PQerrorMessage(pg) : "out of memory");
	sql[strcspn(sql, "\n")] = '\0';
	cf_log(CF_LOG_DEBUG, "listen.connect", "LISTEN %s: %s", l->channel, sql);
	PQfinish(pg);
	return false;
}

/* Marks the connection up (once) and tells the caller. */
static void mark_up(const cf_listen *l, conn *c)
{
	if (c->up)
		return;
	c->up = true;
	if (l->on_connect != NULL)
		l->on_connect(l->arg);
}

/* Consumes the results of a finished heartbeat command, if any. */
static void consume_results(PGconn *pg)
{
	PGresult *r;

	while (!PQisBusy(pg) && (r = PQgetResult(pg)) != NULL)
		PQclear(r);
}

/* Waits for input and hands every notification to on_notify (a heartbeat of
 * this connection is taken here). Returns false when the connection is lost. */
static bool drain(const cf_listen *l, conn *c)
{
	struct pollfd pfd = { .fd = PQsocket(c->pg), .events = POLLIN };
	PGnotify *n;

	if (poll(&pfd, 1, POLL_MS) < 0 && errno != EINTR)
		return true; /* nothing read: the next round tries again */
	if (!PQconsumeInput(c->pg) || cf_db_lost(c->pg))
		return false;
	while ((n = PQnotifies(c->pg)) != NULL) {
		if (c->hb[0] != '\0' && strcmp(n->relname, c->hb) == 0) {
			c->sent_ms = 0;
			c->next_ms = cf_clock_mono_ms() + 1000LL * l->heartbeat_s;
			mark_up(l, c);
		} else if (l->on_notify != NULL) {
			l->on_notify(n->extra, l->arg);
		}
		PQfreemem(n);
	}
	consume_results(c->pg);
	return true;
}

/* Sends the heartbeat when due; false when one is overdue or cannot be sent
 * (the connection then counts as lost). */
static bool heartbeat(const cf_listen *l, conn *c)
{
	long long now = cf_clock_mono_ms();

	if (c->hb[0] == '\0')
		return true;
	if (c->sent_ms != 0) {
		if (now - c->sent_ms <= 1000LL * l->heartbeat_s)
			return true;
		cf_log(CF_LOG_WARN, "listen.heartbeat_missed",
		       "LISTEN %s: a NOTIFY sent %lld ms ago has not come back; reconnecting",
		       l->channel, now - c->sent_ms);
		return false;
	}
	if (now < c->next_ms || PQisBusy(c->pg))
		return true;
	if (!PQsendQuery(c->pg, c->hb_sql))
		return false;
	c->sent_ms = now > 0 ? now : 1;
	return true;
}

void cf_listen_run(const cf_listen *l, cf_waiter *stop)
{
	conn c = { 0 };
	double backoff = 1.0;

	while (!cf_waiter_stopped(stop)) {
		if (c.pg == NULL) {
			if (!listen_connect(l, &c)) {
				cf_waiter_wait(stop, backoff);
				backoff *= 2;
				if (backoff > CF_LISTEN_BACKOFF_MAX_S)
					backoff = CF_LISTEN_BACKOFF_MAX_S;
				continue;
			}
			backoff = 1.0;
			if (l->heartbeat_s <= 0)
				mark_up(l, &c);
		}
		if (!drain(l, &c) || !heartbeat(l, &c)) {
			PQfinish(c.pg);
			c.pg = NULL;
			if (c.up && l->on_disconnect != NULL)
				l->on_disconnect(l->arg);
			c.up = false;
		}
	}
	PQfinish(c.pg);
}
