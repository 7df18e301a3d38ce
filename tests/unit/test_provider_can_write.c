/*
 * test_provider_can_write.c: the providers' can_write() hook (the alias check's
 * "can this provider write the target?"), on the paths that need no network: the
 * hook is there for every provider type that can tell and missing (NULL) for exec,
 * which cannot; a target outside the configured zone is "no" (0) with a message
 * naming the target and the zone; acme-dns answers from its settings alone (yes
 * exactly at the account's fulldomain); bad settings are "no", never a crash; and
 * nothing secret is in a message. The network paths (an UPDATE probe that BIND
 * refuses, a zone PowerDNS does not have) are in tests/integration/test_alias_check.py.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "providers/provider.h"

#define USER "0d6b7c2a-4a8e-4a4e-9d76-1a2b3c4d5e6f"
#define PASS "P4ssw0rd-never-shown-P4ssw0rd-never-show" /* 40 characters */
#define TSIG "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA=="

/* can_write of provider type with settings (JSON text) at fqdn; *msg gets err. */
static int probe(const char *type, const char *settings, const char *fqdn, char *msg,
		 size_t len)
{
	const cf_provider_ops *ops = cf_provider_find(type);
	json_t *s = json_loads(settings, 0, NULL);
	cf_provider_ctx ctx = { .settings = s, .timeout_ms = 1000 };
	cf_err err = { 0 };
	int rc;

	assert_non_null(ops);
	assert_non_null(s);
	assert_non_null(ops->can_write);
	rc = ops->can_write(&ctx, fqdn, &err);
	snprintf(msg, len, "%s", err.msg);
	if (rc == 1)
		assert_int_equal(err.cls, CF_ERR_NONE);
	else if (rc == 0)
		assert_int_equal(err.cls, CF_ERR_PERMANENT);
	cf_err_clear(&err);
	json_decref(s);
	return rc;
}

static void test_which_providers_can_tell(void **state)
{
	static const char *const can[] = { "rfc2136", "powerdns", "acmedns", "cloudflare",
					   "route53" };

	for (size_t i = 0; i < sizeof(can) / sizeof(can[0]); i++)
		assert_non_null(cf_provider_find(can[i])->can_write);
	assert_null(cf_provider_find("exec")->can_write);
}

static void test_outside_the_configured_zone(void **state)
{
	static const struct {
		const char *type, *settings;
	} cases[] = {
		{ "rfc2136", "{\"server\":\"192.0.2.1\",\"zone\":\"rfc-alias.test\","
			     "\"tsig_name\":\"k\",\"tsig_secret\":\"" TSIG "\"}" },
		{ "powerdns", "{\"api_url\":\"http://192.0.2.1:8081\",\"api_key\":\"" PASS "\","
			      "\"zone\":\"rfc-alias.test\"}" },
		{ "cloudflare", "{\"api_token\":\"" PASS "\",\"api_url\":\"http://127.0.0.1:9\","
				"\"zone\":\"rfc-alias.test\"}" },
	};
	char msg[1024];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(probe(cases[i].type, cases[i].settings,
				       "www.example.test.elsewhere.test", msg, sizeof(msg)), 0);
		assert_non_null(strstr(msg, "www.example.test.elsewhere.test"));
		assert_non_null(strstr(msg, "not in zone rfc-alias.test"));
		assert_null(strstr(msg, PASS));
		assert_null(strstr(msg, TSIG));
	}
}

static void test_acmedns_answers_from_its_settings(void **state)
{
	const char *s = "{\"api_url\":\"http://127.0.0.1:9\",\"username\":\"" USER "\","
			"\"password\":\"" PASS "\",\"fulldomain\":\"acme1.acmedns-alias.test\"}";
	char msg[1024];

	assert_int_equal(probe("acmedns", s, "acme1.acmedns-alias.test.", msg, sizeof(msg)), 1);
	assert_int_equal(probe("acmedns", s, "ACME1.acmedns-alias.test", msg, sizeof(msg)), 1);
	assert_int_equal(probe("acmedns", s, "acme2.acmedns-alias.test", msg, sizeof(msg)), 0);
	assert_non_null(strstr(msg, "is not this account's fulldomain acme1.acmedns-alias.test"));
	assert_null(strstr(msg, PASS));
}

static void test_bad_settings_or_names_are_no(void **state)
{
	char msg[1024];

	assert_int_equal(probe("rfc2136", "{\"zone\":\"rfc-alias.test\"}", "a.rfc-alias.test", msg,
			       sizeof(msg)), 0);
	assert_non_null(strstr(msg, "setting server"));
	assert_int_equal(probe("powerdns", "{\"api_url\":\"http://192.0.2.1\",\"api_key\":\"k\","
					   "\"zone\":\"rfc-alias.test\"}",
			       "bad..name", msg, sizeof(msg)), 0);
	assert_int_equal(probe("route53", "{\"access_key_id\":\"AKIA0000\"}", "a.r53-alias.test",
			       msg, sizeof(msg)), 0);
	assert_non_null(strstr(msg, "secret_access_key"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_which_providers_can_tell),
		cmocka_unit_test(test_outside_the_configured_zone),
		cmocka_unit_test(test_acmedns_answers_from_its_settings),
		cmocka_unit_test(test_bad_settings_or_names_are_no),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
