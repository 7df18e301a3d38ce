/*
 * deadline.h: an absolute deadline for every HTTP connection's current request.
 *
 * libmicrohttpd's own connection timeout restarts with every byte received, so
 * a client that sends a header byte every few seconds (slowloris) would hold its
 * connection, and a slot of CERTFLEET_MAX_CONNECTIONS(_PER_IP), for ever. Here
 * every connection gets a deadline when it opens and a new one each time a
 * request on it has been answered (keep-alive): CERTFLEET_REQUEST_TIMEOUT
 * seconds later. While the handler runs (the request is fully read: the client
 * can do nothing to stretch it) the deadline is held, and the answer then gets a
 * full timeout to be read. A watcher thread shuts down (shutdown(2), both ways) every
 * connection past its deadline, whatever it is doing then (sending headers, a
 * body, or reading an answer slowly); libmicrohttpd then sees the end of the
 * stream and closes it through its usual path.
 *
 * The socket is shut down, not closed: its descriptor stays libmicrohttpd's, and
 * a connection is removed here (cf_deadlines_remove, from the close
 * notification, which libmicrohttpd sends before it closes the socket) under
 * the same mutex, so the watcher never touches a descriptor that was reused.
 *
 * Connections are kept in one list in deadline order (every deadline is "now +
 * the same timeout", so appending keeps the order): the watcher looks only at
 * the ones that are due.
 */
#ifndef CERTFLEET_HTTP_DEADLINE_H
#define CERTFLEET_HTTP_DEADLINE_H

#include "util/err.h"

typedef struct cf_deadlines cf_deadlines;
typedef struct cf_deadline_conn cf_deadline_conn;

/* Starts the watcher thread. NULL with err when it cannot. */
cf_deadlines *cf_deadlines_start(int timeout_s, cf_err *err);
/* Stops the watcher and frees everything (after the daemon has stopped). */
void cf_deadlines_stop(cf_deadlines *d);

/* A new connection on socket fd, due timeout_s from now. NULL on out-of-memory
 * (the connection then has libmicrohttpd's idle timeout only). */
cf_deadline_conn *cf_deadlines_add(cf_deadlines *d, int fd);
/* A request on the connection was answered: the next one is due timeout_s from
 * now. c may be NULL. */
void cf_deadlines_renew(cf_deadlines *d, cf_deadline_conn *c);
/* The request is fully read and its handler runs: no deadline until the next
 * cf_deadlines_renew (which the answer's sending starts). c may be NULL. */
void cf_deadlines_hold(cf_deadlines *d, cf_deadline_conn *c);
/* The connection is closing: forgets and frees c (NULL allowed). */
void cf_deadlines_remove(cf_deadlines *d, cf_deadline_conn *c);
/* Connections shut down at their deadline so far. */
unsigned long long cf_deadlines_cut_count(cf_deadlines *d);

#endif
