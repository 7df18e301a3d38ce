/*
 * test_negcache.c: unit tests of the negative token cache (http/negcache.h): an
 * absent id is remembered and forgotten (one, all), an addition that raced with a
 * forget is not kept, the table stays bounded (a flood of ids pushes out only
 * absent ids, and at most one set's worth), the per-address budget (a burst, then
 * refusals, refunds, separate addresses, an IPv6 /64 counted as one); and
 * cf_utf8_scrub (util/utf8.h), which keeps log lines and problem bodies whole.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "http/negcache.h"
#include "util/utf8.h"

static void id_of(unsigned k, char out[13])
{
	snprintf(out, 13, "%012x", k);
}

static void test_add_has_forget(void **state)
{
	cf_negcache *n = cf_negcache_new();
	char a[13], b[13];

	assert_non_null(n);
	id_of(1, a);
	id_of(2, b);
	assert_false(cf_negcache_has(n, a));
	cf_negcache_add(n, a, cf_negcache_gen(n));
	cf_negcache_add(n, b, cf_negcache_gen(n));
	assert_true(cf_negcache_has(n, a));
	cf_negcache_forget(n, a);
	assert_false(cf_negcache_has(n, a));
	assert_true(cf_negcache_has(n, b));
	cf_negcache_forget(n, NULL);
	assert_false(cf_negcache_has(n, b));
	cf_negcache_add(n, "short", cf_negcache_gen(n)); /* not an id: ignored */
	assert_false(cf_negcache_has(n, "short"));
	cf_negcache_free(n);
}

static void test_add_after_a_forget_is_dropped(void **state)
{
	cf_negcache *n = cf_negcache_new();
	char a[13], b[13];
	uint64_t gen;

	id_of(7, a);
	id_of(8, b);
	gen = cf_negcache_gen(n); /* a look-up starts ... */
	cf_negcache_forget(n, b); /* ... a token is created meanwhile ... */
	cf_negcache_add(n, a, gen); /* ... and what the look-up read is stale */
	assert_false(cf_negcache_has(n, a));
	cf_negcache_free(n);
}

static void test_bounded(void **state)
{
	cf_negcache *n = cf_negcache_new();
	cf_negcache_stats st;
	char id[13];
	unsigned kept = 0;

	for (unsigned k = 0; k < 200000; k++) {
		id_of(k, id);
		cf_negcache_add(n, id, cf_negcache_gen(n));
	}
	for (unsigned k = 0; k < 200000; k++) {
		id_of(k, id);
		kept += cf_negcache_has(n, id);
	}
	assert_true(kept <= 16384);
	assert_true(kept > 8000); /* the newest are there */
	id_of(199999, id);
	assert_true(cf_negcache_has(n, id));
	cf_negcache_stats_get(n, &st);
	assert_int_equal(st.added, 200000);
	cf_negcache_free(n);
}

static void test_budget(void **state)
{
	cf_negcache *n = cf_negcache_new();
	cf_negcache_stats st;
	int ok = 0;

	for (int i = 0; i < CF_NEGCACHE_BURST + 50; i++)
		ok += cf_negcache_take(n, "192.0.2.1");
	/* the burst, plus what refilled meanwhile (a few ms at most) */
	assert_true(ok >= CF_NEGCACHE_BURST && ok <= CF_NEGCACHE_BURST + 2);
	assert_false(cf_negcache_take(n, "192.0.2.1"));
	cf_negcache_refund(n, "192.0.2.1");
	assert_true(cf_negcache_take(n, "192.0.2.1"));
	assert_true(cf_negcache_take(n, "192.0.2.2")); /* another address */
	for (int i = 0; i < CF_NEGCACHE_BURST + 5; i++) /* one /64, many addresses */
		ok = cf_negcache_take(n, i % 2 ? "2001:db8::1" : "2001:db8::ffff:2");
	assert_false(ok);
	assert_true(cf_negcache_take(n, "2001:db8:0:1::1")); /* another /64 */
	cf_negcache_stats_get(n, &st);
	assert_true(st.refused >= 50);
	cf_negcache_free(n);
}

static void test_utf8_scrub(void **state)
{
	char ok[] = "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x91 ascii";
	char bad[] = "/v1/\xff\xfe-x";
	char cut[] = "abc\xe2\x82"; /* a character cut by truncation */
	char overlong[] = "\xc0\xaf\xed\xa0\x80\xf4\x90\x80\x80!";

	assert_false(cf_utf8_scrub(ok));
	assert_string_equal(ok, "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x91 ascii");
	assert_true(cf_utf8_scrub(bad));
	assert_string_equal(bad, "/v1/?" "?-x");
	assert_true(cf_utf8_scrub(cut));
	assert_string_equal(cut, "abc??");
	assert_true(cf_utf8_scrub(overlong));
	assert_string_equal(overlong, "?????????" "!"); /* overlong, surrogate, > U+10FFFF */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_add_has_forget),
		cmocka_unit_test(test_add_after_a_forget_is_dropped),
		cmocka_unit_test(test_bounded),
		cmocka_unit_test(test_budget),
		cmocka_unit_test(test_utf8_scrub),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
