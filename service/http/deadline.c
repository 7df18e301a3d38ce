/*
 * deadline.c: the watcher of connection deadlines; see deadline.h.
 */
#include "http/deadline.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "log.h"
#include "util/clock.h"
#include "util/waiter.h"

#define TICK_S 0.1 /* how late past its deadline a connection may be cut */

struct cf_deadline_conn {
	cf_deadline_conn *prev, *next; /* in d's list while linked */
	int fd;
	long long due_ms;               /* CLOCK_MONOTONIC */
	bool linked;                    /* in d's list: a deadline runs */
	bool cut;                       /* shut down at its deadline */
};

struct cf_deadlines {
	pthread_mutex_t mu;
	cf_deadline_conn *head, *tail; /* soonest first */
	long long timeout_ms;
	unsigned long long cut;
	pthread_t thread;
	cf_waiter stop;
};

/* Caller holds mu. */
static void unlink_conn(cf_deadlines *d, cf_deadline_conn *c)
{
	if (!c->linked)
		return;
	if (c->prev)
		c->prev->next = c->next;
	else
		d->head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	else
		d->tail = c->prev;
	c->prev = c->next = NULL;
	c->linked = false;
}

/* Caller holds mu. */
static void append(cf_deadlines *d, cf_deadline_conn *c)
{
	c->due_ms = cf_clock_mono_ms() + d->timeout_ms;
	c->prev = d->tail;
	c->next = NULL;
	if (d->tail)
		d->tail->next = c;
	else
		d->head = c;
	d->tail = c;
	c->linked = true;
}

static void *watch(void *arg)
{
	cf_deadlines *d = arg;

	while (!cf_waiter_wait(&d->stop, TICK_S)) {
		long long now = cf_clock_mono_ms();
		unsigned n = 0;

		pthread_mutex_lock(&d->mu);
		while (d->head != NULL && d->head->due_ms <= now) {
			cf_deadline_conn *c = d->head;

			unlink_conn(d, c);
			c->cut = true;
			shutdown(c->fd, SHUT_RDWR); /* still libmicrohttpd's: see deadline.h */
			d->cut++;
			n++;
		}
		pthread_mutex_unlock(&d->mu);
		if (n > 0)
			cf_log(CF_LOG_INFO, "http.deadline", "%u connection(s) cut: no answered "
			       "request within CERTFLEET_REQUEST_TIMEOUT (%lld s)", n,
			       d->timeout_ms / 1000);
	}
	return NULL;
}

cf_deadlines *cf_deadlines_start(int timeout_s, cf_err *err)
{
	cf_deadlines *d = calloc(1, sizeof(*d));

	if (d == NULL || cf_waiter_init(&d->stop) != 0) {
		free(d);
		cf_err_oom(err, NULL);
		return NULL;
	}
	pthread_mutex_init(&d->mu, NULL);
	d->timeout_ms = (long long)timeout_s * 1000;
	if (pthread_create(&d->thread, NULL, watch, d) != 0) {
		cf_err_set(err, CF_ERR_PERMANENT, "cannot start the connection deadline thread");
		pthread_mutex_destroy(&d->mu);
		cf_waiter_destroy(&d->stop);
		free(d);
		return NULL;
	}
	return d;
}

void cf_deadlines_stop(cf_deadlines *d)
{
	if (d == NULL)
		return;
	cf_waiter_stop(&d->stop);
	pthread_join(d->thread, NULL);
	cf_waiter_destroy(&d->stop);
	pthread_mutex_destroy(&d->mu);
	free(d); /* the daemon has closed every connection: the list is empty */
}

cf_deadline_conn *cf_deadlines_add(cf_deadlines *d, int fd)
{
	cf_deadline_conn *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	c->fd = fd;
	pthread_mutex_lock(&d->mu);
	append(d, c);
	pthread_mutex_unlock(&d->mu);
	return c;
}

void cf_deadlines_renew(cf_deadlines *d, cf_deadline_conn *c)
{
	if (c == NULL)
		return;
	pthread_mutex_lock(&d->mu);
	if (!c->cut) { /* a cut connection stays cut */
		unlink_conn(d, c);
		append(d, c);
	}
	pthread_mutex_unlock(&d->mu);
}

void cf_deadlines_hold(cf_deadlines *d, cf_deadline_conn *c)
{
	if (c == NULL)
		return;
	pthread_mutex_lock(&d->mu);
	unlink_conn(d, c);
	pthread_mutex_unlock(&d->mu);
}

void cf_deadlines_remove(cf_deadlines *d, cf_deadline_conn *c)
{
	if (c == NULL)
		return;
	pthread_mutex_lock(&d->mu);
	unlink_conn(d, c);
	pthread_mutex_unlock(&d->mu);
	free(c);
}

unsigned long long cf_deadlines_cut_count(cf_deadlines *d)
{
	unsigned long long n;

	pthread_mutex_lock(&d->mu);
	n = d->cut;
	pthread_mutex_unlock(&d->mu);
	return n;
}
