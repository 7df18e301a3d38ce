/*
 * listen.c: the LISTEN loop shared by the worker pool and the fetch cache; see
 * listen.h.
 *
 * The connection's settings: connect_timeout 5 s; keepalives after 5 s idle,
 * every 2 s, 3 lost probes; tcp_user_timeout 10 s (unacknowledged data). The
 * URL is expanded (expand_dbname), so its own settings win over these.
 */
#include "store/listen.h"

#include <errno.h>
#include <libpq-fe.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "store/db.h"

#define POLL_MS 250

/* A connection listening on l->channel, or NULL (the reason is logged at debug
 * level: the caller's backoff decides how often). */
static PGconn *listen_connect(const cf_listen *l)
{
	const char *keys[] = { "dbname", "connect_timeout", "application_name", "keepalives",
			       "keepalives_idle", "keepalives_interval", "keepalives_count",
			       "tcp_user_timeout", NULL };
	const char *vals[] = { l->url, "5", l->app_name, "1", "5", "2", "3", "10000", NULL };
	PGconn *pg = PQconnectdbParams(keys, vals, 1);
	PGresult *r = NULL;
	char *ident = NULL, sql[200];

	if (pg == NULL || cf_db_lost(pg))
		goto fail;
	if ((ident = PQescapeIdentifier(pg, l->channel, strlen(l->channel))) == NULL)
		goto fail;
	snprintf(sql, sizeof(sql), "LISTEN %s", ident);
	PQfreemem(ident);
	r = PQexec(pg, sql);
	if (PQresultStatus(r) != PGRES_COMMAND_OK)
		goto fail;
	PQclear(r);
	return pg;
fail:
	snprintf(sql, sizeof(sql), "%s", pg ? PQerrorMessage(pg) : "out of memory");
	sql[strcspn(sql, "\n")] = '\0';
	cf_log(CF_LOG_DEBUG, "listen.connect", "LISTEN %s: %s", l->channel, sql);
	PQclear(r);
	PQfinish(pg);
	return NULL;
}

/* Waits for input and hands every notification to on_notify. Returns false when
 * the connection is lost. */
static bool drain(const cf_listen *l, PGconn *pg)
{
	struct pollfd pfd = { .fd = PQsocket(pg), .events = POLLIN };
	PGnotify *n;

	if (poll(&pfd, 1, POLL_MS) < 0 && errno != EINTR)
		return true; /* nothing read: the next round tries again */
	if (!PQconsumeInput(pg) || cf_db_lost(pg))
		return false;
	while ((n = PQnotifies(pg)) != NULL) {
		if (l->on_notify != NULL)
			l->on_notify(n->extra, l->arg);
		PQfreemem(n);
	}
	return true;
}

void cf_listen_run(const cf_listen *l, cf_waiter *stop)
{
	PGconn *pg = NULL;
	double backoff = 1.0;

	while (!cf_waiter_stopped(stop)) {
		if (pg == NULL) {
			if ((pg = listen_connect(l)) == NULL) {
				cf_waiter_wait(stop, backoff);
				backoff *= 2;
				if (backoff > CF_LISTEN_BACKOFF_MAX_S)
					backoff = CF_LISTEN_BACKOFF_MAX_S;
				continue;
			}
			backoff = 1.0;
			if (l->on_connect != NULL)
				l->on_connect(l->arg);
		}
		if (!drain(l, pg)) {
			PQfinish(pg);
			pg = NULL;
			if (l->on_disconnect != NULL)
				l->on_disconnect(l->arg);
		}
	}
	PQfinish(pg);
}
