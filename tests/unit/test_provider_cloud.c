/*
 * test_provider_cloud.c: the parts of the cloud providers (azure, gcloud) and
 * of batching that need no server: the OAuth helper's form and URL escaping and
 * its token cache (hit, miss, expiry margin, drop, keys that differ by one
 * part), the route53 body of a batch with several changes, the registry's batch
 * operations, and azure's and gcloud's validate(): each bad setting named,
 * secrets never echoed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "providers/oauth.h"
#include "providers/provider.h"
#include "providers/route53.h"

#define GUID "0f8fad5b-d9cb-469f-a165-70867728950e"
#define SECRET "Xy8Q~very-secret-value"

static void test_form_and_escape(void **state)
{
	cf_buf b = { 0 };

	(void)state;
	assert_int_equal(cf_oauth_form_add(&b, "grant_type", "client_credentials"), 0);
	assert_int_equal(cf_oauth_form_add(&b, "scope", "https://m.test/.default a&b=c"), 0);
	assert_string_equal((char *)b.data, "grant_type=client_credentials&scope="
			    "https%3A%2F%2Fm.test%2F.default+a%26b%3Dc");
	cf_buf_reset(&b);
	assert_int_equal(cf_oauth_url_escape(&b, "_acme-challenge.x y/*"), 0);
	assert_string_equal((char *)b.data, "_acme-challenge.x%20y%2F%2A");
	cf_buf_free(&b);
}

static void test_token_cache(void **state)
{
	const char *a[3] = { "azure", "tenant", SECRET };
	const char *b[3] = { "azure", "tenant", SECRET "2" };
	unsigned char ka[CF_OAUTH_KEY_LEN], kb[CF_OAUTH_KEY_LEN];
	char tok[64];

	(void)state;
	cf_oauth_cache_key(a, 3, ka);
	cf_oauth_cache_key(b, 3, kb);
	assert_memory_not_equal(ka, kb, CF_OAUTH_KEY_LEN);
	assert_int_equal(cf_oauth_cache_get(ka, tok, sizeof(tok)), 0);
	cf_oauth_cache_put(ka, "token-a", 3600);
	assert_int_equal(cf_oauth_cache_get(ka, tok, sizeof(tok)), 1);
	assert_string_equal(tok, "token-a");
	assert_int_equal(cf_oauth_cache_get(kb, tok, sizeof(tok)), 0); /* another secret */
	assert_int_equal(cf_oauth_cache_get(ka, tok, 4), 0);            /* does not fit */
	cf_oauth_cache_drop(ka);
	assert_int_equal(cf_oauth_cache_get(ka, tok, sizeof(tok)), 0);
	cf_oauth_cache_put(kb, "token-b", 30); /* inside the last minute: not handed out */
	assert_int_equal(cf_oauth_cache_get(kb, tok, sizeof(tok)), 0);
}

static void test_r53_batch_body(void **state)
{
	const char *v1[2] = { "\"a\"", "\"b\"" }, *v2[1] = { "\"c\"" };
	cf_r53_change ch[2] = { { "UPSERT", "x.zone.test", 60, v1, 2 },
				{ "DELETE", "y.zone.test.", 30, v2, 1 } };
	char *body = cf_r53_changes_body(ch, 2, "certfleet");
	const char *first, *second;

	(void)state;
	assert_non_null(body);
	first = strstr(body, "<Change><Action>UPSERT</Action><ResourceRecordSet><Name>"
			     "x.zone.test.</Name><Type>TXT</Type><TTL>60</TTL><ResourceRecords>"
			     "<ResourceRecord><Value>&quot;a&quot;</Value></ResourceRecord>"
			     "<ResourceRecord><Value>&quot;b&quot;</Value></ResourceRecord>");
	second = strstr(body, "<Change><Action>DELETE</Action><ResourceRecordSet><Name>"
			      "y.zone.test.</Name><Type>TXT</Type><TTL>30</TTL>");
	assert_non_null(first);
	assert_non_null(second);
	assert_true(first < second);
	assert_non_null(strstr(body, "</Change></Changes></ChangeBatch>"));
	free(body);
}

static void test_registry_batches(void **state)
{
	const char *batched[] = { "route53", "gcloud", "azure" };

	(void)state;
	for (size_t i = 0; i < 3; i++) {
		const cf_provider_ops *ops = cf_provider_find(batched[i]);

		assert_non_null(ops);
		assert_non_null(ops->present_many);
		assert_non_null(ops->cleanup_many);
		assert_non_null(ops->can_write);
	}
	assert_null(cf_provider_find("rfc2136")->present_many);
	assert_true(cf_provider_is_secret(cf_provider_find("azure"), "client_secret"));
	assert_true(cf_provider_is_secret(cf_provider_find("gcloud"), "service_account_key"));
}

/* validate(settings) fails and its message holds want and never SECRET. */
static void refused(const char *type, const char *json, const char *want)
{
	const cf_provider_ops *ops = cf_provider_find(type);
	json_t *s = json_loads(json, 0, NULL);
	cf_err err = { 0 };

	assert_non_null(s);
	assert_int_not_equal(ops->validate(s, &err), 0);
	if (strstr(err.msg, want) == NULL)
		fail_msg("%s: \"%s\" lacks \"%s\"", json, err.msg, want);
	assert_null(strstr(err.msg, SECRET));
	json_decref(s);
}

#define AZ_BASE "\"subscription_id\":\"" GUID "\",\"resource_group\":\"dns-rg\""
#define AZ_SP "\"tenant_id\":\"" GUID "\",\"client_id\":\"" GUID "\",\"client_secret\":\"" SECRET "\""

static void test_azure_validate(void **state)
{
	const cf_provider_ops *ops = cf_provider_find("azure");
	json_t *s = json_loads("{" AZ_BASE "," AZ_SP "}", 0, NULL);
	json_t *m = json_loads("{" AZ_BASE ",\"use_managed_identity\":\"true\"}", 0, NULL);
	cf_err err = { 0 };

	(void)state;
	assert_int_equal(ops->validate(s, &err), 0);
	assert_int_equal(ops->validate(m, &err), 0);
	json_decref(s);
	json_decref(m);
	refused("azure", "{" AZ_SP "}", "setting subscription_id");
	refused("azure", "{\"subscription_id\":\"" GUID "\"," AZ_SP "}", "setting resource_group");
	refused("azure", "{" AZ_BASE ",\"client_id\":\"" GUID "\",\"client_secret\":\"" SECRET
		"\"}", "setting tenant_id");
	refused("azure", "{" AZ_BASE ",\"tenant_id\":\"" GUID "\",\"client_id\":\"" GUID "\"}",
		"setting client_secret");
	refused("azure", "{" AZ_BASE "," AZ_SP ",\"client_secret\":\"" SECRET "\\n\"}",
		"setting client_secret");
	refused("azure", "{" AZ_BASE "," AZ_SP ",\"identity_endpoint\":\"http://10.0.0.1/t\"}",
		"setting identity_endpoint");
	refused("azure", "{" AZ_BASE "," AZ_SP ",\"management_endpoint\":\"http://10.0.0.1\"}",
		"setting management_endpoint");
	refused("azure", "{" AZ_BASE "," AZ_SP ",\"ttl\":0}", "setting ttl");
	refused("azure", "{" AZ_BASE "," AZ_SP ",\"region\":\"x\"}", "unknown setting");
}

static void test_gcloud_validate(void **state)
{
	(void)state;
	refused("gcloud", "{}", "setting service_account_key");
	refused("gcloud", "{\"service_account_key\":\"" SECRET "\"}", "setting service_account_key");
	refused("gcloud", "{\"service_account_key\":\"{\\\"type\\\":\\\"service_account\\\","
		"\\\"client_email\\\":\\\"a@b.c\\\",\\\"private_key\\\":\\\"" SECRET "\\\"}\"}",
		"private_key is not an RSA private key");
	refused("gcloud", "{\"service_account_key\":\"{}\",\"zone\":\"x\"}", "unknown setting");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_form_and_escape),
		cmocka_unit_test(test_token_cache),
		cmocka_unit_test(test_r53_batch_body),
		cmocka_unit_test(test_registry_batches),
		cmocka_unit_test(test_azure_validate),
		cmocka_unit_test(test_gcloud_validate),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
