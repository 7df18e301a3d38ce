/*
 * test_api_revocation.c: the one RFC 5280 revocation reason table
 * (api/revocation.h) that the API and the CLI share: every code to its name and
 * back, code 7 and out-of-range codes refused, names matched exactly or in any
 * case as asked, unknown names refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "api/revocation.h"

static void test_codes_and_names(void **state)
{
	static const char *const want[CF_REVOCATION_REASON_MAX + 1] = {
		"unspecified",	    "keyCompromise",	"cACompromise",	 "affiliationChanged",
		"superseded",	    "cessationOfOperation", "certificateHold", NULL,
		"removeFromCRL",    "privilegeWithdrawn",	"aACompromise",
	};

	for (int i = 0; i <= CF_REVOCATION_REASON_MAX; i++) {
		const char *n = cf_revocation_reason_name(i);

		if (want[i] == NULL) {
			assert_null(n);
			continue;
		}
		assert_non_null(n);
		assert_string_equal(n, want[i]);
		assert_int_equal(cf_revocation_reason_code(n, false), i);
		assert_int_equal(cf_revocation_reason_code(n, true), i);
	}
	assert_null(cf_revocation_reason_name(-1));
	assert_null(cf_revocation_reason_name(CF_REVOCATION_REASON_MAX + 1));
}

static void test_name_lookups(void **state)
{
	assert_int_equal(cf_revocation_reason_code("KEYCOMPROMISE", true), 1);
	assert_int_equal(cf_revocation_reason_code("KEYCOMPROMISE", false), -1);
	assert_int_equal(cf_revocation_reason_code("Superseded", true), 4);
	assert_int_equal(cf_revocation_reason_code("superseded ", true), -1);
	assert_int_equal(cf_revocation_reason_code("7", true), -1);
	assert_int_equal(cf_revocation_reason_code("", true), -1);
	assert_int_equal(cf_revocation_reason_code(NULL, true), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_codes_and_names),
		cmocka_unit_test(test_name_lookups),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
