/*
 * test_acme_problem.c: ACME problem documents -> cf_err: the one-line summary
 * (type, detail, every subproblem's identifier), the document kept verbatim, the
 * transient/permanent classification, and bodies that are no problem document.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "acme/acme_int.h"

#define P ACME_URN_PREFIX

static void test_classification(void **state)
{
	(void)state;
	assert_int_equal(cf_acme_problem_class(P "rateLimited", 429), CF_ERR_TRANSIENT);
	assert_int_equal(cf_acme_problem_class(P "rateLimited", 403), CF_ERR_TRANSIENT);
	assert_int_equal(cf_acme_problem_class(P "serverInternal", 500), CF_ERR_TRANSIENT);
	assert_int_equal(cf_acme_problem_class(P "badNonce", 400), CF_ERR_TRANSIENT);
	assert_int_equal(cf_acme_problem_class(NULL, 503), CF_ERR_TRANSIENT);
	assert_int_equal(cf_acme_problem_class(NULL, 502), CF_ERR_TRANSIENT);
	assert_int_equal(cf_acme_problem_class("about:blank", 504), CF_ERR_TRANSIENT);
	assert_int_equal(cf_acme_problem_class(P "unauthorized", 403), CF_ERR_PERMANENT);
	assert_int_equal(cf_acme_problem_class(P "rejectedIdentifier", 400), CF_ERR_PERMANENT);
	assert_int_equal(cf_acme_problem_class(P "malformed", 400), CF_ERR_PERMANENT);
	assert_int_equal(cf_acme_problem_class(P "caa", 403), CF_ERR_PERMANENT);
	assert_int_equal(cf_acme_problem_class(P "dns", 400), CF_ERR_PERMANENT);
	assert_int_equal(cf_acme_problem_class(P "accountDoesNotExist", 400), CF_ERR_PERMANENT);
	assert_int_equal(cf_acme_problem_class(NULL, 404), CF_ERR_PERMANENT);
	/* a look-alike outside the ACME namespace is not trusted to be transient */
	assert_int_equal(cf_acme_problem_class("rateLimited", 400), CF_ERR_PERMANENT);
}

static void test_summary_with_subproblems(void **state)
{
	const char *body =
		"{\n  \"type\": \"" P "rejectedIdentifier\",\n"
		"  \"detail\": \"Some of the identifiers requested were rejected\",\n"
		"  \"subproblems\": [\n"
		"    {\"type\": \"" P "malformed\", \"detail\": \"Invalid underscore in DNS name\","
		" \"identifier\": {\"type\": \"dns\", \"value\": \"_example.org\"}},\n"
		"    {\"type\": \"" P "rejectedIdentifier\", \"detail\": \"This CA will not issue "
		"for \\\"example.net\\\"\", \"identifier\": {\"type\": \"dns\", \"value\": "
		"\"example.net\"}}\n  ]\n}\n";
	cf_err e = {0};

	(void)state;
	assert_int_equal(cf_acme_problem_set_err(&e, "newOrder", 400, body, strlen(body)), -1);
	assert_int_equal(e.cls, CF_ERR_PERMANENT);
	assert_string_equal(e.msg,
			    "newOrder: HTTP 400: rejectedIdentifier: Some of the identifiers "
			    "requested were rejected [subproblems: dns:_example.org malformed: "
			    "Invalid underscore in DNS name; dns:example.net rejectedIdentifier: "
			    "This CA will not issue for \"example.net\"]");
	assert_non_null(e.problem);
	assert_string_equal(e.problem, body); /* verbatim, whitespace and all */
	cf_err_clear(&e);
}

static void test_rate_limited(void **state)
{
	const char *body = "{\"type\":\"" P "rateLimited\",\"detail\":\"too many\",\"status\":429}";
	cf_err e = {0};

	(void)state;
	cf_acme_problem_set_err(&e, "newOrder", 429, body, strlen(body));
	assert_int_equal(e.cls, CF_ERR_TRANSIENT);
	assert_string_equal(e.msg, "newOrder: HTTP 429: rateLimited: too many");
	assert_string_equal(e.problem, body);
	cf_err_clear(&e);
}

static void test_not_a_problem_document(void **state)
{
	const char *html = "<html><body>502 Bad Gateway</body></html>\n";
	cf_err e = {0};

	(void)state;
	cf_acme_problem_set_err(&e, "authz", 502, html, strlen(html));
	assert_int_equal(e.cls, CF_ERR_TRANSIENT);
	assert_string_equal(e.msg, "authz: HTTP 502: <html><body>502 Bad Gateway</body></html>?");
	assert_null(e.problem);
	cf_err_clear(&e);
	cf_acme_problem_set_err(&e, "order", 404, NULL, 0);
	assert_int_equal(e.cls, CF_ERR_PERMANENT);
	assert_string_equal(e.msg, "order: HTTP 404");
	cf_err_clear(&e);
	/* a JSON array is not a problem document either */
	cf_acme_problem_set_err(&e, "order", 400, "[1]", 3);
	assert_null(e.problem);
	cf_err_clear(&e);
}

static void test_sanitised_and_bounded(void **state)
{
	char body[4000], detail[3000];
	cf_err e = {0};

	(void)state;
	memset(detail, 'x', sizeof(detail) - 1);
	detail[sizeof(detail) - 1] = '\0';
	snprintf(body, sizeof(body), "{\"type\":\"urn:other:thing\",\"detail\":\"a\\u0007b\\n%s\"}",
		 detail);
	cf_acme_problem_set_err(&e, "x", 400, body, strlen(body));
	assert_true(strncmp(e.msg, "x: HTTP 400: urn:other:thing: a?b?xxx", 37) == 0);
	assert_true(strlen(e.msg) < sizeof(e.msg));
	assert_non_null(strstr(e.msg, "..."));
	cf_err_clear(&e);
}

static void test_embedded_problem(void **state)
{
	json_t *p = json_pack("{s:s, s:s, s:i}", "type", P "dns", "detail",
			      "DNS problem: NXDOMAIN looking up TXT for _acme-challenge.x.test",
			      "status", 400);
	cf_err e = {0};
	char type[64];

	(void)state;
	cf_acme_problem_json_set_err(&e, CF_ERR_PERMANENT, "authorization of x.test invalid", p);
	assert_int_equal(e.cls, CF_ERR_PERMANENT);
	assert_string_equal(e.msg, "authorization of x.test invalid: dns: DNS problem: NXDOMAIN "
				   "looking up TXT for _acme-challenge.x.test");
	assert_non_null(e.problem);
	assert_non_null(cf_acme_problem_type(e.problem, strlen(e.problem), type, sizeof(type)));
	assert_string_equal(type, P "dns");
	assert_null(cf_acme_problem_type("{}", 2, type, sizeof(type)));
	assert_null(cf_acme_problem_type("nope", 4, type, sizeof(type)));
	json_decref(p);
	cf_err_clear(&e);
	/* a NULL cf_err is allowed */
	assert_int_equal(cf_acme_problem_set_err(NULL, "x", 500, "{}", 2), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_classification),
		cmocka_unit_test(test_summary_with_subproblems),
		cmocka_unit_test(test_rate_limited),
		cmocka_unit_test(test_not_a_problem_document),
		cmocka_unit_test(test_sanitised_and_bounded),
		cmocka_unit_test(test_embedded_problem),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
