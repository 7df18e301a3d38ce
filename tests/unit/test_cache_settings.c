/*
 * test_cache_settings.c: the fetch cache's settings, table driven: the defaults
 * (CERTFLEET_CACHE_MAX_AGE 60, CERTFLEET_CACHE_HEARTBEAT 5,
 * CERTFLEET_CACHE_OFFLINE_GRACE 60), values at their bounds accepted, and values
 * out of range or not integers refused with the setting named; and the names of
 * the key-fetch verdicts (store/key_fetch.h), one per verdict, all distinct.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "store/key_fetch.h"

static void clear_env(void)
{
	unsetenv("CERTFLEET_CONFIG");
	unsetenv("CERTFLEET_CACHE_MAX_AGE");
	unsetenv("CERTFLEET_CACHE_HEARTBEAT");
	unsetenv("CERTFLEET_CACHE_OFFLINE_GRACE");
	setenv("CERTFLEET_DATABASE_URL", "postgresql://u@127.0.0.1/db", 1);
}

static void test_defaults(void **state)
{
	cf_config cfg;
	cf_err err = {0};

	(void)state;
	clear_env();
	assert_int_equal(cf_config_load(&cfg, NULL, &err), 0);
	assert_int_equal(cfg.cache_max_age, 60);
	assert_int_equal(cfg.cache_heartbeat, 5);
	assert_int_equal(cfg.cache_offline_grace, 60);
	cf_config_free(&cfg);
}

static void test_values(void **state)
{
	static const struct {
		const char *name, *value;
		int ok; /* then the field's value */
		int want;
	} cases[] = {
		{"CERTFLEET_CACHE_MAX_AGE", "0", 1, 0},
		{"CERTFLEET_CACHE_MAX_AGE", "3", 1, 3},
		{"CERTFLEET_CACHE_MAX_AGE", "86400", 1, 86400},
		{"CERTFLEET_CACHE_MAX_AGE", "86401", 0, 0},
		{"CERTFLEET_CACHE_MAX_AGE", "-1", 0, 0},
		{"CERTFLEET_CACHE_MAX_AGE", "1m", 0, 0},
		{"CERTFLEET_CACHE_MAX_AGE", "", 0, 0},
		{"CERTFLEET_CACHE_HEARTBEAT", "1", 1, 1},
		{"CERTFLEET_CACHE_HEARTBEAT", "3600", 1, 3600},
		{"CERTFLEET_CACHE_HEARTBEAT", "0", 0, 0},
		{"CERTFLEET_CACHE_HEARTBEAT", "3601", 0, 0},
		{"CERTFLEET_CACHE_HEARTBEAT", "five", 0, 0},
		{"CERTFLEET_CACHE_OFFLINE_GRACE", "0", 1, 0},
		{"CERTFLEET_CACHE_OFFLINE_GRACE", "86401", 0, 0},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cf_config cfg;
		cf_err err = {0};
		int rc, got;

		clear_env();
		setenv(cases[i].name, cases[i].value, 1);
		rc = cf_config_load(&cfg, NULL, &err);
		if (!cases[i].ok) {
			if (rc != -1 || strstr(err.msg, cases[i].name) == NULL)
				fail_msg("case %zu (%s=%s): rc %d, '%s'", i, cases[i].name,
					 cases[i].value, rc, err.msg);
			continue;
		}
		if (rc != 0)
			fail_msg("case %zu (%s=%s): %s", i, cases[i].name, cases[i].value, err.msg);
		got = strcmp(cases[i].name, "CERTFLEET_CACHE_MAX_AGE") == 0 ? cfg.cache_max_age
		      : strcmp(cases[i].name, "CERTFLEET_CACHE_HEARTBEAT") == 0
			      ? cfg.cache_heartbeat
			      : cfg.cache_offline_grace;
		assert_int_equal(got, cases[i].want);
		cf_config_free(&cfg);
	}
	clear_env();
}

static void test_verdict_names(void **state)
{
	(void)state;
	assert_string_equal(cf_key_verdict_name(CF_KEY_GRANTED), "granted");
	assert_string_equal(cf_key_verdict_name(CF_KEY__MAX), "unknown");
	for (int i = 0; i < CF_KEY__MAX; i++) {
		const char *a = cf_key_verdict_name((cf_key_verdict)i);

		assert_non_null(a);
		assert_string_not_equal(a, "unknown");
		for (int j = i + 1; j < CF_KEY__MAX; j++)
			assert_string_not_equal(a, cf_key_verdict_name((cf_key_verdict)j));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_verdict_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
