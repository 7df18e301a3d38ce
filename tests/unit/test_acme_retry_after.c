/*
 * test_acme_retry_after.c: the Retry-After parser (delta-seconds and the three
 * HTTP-date forms, dates in the past, garbage, caps), the capped backoffs (the
 * retries' 250 ms base, the polls' configurable one) and the poll wait.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "acme/acme_int.h"

/* 1994-11-06 08:49:37 UTC, the date of RFC 9110's examples */
#define T_1994 ((time_t)784111777)

static void test_delta_seconds(void **state)
{
	long ms = -1;

	(void)state;
	assert_int_equal(cf_retry_after_parse("120", T_1994, &ms), 0);
	assert_int_equal(ms, 120000);
	assert_int_equal(cf_retry_after_parse("0", T_1994, &ms), 0);
	assert_int_equal(ms, 0);
	assert_int_equal(cf_retry_after_parse("  7\r\n", T_1994, &ms), 0);
	assert_int_equal(ms, 7000);
}

static void test_imf_fixdate(void **state)
{
	long ms = -1;

	(void)state;
	assert_int_equal(cf_retry_after_parse("Sun, 06 Nov 1994 08:49:37 GMT", T_1994 - 30, &ms),
			 0);
	assert_int_equal(ms, 30000);
	/* a leap day, and the year 2000 rule */
	assert_int_equal(cf_retry_after_parse("Tue, 29 Feb 2000 00:00:10 GMT", 951782400, &ms), 0);
	assert_int_equal(ms, 10000);
	assert_int_equal(cf_retry_after_parse("Thu, 01 Jan 1970 00:00:05 GMT", 0, &ms), 0);
	assert_int_equal(ms, 5000);
}

static void test_obsolete_dates(void **state)
{
	long ms = -1;

	(void)state;
	assert_int_equal(cf_retry_after_parse("Sunday, 06-Nov-94 08:49:37 GMT", T_1994 - 2, &ms), 0);
	assert_int_equal(ms, 2000);
	assert_int_equal(cf_retry_after_parse("Sun Nov  6 08:49:37 1994", T_1994 - 3, &ms), 0);
	assert_int_equal(ms, 3000);
	assert_int_equal(cf_retry_after_parse("Sun Nov 16 08:49:37 1994", T_1994, &ms), 0);
	assert_int_equal(ms, CF_RETRY_AFTER_MAX_MS); /* ten days ahead: capped */
}

static void test_past_date_is_zero(void **state)
{
	long ms = -1;

	(void)state;
	assert_int_equal(cf_retry_after_parse("Sun, 06 Nov 1994 08:49:37 GMT", T_1994 + 3600, &ms),
			 0);
	assert_int_equal(ms, 0);
	assert_int_equal(cf_retry_after_parse("Sun, 06 Nov 1994 08:49:37 GMT", T_1994, &ms), 0);
	assert_int_equal(ms, 0);
}

static void test_garbage(void **state)
{
	static const char *const bad[] = {
		"",
		"   ",
		"soon",
		"-5",
		"+5",
		"1.5",
		"12abc",
		"Sun, 06 Nov 1994 08:49:37",        /* no GMT */
		"Sun, 06 Nov 1994 08:49:37 UTC",    /* not GMT */
		"Sun, 6 Nov 1994 08:49:37 GMT",     /* day must be two digits */
		"Sun, 31 Nov 1994 08:49:37 GMT",    /* no such day */
		"Sun, 29 Feb 1900 08:49:37 GMT",    /* 1900 is no leap year */
		"Sun, 06 Foo 1994 08:49:37 GMT",
		"Xyz, 06 Nov 1994 08:49:37 GMT",
		"Sun, 06 Nov 1994 24:00:00 GMT",
		"Sun, 06 Nov 1994 08:49:37 GMT trailing",
		"Sun Nov  6 08:49:37 1994 x",
		"0x10",
	};
	size_t i;
	long ms = 4242;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (cf_retry_after_parse(bad[i], T_1994, &ms) != -1)
			fail_msg("accepted \"%s\"", bad[i]);
		assert_int_equal(ms, 4242); /* untouched */
	}
	assert_int_equal(cf_retry_after_parse(NULL, T_1994, &ms), -1);
}

static void test_huge_values_capped(void **state)
{
	long ms = -1;

	(void)state;
	assert_int_equal(cf_retry_after_parse("86400", T_1994, &ms), 0);
	assert_int_equal(ms, CF_RETRY_AFTER_MAX_MS);
	assert_int_equal(cf_retry_after_parse("86401", T_1994, &ms), 0);
	assert_int_equal(ms, CF_RETRY_AFTER_MAX_MS);
	assert_int_equal(cf_retry_after_parse("99999999999999999999999999999999", T_1994, &ms), 0);
	assert_int_equal(ms, CF_RETRY_AFTER_MAX_MS);
	assert_int_equal(cf_retry_after_parse("Fri, 31 Dec 9999 23:59:59 GMT", T_1994, &ms), 0);
	assert_int_equal(ms, CF_RETRY_AFTER_MAX_MS);
}

static void test_backoff(void **state)
{
	(void)state;
	assert_int_equal(cf_acme_backoff_ms(0), 250);
	assert_int_equal(cf_acme_backoff_ms(1), 500);
	assert_int_equal(cf_acme_backoff_ms(2), 1000);
	assert_int_equal(cf_acme_backoff_ms(3), 2000);
	assert_int_equal(cf_acme_backoff_ms(4), 4000);
	assert_int_equal(cf_acme_backoff_ms(5), 5000);
	assert_int_equal(cf_acme_backoff_ms(60), 5000);
	assert_int_equal(cf_acme_backoff_ms(-1), 250);
}

static void test_backoff_from(void **state)
{
	(void)state;
	/* the polls' default: 50, 100, 200, ... 3200, then the 5 s cap */
	assert_int_equal(cf_acme_backoff_from_ms(CF_ACME_POLL_INITIAL_MS, 0), 50);
	assert_int_equal(cf_acme_backoff_from_ms(50, 1), 100);
	assert_int_equal(cf_acme_backoff_from_ms(50, 6), 3200);
	assert_int_equal(cf_acme_backoff_from_ms(50, 7), 5000);
	/* no overflow, however many reads */
	assert_int_equal(cf_acme_backoff_from_ms(50, 1000000), 5000);
	assert_int_equal(cf_acme_backoff_from_ms(4999, 1), 5000);
	assert_int_equal(cf_acme_backoff_from_ms(9000, 0), 5000);
	assert_int_equal(cf_acme_backoff_from_ms(0, 0), 1);
	assert_int_equal(cf_acme_backoff_from_ms(-5, 3), 8);
	assert_int_equal(cf_acme_backoff_from_ms(50, -2), 50);
}

static void test_poll_wait(void **state)
{
	time_t now = time(NULL);

	(void)state;
	assert_int_equal(acme_poll_wait_ms(0, 50, 0, now + 100), 50);
	assert_int_equal(acme_poll_wait_ms(0, 50, 2, now + 100), 200);
	assert_int_equal(acme_poll_wait_ms(0, 250, 0, now + 100), 250);
	/* the server's Retry-After wins over the backoff, longer or shorter */
	assert_int_equal(acme_poll_wait_ms(3000, 50, 0, now + 100), 3000);
	assert_int_equal(acme_poll_wait_ms(10, 50, 5, now + 100), 10);
	assert_int_equal(acme_poll_wait_ms(0, 50, 9, now + 100), 5000);
	/* never past the deadline */
	assert_true(acme_poll_wait_ms(60000, 50, 0, now + 2) <= 2000);
	assert_int_equal(acme_poll_wait_ms(0, 50, 0, now - 1), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_delta_seconds),
		cmocka_unit_test(test_imf_fixdate),
		cmocka_unit_test(test_obsolete_dates),
		cmocka_unit_test(test_past_date_is_zero),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_huge_values_capped),
		cmocka_unit_test(test_backoff),
		cmocka_unit_test(test_backoff_from),
		cmocka_unit_test(test_poll_wait),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
