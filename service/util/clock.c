/*
 * clock.c: the monotonic and wall clocks in milliseconds or seconds, and the
 * deadline of a timed wait; see clock.h.
 */
#include "util/clock.h"

static struct timespec now_of(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return ts;
}

static long long ms_of(clockid_t id)
{
	struct timespec ts = now_of(id);

	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static double s_of(clockid_t id)
{
	struct timespec ts = now_of(id);

	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

long long cf_clock_mono_ms(void)
{
	return ms_of(CLOCK_MONOTONIC);
}

double cf_clock_mono_s(void)
{
	return s_of(CLOCK_MONOTONIC);
}

long long cf_clock_real_ms(void)
{
	return ms_of(CLOCK_REALTIME);
}

double cf_clock_real_s(void)
{
	return s_of(CLOCK_REALTIME);
}

struct timespec cf_clock_deadline(double secs)
{
	struct timespec ts = now_of(CLOCK_MONOTONIC);

	if (secs < 0)
		secs = 0;
	ts.tv_sec += (time_t)secs;
	ts.tv_nsec += (long)((secs - (double)(time_t)secs) * 1e9);
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return ts;
}
