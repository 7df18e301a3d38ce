/*
 * test_validate.c: the admin API's input checks (service/api/validate.c), table
 * driven: good certificate documents and their normalised form, bad ones and the
 * field each violation names, PATCH merging, provider documents (the provider's
 * own validate() message mapped to "settings.<key>"), and the small syntaxes
 * (slugs, host names, token names, key types). No database: whether a provider
 * exists comes from a fixed list through the callback.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/validate.h"

static int exists_calls;

static int fake_exists(void *arg, const char *name, cf_err *err)
{
	const char *const *known = arg;

	exists_calls++;
	if (strcmp(name, "db-down") == 0)
		return cf_err_set(err, CF_ERR_TRANSIENT, "database down");
	for (; *known != NULL; known++)
		if (strcmp(*known, name) == 0)
			return 1;
	return 0;
}

static const char *const known_providers[] = { "p-one", "p-two", "db-down", NULL };

static const cf_cert_rules rules = { .max_names = 5,
				     .provider_exists = fake_exists,
				     .arg = (void *)known_providers };

/* Runs cf_cert_validate on JSON text; returns its result, *out and errs filled. */
static int check(const char *text, json_t **out, cf_verrs *errs)
{
	json_error_t je;
	json_t *in = json_loads(text, JSON_DECODE_ANY, &je);
	cf_err err = { 0 };
	int r;

	assert_non_null(in);
	memset(errs, 0, sizeof(*errs));
	r = cf_cert_validate(in, &rules, out, errs, &err);
	json_decref(in);
	cf_err_clear(&err);
	return r;
}

typedef struct good_case {
	const char *in;
	const char *want; /* the normalised document, compact, keys in output order */
} good_case;

static const good_case good[] = {
	{ "{\"id\":\"web\",\"domains\":[\"*.Example.TEST.\",\"example.test\"],"
	  "\"provider\":\"p-one\"}",
	  "{\"id\":\"web\",\"domains\":[\"*.example.test\",\"example.test\"],\"dns_alias\":null,"
	  "\"provider\":\"p-one\",\"key_type\":\"ec256\",\"hosts\":[],\"admin_keys\":false,"
	  "\"issuers\":[\"default\"],\"profile\":null}" },
	{ "{\"id\":\"a-1\",\"domains\":[\"x.example.test\"],\"dns_alias\":\"auto\","
	  "\"provider\":\"p-two\",\"key_type\":\"rsa4096\",\"hosts\":[\"web-01\",\"db.example\"],"
	  "\"admin_keys\":true}",
	  "{\"id\":\"a-1\",\"domains\":[\"x.example.test\"],\"dns_alias\":\"auto\","
	  "\"provider\":\"p-two\",\"key_type\":\"rsa4096\",\"hosts\":[\"web-01\",\"db.example\"],"
	  "\"admin_keys\":true,\"issuers\":[\"default\"],\"profile\":null}" },
	{ "{\"id\":\"m\",\"domains\":[\"*.x.test\",\"x.test\",\"www.x.test\"],"
	  "\"dns_alias\":{\"*.X.test\":\"X.alias.test.\",\"x.test\":\"x.alias.test\","
	  "\"www.x.test\":\"_acme-challenge.www.other.test\"},"
	  "\"provider\":{\"*.x.test\":\"p-one\",\"x.test\":\"p-one\",\"www.x.test\":\"p-two\"}}",
	  "{\"id\":\"m\",\"domains\":[\"*.x.test\",\"x.test\",\"www.x.test\"],"
	  "\"dns_alias\":{\"*.x.test\":\"x.alias.test\",\"x.test\":\"x.alias.test\","
	  "\"www.x.test\":\"_acme-challenge.www.other.test\"},"
	  "\"provider\":{\"*.x.test\":\"p-one\",\"x.test\":\"p-one\",\"www.x.test\":\"p-two\"},"
	  "\"key_type\":\"ec256\",\"hosts\":[],\"admin_keys\":false,"
	  "\"issuers\":[\"default\"],\"profile\":null}" },
	{ "{\"id\":\"n\",\"domains\":[\"xn--bcher-kva.example\"],\"dns_alias\":null,"
	  "\"provider\":\"p-one\"}",
	  "{\"id\":\"n\",\"domains\":[\"xn--bcher-kva.example\"],\"dns_alias\":null,"
	  "\"provider\":\"p-one\",\"key_type\":\"ec256\",\"hosts\":[],\"admin_keys\":false,"
	  "\"issuers\":[\"default\"],\"profile\":null}" },
	{ "{\"id\":\"i\",\"domains\":[\"x.test\"],\"provider\":\"p-one\","
	  "\"issuers\":[\"p-two\",\"p-one\"],\"profile\":\"tlsserver\"}",
	  "{\"id\":\"i\",\"domains\":[\"x.test\"],\"dns_alias\":null,"
	  "\"provider\":\"p-one\",\"key_type\":\"ec256\",\"hosts\":[],\"admin_keys\":false,"
	  "\"issuers\":[\"p-two\",\"p-one\"],\"profile\":\"tlsserver\"}" },
};

static void test_good_documents(void **state)
{
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		json_t *out = NULL;
		cf_verrs errs;
		char *text;
		int r = check(good[i].in, &out, &errs);

		if (r != 0)
			fail_msg("case %zu: %s", i, errs.n ? errs.e[0].detail : "error");
		text = json_dumps(out, JSON_COMPACT | JSON_PRESERVE_ORDER);
		assert_string_equal(text, good[i].want);
		free(text);
		json_decref(out);
	}
}

#define BASE_START "{\"id\":\"web\","
#define DOMAINS "\"domains\":[\"*.x.test\",\"x.test\"],"
#define PROVIDER "\"provider\":\"p-one\""

typedef struct bad_case {
	const char *in;
	const char *field;  /* errs.e[0].field */
	const char *detail; /* a substring of its detail */
} bad_case;

static const bad_case bad[] = {
	{ "[]", "body", "JSON object" },
	{ "{\"domains\":[\"x.test\"]," PROVIDER "}", "id", "required" },
	{ "{\"id\":\"Web\"," DOMAINS PROVIDER "}", "id", "not a slug" },
	{ "{\"id\":\"-w\"," DOMAINS PROVIDER "}", "id", "not a slug" },
	{ "{\"id\":7," DOMAINS PROVIDER "}", "id", "string" },
	{ BASE_START PROVIDER "}", "domains", "required" },
	{ BASE_START "\"domains\":[]," PROVIDER "}", "domains", "at least one" },
	{ BASE_START "\"domains\":\"x.test\"," PROVIDER "}", "domains", "array" },
	{ BASE_START "\"domains\":[\"a.t\",\"b.t\",\"c.t\",\"d.t\",\"e.t\",\"f.t\"]," PROVIDER "}",
	  "domains", "CERTFLEET_MAX_NAMES" },
	{ BASE_START "\"domains\":[\"x.test\",3]," PROVIDER "}", "domains[1]", "string" },
	{ BASE_START "\"domains\":[\"a..x.test\"]," PROVIDER "}", "domains[0]", "empty label" },
	{ BASE_START "\"domains\":[\"www.*.x.test\"]," PROVIDER "}", "domains[0]", "wildcard" },
	{ BASE_START "\"domains\":[\"*x.test\"]," PROVIDER "}", "domains[0]", "wildcard" },
	{ BASE_START "\"domains\":[\"x.test\",\"X.TEST.\"]," PROVIDER "}", "domains[1]",
	  "listed twice" },
	{ BASE_START "\"domains\":[\"localhost\"]," PROVIDER "}", "domains[0]", "two labels" },
	{ BASE_START DOMAINS "\"dns_alias\":\"no way\"," PROVIDER "}", "dns_alias", "alias target" },
	{ BASE_START DOMAINS "\"dns_alias\":true," PROVIDER "}", "dns_alias", "must be null" },
	{ BASE_START DOMAINS "\"dns_alias\":{}," PROVIDER "}", "dns_alias", "not be empty" },
	{ BASE_START DOMAINS "\"dns_alias\":{\"x.test\":\"a.t\"}," PROVIDER "}", "dns_alias",
	  "no entry for \"*.x.test\"" },
	{ BASE_START DOMAINS "\"dns_alias\":{\"*.x.test\":\"a.t\",\"x.test\":\"b.t\"}," PROVIDER "}",
	  "dns_alias", "share the challenge record _acme-challenge.x.test" },
	{ BASE_START DOMAINS "\"dns_alias\":{\"*.x.test\":\"a.t\",\"x.test\":\"a.t\",\"y.test\":"
	  "\"a.t\"}," PROVIDER "}", "dns_alias[\"y.test\"]", "not one of the certificate's" },
	{ BASE_START DOMAINS "\"dns_alias\":{\"*.x.test\":\"a.t\",\"x.test\":5}," PROVIDER "}",
	  "dns_alias[\"x.test\"]", "DNS name" },
	{ BASE_START DOMAINS "\"dns_alias\":{\"*.x.test\":\"a.t\",\"x.test\":\"a.t\",\"X.test\":"
	  "\"a.t\"}," PROVIDER "}", "dns_alias[\"X.test\"]", "twice" },
	{ BASE_START DOMAINS "\"dns_alias\":{\"bad..key\":\"a.t\"}," PROVIDER "}",
	  "dns_alias[\"bad..key\"]", "not a DNS name" },
	{ BASE_START "\"domains\":[\"x.test\"]}", "provider", "required" },
	{ BASE_START DOMAINS "\"provider\":\"nope\"}", "provider", "does not exist" },
	{ BASE_START DOMAINS "\"provider\":\"No\"}", "provider", "not a provider name" },
	{ BASE_START DOMAINS "\"provider\":1}", "provider", "must be a provider name" },
	{ BASE_START DOMAINS "\"provider\":{\"*.x.test\":\"p-one\",\"x.test\":\"p-two\"}}",
	  "provider", "same provider" },
	{ BASE_START DOMAINS "\"provider\":{\"x.test\":\"p-one\"}}", "provider", "no entry" },
	{ BASE_START "\"domains\":[\"a.test\",\"b.test\"],\"provider\":{\"a.test\":\"p-one\","
	  "\"b.test\":\"zzz\"}}", "provider[\"b.test\"]", "does not exist" },
	{ BASE_START DOMAINS PROVIDER ",\"key_type\":\"ec521\"}", "key_type", "not a known" },
	{ BASE_START DOMAINS PROVIDER ",\"key_type\":null}", "key_type", "string" },
	{ BASE_START DOMAINS PROVIDER ",\"hosts\":\"h\"}", "hosts", "array" },
	{ BASE_START DOMAINS PROVIDER ",\"admin_keys\":\"yes\"}", "admin_keys", "true or false" },
	{ BASE_START DOMAINS PROVIDER ",\"hosts\":[\"ok\",\"Not_Ok\"]}", "hosts[1]", "host name" },
	{ BASE_START DOMAINS PROVIDER ",\"hosts\":[\"a\",\"a\"]}", "hosts[1]", "twice" },
	{ BASE_START DOMAINS PROVIDER ",\"color\":1}", "color", "unknown field" },
};

static void test_bad_documents(void **state)
{
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *out = NULL;
		cf_verrs errs;
		int r = check(bad[i].in, &out, &errs);

		if (r != 1 || errs.n == 0)
			fail_msg("case %zu (%s): accepted", i, bad[i].in);
		assert_null(out);
		if (strcmp(errs.e[0].field, bad[i].field) != 0)
			fail_msg("case %zu: field %s, want %s (%s)", i, errs.e[0].field, bad[i].field,
				 errs.e[0].detail);
		/* the detail starts with the field */
		assert_memory_equal(errs.e[0].detail, bad[i].field, strlen(bad[i].field));
		if (strstr(errs.e[0].detail, bad[i].detail) == NULL)
			fail_msg("case %zu: detail \"%s\" lacks \"%s\"", i, errs.e[0].detail,
				 bad[i].detail);
	}
}

static void test_errors_are_collected_not_cascaded(void **state)
{
	json_t *out = NULL;
	cf_verrs errs;

	/* a bad domain: the alias map's coverage is not checked against it */
	assert_int_equal(check("{\"id\":\"Bad\",\"domains\":[\"a..b.test\"],\"dns_alias\":"
			       "{\"other.test\":\"a.t\"},\"provider\":\"p-one\",\"key_type\":\"x\"}",
			       &out, &errs), 1);
	assert_int_equal(errs.n, 3);
	assert_string_equal(errs.e[0].field, "id");
	assert_string_equal(errs.e[1].field, "domains[0]");
	assert_string_equal(errs.e[2].field, "key_type");
}

static void test_provider_callback(void **state)
{
	json_t *in, *out = NULL;
	cf_verrs errs = { 0 };
	cf_err err = { 0 };

	/* each distinct provider is asked about once */
	exists_calls = 0;
	in = json_loads("{\"id\":\"w\",\"domains\":[\"a.t\",\"b.t\",\"c.t\"],\"provider\":"
			"{\"a.t\":\"p-one\",\"b.t\":\"p-two\",\"c.t\":\"p-one\"}}", 0, NULL);
	assert_int_equal(cf_cert_validate(in, &rules, &out, &errs, &err), 0);
	assert_int_equal(exists_calls, 2);
	json_decref(in);
	json_decref(out);
	/* a failing callback is an error, not a 400 */
	in = json_loads("{\"id\":\"w\",\"domains\":[\"a.t\"],\"provider\":\"db-down\"}", 0, NULL);
	assert_int_equal(cf_cert_validate(in, &rules, &out, &errs, &err), -1);
	assert_non_null(strstr(err.msg, "database down"));
	assert_null(out);
	json_decref(in);
	cf_err_clear(&err);
}

static void test_patch_merge(void **state)
{
	json_t *cur = json_loads("{\"id\":\"w\",\"domains\":[\"a.t\"],\"dns_alias\":\"x.t\","
				 "\"provider\":\"p-one\",\"key_type\":\"ec256\",\"hosts\":[]}",
				 0, NULL);
	json_t *patch, *m = NULL;
	cf_verrs errs = { 0 };

	patch = json_loads("{\"dns_alias\":null,\"hosts\":[\"h\"],\"id\":\"w\"}", 0, NULL);
	assert_int_equal(cf_cert_patch_merge(cur, patch, &m, &errs), 0);
	assert_null(json_object_get(m, "dns_alias"));
	assert_string_equal(json_string_value(json_array_get(json_object_get(m, "hosts"), 0)), "h");
	assert_string_equal(json_string_value(json_object_get(m, "provider")), "p-one");
	json_decref(m);
	json_decref(patch);

	patch = json_loads("{\"id\":\"other\",\"colour\":1}", 0, NULL);
	assert_int_equal(cf_cert_patch_merge(cur, patch, &m, &errs), 1);
	assert_null(m);
	assert_int_equal(errs.n, 2);
	assert_string_equal(errs.e[0].field, "id");
	assert_string_equal(errs.e[1].field, "colour");
	json_decref(patch);

	memset(&errs, 0, sizeof(errs));
	patch = json_loads("[1]", 0, NULL);
	assert_int_equal(cf_cert_patch_merge(cur, patch, &m, &errs), 1);
	assert_string_equal(errs.e[0].field, "body");
	json_decref(patch);
	json_decref(cur);
}

typedef struct prov_case {
	const char *in;
	const char *field; /* NULL: valid */
	const char *detail;
} prov_case;

#define RFC "{\"name\":\"p\",\"type\":\"rfc2136\",\"settings\":"

static const prov_case prov[] = {
	{ RFC "{\"server\":\"192.0.2.1:53\",\"tsig_name\":\"k\",\"tsig_secret\":\"c2VjcmV0\"}}",
	  NULL, NULL },
	{ RFC "{\"server\":\"ns1.example.test\",\"ttl\":\"60\"}}", NULL, NULL },
	{ "{\"type\":\"rfc2136\",\"settings\":{}}", "name", "slug" },
	{ "{\"name\":\"P!\",\"type\":\"rfc2136\",\"settings\":{}}", "name", "slug" },
	{ "{\"name\":\"p\",\"settings\":{}}", "type", "rfc2136" },
	{ "{\"name\":\"p\",\"type\":\"bind\",\"settings\":{}}", "type", "not a known" },
	{ "{\"name\":\"p\",\"type\":\"rfc2136\"}", "settings", "object" },
	{ RFC "{\"server\":\"192.0.2.1\",\"ttl\":60}}", "settings.ttl", "string" },
	{ RFC "{}}", "settings.server", "required" },
	{ RFC "{\"server\":\"192.0.2.1\",\"colour\":\"x\"}}", "settings.colour", "unknown" },
	{ RFC "{\"server\":\"192.0.2.1\",\"ttl\":\"0\"}}", "settings.ttl", "1-86400" },
	{ RFC "{\"server\":\"192.0.2.1\",\"tsig_name\":\"k\",\"tsig_secret\":\"**\"}}",
	  "settings.tsig_secret", "base64" },
	{ RFC "{\"server\":\"192.0.2.1\",\"tsig_secret\":\"c2VjcmV0\"}}", "settings.tsig_name",
	  "required" },
	{ RFC "{\"server\":\"192.0.2.1\"},\"extra\":1}", "extra", "unknown" },
	{ "\"p\"", "body", "object" },
};

static void test_provider_documents(void **state)
{
	for (size_t i = 0; i < sizeof(prov) / sizeof(prov[0]); i++) {
		json_t *in = json_loads(prov[i].in, JSON_DECODE_ANY, NULL);
		const cf_provider_ops *ops = NULL;
		cf_verrs errs = { 0 };
		int r;

		assert_non_null(in);
		r = cf_provider_doc_validate(in, &ops, &errs);
		json_decref(in);
		if (prov[i].field == NULL) {
			if (r != 0)
				fail_msg("case %zu: %s", i, errs.e[0].detail);
			assert_string_equal(ops->name, "rfc2136");
			continue;
		}
		if (r != 1)
			fail_msg("case %zu accepted", i);
		assert_null(ops);
		if (strcmp(errs.e[0].field, prov[i].field) != 0 ||
		    strstr(errs.e[0].detail, prov[i].detail) == NULL)
			fail_msg("case %zu: %s / %s", i, errs.e[0].field, errs.e[0].detail);
		assert_null(strstr(errs.e[0].detail, "**\"")); /* a secret is never echoed */
	}
}

static void test_syntaxes(void **state)
{
	assert_true(cf_valid_slug("a"));
	assert_true(cf_valid_slug("web-01"));
	assert_true(cf_valid_slug("0"));
	assert_false(cf_valid_slug(""));
	assert_false(cf_valid_slug("-a"));
	assert_false(cf_valid_slug("A"));
	assert_false(cf_valid_slug("a_b"));
	assert_false(cf_valid_slug(NULL));
	char s64[65];
	memset(s64, 'a', 64);
	s64[64] = '\0';
	assert_false(cf_valid_slug(s64));
	s64[63] = '\0';
	assert_true(cf_valid_slug(s64));

	assert_true(cf_valid_host("web-01"));
	assert_true(cf_valid_host("web-01.dc1.example"));
	assert_false(cf_valid_host("web-.example"));
	assert_false(cf_valid_host("-web"));
	assert_false(cf_valid_host("a..b"));
	assert_false(cf_valid_host("a."));
	assert_false(cf_valid_host("Web"));
	assert_false(cf_valid_host("a_b"));

	assert_true(cf_valid_token_name("alice@example.com"));
	assert_true(cf_valid_token_name("CI.pipeline_1"));
	assert_false(cf_valid_token_name(".x"));
	assert_false(cf_valid_token_name("a b"));
	assert_false(cf_valid_token_name(""));

	assert_true(cf_valid_key_type("ec256"));
	assert_true(cf_valid_key_type("rsa3072"));
	assert_false(cf_valid_key_type("EC256"));
	assert_false(cf_valid_key_type("rsa1024"));
	assert_false(cf_valid_key_type(NULL));
}

static void test_error_list_is_bounded(void **state)
{
	cf_verrs errs = { 0 };

	for (int i = 0; i < CF_VERR_MAX + 5; i++)
		assert_int_equal(cf_verrs_add(&errs, "f", "n %d", i), -1);
	assert_int_equal(errs.n, CF_VERR_MAX);
	assert_int_equal(errs.dropped, 5);
	assert_string_equal(errs.e[0].detail, "f: n 0");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_documents),
		cmocka_unit_test(test_bad_documents),
		cmocka_unit_test(test_errors_are_collected_not_cascaded),
		cmocka_unit_test(test_provider_callback),
		cmocka_unit_test(test_patch_merge),
		cmocka_unit_test(test_provider_documents),
		cmocka_unit_test(test_syntaxes),
		cmocka_unit_test(test_error_list_is_bounded),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
