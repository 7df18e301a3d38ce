/*
 * test_issue_common.c: the issuance pieces shared by `certfleet issue` and the
 * workers (issue/common.c), without network: name normalisation and duplicates,
 * the plan with the same-provider rule, matching an authorization to its target
 * (wildcard and apex share one), the dns-01 value, and the certificate key + CSR
 * (never the account key).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "acme/acme.h"
#include "issue/common.h"

static void test_names(void **state)
{
	const char *in[] = {"*.Example.TEST.", "example.test", "WWW.example.test"};
	const char *dup[] = {"a.example.test", "A.example.test."};
	const char *bad[] = {"a..example.test"};
	cf_issue_name *n = NULL;
	cf_err err = {0};

	assert_int_equal(cf_issue_names_normalize(in, 3, &n, &err), 0);
	assert_string_equal(n[0], "*.example.test");
	assert_string_equal(n[2], "www.example.test");
	free(n);
	assert_int_equal(cf_issue_names_normalize(dup, 2, &n, &err), -1);
	assert_null(n);
	assert_non_null(strstr(err.msg, "a.example.test is given twice"));
	assert_int_equal(err.cls, CF_ERR_PERMANENT);
	assert_int_equal(cf_issue_names_normalize(bad, 1, &n, &err), -1);
	assert_int_equal(cf_issue_names_normalize(in, 0, &n, &err), -1);
	cf_err_clear(&err);
}

static bool same_by_table(size_t a, size_t b, void *arg)
{
	const char **prov = arg;

	return strcmp(prov[a], prov[b]) == 0;
}

static void test_plan_and_targets(void **state)
{
	const char *in[] = {"*.example.test", "example.test", "www.example.test"};
	const char *same[] = {"p1", "p1", "p2"}, *split[] = {"p1", "p2", "p2"};
	cf_alias_spec spec = {.mode = CF_ALIAS_ONE, .one = "Shared.Alias.TEST."};
	cf_issue_name *n = NULL;
	cf_alias_plan plan = {0};
	const cf_challenge_target *t;
	cf_err err = {0};
	size_t idx = 99;

	assert_int_equal(cf_issue_names_normalize(in, 3, &n, &err), 0);
	assert_int_equal(cf_issue_plan_build(n, 3, &spec, NULL, same_by_table, same, &plan, &err), 0);
	assert_int_equal(plan.n, 2);
	t = cf_issue_target_of(&plan, n, "example.test", true, &idx);
	assert_non_null(t);
	assert_int_equal(idx, 0);
	assert_string_equal(t->target, "shared.alias.test");
	assert_ptr_equal(cf_issue_target_of(&plan, n, "EXAMPLE.test", false, &idx), t);
	assert_int_equal(idx, 1);
	assert_null(cf_issue_target_of(&plan, n, "other.example.test", false, &idx));
	cf_alias_plan_free(&plan);
	/* *.example.test and example.test share a record but not a provider */
	assert_int_equal(cf_issue_plan_build(n, 3, &spec, NULL, same_by_table, split, &plan, &err),
			 -1);
	assert_non_null(strstr(err.msg, "must use the same provider"));
	assert_int_equal(plan.n, 0);
	free(n);
	cf_err_clear(&err);
}

static void test_txt_value(void **state)
{
	cf_err err = {0};
	cf_key *k = cf_key_generate(CF_KEY_EC256, &err);
	char *ka = cf_acme_key_authorization(k, "tok-en_1", &err), *want = cf_acme_dns01_txt(ka);
	char *v = cf_issue_txt_value(k, "tok-en_1", &err);

	assert_non_null(v);
	assert_string_equal(v, want);
	assert_int_equal(strlen(v), 43);
	assert_null(cf_issue_txt_value(k, "not base64url!", &err));
	free(v);
	free(want);
	free(ka);
	cf_key_free(k);
	cf_err_clear(&err);
}

static void test_key_and_csr(void **state)
{
	const char *in[] = {"www.example.test"};
	cf_issue_name *n = NULL;
	cf_key *acct = NULL, *key = NULL;
	cf_buf csr = {0};
	cf_err err = {0};

	assert_int_equal(cf_issue_names_normalize(in, 1, &n, &err), 0);
	acct = cf_key_generate(CF_KEY_EC256, &err);
	assert_int_equal(cf_issue_key_and_csr(CF_KEY_EC384, NULL, acct, n, 1, &key, &csr, &err), 0);
	assert_int_equal(cf_key_get_type(key), CF_KEY_EC384);
	assert_true(csr.len > 100);
	assert_false(cf_key_public_equal(key, acct));
	cf_key_free(key);
	key = NULL;
	cf_buf_free(&csr);
	/* a copy of a reused key; the account key is refused */
	assert_int_equal(cf_issue_key_and_csr(CF_KEY_EC256, acct, acct, n, 1, &key, &csr, &err), -1);
	assert_null(key);
	assert_non_null(strstr(err.msg, "account key"));
	cf_buf_free(&csr);
	cf_key_free(acct);
	free(n);
	cf_err_clear(&err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_plan_and_targets),
		cmocka_unit_test(test_txt_value),
		cmocka_unit_test(test_key_and_csr),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
