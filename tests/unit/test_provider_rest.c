/*
 * test_provider_rest.c: the records-API providers (digitalocean, hetzner, ovh,
 * gandi, linode, desec, httpreq) and their shared layer (providers/rest_records.h):
 * registration and secret settings, validate() of each (table-driven: each bad
 * object fails naming the setting, never echoing a secret), and the pure helpers
 * (TXT content matching in raw and zone-file form, escaping, ids, the error text
 * of each API's error body, the records collected from a listing).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "providers/provider.h"
#include "providers/rest_records.h"

#define SECRET "Zq8sEcReT0kenValue42"

static void test_registered(void **state)
{
	static const struct {
		const char *name;
		const cf_provider_ops *ops;
		const char *secret, *plain;
		bool can_write;
	} cases[] = {
		{ "digitalocean", &cf_provider_digitalocean, "api_token", "api_url", true },
		{ "hetzner", &cf_provider_hetzner, "api_token", "zone", true },
		{ "ovh", &cf_provider_ovh, "application_secret", "application_key", true },
		{ "gandi", &cf_provider_gandi, "api_token", "ttl", true },
		{ "linode", &cf_provider_linode, "api_token", "api_url", true },
		{ "desec", &cf_provider_desec, "api_token", "zone", true },
		{ "httpreq", &cf_provider_httpreq, "password", "username", false },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const cf_provider_ops *ops = cf_provider_find(cases[i].name);

		assert_ptr_equal(ops, cases[i].ops);
		assert_true(cf_provider_is_secret(ops, cases[i].secret));
		assert_false(cf_provider_is_secret(ops, cases[i].plain));
		assert_int_equal(ops->can_write != NULL, cases[i].can_write);
		assert_false(ops->atomic_writes); /* the service serialises writers */
	}
	assert_true(cf_provider_is_secret(&cf_provider_ovh, "consumer_key"));
}

static void test_validate(void **state)
{
	static const struct {
		const char *provider;
		const char *json; /* SECRET stands for every credential */
		const char *expect; /* NULL: valid */
	} cases[] = {
		{ "digitalocean", "{\"api_token\":\"" SECRET "\"}", NULL },
		{ "digitalocean", "{\"api_token\":\"" SECRET "\",\"ttl\":\"29\"}", "setting ttl" },
		{ "digitalocean", "{\"api_token\":\"" SECRET "\",\"ttl\":30,\"zone\":\"Do-Alias.Test.\"}",
		  NULL },
		{ "digitalocean", "{}", "digitalocean setting api_token: required" },
		{ "digitalocean", "{\"api_token\":\"a b\"}", "setting api_token" },
		{ "digitalocean", "{\"api_token\":\"" SECRET "\",\"api_url\":\"http://10.0.0.1/v2\"}",
		  "setting api_url" },
		{ "digitalocean", "{\"api_token\":\"" SECRET "\",\"api_url\":\"http://127.0.0.1:9/v2\"}",
		  NULL },
		{ "digitalocean", "{\"api_token\":\"" SECRET "\",\"zone\":\"a..b\"}", "setting zone" },
		{ "hetzner", "{\"api_token\":\"" SECRET "\",\"ttl\":59}", "hetzner setting ttl" },
		{ "hetzner", "{\"api_token\":\"" SECRET "\",\"token\":\"x\"}",
		  "hetzner: unknown setting \"token\"" },
		{ "linode", "{\"api_token\":\"" SECRET "\",\"ttl\":\"299\"}", "linode setting ttl" },
		{ "linode", "{\"api_token\":\"" SECRET "\",\"ttl\":\"2419200\"}", NULL },
		{ "gandi", "{\"api_token\":\"" SECRET "\",\"ttl\":\"299\"}", "gandi setting ttl" },
		{ "gandi", "{\"api_token\":5}", "gandi setting api_token: must be a string" },
		{ "desec", "{\"api_token\":\"" SECRET "\"}", NULL },
		{ "desec", "{\"api_token\":\"" SECRET "\",\"ttl\":60}", "desec setting ttl" },
		{ "ovh", "{\"application_key\":\"ak\",\"application_secret\":\"" SECRET
			 "\",\"consumer_key\":\"" SECRET "\"}",
		  NULL },
		{ "ovh", "{\"application_secret\":\"" SECRET "\",\"consumer_key\":\"" SECRET "\"}",
		  "ovh setting application_key: required" },
		{ "ovh", "{\"application_key\":\"ak\",\"consumer_key\":\"" SECRET "\"}",
		  "ovh setting application_secret: required" },
		{ "ovh", "{\"application_key\":\"ak\",\"application_secret\":\"" SECRET "\"}",
		  "ovh setting consumer_key: required" },
		{ "ovh", "{\"application_key\":\"ak\",\"application_secret\":\"a b" SECRET
			 "\",\"consumer_key\":\"" SECRET "\"}",
		  "ovh setting application_secret" },
		{ "httpreq", "{\"endpoint\":\"https://dns.example.test/acme\"}", NULL },
		{ "httpreq", "{}", "httpreq setting endpoint: required" },
		{ "httpreq", "{\"endpoint\":\"http://192.0.2.7/acme\"}", "httpreq setting endpoint" },
		{ "httpreq", "{\"endpoint\":\"https://h.test\",\"username\":\"u\"}",
		  "httpreq setting password" },
		{ "httpreq", "{\"endpoint\":\"https://h.test\",\"password\":\"" SECRET "\"}",
		  "httpreq setting username" },
		{ "httpreq", "{\"endpoint\":\"https://h.test\",\"username\":\"a:b\",\"password\":\"" SECRET
			     "\"}",
		  "httpreq setting username" },
		{ "httpreq", "{\"endpoint\":\"https://h.test\",\"username\":\"u\",\"password\":\"" SECRET
			     "\"}",
		  NULL },
		{ "httpreq", "{\"endpoint\":\"https://h.test\",\"ttl\":60}", "unknown setting \"ttl\"" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const cf_provider_ops *ops = cf_provider_find(cases[i].provider);
		json_t *s = json_loads(cases[i].json, 0, NULL);
		cf_err err = { 0 };
		int rc;

		print_message("  %s %s\n", cases[i].provider, cases[i].json);
		assert_non_null(s);
		rc = ops->validate(s, &err);
		if (cases[i].expect == NULL) {
			assert_int_equal(rc, 0);
		} else {
			assert_int_equal(rc, -1);
			assert_int_equal(err.cls, CF_ERR_PERMANENT);
			assert_non_null(strstr(err.msg, cases[i].expect));
		}
		assert_null(strstr(err.msg, SECRET));
		json_decref(s);
	}
}

static void test_content_is(void **state)
{
	(void)state;
	assert_true(cf_rest_content_is("abc", "abc"));
	assert_true(cf_rest_content_is("\"abc\"", "abc"));
	assert_true(cf_rest_content_is("\"a\\\"b\"", "a\"b"));
	assert_true(cf_rest_content_is("\"ab\" \"c\"", "abc")); /* split strings */
	assert_true(cf_rest_content_is("\"a\\032b\"", "a b"));   /* decimal escape */
	assert_false(cf_rest_content_is("\"abc\"", "ab"));
	assert_false(cf_rest_content_is("abcd", "abc"));
	assert_false(cf_rest_content_is(NULL, "abc"));
	assert_false(cf_rest_content_is("\"abc", "abc")); /* unterminated */
}

static void test_escape_and_ids(void **state)
{
	char out[32], id[CF_REST_ID_MAX + 1];
	json_t *j = json_pack("{s:i,s:s,s:s,s:s,s:b}", "n", 42, "s", "ab-C_9.z", "slash", "a/b",
			      "empty", "", "bool", 1);

	(void)state;
	assert_int_equal(cf_rest_escape("_acme-challenge.a b/c", out, sizeof(out)), 0);
	assert_string_equal(out, "_acme-challenge.a%20b%2Fc");
	assert_int_equal(cf_rest_escape("abcdef", out, 6), -1);
	assert_int_equal(cf_rest_take_id(j, "n", id), 0);
	assert_string_equal(id, "42");
	assert_int_equal(cf_rest_take_id(j, "s", id), 0);
	assert_string_equal(id, "ab-C_9.z");
	assert_int_equal(cf_rest_take_id(j, "slash", id), -1);
	assert_int_equal(cf_rest_take_id(j, "empty", id), -1);
	assert_int_equal(cf_rest_take_id(j, "bool", id), -1);
	assert_int_equal(cf_rest_take_id(j, "none", id), -1);
	json_decref(j);
}

static void test_error_text(void **state)
{
	static const struct {
		const char *body, *expect;
	} cases[] = {
		{ "{\"id\":\"Unauthorized\",\"message\":\"Unable to authenticate you\"}",
		  "[Unauthorized] Unable to authenticate you" },
		{ "{\"message\":\"Invalid authentication credentials\"}",
		  "Invalid authentication credentials" },
		{ "{\"errors\":[{\"reason\":\"Invalid Token\"}]}", "Invalid Token" },
		{ "{\"errorCode\":\"INVALID_SIGNATURE\",\"httpCode\":\"400 Bad Request\","
		  "\"message\":\"Invalid signature\"}",
		  "[INVALID_SIGNATURE] Invalid signature" },
		{ "{\"code\":401,\"message\":\"No.\",\"object\":\"HTTPUnauthorized\","
		  "\"cause\":\"Unauthorized\"}",
		  "[Unauthorized] No." },
		{ "{\"detail\":\"Invalid token.\"}", "Invalid token." },
		{ "{\"zones\":[],\"error\":{\"message\":\"zone not found\",\"code\":404}}",
		  "zone not found" },
		{ "[{\"ttl\":[\"Ensure this value is greater than or equal to 3600.\"]}]",
		  "{\"ttl\":[\"Ensure this value is greater than or equal to 3600.\"]}" },
		{ "Unauthorized\n", "Unauthorized" },
		{ "", "" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cf_api_resp r = { 0 };
		char out[300];

		r.body.data = (uint8_t *)cases[i].body;
		r.body.len = strlen(cases[i].body);
		cf_rest_error_text(&r, out, sizeof(out));
		print_message("  %s\n", out);
		assert_string_equal(out, cases[i].expect);
	}
}

static void test_collect(void **state)
{
	static const cf_rest_fields f = { "type", "name", "data", "id" };
	json_t *recs = json_loads("[{\"id\":1,\"type\":\"TXT\",\"name\":\"_acme-challenge\","
				  "\"data\":\"v1\"},"
				  "{\"id\":2,\"type\":\"A\",\"name\":\"_acme-challenge\",\"data\":\"1.2.3.4\"},"
				  "{\"id\":3,\"type\":\"TXT\",\"name\":\"other\",\"data\":\"v1\"},"
				  "{\"id\":4,\"type\":\"TXT\",\"name\":\"_ACME-challenge\",\"data\":\"v2\"},"
				  "{\"type\":\"TXT\",\"name\":\"_acme-challenge\",\"data\":\"noid\"}]",
				  0, NULL);
	json_t *out = json_array();

	(void)state;
	assert_int_equal(cf_rest_collect(out, recs, &f, "_acme-challenge"), 0);
	assert_int_equal(json_array_size(out), 2);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(out, 0), "id")), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(out, 1), "content")),
			    "v2");
	json_decref(recs);
	json_decref(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_registered),     cmocka_unit_test(test_validate),
		cmocka_unit_test(test_content_is),     cmocka_unit_test(test_escape_and_ids),
		cmocka_unit_test(test_error_text),     cmocka_unit_test(test_collect),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
