/*
 * listen.h: one LISTEN loop for every thread that waits on PostgreSQL
 * notifications (the worker pool's wake-ups on certfleet_jobs, the fetch cache's
 * invalidations on certfleet_cache). A new listener adds callbacks, not a loop.
 *
 * The loop holds a dedicated connection with TCP keepalives and a user timeout,
 * so a database host that vanished without closing the connection is noticed
 * within seconds, not after the kernel's two-hour default. When the connection
 * cannot be made or breaks, it tries again after 1 s, doubling up to
 * CF_LISTEN_BACKOFF_MAX_S, and from 1 s again once connected.
 *
 * Heartbeats (heartbeat_s > 0): a connection can look healthy and still not
 * deliver notifications (LISTEN through a transaction-pooling PgBouncer, a proxy
 * that stopped forwarding). The loop then also LISTENs on a private channel,
 * "<channel>_hb_<backend pid>", and sends NOTIFY to it every heartbeat_s
 * seconds from its own connection; a notification that went through the server
 * comes back. The connection counts as listening only once the first heartbeat
 * came back, and a heartbeat that is not back within heartbeat_s seconds counts
 * as a lost connection (logged as listen.heartbeat_missed): it is closed and
 * made again. Nobody else listens on the private channel, so other processes
 * (older versions included) never see the heartbeats.
 *
 * Callbacks run on the loop's thread, in order: on_connect once the connection
 * listens (after LISTEN, or with heartbeats after the first heartbeat came back;
 * the first connection and each reconnection: notifications may have been
 * missed meanwhile), on_notify for each notification, on_disconnect when a
 * connection for which on_connect ran is lost or misses a heartbeat (not when a
 * connection attempt fails, nor at the stop). Any of them may be NULL.
 */
#ifndef CERTFLEET_STORE_LISTEN_H
#define CERTFLEET_STORE_LISTEN_H

#include "util/waiter.h"

#define CF_LISTEN_BACKOFF_MAX_S 5.0

typedef struct cf_listen {
	const char *url;      /* the database URL (borrowed) */
	const char *channel;  /* the channel, an SQL identifier (borrowed) */
	const char *app_name; /* application_name of the connection */
	int heartbeat_s;      /* > 0: heartbeats every heartbeat_s seconds (see above) */
	void (*on_connect)(void *arg);
	void (*on_notify)(const char *payload, void *arg);
	void (*on_disconnect)(void *arg);
	void *arg;
} cf_listen;

/* Runs the loop on the calling thread until stop is stopped (noticed within a
 * quarter of a second, or at once while it waits to reconnect), then closes the
 * connection. */
void cf_listen_run(const cf_listen *l, cf_waiter *stop);

#endif
