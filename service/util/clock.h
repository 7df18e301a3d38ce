/*
 * clock.h: the service's clocks, in one place.
 *
 * Durations, deadlines and time-outs use the monotonic clock (never moved by NTP
 * or an operator); the wall clock is only for what is compared with timestamps
 * from elsewhere (the database's created_at, certificate validity). Condition
 * variables of the background threads wait on CLOCK_MONOTONIC (see waiter.h), so
 * their deadlines come from cf_clock_deadline().
 */
#ifndef CERTFLEET_UTIL_CLOCK_H
#define CERTFLEET_UTIL_CLOCK_H

#include <time.h>

/* Milliseconds on the monotonic clock (an arbitrary origin). */
long long cf_clock_mono_ms(void);
/* Seconds on the monotonic clock, with a fraction. */
double cf_clock_mono_s(void);
/* Milliseconds since the epoch on the wall clock. */
long long cf_clock_real_ms(void);
/* Seconds since the epoch on the wall clock, with a fraction. */
double cf_clock_real_s(void);
/* The CLOCK_MONOTONIC time secs from now (secs < 0 counts as 0), as the absolute
 * deadline of pthread_cond_timedwait on a CLOCK_MONOTONIC condition variable. */
struct timespec cf_clock_deadline(double secs);

#endif
