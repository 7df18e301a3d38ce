/*
 * test_provider_registry.c: the provider registry (built-ins present, lookups,
 * duplicate and malformed names refused), the rfc2136 provider's validate()
 * (table-driven: each bad settings object fails with a message naming the
 * setting, and never echoing a secret), and the CLI helpers that turn
 * --provider-setting KEY=VALUE into the settings object.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "cmd/cli_util.h"
#include "providers/provider.h"

static int ok_validate(const json_t *s, cf_err *e)
{
	return 0;
}

static int ok_change(const cf_provider_ctx *c, const char *f, const char *v, cf_err *e)
{
	return 0;
}

static const cf_provider_ops dup_ops = { .name = "rfc2136",
					 .validate = ok_validate,
					 .present = ok_change,
					 .cleanup = ok_change };
static const cf_provider_ops test_ops = { .name = "unit-test",
					  .validate = ok_validate,
					  .present = ok_change,
					  .cleanup = ok_change };
static const cf_provider_ops bad_name_ops = { .name = "Bad Name",
					      .validate = ok_validate,
					      .present = ok_change,
					      .cleanup = ok_change };
static const cf_provider_ops no_fn_ops = { .name = "no-functions" };

static void test_registry(void **state)
{
	const cf_provider_ops *rfc;
	const char *names[8];
	cf_err err = { 0 };

	cf_providers_init();
	cf_providers_init(); /* idempotent */
	rfc = cf_provider_find("rfc2136");
	assert_ptr_equal(rfc, &cf_provider_rfc2136);
	assert_null(cf_provider_find("nope"));
	assert_null(cf_provider_find(NULL));
	assert_null(cf_provider_find("RFC2136")); /* names are exact */

	assert_int_equal(cf_provider_register(&dup_ops, &err), -1);
	assert_int_equal(err.cls, CF_ERR_PERMANENT);
	assert_non_null(strstr(err.msg, "rfc2136"));
	assert_non_null(strstr(err.msg, "already registered"));
	assert_ptr_equal(cf_provider_find("rfc2136"), &cf_provider_rfc2136);

	assert_int_equal(cf_provider_register(&test_ops, &err), 0);
	assert_ptr_equal(cf_provider_find("unit-test"), &test_ops);
	assert_int_equal(cf_provider_register(&test_ops, &err), -1);
	assert_non_null(strstr(err.msg, "unit-test"));

	assert_int_equal(cf_provider_register(&bad_name_ops, &err), -1);
	assert_non_null(strstr(err.msg, "Bad Name"));
	assert_int_equal(cf_provider_register(&no_fn_ops, &err), -1);
	assert_non_null(strstr(err.msg, "no-functions"));
	assert_int_equal(cf_provider_register(NULL, &err), -1);

	assert_true(cf_provider_names(names, 8) >= 2);
	assert_string_equal(names[0], "rfc2136");

	assert_true(cf_provider_is_secret(rfc, "tsig_secret"));
	assert_false(cf_provider_is_secret(rfc, "server"));
	assert_false(cf_provider_is_secret(rfc, "tsig_name"));
	assert_false(cf_provider_is_secret(&test_ops, "tsig_secret"));
}

typedef struct settings_case {
	const char *json;
	const char *setting; /* NULL: valid */
} settings_case;

#define SECRET "c2VjcmV0LXZhbHVlLWZvci10ZXN0cw=="

static const settings_case rfc_cases[] = {
	{ "{\"server\":\"127.0.0.1\"}", NULL },
	{ "{\"server\":\"127.0.0.1:5353\",\"zone\":\"RFC-Alias.test.\",\"ttl\":\"120\","
	  "\"tsig_name\":\"lab-key\",\"tsig_secret\":\"" SECRET "\"}", NULL },
	{ "{\"server\":\"[::1]:53\",\"tsig_name\":\"k.example.\","
	  "\"tsig_algorithm\":\"hmac-sha512\",\"tsig_secret\":\"" SECRET "\",\"ttl\":30}", NULL },
	{ "{\"server\":\"ns1.rfc-alias.test:5300\"}", NULL },
	{ "{}", "server" },
	{ "{\"server\":\"\"}", "server" },
	{ "{\"server\":53}", "server" },
	{ "{\"server\":\"127.0.0.1:99999\"}", "server" },
	{ "{\"server\":\"bad..host\"}", "server" },
	{ "{\"server\":\"127.0.0.1\",\"zone\":\"bad..zone\"}", "zone" },
	{ "{\"server\":\"127.0.0.1\",\"ttl\":\"0\"}", "ttl" },
	{ "{\"server\":\"127.0.0.1\",\"ttl\":\"sixty\"}", "ttl" },
	{ "{\"server\":\"127.0.0.1\",\"ttl\":100000}", "ttl" },
	{ "{\"server\":\"127.0.0.1\",\"tsig_name\":\"k\"}", "tsig_secret" },
	{ "{\"server\":\"127.0.0.1\",\"tsig_secret\":\"" SECRET "\"}", "tsig_name" },
	{ "{\"server\":\"127.0.0.1\",\"tsig_name\":\"k\",\"tsig_secret\":\"%%not-base64%%\"}",
	  "tsig_secret" },
	{ "{\"server\":\"127.0.0.1\",\"tsig_name\":\"k\",\"tsig_secret\":\"" SECRET "\","
	  "\"tsig_algorithm\":\"hmac-md5\"}", "tsig_algorithm" },
	{ "{\"server\":\"127.0.0.1\",\"tsig_name\":\"k\",\"tsig_secret\":42}", "tsig_secret" },
	{ "{\"server\":\"127.0.0.1\",\"tsig_key\":\"k\"}", "tsig_key" },
	{ "[]", "settings" },
};

static void test_rfc2136_validate(void **state)
{
	const cf_provider_ops *rfc = cf_provider_find("rfc2136");
	size_t i;

	assert_non_null(rfc);
	for (i = 0; i < sizeof(rfc_cases) / sizeof(rfc_cases[0]); i++) {
		json_error_t jerr;
		json_t *s = json_loads(rfc_cases[i].json, 0, &jerr);
		cf_err err = { 0 };
		int rc;

		if (s == NULL)
			fail_msg("case %zu: bad JSON: %s", i, jerr.text);
		rc = rfc->validate(s, &err);
		if (rfc_cases[i].setting == NULL) {
			if (rc != 0)
				fail_msg("case %zu refused: %s", i, err.msg);
		} else {
			if (rc == 0)
				fail_msg("case %zu accepted: %s", i, rfc_cases[i].json);
			assert_int_equal(err.cls, CF_ERR_PERMANENT);
			if (strstr(err.msg, rfc_cases[i].setting) == NULL)
				fail_msg("case %zu: \"%s\" does not name %s", i, err.msg,
					 rfc_cases[i].setting);
			assert_null(strstr(err.msg, SECRET));
			assert_null(strstr(err.msg, "not-base64"));
		}
		json_decref(s);
	}
}

static void test_rfc2136_present_checks_settings(void **state)
{
	const cf_provider_ops *rfc = cf_provider_find("rfc2136");
	json_t *s = json_pack("{s:s}", "zone", "rfc-alias.test");
	cf_provider_ctx ctx = { .settings = s, .timeout_ms = 100 };
	cf_err err = { 0 };

	/* bad settings fail before any packet is sent */
	assert_int_equal(rfc->present(&ctx, "x.rfc-alias.test", "v", &err), -1);
	assert_non_null(strstr(err.msg, "server"));
	json_object_set_new(s, "server", json_string("127.0.0.1"));
	/* a name outside the configured zone is refused locally */
	assert_int_equal(rfc->cleanup(&ctx, "x.other.test", "v", &err), -1);
	assert_non_null(strstr(err.msg, "not in zone"));
	json_decref(s);
}

static void test_cli_settings(void **state)
{
	json_t *o = json_object();
	cf_dns_servers l = { 0 };
	cf_err err = { 0 };
	long v = 0;

	assert_int_equal(cf_cli_settings_add(o, "server=127.0.0.1:53", &err), 0);
	assert_int_equal(cf_cli_settings_add(o, "tsig_secret=" SECRET, &err), 0);
	assert_int_equal(cf_cli_settings_add(o, "empty=", &err), 0);
	assert_int_equal(cf_cli_settings_add(o, "eq=a=b", &err), 0);
	assert_string_equal(json_string_value(json_object_get(o, "server")), "127.0.0.1:53");
	assert_string_equal(json_string_value(json_object_get(o, "tsig_secret")), SECRET);
	assert_string_equal(json_string_value(json_object_get(o, "empty")), "");
	assert_string_equal(json_string_value(json_object_get(o, "eq")), "a=b");

	assert_int_equal(cf_cli_settings_add(o, "tsig_secret=other" SECRET, &err), -1);
	assert_non_null(strstr(err.msg, "tsig_secret"));
	assert_null(strstr(err.msg, SECRET));
	assert_int_equal(cf_cli_settings_add(o, "no-equals-sign", &err), -1);
	assert_non_null(strstr(err.msg, "KEY=VALUE"));
	assert_int_equal(cf_cli_settings_add(o, "=value", &err), -1);
	assert_int_equal(cf_cli_settings_add(o, "bad key=value", &err), -1);
	assert_int_equal(cf_cli_settings_add(o, "k=\xff\xfe", &err), -1);
	assert_int_equal(json_object_size(o), 4);
	json_decref(o);

	assert_int_equal(cf_cli_resolvers_add(&l, "192.0.2.1,192.0.2.2:5353", &err), 0);
	assert_int_equal(cf_cli_resolvers_add(&l, "[::1]", &err), 0);
	assert_int_equal(l.n, 3);
	assert_int_equal(cf_cli_resolvers_add(&l, "resolver.example", &err), -1);
	assert_non_null(strstr(err.msg, "--resolver"));
	assert_int_equal(cf_cli_resolvers_default(&l, &err), 0); /* keeps the given list */
	assert_int_equal(l.n, 3);

	assert_int_equal(cf_cli_parse_long("--timeout-ms", "1500", 1, 10000, &v, &err), 0);
	assert_int_equal(v, 1500);
	assert_int_equal(cf_cli_parse_long("--timeout-ms", "0", 1, 10000, &v, &err), -1);
	assert_non_null(strstr(err.msg, "--timeout-ms"));
	assert_int_equal(cf_cli_parse_long("--timeout-ms", "12x", 1, 10000, &v, &err), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_registry),
		cmocka_unit_test(test_rfc2136_validate),
		cmocka_unit_test(test_rfc2136_present_checks_settings),
		cmocka_unit_test(test_cli_settings),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
