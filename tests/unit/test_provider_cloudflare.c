/*
 * test_provider_cloudflare.c: the pure parts of the cloudflare provider
 * (providers/cloudflare.h) and its validate(): settings (table-driven, each bad
 * object fails naming the setting and never echoing the token), the api_url rule
 * (https, or http to loopback only), the API v4 envelope (success, error codes
 * and messages, classes by status, bodies that are no envelope), pagination
 * info, the record match cleanup relies on, and the create body.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "providers/cloudflare.h"
#include "providers/provider.h"

#define TOKEN "Sn3lZJTBX6kkg7OdcBUAxOO963GEIyGQqnFTOFYY"

static json_t *settings(const char *extra_json)
{
	json_t *s = json_pack("{s:s}", "api_token", TOKEN);
	json_t *x = json_loads(extra_json, 0, NULL);

	assert_non_null(x);
	json_object_update(s, x);
	json_decref(x);
	return s;
}

static void test_registered(void **state)
{
	const cf_provider_ops *ops = cf_provider_find("cloudflare");

	assert_ptr_equal(ops, &cf_provider_cloudflare);
	assert_true(cf_provider_is_secret(ops, "api_token"));
	assert_false(cf_provider_is_secret(ops, "api_url"));
	assert_false(cf_provider_is_secret(ops, "zone"));
}

static void test_validate(void **state)
{
	static const struct {
		const char *json; /* merged over {"api_token": TOKEN} */
		const char *expect; /* NULL: valid */
	} cases[] = {
		{ "{}", NULL },
		{ "{\"ttl\": \"1\"}", NULL },
		{ "{\"ttl\": 30}", NULL },
		{ "{\"ttl\": \"86400\", \"zone\": \"Cf-Alias.Test.\"}", NULL },
		{ "{\"api_url\": \"https://api.cloudflare.com/client/v4/\"}", NULL },
		{ "{\"api_url\": \"http://127.0.0.1:8443/client/v4\"}", NULL },
		{ "{\"api_url\": \"http://127.9.8.7/client/v4\"}", NULL },
		{ "{\"api_url\": \"http://[::1]:80/client/v4\"}", NULL },
		{ "{\"api_url\": \"http://LOCALHOST:1\"}", NULL },
		{ "{\"api_url\": \"http://192.0.2.1/client/v4\"}", "setting api_url" },
		{ "{\"api_url\": \"http://128.0.0.1/\"}", "setting api_url" },
		{ "{\"api_url\": \"http://[::2]:80/\"}", "setting api_url" },
		{ "{\"api_url\": \"http://localhost.evil.test/\"}", "setting api_url" },
		{ "{\"api_url\": \"ftp://127.0.0.1/\"}", "setting api_url" },
		{ "{\"api_url\": \"https://u:p@api.cloudflare.com/\"}", "setting api_url" },
		{ "{\"api_url\": \"https://api.cloudflare.com/?x=1\"}", "setting api_url" },
		{ "{\"ttl\": \"0\"}", "setting ttl" },
		{ "{\"ttl\": \"29\"}", "setting ttl" },
		{ "{\"ttl\": \"86401\"}", "setting ttl" },
		{ "{\"ttl\": \"soon\"}", "setting ttl" },
		{ "{\"zone\": \"a..b\"}", "setting zone" },
		{ "{\"zone\": 5}", "setting zone" },
		{ "{\"api_key\": \"x\"}", "unknown setting \"api_key\"" },
		{ "{\"api_token\": \"\"}", "setting api_token: required" },
		{ "{\"api_token\": \"with blank\"}", "setting api_token" },
		{ "{\"api_token\": \"tab\\there\"}", "setting api_token" },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *s = settings(cases[i].json);
		cf_err err = { 0 };
		int rc = cf_provider_cloudflare.validate(s, &err);

		print_message("  %s\n", cases[i].json);
		if (cases[i].expect == NULL) {
			assert_int_equal(rc, 0);
		} else {
			assert_int_equal(rc, -1);
			assert_int_equal(err.cls, CF_ERR_PERMANENT);
			assert_non_null(strstr(err.msg, cases[i].expect));
		}
		assert_null(strstr(err.msg, TOKEN));
		assert_null(strstr(err.msg, "with blank"));
		json_decref(s);
	}
	{
		json_t *none = json_object();
		cf_err err = { 0 };

		assert_int_equal(cf_provider_cloudflare.validate(none, &err), -1);
		assert_non_null(strstr(err.msg, "api_token"));
		assert_int_equal(cf_provider_cloudflare.validate(NULL, &err), -1);
		json_decref(none);
	}
}

static void test_envelope(void **state)
{
	static const char ok[] = "{\"success\":true,\"errors\":[],\"messages\":[],"
				 "\"result\":{\"id\":\"abc\"}}";
	static const char denied[] =
		"{\"success\":false,\"errors\":[{\"code\":10000,\"message\":\"Authentication "
		"error\"}],\"messages\":[],\"result\":null}";
	static const char two[] =
		"{\"success\":false,\"errors\":[{\"code\":81058,\"message\":\"An identical record "
		"already exists.\"},{\"code\":1004,\"message\":\"DNS Validation Error\"}],"
		"\"messages\":[],\"result\":null}";
	static const char nodetail[] = "{\"success\":false,\"errors\":[],\"result\":null}";
	json_t *root = NULL;
	cf_err err = { 0 };

	assert_int_equal(cf_cloudflare_envelope(200, ok, strlen(ok), "GET /x", &root, &err), 0);
	assert_string_equal(json_string_value(json_object_get(json_object_get(root, "result"),
							       "id")),
			    "abc");
	json_decref(root);

	assert_int_equal(cf_cloudflare_envelope(403, denied, strlen(denied), "GET /zones?name=a",
						&root, &err),
			 -1);
	assert_int_equal(err.cls, CF_ERR_PERMANENT);
	assert_non_null(strstr(err.msg, "cloudflare: GET /zones?name=a: HTTP 403: [10000] "
					"Authentication error"));
	assert_non_null(strstr(err.msg, "api_token"));
	assert_true(cf_cloudflare_has_code(root, 10000));
	assert_false(cf_cloudflare_has_code(root, 81058));
	json_decref(root);

	assert_int_equal(cf_cloudflare_envelope(400, two, strlen(two), "POST /d", &root, &err), -1);
	assert_int_equal(err.cls, CF_ERR_PERMANENT);
	assert_non_null(strstr(err.msg, "[81058] An identical record already exists.; [1004] DNS "
					"Validation Error"));
	assert_true(cf_cloudflare_has_code(root, 81058));
	json_decref(root);

	/* success false on a 200 is still a failure */
	assert_int_equal(cf_cloudflare_envelope(200, nodetail, strlen(nodetail), "GET /y", &root,
						&err),
			 -1);
	assert_non_null(strstr(err.msg, "no error detail"));
	json_decref(root);

	assert_int_equal(cf_cloudflare_envelope(429, denied, strlen(denied), "GET /z", &root, &err),
			 -1);
	assert_int_equal(err.cls, CF_ERR_TRANSIENT);
	json_decref(root);

	assert_int_equal(cf_cloudflare_envelope(502, "<html>bad gateway</html>", 24, "GET /z", &root,
						&err),
			 -1);
	assert_null(root);
	assert_int_equal(err.cls, CF_ERR_TRANSIENT);
	assert_non_null(strstr(err.msg, "HTTP 502: the answer is not a Cloudflare API envelope"));

	assert_int_equal(cf_cloudflare_envelope(200, "[1]", 3, "GET /z", &root, &err), -1);
	assert_int_equal(err.cls, CF_ERR_PERMANENT);
	assert_int_equal(cf_cloudflare_envelope(200, NULL, 0, "GET /z", &root, &err), -1);
	assert_null(root);
}

static void test_total_pages(void **state)
{
	static const struct {
		const char *json;
		long pages;
	} cases[] = {
		{ "{\"success\":true}", 1 },
		{ "{\"result_info\":{\"page\":1,\"per_page\":2,\"total_pages\":3}}", 3 },
		{ "{\"result_info\":{\"total_pages\":0}}", 1 },
		{ "{\"result_info\":{\"total_pages\":\"3\"}}", 1 },
		{ "{\"result_info\":{\"total_pages\":99999999}}", 200 },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *j = json_loads(cases[i].json, 0, NULL);

		assert_int_equal(cf_cloudflare_total_pages(j), cases[i].pages);
		json_decref(j);
	}
}

static void test_record_matches(void **state)
{
	static const struct {
		const char *json;
		bool match;
	} cases[] = {
		{ "{\"type\":\"TXT\",\"name\":\"a.cf-alias.test\",\"content\":\"v1\"}", true },
		{ "{\"type\":\"TXT\",\"name\":\"A.Cf-Alias.Test.\",\"content\":\"v1\"}", true },
		{ "{\"type\":\"TXT\",\"name\":\"a.cf-alias.test\",\"content\":\"\\\"v1\\\"\"}", true },
		{ "{\"type\":\"TXT\",\"name\":\"a.cf-alias.test\",\"content\":\"v1x\"}", false },
		{ "{\"type\":\"TXT\",\"name\":\"a.cf-alias.test\",\"content\":\"\\\"v1\"}", false },
		{ "{\"type\":\"TXT\",\"name\":\"a.cf-alias.test\",\"content\":\"v\"}", false },
		{ "{\"type\":\"TXT\",\"name\":\"b.a.cf-alias.test\",\"content\":\"v1\"}", false },
		{ "{\"type\":\"CNAME\",\"name\":\"a.cf-alias.test\",\"content\":\"v1\"}", false },
		{ "{\"name\":\"a.cf-alias.test\",\"content\":\"v1\"}", false },
		{ "{\"type\":\"TXT\",\"name\":\"a.cf-alias.test\",\"content\":1}", false },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *j = json_loads(cases[i].json, 0, NULL);

		assert_non_null(j);
		assert_int_equal(cf_cloudflare_record_matches(j, "a.cf-alias.test", "v1"),
				 cases[i].match);
		json_decref(j);
	}
}

static void test_create_body(void **state)
{
	char *b = cf_cloudflare_create_body("a.cf-alias.test", "va\"lue", 60);
	json_t *j, *want;

	assert_non_null(b);
	j = json_loads(b, 0, NULL);
	want = json_pack("{s:s,s:s,s:s,s:i}", "type", "TXT", "name", "a.cf-alias.test", "content",
			 "va\"lue", "ttl", 60);
	assert_true(json_equal(j, want));
	json_decref(j);
	json_decref(want);
	free(b);
	assert_null(cf_cloudflare_create_body("a.cf-alias.test", "\xff\xfe", 1)); /* not UTF-8 */
}

static void test_url_rule(void **state)
{
	assert_true(cf_cloudflare_url_allowed("https://api.cloudflare.com/client/v4"));
	assert_true(cf_cloudflare_url_allowed("HTTPS://anything.test"));
	assert_true(cf_cloudflare_url_allowed("http://127.0.0.1:1234/client/v4"));
	assert_true(cf_cloudflare_url_allowed("http://127.255.0.9"));
	assert_true(cf_cloudflare_url_allowed("http://[::1]:99/x"));
	assert_true(cf_cloudflare_url_allowed("http://localhost/x"));
	assert_false(cf_cloudflare_url_allowed("http://10.0.0.1/client/v4"));
	assert_false(cf_cloudflare_url_allowed("http://[::ffff:127.0.0.1]/"));
	assert_false(cf_cloudflare_url_allowed("http://127.0.0.1.nip.test/"));
	assert_false(cf_cloudflare_url_allowed("http:///x"));
	assert_false(cf_cloudflare_url_allowed("http://[::1/x"));
	assert_false(cf_cloudflare_url_allowed("gopher://127.0.0.1/"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_registered),   cmocka_unit_test(test_validate),
		cmocka_unit_test(test_envelope),     cmocka_unit_test(test_total_pages),
		cmocka_unit_test(test_record_matches), cmocka_unit_test(test_create_body),
		cmocka_unit_test(test_url_rule),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
