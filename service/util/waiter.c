/*
 * waiter.c: a stop flag plus a timed wait on a CLOCK_MONOTONIC condition
 * variable; see waiter.h.
 */
#include "util/waiter.h"

#include <errno.h>

#include "util/clock.h"

int cf_waiter_init(cf_waiter *w)
{
	pthread_condattr_t ca;
	int rc = -1;

	w->gen = 0;
	w->waiting = 0;
	w->tickets = 0;
	atomic_init(&w->stop, false);
	if (pthread_condattr_init(&ca) != 0)
		return -1;
	if (pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) != 0 ||
	    pthread_cond_init(&w->cv, &ca) != 0)
		goto out;
	if (pthread_mutex_init(&w->mu, NULL) != 0) {
		pthread_cond_destroy(&w->cv);
		goto out;
	}
	rc = 0;
out:
	pthread_condattr_destroy(&ca);
	return rc;
}

void cf_waiter_destroy(cf_waiter *w)
{
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->cv);
}

bool cf_waiter_wait(cf_waiter *w, double secs)
{
	struct timespec until = cf_clock_deadline(secs);
	unsigned long gen;

	pthread_mutex_lock(&w->mu);
	gen = w->gen;
	w->waiting++;
	while (!atomic_load(&w->stop) && w->gen == gen && w->tickets == 0)
		if (pthread_cond_timedwait(&w->cv, &w->mu, &until) == ETIMEDOUT)
			break;
	if (w->tickets > 0 && w->gen == gen)
		w->tickets--; /* this wait ends for a wake-up of one */
	w->waiting--;
	if (w->tickets > w->waiting)
		w->tickets = w->waiting;
	pthread_mutex_unlock(&w->mu);
	return atomic_load(&w->stop);
}

void cf_waiter_wake(cf_waiter *w)
{
	pthread_mutex_lock(&w->mu);
	w->gen++;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

void cf_waiter_wake_one(cf_waiter *w)
{
	pthread_mutex_lock(&w->mu);
	if (w->tickets < w->waiting) {
		w->tickets++;
		pthread_cond_signal(&w->cv);
	}
	pthread_mutex_unlock(&w->mu);
}

void cf_waiter_stop(cf_waiter *w)
{
	pthread_mutex_lock(&w->mu);
	atomic_store(&w->stop, true);
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

bool cf_waiter_stopped(cf_waiter *w)
{
	return atomic_load(&w->stop);
}
