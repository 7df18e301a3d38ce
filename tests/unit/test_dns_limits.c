/*
 * test_dns_limits.c: the per-thread DNS limits of the alias check
 * (cf_dns_limits_set): once the budget is spent, a query fails at once, transient,
 * naming the budget, without sending anything; cleared, the limits are gone.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>
#include <time.h>

#include "dns/dns.h"
#include "util/clock.h"

static void test_budget_spent(void **state)
{
	cf_dns_servers l = { 0 };
	struct timespec ts = { 0, 5 * 1000 * 1000 };
	char **v = NULL;
	size_t n = 0;
	cf_err e = { 0 };
	long long t0;

	/* TEST-NET-1: would time out, were it asked */
	assert_int_equal(cf_dns_servers_add(&l, "192.0.2.1:53", &e), 0);
	cf_dns_limits_set(1000, 1);
	nanosleep(&ts, NULL);
	assert_true(cf_dns_budget_spent());
	t0 = cf_clock_mono_ms();
	assert_int_equal(cf_dns_txt(&l, "x.example.test", &v, &n, &e), -1);
	assert_true(cf_clock_mono_ms() - t0 < 100);
	assert_int_equal(e.cls, CF_ERR_TRANSIENT);
	assert_non_null(strstr(e.msg, "budget"));
	cf_err_clear(&e);
	cf_dns_limits_clear();
	assert_false(cf_dns_budget_spent());
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_budget_spent),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
