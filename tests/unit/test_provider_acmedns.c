/*
 * test_provider_acmedns.c: the acmedns provider's pure parts: validate()
 * (table-driven, naming the setting, never echoing the password), the
 * 43-character TXT check, the per-process table of live values per account (a
 * third value refused, the same value counted once, cleanup and expiry free a
 * slot, accounts independent), the checks present() makes before any request
 * (fulldomain, TXT), and the two-value limit exposed in the ops table.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "providers/acmedns.h"
#include "providers/provider.h"

#define USER "0d6b7c2a-4a8e-4a4e-9d76-1a2b3c4d5e6f"
#define PASS "P4ssw0rd-never-shown-P4ssw0rd-never-show" /* 40 characters */
#define V1 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa1"
#define V2 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa2"
#define V3 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa3"

#define BASE "\"api_url\":\"http://127.0.0.1:9\",\"username\":\"" USER "\","
#define GOOD BASE "\"password\":\"" PASS "\",\"fulldomain\":\"acme1.acmedns-alias.test\""

static void test_validate(void **state)
{
	const cf_provider_ops *ops = cf_provider_find("acmedns");
	static const struct {
		const char *json, *setting;
	} cases[] = {
		{ "{" GOOD "}", NULL },
		{ "{" GOOD ",\"subdomain\":\"ACME1\",\"ca_file\":\"/etc/ca.pem\"}", NULL },
		{ "{\"username\":\"" USER "\",\"password\":\"" PASS "\","
		  "\"fulldomain\":\"a.b.test\"}", "api_url" },
		{ "{\"api_url\":\"http://h\",\"password\":\"" PASS "\",\"fulldomain\":\"a.b\"}",
		  "username" },
		{ "{\"api_url\":\"http://h\",\"username\":\"not-a-uuid\",\"password\":\"" PASS "\","
		  "\"fulldomain\":\"a.b\"}", "username" },
		{ "{" BASE "\"fulldomain\":\"a.b\"}", "password" },
		{ "{" BASE "\"password\":\"short-" PASS "\",\"fulldomain\":\"a.b\"}", "password" },
		{ "{" BASE "\"password\":\"" PASS "\"}", "fulldomain" },
		{ "{" BASE "\"password\":\"" PASS "\",\"fulldomain\":\"a..b\"}", "fulldomain" },
		{ "{" GOOD ",\"subdomain\":\"acme2\"}", "subdomain" },
		{ "{" GOOD ",\"ca_file\":\"rel.pem\"}", "ca_file" },
		{ "{" GOOD ",\"api_key\":\"x\"}", "api_key" },
	};
	size_t i;

	assert_ptr_equal(ops, &cf_provider_acmedns);
	assert_int_equal(ops->max_values_per_name, 2);
	assert_true(cf_provider_is_secret(ops, "password"));
	assert_false(cf_provider_is_secret(ops, "username"));
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *s = json_loads(cases[i].json, 0, NULL);
		cf_err err = { 0 };
		int rc;

		if (s == NULL)
			fail_msg("case %zu: bad JSON", i);
		rc = ops->validate(s, &err);
		if (cases[i].setting == NULL && rc != 0)
			fail_msg("case %zu refused: %s", i, err.msg);
		if (cases[i].setting != NULL &&
		    (rc == 0 || strstr(err.msg, cases[i].setting) == NULL))
			fail_msg("case %zu: rc %d, \"%s\" does not name %s", i, rc, err.msg,
				 cases[i].setting);
		assert_null(strstr(err.msg, PASS));
		json_decref(s);
	}
}

static void test_txt_check(void **state)
{
	assert_true(cf_acmedns_txt_ok(V1));
	assert_true(cf_acmedns_txt_ok("Ab-_012345678901234567890123456789012345678"));
	assert_false(cf_acmedns_txt_ok(V1 "x"));   /* 44 */
	assert_false(cf_acmedns_txt_ok(V1 + 1));   /* 42 */
	assert_false(cf_acmedns_txt_ok(""));
	assert_false(cf_acmedns_txt_ok(NULL));
	assert_false(cf_acmedns_txt_ok("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa="));
	assert_false(cf_acmedns_txt_ok("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa+"));
}

static void test_slots(void **state)
{
	cf_err err = { 0 };
	bool fresh;

	assert_int_equal(cf_acmedns_slot_take("u1\nsub", V1, 100, &fresh, &err), 0);
	assert_true(fresh);
	assert_int_equal(cf_acmedns_slot_take("u1\nsub", V1, 101, &fresh, &err), 0);
	assert_false(fresh); /* already live: not written again */
	assert_int_equal(cf_acmedns_slot_take("u1\nsub", V2, 102, &fresh, &err), 0);
	assert_true(fresh);
	assert_int_equal(cf_acmedns_slot_count("u1\nsub", 102), 2);
	/* a third value at the same account is refused */
	assert_int_equal(cf_acmedns_slot_take("u1\nsub", V3, 103, &fresh, &err), -1);
	assert_int_equal(err.cls, CF_ERR_PERMANENT);
	assert_non_null(strstr(err.msg, "two TXT values per subdomain"));
	/* another account (or another server) is independent */
	assert_int_equal(cf_acmedns_slot_take("u2\nsub", V3, 103, &fresh, &err), 0);
	assert_int_equal(cf_acmedns_slot_take("u1\nother", V3, 103, &fresh, &err), 0);
	/* cleanup frees a slot */
	cf_acmedns_slot_drop("u1\nsub", V1);
	cf_acmedns_slot_drop("u1\nsub", V1); /* twice is harmless */
	cf_acmedns_slot_drop("nobody", V1);
	assert_int_equal(cf_acmedns_slot_count("u1\nsub", 104), 1);
	assert_int_equal(cf_acmedns_slot_take("u1\nsub", V3, 104, &fresh, &err), 0);
	assert_true(fresh);
	/* a value never cleaned up stops counting after the TTL */
	assert_int_equal(cf_acmedns_slot_count("u1\nsub", 102 + CF_ACMEDNS_SLOT_TTL_S), 1);
	assert_int_equal(cf_acmedns_slot_count("u1\nsub", 104 + CF_ACMEDNS_SLOT_TTL_S), 0);
	assert_int_equal(cf_acmedns_slot_count("never-seen", 0), 0);
}

static void test_present_checks_first(void **state)
{
	const cf_provider_ops *ops = cf_provider_find("acmedns");
	json_t *s = json_loads("{" GOOD "}", 0, NULL);
	cf_provider_ctx ctx = { .settings = s, .timeout_ms = 500 };
	cf_err err = { 0 };

	assert_non_null(s);
	/* a name that is not the account's fulldomain */
	assert_int_equal(ops->present(&ctx, "acme2.acmedns-alias.test", V1, &err), -1);
	assert_non_null(strstr(err.msg, "fulldomain acme1.acmedns-alias.test"));
	/* the 43-character check, before any request */
	assert_int_equal(ops->present(&ctx, "acme1.acmedns-alias.test.", "short", &err), -1);
	assert_non_null(strstr(err.msg, "43 characters"));
	assert_non_null(strstr(err.msg, "got 5"));
	/* cleanup writes nothing, so it succeeds with any value */
	assert_int_equal(ops->cleanup(&ctx, "ACME1.acmedns-alias.test", "short", &err), 0);
	/* nothing listens on port 9: transient, names api_url, and the value is not
	 * counted as live, since the request never left (the next present writes) */
	assert_int_equal(ops->present(&ctx, "acme1.acmedns-alias.test", V1, &err), -1);
	assert_int_equal(err.cls, CF_ERR_TRANSIENT);
	assert_non_null(strstr(err.msg, "api_url"));
	assert_null(strstr(err.msg, PASS));
	assert_int_equal(cf_acmedns_slot_count("http://127.0.0.1:9\nacme1", 0), 0);
	json_decref(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_validate),
		cmocka_unit_test(test_txt_check),
		cmocka_unit_test(test_slots),
		cmocka_unit_test(test_present_checks_first),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
