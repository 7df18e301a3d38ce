/*
 * test_acme_challenge.c: the dns-01 key authorization and TXT value for known
 * keys and a known token. The expected thumbprints and TXT values were computed
 * outside certfleet (Python's cryptography and hashlib, RFC 7638 canonical JWK by
 * hand), so the test does not check the facade against itself. The keys are
 * throwaway test keys.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "acme/acme.h"

/* the token of RFC 8555 section 8.4's example */
#define TOKEN "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA"

static const char EC_PEM[] =
	"-----BEGIN PRIVATE KEY-----\n"
	"MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgeFu9qydD+21mbsp7\n"
	"FlOa+lvwV4wmydIklJbDm10BEzGhRANCAAQtRJbZVUy9qvI/NOG4cuEK5b8+9m07\n"
	"uJ+I2oWamDMOxCugfvfe3MTnY0JImNoedCJU6X83JpdEpf2D4O1rrZ4W\n"
	"-----END PRIVATE KEY-----\n";

static const char RSA_PEM[] =
	"-----BEGIN PRIVATE KEY-----\n"
	"MIIEvAIBADANBgkqhkiG9w0BAQEFAASCBKYwggSiAgEAAoIBAQC/aPCvqLxvLpfd\n"
	"yepULFcGYmweJCitwP2jFP5IqGsCdWnjw9Alxlno/PBFcolHJ5GLIXZtCmZSevw0\n"
	"M8MisA1yp6eelvq4TfZeBhyE0YmM9W6I/fJG8CtTNN76I3Jj8MTB8HewDcQjdSWa\n"
	"yNxv8Np0ND6BSCTdeday8t/o41NOarSMTUxEZSVcsBo7GJGWHmJGWxm29BwxLjZ3\n"
	"FgqsyLitMuNT7iuQ6Y/ibNU/LcO1QUzZpx1LuWCv1bfqlk3Q5Y3ZqpleFiYRGZ7Z\n"
	"rqUNT5nWnxFR0a92H5SSYrqGMLnTnklukP30mEEPHP5zwPs85/CJC2LITQ7gLLTZ\n"
	"O+bXWfNfAgMBAAECggEAAOgn38UuY152pLvcqtps7SBRP9FPCge0i+3BCKoXm7Lf\n"
	"tg8K8OrgKSztnH6e7OHgnCaj739RnclsYXjvTz5DSgxGTIeNl4rzBF4GC5EMlEjj\n"
	"Za3CVJi1s9a3ybqaQ6Pz4rFXd9OQ3tQiwfl6peMfvdYzh5xGZHA71qw06F8PWXtA\n"
	"1NgLXyw1UVS/XH3ZRV/RrBb6He9P9Wz7H+3jYx4rs4ga3qcNyiCogueTZ605CEOQ\n"
	"74UhGpJiDAMNY2OOEOqHHFdj7qHhfx0g9V8YetjJh/MOa4nzsYQ6QjcEpAKlglYB\n"
	"x408fZIjj0hkuMsmvK3OaN43Fj4N81FQhHwekduNJQKBgQD1pteg4yOs/71WqdVj\n"
	"/dP7QwBDv+IAtK6BeuzLPgM8FAnHQYJn11lzYpQq0hfICKRI8gAShelbAVf8AwUT\n"
	"p253x2P0I0ut7PeD5zDonypy2bY0D+DPOJ0kjqm0Yuu698bUOzwVVAflDrDlP4/m\n"
	"DqQXF/ZsIPb1ALR0yWGtqpj4QwKBgQDHeSSxYm0s5BvURaZPoHYPsZvMjmumoGnR\n"
	"F1uxNJkdNFJqL1czSra/SB9QwyNqKkPOp7O4KMK7kLpqVHHvKJA16+/ZkLDN5CIL\n"
	"sbmiGC3o9QFLPykpO4NyiQ9NBPB4e8bfgnfqBd4qL3TAax++VqDxNTRUrdDKAQ4H\n"
	"VqT/5IMktQKBgD9S2PbyVnn8GtTCRu3VutVkeib8ycegy/M4ut3RiIfuKm8g5fra\n"
	"uoZR/RvkuJiqEZ90MqyTtInvGL0wEhj06jcaQRvoFVQqZ8uqxyLQFOMyWBOnnC4O\n"
	"zANmezyy202BHdILyvs8hCR52wPdlLybPZVuaemJvd9+ZQZN+04HUhN9AoGAR4LX\n"
	"s7wslaZlj7E0kWFeUfwDdc8tKrxhkzNDjQDlT4H9ddHo+htz7pllmKeMn7ftPT4E\n"
	"ASajwWh+XDZP7kRlht9ByobDy9xYlEav3Tu74cNMJnTLRdvvIPWgBaWarCb7wg9c\n"
	"/AoEfq0qtvzwkWUvJ6pCS4VQz8qXA+x9FLwQg+0CgYAuISTOw7gYImd+pZLLk2e2\n"
	"BoRgdqTX4xi58xSp4pc1B8XHnZCDwBD0D/u6Kn7MMqNfovhocRZiLW94Y3/Tngag\n"
	"L5wRUuETjoh0NMghYhHfzEjhLec/PHZTKIkrlsZVF4ykmM+gPN7vGMuLmgCpmx2l\n"
	"sAIQRIf3X24xFag6CtDDsw==\n"
	"-----END PRIVATE KEY-----\n";

static void check_key(const char *pem, const char *thumb, const char *txt)
{
	cf_err e = {0};
	cf_key *k = cf_key_from_pem(pem, strlen(pem), &e);
	char *ka, *v;

	assert_non_null(k);
	ka = cf_acme_key_authorization(k, TOKEN, &e);
	assert_non_null(ka);
	assert_string_equal(ka + strlen(TOKEN) + 1, thumb);
	assert_true(strncmp(ka, TOKEN ".", strlen(TOKEN) + 1) == 0);
	v = cf_acme_dns01_txt(ka);
	assert_non_null(v);
	assert_int_equal(strlen(v), 43);
	assert_string_equal(v, txt);
	free(v);
	free(ka);
	cf_key_free(k);
}

static void test_ec_key(void **state)
{
	(void)state;
	check_key(EC_PEM, "BVec6khe8MlGNWUy0gnA4i3ZG0xR5MFxmCmARiG5ZNE",
		  "DRcRXHsiFvE51PmlZvuG8we8hvrdxgyar7q1O3_eReU");
}

static void test_rsa_key(void **state)
{
	(void)state;
	check_key(RSA_PEM, "a9dOLG4vSghs8u51Qv8nsDgpic8rcSPRqiQ8LYldhrQ",
		  "KR_3sP1Hy-bo53c7nWyfGpLgm3WzIKRl9nGOzUeOrS8");
}

static void test_txt_digest(void **state)
{
	char *v;

	(void)state;
	v = cf_acme_dns01_txt(TOKEN ".9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI");
	assert_string_equal(v, "lCM7cZyQXcVHK2nnW3jjAhNT3Fvm18UN-kWZZknKoYM");
	free(v);
	v = cf_acme_dns01_txt("");
	assert_string_equal(v, "47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU");
	free(v);
	assert_null(cf_acme_dns01_txt(NULL));
}

static void test_bad_tokens(void **state)
{
	static const char *const bad[] = {"", "a.b", "a b", "abc=", "abc/def", "abc+def",
					  "\"x\"", "x\ny"};
	cf_err e = {0};
	cf_key *k = cf_key_from_pem(EC_PEM, strlen(EC_PEM), &e);
	size_t i;

	(void)state;
	assert_non_null(k);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cf_err_clear(&e);
		assert_null(cf_acme_key_authorization(k, bad[i], &e));
		assert_int_equal(e.cls, CF_ERR_PERMANENT);
	}
	assert_null(cf_acme_key_authorization(k, NULL, &e));
	cf_err_clear(&e);
	cf_key_free(k);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ec_key),
		cmocka_unit_test(test_rsa_key),
		cmocka_unit_test(test_txt_digest),
		cmocka_unit_test(test_bad_tokens),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
