/*
 * test_acme_jws.c: the shape of ACME's JWS objects. Protected headers carry
 * {alg, nonce, url} and exactly one of kid / jwk; the keyChange inner JWS has no
 * nonce and the NEW key's jwk; the EAB binding is HS256 over the account JWK.
 * Signatures and MACs are checked with OpenSSL directly, not with the facade.
 * The keys are throwaway test keys.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/bio.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include "acme/acme_int.h"
#include "util/b64.h"

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

/* An EAB MAC key as a CA would hand it out (base64url). */
#define EAB_KEY "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W"

static cf_key *load(const char *pem)
{
	cf_err e = {0};
	cf_key *k = cf_key_from_pem(pem, strlen(pem), &e);

	assert_non_null(k);
	return k;
}

/* JSON of a base64url member of a JWS object. */
static json_t *decode_member(const json_t *jws, const char *name)
{
	size_t n = 0;
	uint8_t *raw = cf_b64url_decode(json_string_value(json_object_get(jws, name)), &n);
	json_t *j;

	assert_non_null(raw);
	j = json_loadb((char *)raw, n, 0, NULL);
	free(raw);
	return j;
}

/* Checks the JWS signature with OpenSSL (ES256 r||s or RS256). */
static void verify_sig(const char *pem, const json_t *jws)
{
	BIO *bio = BIO_new_mem_buf(pem, -1);
	EVP_PKEY *pk = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	char input[8192];
	size_t slen = 0;
	uint8_t *sig = cf_b64url_decode(json_string_value(json_object_get(jws, "signature")), &slen);
	unsigned char *der = NULL;
	int dlen;

	assert_non_null(pk);
	assert_non_null(sig);
	snprintf(input, sizeof(input), "%s.%s", json_string_value(json_object_get(jws, "protected")),
		 json_string_value(json_object_get(jws, "payload")));
	if (EVP_PKEY_get_base_id(pk) == EVP_PKEY_EC) {
		ECDSA_SIG *es = ECDSA_SIG_new();

		assert_int_equal(slen, 64);
		ECDSA_SIG_set0(es, BN_bin2bn(sig, 32, NULL), BN_bin2bn(sig + 32, 32, NULL));
		dlen = i2d_ECDSA_SIG(es, &der);
		ECDSA_SIG_free(es);
		assert_true(dlen > 0);
	} else {
		der = OPENSSL_memdup(sig, slen);
		dlen = (int)slen;
	}
	assert_int_equal(EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pk), 1);
	assert_int_equal(EVP_DigestVerify(md, der, (size_t)dlen, (unsigned char *)input,
					  strlen(input)),
			 1);
	OPENSSL_free(der);
	free(sig);
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(pk);
	BIO_free(bio);
}

static void test_protected_kid(void **state)
{
	json_t *jwk = json_pack("{s:s}", "kty", "EC");
	json_t *h = cf_acme_jws_protected("ES256", "n0nce", "https://ca.test/new-order",
					  "https://ca.test/acct/1", jwk);

	(void)state;
	assert_non_null(h);
	assert_int_equal(json_object_size(h), 4);
	assert_string_equal(json_string_value(json_object_get(h, "alg")), "ES256");
	assert_string_equal(json_string_value(json_object_get(h, "nonce")), "n0nce");
	assert_string_equal(json_string_value(json_object_get(h, "url")), "https://ca.test/new-order");
	assert_string_equal(json_string_value(json_object_get(h, "kid")), "https://ca.test/acct/1");
	assert_null(json_object_get(h, "jwk")); /* never both */
	json_decref(h);
	json_decref(jwk);
}

static void test_protected_jwk(void **state)
{
	json_t *jwk = json_pack("{s:s, s:s}", "kty", "EC", "crv", "P-256");
	json_t *h = cf_acme_jws_protected("ES256", "n0nce", "https://ca.test/new-acct", NULL, jwk);

	(void)state;
	assert_non_null(h);
	assert_int_equal(json_object_size(h), 4);
	assert_null(json_object_get(h, "kid"));
	assert_true(json_equal(json_object_get(h, "jwk"), jwk));
	assert_true(json_object_get(h, "jwk") != jwk); /* a copy */
	json_decref(h);
	/* no nonce: the keyChange inner header */
	h = cf_acme_jws_protected("ES256", NULL, "https://ca.test/key-change", NULL, jwk);
	assert_int_equal(json_object_size(h), 3);
	assert_null(json_object_get(h, "nonce"));
	json_decref(h);
	/* neither kid nor jwk, or no url: refused */
	assert_null(cf_acme_jws_protected("ES256", "n", "https://ca.test/x", NULL, NULL));
	assert_null(cf_acme_jws_protected("ES256", "n", NULL, "kid", NULL));
	json_decref(jwk);
}

static void test_signed_kid_and_post_as_get(void **state)
{
	cf_key *k = load(EC_PEM);
	cf_err e = {0};
	char *text = acme_jws_sign(k, "abc", "https://ca.test/order/1", "https://ca.test/acct/9", "",
				   &e);
	json_t *jws, *h;

	(void)state;
	assert_non_null(text);
	jws = json_loads(text, 0, NULL);
	assert_int_equal(json_object_size(jws), 3);
	assert_string_equal(json_string_value(json_object_get(jws, "payload")), ""); /* POST-as-GET */
	h = decode_member(jws, "protected");
	assert_string_equal(json_string_value(json_object_get(h, "alg")), "ES256");
	assert_string_equal(json_string_value(json_object_get(h, "nonce")), "abc");
	assert_string_equal(json_string_value(json_object_get(h, "url")), "https://ca.test/order/1");
	assert_string_equal(json_string_value(json_object_get(h, "kid")), "https://ca.test/acct/9");
	assert_null(json_object_get(h, "jwk"));
	verify_sig(EC_PEM, jws);
	json_decref(h);
	json_decref(jws);
	free(text);
	cf_key_free(k);
}

static void test_signed_jwk_rsa(void **state)
{
	cf_key *k = load(RSA_PEM);
	cf_err e = {0};
	char *text = acme_jws_sign(k, "xyz", "https://ca.test/new-acct", NULL,
				   "{\"termsOfServiceAgreed\":true}", &e);
	json_t *jws, *h, *p;

	(void)state;
	assert_non_null(text);
	jws = json_loads(text, 0, NULL);
	h = decode_member(jws, "protected");
	p = decode_member(jws, "payload");
	assert_string_equal(json_string_value(json_object_get(h, "alg")), "RS256");
	assert_null(json_object_get(h, "kid"));
	assert_string_equal(json_string_value(json_object_get(json_object_get(h, "jwk"), "kty")),
			    "RSA");
	assert_string_equal(json_string_value(json_object_get(json_object_get(h, "jwk"), "e")),
			    "AQAB");
	assert_true(json_is_true(json_object_get(p, "termsOfServiceAgreed")));
	verify_sig(RSA_PEM, jws);
	json_decref(h);
	json_decref(p);
	json_decref(jws);
	free(text);
	cf_key_free(k);
}

static void test_eab(void **state)
{
	cf_key *k = load(EC_PEM);
	cf_err e = {0};
	json_t *jwk = cf_jwk_public(k, &e), *eab, *h, *p;
	uint8_t *mackey, mac[32];
	size_t mlen = 0;
	unsigned int outlen = 0;
	char input[4096], *want;

	(void)state;
	eab = cf_acme_eab_jws("kid-1", EAB_KEY, "https://ca.test/new-acct", jwk, &e);
	assert_non_null(eab);
	h = decode_member(eab, "protected");
	p = decode_member(eab, "payload");
	assert_int_equal(json_object_size(h), 3);
	assert_string_equal(json_string_value(json_object_get(h, "alg")), "HS256");
	assert_string_equal(json_string_value(json_object_get(h, "kid")), "kid-1");
	assert_string_equal(json_string_value(json_object_get(h, "url")), "https://ca.test/new-acct");
	assert_null(json_object_get(h, "nonce"));
	assert_true(json_equal(p, jwk)); /* the payload is the account's JWK */
	/* the MAC, by OpenSSL under the decoded key */
	mackey = cf_b64url_decode(EAB_KEY, &mlen);
	snprintf(input, sizeof(input), "%s.%s", json_string_value(json_object_get(eab, "protected")),
		 json_string_value(json_object_get(eab, "payload")));
	assert_non_null(HMAC(EVP_sha256(), mackey, (int)mlen, (unsigned char *)input, strlen(input),
			     mac, &outlen));
	want = cf_b64url_encode(mac, outlen);
	assert_string_equal(json_string_value(json_object_get(eab, "signature")), want);
	free(want);
	free(mackey);
	json_decref(h);
	json_decref(p);
	json_decref(eab);
	/* a key that is no base64url is refused without echoing it */
	assert_null(cf_acme_eab_jws("kid-1", "not base64!", "https://ca.test/new-acct", jwk, &e));
	assert_int_equal(e.cls, CF_ERR_PERMANENT);
	assert_null(strstr(e.msg, "not base64!"));
	cf_err_clear(&e);
	json_decref(jwk);
	cf_key_free(k);
}

static void test_key_change_inner(void **state)
{
	cf_key *oldk = load(EC_PEM), *newk = load(RSA_PEM);
	cf_err e = {0};
	char *text = acme_key_change_inner(newk, oldk, "https://ca.test/key-change",
					   "https://ca.test/acct/9", &e);
	json_t *jws, *h, *p, *oldjwk = cf_jwk_public(oldk, &e), *newjwk = cf_jwk_public(newk, &e);

	(void)state;
	assert_non_null(text);
	jws = json_loads(text, 0, NULL);
	h = decode_member(jws, "protected");
	p = decode_member(jws, "payload");
	assert_string_equal(json_string_value(json_object_get(h, "alg")), "RS256");
	assert_string_equal(json_string_value(json_object_get(h, "url")),
			    "https://ca.test/key-change");
	assert_true(json_equal(json_object_get(h, "jwk"), newjwk));
	assert_null(json_object_get(h, "nonce"));
	assert_null(json_object_get(h, "kid"));
	assert_string_equal(json_string_value(json_object_get(p, "account")),
			    "https://ca.test/acct/9");
	assert_true(json_equal(json_object_get(p, "oldKey"), oldjwk));
	verify_sig(RSA_PEM, jws); /* signed by the NEW key */
	json_decref(h);
	json_decref(p);
	json_decref(jws);
	json_decref(oldjwk);
	json_decref(newjwk);
	free(text);
	cf_key_free(oldk);
	cf_key_free(newk);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_protected_kid),
		cmocka_unit_test(test_protected_jwk),
		cmocka_unit_test(test_signed_kid_and_post_as_get),
		cmocka_unit_test(test_signed_jwk_rsa),
		cmocka_unit_test(test_eab),
		cmocka_unit_test(test_key_change_inner),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
