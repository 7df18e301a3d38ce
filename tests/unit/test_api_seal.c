/*
 * test_api_seal.c: the pure parts of the API's storage helpers: sealing a
 * provider's settings (store/providers.c: only the secret keys are sealed, the
 * AAD "dns_providers:v2:<name>:<type>:<settings digest>" binds the blob to its
 * row, type and public settings, so a blob swapped between two rows, relabelled
 * with another type or settings, or opened with another key fails), the token
 * format, roles, reserved names and the HMAC and legacy SHA-256 checks
 * (store/tokens.c), Idempotency-Key syntax and keyed fingerprints
 * (store/audit.c), and the UUID check of job ids (store/rows.c). No database.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "crypto/crypto.h"
#include "providers/provider.h"
#include "store/audit.h"
#include "store/providers.h"
#include "store/rows.h"
#include "store/tokens.h"

static const uint8_t key1[32] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 };
static const uint8_t key2[32] = { 9, 9, 9 };

#define SECRET "c2VjcmV0LXRzaWcta2V5LXZhbHVl"

static bool contains(const uint8_t *buf, size_t len, const char *s)
{
	size_t n = strlen(s);

	for (size_t i = 0; i + n <= len; i++)
		if (memcmp(buf + i, s, n) == 0)
			return true;
	return false;
}

static json_t *settings(void)
{
	return json_pack("{s:s, s:s, s:s, s:s}", "server", "192.0.2.1:53", "tsig_name", "k",
			 "tsig_algorithm", "hmac-sha256", "tsig_secret", SECRET);
}

/* Seals settings for provider name with key; returns the public part. */
static json_t *seal(const char *name, const uint8_t *key, cf_buf *blob)
{
	json_t *s = settings(), *pub = NULL;
	cf_err err = { 0 };

	assert_int_equal(cf_provider_settings_seal(&cf_provider_rfc2136, key, name, s, &pub, blob,
						   &err), 0);
	json_decref(s);
	return pub;
}

static void test_only_secrets_are_sealed(void **state)
{
	cf_buf blob = { 0 };
	json_t *pub = seal("lab", key1, &blob), *secrets = NULL;
	cf_err err = { 0 };

	assert_int_equal(json_object_size(pub), 3);
	assert_null(json_object_get(pub, "tsig_secret"));
	assert_string_equal(json_string_value(json_object_get(pub, "server")), "192.0.2.1:53");
	/* the blob holds no clear text of the secret */
	assert_true(blob.len > 29);
	assert_int_equal(blob.data[0], 1);
	assert_false(contains(blob.data, blob.len, SECRET));
	assert_int_equal(cf_provider_secrets_unseal(key1, "lab", "rfc2136", pub, blob.data,
						    blob.len, &secrets, &err), 0);
	assert_int_equal(json_object_size(secrets), 1);
	assert_string_equal(json_string_value(json_object_get(secrets, "tsig_secret")), SECRET);
	cf_provider_settings_free(secrets);
	json_decref(pub);
	cf_buf_free(&blob);
}

static void test_blob_is_bound_to_its_row_and_key(void **state)
{
	cf_buf a = { 0 }, b = { 0 };
	json_t *pa = seal("one", key1, &a), *pb = seal("two", key1, &b), *out = NULL;
	cf_err err = { 0 };

	json_t *other = json_deep_copy(pa);

	/* swapped between rows: neither opens */
	assert_int_equal(cf_provider_secrets_unseal(key1, "one", "rfc2136", pa, b.data, b.len,
						    &out, &err), -1);
	assert_null(out);
	assert_non_null(strstr(err.msg, "do not open"));
	cf_err_clear(&err);
	assert_int_equal(cf_provider_secrets_unseal(key1, "two", "rfc2136", pb, a.data, a.len,
						    &out, &err), -1);
	cf_err_clear(&err);
	/* another type, other public settings, or read as a version 1 row */
	assert_int_equal(cf_provider_secrets_unseal(key1, "one", "powerdns", pa, a.data, a.len,
						    &out, &err), -1);
	cf_err_clear(&err);
	json_object_set_new(other, "server", json_string("198.51.100.7:53"));
	assert_int_equal(cf_provider_secrets_unseal(key1, "one", "rfc2136", other, a.data, a.len,
						    &out, &err), -1);
	cf_err_clear(&err);
	assert_int_equal(cf_provider_secrets_unseal(key1, "one", NULL, NULL, a.data, a.len, &out,
						    &err), -1);
	cf_err_clear(&err);
	/* another master key */
	assert_int_equal(cf_provider_secrets_unseal(key2, "one", "rfc2136", pa, a.data, a.len,
						    &out, &err), -1);
	cf_err_clear(&err);
	/* a flipped bit */
	a.data[a.len / 2] ^= 1;
	assert_int_equal(cf_provider_secrets_unseal(key1, "one", "rfc2136", pa, a.data, a.len,
						    &out, &err), -1);
	cf_err_clear(&err);
	a.data[a.len / 2] ^= 1;
	assert_int_equal(cf_provider_secrets_unseal(key1, "one", "rfc2136", pa, a.data, a.len,
						    &out, &err), 0);
	cf_provider_settings_free(out);
	json_decref(other);
	json_decref(pa);
	json_decref(pb);
	cf_buf_free(&a);
	cf_buf_free(&b);
}

static void test_no_secrets_seals_an_empty_object(void **state)
{
	json_t *s = json_pack("{s:s}", "server", "192.0.2.1"), *pub = NULL, *out = NULL;
	cf_buf blob = { 0 };
	cf_err err = { 0 };

	assert_int_equal(cf_provider_settings_seal(&cf_provider_rfc2136, key1, "plain", s, &pub,
						   &blob, &err), 0);
	assert_true(json_equal(s, pub));
	assert_int_equal(cf_provider_secrets_unseal(key1, "plain", "rfc2136", pub, blob.data,
						    blob.len, &out, &err), 0);
	assert_int_equal(json_object_size(out), 0);
	cf_provider_settings_free(out);
	json_decref(pub);
	json_decref(s);
	cf_buf_free(&blob);
}

static void test_aad(void **state)
{
	char aad[CF_PROVIDER_AAD_MAX];
	char long_name[100];

	assert_int_equal(cf_provider_aad("lab-bind", aad), 0);
	assert_string_equal(aad, "dns_providers:lab-bind");
	memset(long_name, 'a', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	assert_int_equal(cf_provider_aad(long_name, aad), -1);
}

#define V1_PLAIN "{\"tsig_secret\":\"x\"}"

static void test_aad_v2_and_legacy_blob(void **state)
{
	char aad[CF_PROVIDER_AAD2_MAX], aad2[CF_PROVIDER_AAD2_MAX], aad1[CF_PROVIDER_AAD_MAX];
	json_t *pub = json_pack("{s:s, s:s}", "tsig_name", "k", "server", "192.0.2.1:53"),
	       *same = json_pack("{s:s, s:s}", "server", "192.0.2.1:53", "tsig_name", "k"),
	       *out = NULL;
	cf_buf blob = { 0 };
	cf_err err = { 0 };

	/* the digest does not depend on the order of the members */
	assert_int_equal(cf_provider_aad_v2("lab", "rfc2136", pub, aad), 0);
	assert_int_equal(strncmp(aad, "dns_providers:v2:lab:rfc2136:", 29), 0);
	assert_int_equal(strlen(aad), 29 + 64);
	assert_int_equal(cf_provider_aad_v2("lab", "rfc2136", same, aad2), 0);
	assert_string_equal(aad, aad2);
	assert_int_equal(cf_provider_aad_v2("lab", "exec", same, aad2), 0);
	assert_string_not_equal(aad, aad2);
	/* a version 1 blob (sealed before 0011_keys) still opens as version 1 */
	assert_int_equal(cf_provider_aad("lab", aad1), 0);
	assert_int_equal(cf_seal(key1, aad1, V1_PLAIN, strlen(V1_PLAIN), &blob, &err), 0);
	assert_int_equal(cf_provider_secrets_unseal(key1, "lab", NULL, NULL, blob.data, blob.len,
						    &out, &err), 0);
	assert_string_equal(json_string_value(json_object_get(out, "tsig_secret")), "x");
	cf_provider_settings_free(out);
	out = NULL;
	assert_int_equal(cf_provider_secrets_unseal(key1, "lab", "rfc2136", pub, blob.data,
						    blob.len, &out, &err), -1);
	cf_err_clear(&err);
	json_decref(pub);
	json_decref(same);
	cf_buf_free(&blob);
}

static void test_token_split(void **state)
{
	char id[CF_TOKEN_ID_LEN + 1];
	const char *secret = NULL;

	assert_int_equal(cf_token_split("cf_0123456789ab_abc-DEF_123", id, &secret), 0);
	assert_string_equal(id, "0123456789ab");
	assert_string_equal(secret, "abc-DEF_123");
	assert_int_equal(cf_token_split("cf_0123456789AB_abc", id, &secret), -1); /* upper hex */
	assert_int_equal(cf_token_split("cf_0123456789a_abc", id, &secret), -1);  /* short id */
	assert_int_equal(cf_token_split("cf_0123456789ab_", id, &secret), -1);    /* no secret */
	assert_int_equal(cf_token_split("cf_0123456789ab_a b", id, &secret), -1);
	assert_int_equal(cf_token_split("xx_0123456789ab_abc", id, &secret), -1);
	assert_int_equal(cf_token_split("cf_0123456789abXabc", id, &secret), -1);
	assert_int_equal(cf_token_split("", id, &secret), -1);
	assert_int_equal(cf_token_split(NULL, id, &secret), -1);
}

static void test_durations(void **state)
{
	long s = 0;

	assert_int_equal(cf_parse_duration("90d", &s), 0);
	assert_int_equal(s, 90L * 86400);
	assert_int_equal(cf_parse_duration("12h", &s), 0);
	assert_int_equal(s, 12L * 3600);
	assert_int_equal(cf_parse_duration("30m", &s), 0);
	assert_int_equal(s, 1800);
	assert_int_equal(cf_parse_duration("45s", &s), 0);
	assert_int_equal(s, 45);
	assert_int_equal(cf_parse_duration("3600", &s), 0);
	assert_int_equal(s, 3600);
	assert_int_equal(cf_parse_duration("0d", &s), -1);
	assert_int_equal(cf_parse_duration("-1d", &s), -1);
	assert_int_equal(cf_parse_duration("1w", &s), -1);
	assert_int_equal(cf_parse_duration("1dd", &s), -1);
	assert_int_equal(cf_parse_duration("d", &s), -1);
	assert_int_equal(cf_parse_duration("99999999d", &s), -1);
	assert_int_equal(cf_parse_duration(NULL, &s), -1);
}

static void test_roles(void **state)
{
	assert_int_equal(cf_role_parse("admin"), CF_ROLE_ADMIN);
	assert_int_equal(cf_role_parse("host"), CF_ROLE_HOST);
	assert_int_equal(cf_role_parse("root"), CF_ROLE_NONE);
	assert_string_equal(cf_role_name(CF_ROLE_HOST), "host");
	assert_int_equal(cf_role_parse("keys"), CF_ROLE_KEYS);
	assert_string_equal(cf_role_name(CF_ROLE_KEYS), "keys");
	assert_true(cf_token_name_reserved("cli"));
	assert_true(cf_token_name_reserved("worker"));
	assert_true(cf_token_name_reserved("db:postgres"));
	assert_false(cf_token_name_reserved("web-01"));
	assert_false(cf_token_name_reserved("clinic"));
}

static void test_idempotency_keys(void **state)
{
	uint8_t a[32], b[32], c[32];
	char longkey[300];

	assert_true(cf_idem_key_valid("8e0f-4c1a"));
	assert_false(cf_idem_key_valid(""));
	assert_false(cf_idem_key_valid("a b"));
	assert_false(cf_idem_key_valid("caf\xc3\xa9"));
	memset(longkey, 'k', sizeof(longkey) - 1);
	longkey[sizeof(longkey) - 1] = '\0';
	assert_false(cf_idem_key_valid(longkey));
	longkey[255] = '\0';
	assert_true(cf_idem_key_valid(longkey));

	cf_idem_fingerprint(key1, "POST", "/v1/certificates", "{}", 2, a);
	cf_idem_fingerprint(key1, "POST", "/v1/certificates", "{}", 2, b);
	assert_memory_equal(a, b, 32);
	cf_idem_fingerprint(key1, "POST", "/v1/providers", "{}", 2, c);
	assert_memory_not_equal(a, c, 32);
	cf_idem_fingerprint(key1, "POST", "/v1/certificates", "{ }", 3, c);
	assert_memory_not_equal(a, c, 32);
	/* NUL separators keep method, path and body apart */
	cf_idem_fingerprint(key1, "POST", "/v1/a", "\nb", 2, b);
	cf_idem_fingerprint(key1, "POST", "/v1/a\n", "b", 1, c);
	assert_memory_not_equal(b, c, 32);
	/* keyed: another key, another fingerprint, and not the plain SHA-256 */
	cf_idem_fingerprint(key1, "POST", "/v1/certificates", "{}", 2, a);
	cf_idem_fingerprint(key2, "POST", "/v1/certificates", "{}", 2, b);
	assert_memory_not_equal(a, b, 32);
	cf_sha256("POST\0/v1/certificates\0{}", 24, c);
	assert_memory_not_equal(a, c, 32);
}

static void test_token_hmac_and_legacy_rows(void **state)
{
	const char *secret = "Zm9vYmFyYmF6cXV4cXV1eHNlY3JldHNlY3JldHNlY3I";
	char token[128];
	uint8_t k[32];
	cf_token_row row = { .id = "0123456789ab", .name = "web-01", .role = CF_ROLE_HOST };
	cf_principal who;
	cf_token_status st;

	snprintf(token, sizeof(token), "cf_%s_%s", row.id, secret);
	/* no key yet: an HMAC row does not verify */
	row.hmac = true;
	cf_token_check(&row, token, 1000, &who, &st);
	assert_int_equal(st, CF_TOKEN_INVALID);
	assert_int_equal(cf_tokens_init(key1), 0);
	assert_int_equal(cf_derive_key(key1, "certfleet token hmac v1", k), 0);
	assert_int_equal(cf_hmac_sha256(k, 32, secret, strlen(secret), row.secret_sha256), 0);
	cf_token_check(&row, token, 1000, &who, &st);
	assert_int_equal(st, CF_TOKEN_OK);
	assert_int_equal(who.role, CF_ROLE_HOST);
	assert_false(who.legacy_hash);
	/* the plain SHA-256 in an HMAC row does not verify */
	cf_sha256(secret, strlen(secret), row.secret_sha256);
	cf_token_check(&row, token, 1000, &who, &st);
	assert_int_equal(st, CF_TOKEN_INVALID);
	/* ... but a legacy row (before 0011_keys) holding it does */
	row.hmac = false;
	cf_token_check(&row, token, 1000, &who, &st);
	assert_int_equal(st, CF_TOKEN_OK);
	assert_true(who.legacy_hash); /* to be re-hashed (cf_token_rehash) */
	/* another master key: the HMAC row no longer verifies */
	row.hmac = true;
	assert_int_equal(cf_hmac_sha256(k, 32, secret, strlen(secret), row.secret_sha256), 0);
	assert_int_equal(cf_tokens_init(key2), 0);
	cf_token_check(&row, token, 1000, &who, &st);
	assert_int_equal(st, CF_TOKEN_INVALID);
	cf_tokens_done();
}

static void test_uuid(void **state)
{
	assert_true(cf_is_uuid("9f2e6d4e-35b5-45f9-b82c-43345e976e25"));
	assert_true(cf_is_uuid("9F2E6D4E-35B5-45F9-B82C-43345E976E25"));
	assert_false(cf_is_uuid("9f2e6d4e35b545f9b82c43345e976e25"));
	assert_false(cf_is_uuid("9f2e6d4e-35b5-45f9-b82c-43345e976e2"));
	assert_false(cf_is_uuid("9f2e6d4e-35b5-45f9-b82c-43345e976e2g"));
	assert_false(cf_is_uuid("9f2e6d4e-35b5-45f9-b82c_43345e976e25"));
	assert_false(cf_is_uuid(""));
	assert_false(cf_is_uuid(NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_only_secrets_are_sealed),
		cmocka_unit_test(test_blob_is_bound_to_its_row_and_key),
		cmocka_unit_test(test_no_secrets_seals_an_empty_object),
		cmocka_unit_test(test_aad),
		cmocka_unit_test(test_aad_v2_and_legacy_blob),
		cmocka_unit_test(test_token_hmac_and_legacy_rows),
		cmocka_unit_test(test_token_split),
		cmocka_unit_test(test_durations),
		cmocka_unit_test(test_roles),
		cmocka_unit_test(test_idempotency_keys),
		cmocka_unit_test(test_uuid),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
