/*
 * poll.c: how long a poll waits before it reads an object again (RFC 8555 section
 * 7.5.1: clients "SHOULD" honour Retry-After while an authorization or order is
 * pending or processing). The server's Retry-After wins; without one the wait
 * starts at the client's poll_initial_ms (cf_acme_options, 50 ms by default) and
 * doubles up to 5 s, so a CA that finishes in milliseconds costs milliseconds and
 * a slow one is read at most every 5 s. No wait reaches past the caller's
 * deadline, so a poll ends at most one short read after it.
 */
#include "acme/acme_int.h"

long acme_poll_wait_ms(long retry_after_ms, long initial_ms, int attempt, time_t deadline)
{
	long long left = ((long long)deadline - (long long)time(NULL)) * 1000;
	long wait = retry_after_ms > 0 ? retry_after_ms
				       : cf_acme_backoff_from_ms(initial_ms, attempt);

	if (left <= 0)
		return -1;
	return wait < left ? wait : (long)left;
}
