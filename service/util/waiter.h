/*
 * waiter.h: how a background thread sleeps: a stop flag plus a timed wait on a
 * condition variable (CLOCK_MONOTONIC), so that a stop or a wake-up ends the
 * sleep at once instead of at the next poll.
 *
 * One waiter can be shared by many threads (the worker pool's idle workers wait on
 * one; a NOTIFY wakes one of them, a lost LISTEN connection all of them). A wake-up
 * is a generation count: a wait ends when the count moves after the wait began, so
 * a wake-up is never lost to a spurious return and never remembered for a later
 * wait. Stopping is final.
 *
 * Thread safety: every function but init and destroy may be called from any
 * thread; destroy only when no thread uses the waiter any more.
 */
#ifndef CERTFLEET_UTIL_WAITER_H
#define CERTFLEET_UTIL_WAITER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

typedef struct cf_waiter {
	pthread_mutex_t mu;
	pthread_cond_t cv;   /* on CLOCK_MONOTONIC */
	unsigned long gen;   /* bumped by every wake-up of all (under mu) */
	unsigned waiting;    /* threads in cf_waiter_wait (under mu) */
	unsigned tickets;    /* wake-ups of one not yet taken, <= waiting (under mu) */
	atomic_bool stop;
} cf_waiter;

/* Returns 0, or -1 when the mutex or condition variable cannot be made. */
int cf_waiter_init(cf_waiter *w);
void cf_waiter_destroy(cf_waiter *w);

/* Sleeps up to secs, until a wake-up that comes after the call, or the stop.
 * Returns true when the waiter is stopped (before or during the wait). */
bool cf_waiter_wait(cf_waiter *w, double secs);
/* Ends every wait in progress (the waiters go on). */
void cf_waiter_wake(cf_waiter *w);
/* Ends one wait in progress, if any (a wake-up that finds every thread busy is
 * dropped): one new job wakes one idle worker, not all of them. */
void cf_waiter_wake_one(cf_waiter *w);
/* Raises the stop flag and ends every wait in progress, now and later. */
void cf_waiter_stop(cf_waiter *w);
bool cf_waiter_stopped(cf_waiter *w);

#endif
