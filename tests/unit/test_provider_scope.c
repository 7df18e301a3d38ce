/*
 * test_provider_scope.c: allowed_names, the setting every provider takes
 * (providers/scope.c): validation and normalisation, the provider never seeing
 * the setting, present refused outside the list (the provider is not called),
 * cleanup refused only when asked to check, can_write answering 0 naming the
 * setting, and the CLI's allowed_names=a,b form.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "cmd/cli_util.h"
#include "providers/scope.h"

static int calls;
static bool saw_scope;

/* A provider that refuses settings it does not know, as the real ones do. */
static int strict_validate(const json_t *s, cf_err *e)
{
	const char *k;
	json_t *v;

	json_object_foreach((json_t *)s, k, v)
		if (strcmp(k, "zone") != 0)
			return cf_err_set(e, CF_ERR_PERMANENT, "strict: unknown setting \"%s\"", k);
	return 0;
}

static int change(const cf_provider_ctx *c, const char *f, const char *v, cf_err *e)
{
	calls++;
	saw_scope = json_object_get(c->settings, CF_SCOPE_SETTING) != NULL;
	return 0;
}

static int probe(const cf_provider_ctx *c, const char *f, cf_err *e)
{
	calls++;
	return 1;
}

static int change_many(const cf_provider_ctx *c, cf_provider_rec *recs, size_t n, cf_err *e)
{
	calls++;
	saw_scope = json_object_get(c->settings, CF_SCOPE_SETTING) != NULL;
	for (size_t i = 0; i < n; i++)
		recs[i].done = true;
	return 0;
}

static const cf_provider_ops strict = { .name = "strict", .validate = strict_validate,
					.present = change, .cleanup = change,
					.can_write = probe, .present_many = change_many,
					.cleanup_many = change_many };

static json_t *settings(const char *json)
{
	json_t *s = json_loads(json, 0, NULL);

	assert_non_null(s);
	return s;
}

static void test_validate(void **state)
{
	json_t *s = settings("{\"zone\": \"z.test\", \"allowed_names\": [\"ACME.Example.NET.\"]}");
	cf_err e = { 0 };

	assert_int_equal(cf_provider_validate(&strict, s, &e), 0);
	assert_string_equal(json_string_value(json_array_get(json_object_get(s, "allowed_names"), 0)),
			    "acme.example.net");
	json_decref(s);

	static const char *const bad[] = {
		"{\"allowed_names\": \"acme.example.net\"}", "{\"allowed_names\": []}",
		"{\"allowed_names\": [\"not a name\"]}", "{\"allowed_names\": [3]}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		s = settings(bad[i]);
		assert_int_equal(cf_provider_validate(&strict, s, &e), -1);
		assert_non_null(strstr(e.msg, "allowed_names"));
		cf_err_clear(&e);
		json_decref(s);
	}
	/* the provider's own validation still runs */
	s = settings("{\"allowed_names\": [\"a.test\"], \"nope\": \"x\"}");
	assert_int_equal(cf_provider_validate(&strict, s, &e), -1);
	assert_non_null(strstr(e.msg, "nope"));
	cf_err_clear(&e);
	json_decref(s);
}

static void test_enforced(void **state)
{
	json_t *s = settings("{\"zone\": \"z.test\", \"allowed_names\": [\"acme.example.net\"]}");
	cf_provider_ctx ctx = { .settings = s };
	cf_err e = { 0 };

	calls = 0;
	assert_int_equal(cf_provider_present(&strict, "p1", &ctx, "x.acme.example.net", "v", &e), 0);
	assert_int_equal(calls, 1);
	assert_false(saw_scope); /* the provider never sees the setting */
	assert_int_equal(cf_provider_present(&strict, "p1", &ctx, "acme.example.net", "v", &e), 0);
	assert_int_equal(calls, 2);
	/* outside: refused before the provider is called, naming FQDN, provider, setting */
	assert_int_equal(cf_provider_present(&strict, "p1", &ctx, "www.example.net", "v", &e), -1);
	assert_int_equal(calls, 2);
	assert_int_equal(e.cls, CF_ERR_PERMANENT);
	assert_non_null(strstr(e.msg, "www.example.net"));
	assert_non_null(strstr(e.msg, "p1"));
	assert_non_null(strstr(e.msg, "allowed_names"));
	cf_err_clear(&e);
	/* a suffix is a whole label: "xacme.example.net" is not under it */
	assert_int_equal(cf_provider_present(&strict, "p1", &ctx, "xacme.example.net", "v", &e), -1);
	cf_err_clear(&e);
	/* cleanup: refused when checked (any FQDN given), done for a recorded value */
	assert_int_equal(cf_provider_cleanup(&strict, "p1", &ctx, "www.example.net", "v", true, &e),
			 -1);
	cf_err_clear(&e);
	assert_int_equal(calls, 2);
	assert_int_equal(cf_provider_cleanup(&strict, "p1", &ctx, "www.example.net", "v", false,
					     &e), 0);
	assert_int_equal(calls, 3);
	/* can_write: 0 naming the setting, without asking the provider */
	assert_int_equal(cf_provider_can_write(&strict, "p1", &ctx, "www.example.net", &e), 0);
	assert_non_null(strstr(e.msg, "allowed_names"));
	cf_err_clear(&e);
	assert_int_equal(calls, 3);
	assert_int_equal(cf_provider_can_write(&strict, "p1", &ctx, "a.acme.example.net", &e), 1);
	assert_int_equal(calls, 4);

	/* a batch: refused whole when one FQDN lies outside, nothing done */
	cf_provider_rec recs[2] = { { .fqdn = "a.acme.example.net", .value = "v" },
				    { .fqdn = "www.example.net", .value = "v" } };
	calls = 0;
	assert_int_equal(cf_provider_present_many(&strict, "p1", &ctx, recs, 2, &e), -1);
	assert_int_equal(calls, 0);
	assert_false(recs[0].done || recs[1].done);
	assert_non_null(strstr(e.msg, "www.example.net"));
	cf_err_clear(&e);
	assert_int_equal(cf_provider_present_many(&strict, "p1", &ctx, recs, 1, &e), 0);
	assert_true(recs[0].done);
	assert_false(saw_scope);
	assert_int_equal(cf_provider_cleanup_many(&strict, "p1", &ctx, recs, 2, true, &e), -1);
	cf_err_clear(&e);
	assert_int_equal(cf_provider_cleanup_many(&strict, "p1", &ctx, recs, 2, false, &e), 0);
	json_decref(s);

	/* no list: everything as before */
	s = settings("{\"zone\": \"z.test\"}");
	ctx.settings = s;
	assert_int_equal(cf_provider_present(&strict, "p1", &ctx, "www.example.net", "v", &e), 0);
	json_decref(s);
}

static void test_cli_form(void **state)
{
	json_t *s = json_object();
	cf_err e = { 0 };

	assert_int_equal(cf_cli_settings_add(s, "allowed_names=a.test,b.test", &e), 0);
	assert_int_equal(json_array_size(json_object_get(s, "allowed_names")), 2);
	assert_int_equal(cf_provider_validate(&strict, s, &e), 0);
	json_decref(s);
	s = json_object();
	assert_int_equal(cf_cli_settings_add(s, "allowed_names=[\"c.test\"]", &e), 0);
	assert_string_equal(json_string_value(json_array_get(json_object_get(s, "allowed_names"), 0)),
			    "c.test");
	json_decref(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_validate),
		cmocka_unit_test(test_enforced),
		cmocka_unit_test(test_cli_form),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
