/*
 * test_crypto.c: unit tests of the key, JWS/JWK, sealing and random parts of the
 * crypto facade (service/crypto/). Every signature is checked with OpenSSL directly
 * (the test rebuilds the DER ECDSA-Sig-Value from the JWS r||s itself), the JWK
 * thumbprint against the RFC 7638 section 3.1 example, and sealing against swapped
 * AADs, wrong keys and tampering. Certificates, CSRs and PEM chains are in
 * test_crypto_x509.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "util/b64.h"

/* One key of each type, generated once for the whole run (RSA 4096 is slow). */
static const cf_key_type all_types[] = {CF_KEY_EC256, CF_KEY_EC384, CF_KEY_RSA2048,
					CF_KEY_RSA3072, CF_KEY_RSA4096};
#define NTYPES (sizeof(all_types) / sizeof(all_types[0]))
static cf_key *keys[NTYPES];

static cf_key *key_of(cf_key_type t)
{
	size_t i;

	for (i = 0; i < NTYPES; i++)
		if (all_types[i] == t)
			return keys[i];
	return NULL;
}

static int setup_keys(void **state)
{
	cf_err err = {0};
	size_t i;

	for (i = 0; i < NTYPES; i++) {
		keys[i] = cf_key_generate(all_types[i], &err);
		if (keys[i] == NULL) {
			fprintf(stderr, "cf_key_generate: %s\n", err.msg);
			return -1;
		}
	}
	return 0;
}

static int teardown_keys(void **state)
{
	size_t i;

	for (i = 0; i < NTYPES; i++)
		cf_key_free(keys[i]);
	return 0;
}

/* The key as an OpenSSL EVP_PKEY, obtained through PEM only. */
static EVP_PKEY *to_evp(const cf_key *key)
{
	char *pem = cf_key_to_pem(key, NULL);
	BIO *bio;
	EVP_PKEY *pkey;

	assert_non_null(pem);
	bio = BIO_new_mem_buf(pem, -1);
	assert_non_null(bio);
	pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	assert_non_null(pkey);
	BIO_free(bio);
	cf_secret_free(pem);
	return pkey;
}

/* Verifies a JWS ECDSA signature with OpenSSL: rebuilds DER from r||s first. */
static int openssl_verify_es(EVP_PKEY *pkey, const char *md, const uint8_t *rs,
			     size_t rslen, const void *data, size_t len)
{
	ECDSA_SIG *esig = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(rs, (int)(rslen / 2), NULL);
	BIGNUM *s = BN_bin2bn(rs + rslen / 2, (int)(rslen / 2), NULL);
	unsigned char *der = NULL;
	EVP_MD_CTX *mctx = EVP_MD_CTX_new();
	int derlen, ok;

	assert_non_null(esig);
	assert_int_equal(ECDSA_SIG_set0(esig, r, s), 1);
	derlen = i2d_ECDSA_SIG(esig, &der);
	assert_true(derlen > 0);
	assert_int_equal(EVP_DigestVerifyInit_ex(mctx, NULL, md, NULL, NULL, pkey, NULL),
			 1);
	ok = EVP_DigestVerify(mctx, der, (size_t)derlen, data, len);
	EVP_MD_CTX_free(mctx);
	OPENSSL_free(der);
	ECDSA_SIG_free(esig);
	return ok;
}

static int openssl_verify_rs256(EVP_PKEY *pkey, const uint8_t *sig, size_t siglen,
				const void *data, size_t len)
{
	EVP_MD_CTX *mctx = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	int ok;

	assert_int_equal(
		EVP_DigestVerifyInit_ex(mctx, &pctx, "SHA256", NULL, NULL, pkey, NULL), 1);
	assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING), 1);
	ok = EVP_DigestVerify(mctx, sig, siglen, data, len);
	EVP_MD_CTX_free(mctx);
	return ok;
}

/* ---- key types and PEM ---- */

static void test_key_type_names(void **state)
{
	static const char *names[] = {"ec256", "ec384", "rsa2048", "rsa3072", "rsa4096"};
	cf_key_type t;
	size_t i;

	for (i = 0; i < NTYPES; i++) {
		assert_int_equal(cf_key_type_parse(names[i], &t), 0);
		assert_int_equal(t, all_types[i]);
		assert_string_equal(cf_key_type_name(t), names[i]);
	}
	assert_int_equal(cf_key_type_parse("ec521", &t), -1);
	assert_int_equal(cf_key_type_parse("EC256", &t), -1);
	assert_int_equal(cf_key_type_parse(NULL, &t), -1);
	assert_null(cf_key_type_name(0));
}

static void test_key_pem_roundtrip(void **state)
{
	cf_err err = {0};
	size_t i;

	for (i = 0; i < NTYPES; i++) {
		char *pem = cf_key_to_pem(keys[i], &err), *pem2;
		cf_key *back;

		assert_non_null(pem);
		assert_int_equal(cf_key_get_type(keys[i]), all_types[i]);
		assert_non_null(strstr(pem, "-----BEGIN PRIVATE KEY-----\n"));
		back = cf_key_from_pem(pem, strlen(pem), &err);
		assert_non_null(back);
		assert_int_equal(cf_key_get_type(back), all_types[i]);
		assert_true(cf_key_public_equal(keys[i], back));
		pem2 = cf_key_to_pem(back, &err);
		assert_non_null(pem2);
		assert_string_equal(pem, pem2);
		cf_secret_free(pem);
		cf_secret_free(pem2);
		cf_key_free(back);
	}
}

static void test_key_public_equal(void **state)
{
	cf_err err = {0};
	cf_key *other = cf_key_generate(CF_KEY_EC256, &err);
	size_t i, j;

	assert_non_null(other);
	assert_false(cf_key_public_equal(key_of(CF_KEY_EC256), other));
	for (i = 0; i < NTYPES; i++)
		for (j = 0; j < NTYPES; j++)
			assert_int_equal(cf_key_public_equal(keys[i], keys[j]), i == j);
	assert_false(cf_key_public_equal(NULL, other));
	cf_key_free(other);
}

/* A traditional "EC PRIVATE KEY" PEM is accepted, as the header promises. */
static void test_key_from_traditional_pem(void **state)
{
	EVP_PKEY *pkey = to_evp(key_of(CF_KEY_EC384));
	BIO *bio = BIO_new(BIO_s_mem());
	char *data = NULL;
	long n;
	cf_err err = {0};
	cf_key *back;

	assert_int_equal(
		PEM_write_bio_PrivateKey_traditional(bio, pkey, NULL, NULL, 0, NULL, NULL),
		1);
	n = BIO_get_mem_data(bio, &data);
	assert_non_null(strstr(data, "BEGIN EC PRIVATE KEY"));
	back = cf_key_from_pem(data, (size_t)n, &err);
	assert_non_null(back);
	assert_int_equal(cf_key_get_type(back), CF_KEY_EC384);
	assert_true(cf_key_public_equal(back, key_of(CF_KEY_EC384)));
	cf_key_free(back);
	BIO_free(bio);
	EVP_PKEY_free(pkey);
}

static void test_key_from_pem_rejects(void **state)
{
	static const char garbage[] = "-----BEGIN PRIVATE KEY-----\nnot base64!\n"
				      "-----END PRIVATE KEY-----\n";
	EVP_PKEY *pkey = to_evp(key_of(CF_KEY_EC256)), *small = NULL;
	BIO *bio = BIO_new(BIO_s_mem());
	char *data = NULL;
	long n;
	cf_err err = {0};

	assert_null(cf_key_from_pem(garbage, strlen(garbage), &err));
	assert_non_null(strstr(err.msg, "PEM_read_bio_PrivateKey failed"));
	assert_null(cf_key_from_pem("", 0, &err));

	/* encrypted: must fail, not prompt */
	assert_int_equal(PEM_write_bio_PKCS8PrivateKey(bio, pkey, EVP_aes_256_cbc(), "pw",
						       2, NULL, NULL),
			 1);
	n = BIO_get_mem_data(bio, &data);
	assert_null(cf_key_from_pem(data, (size_t)n, &err));
	BIO_free(bio);

	/* unsupported: P-521 and RSA 1024 */
	small = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-521");
	assert_non_null(small);
	bio = BIO_new(BIO_s_mem());
	assert_int_equal(PEM_write_bio_PrivateKey(bio, small, NULL, NULL, 0, NULL, NULL),
			 1);
	n = BIO_get_mem_data(bio, &data);
	assert_null(cf_key_from_pem(data, (size_t)n, &err));
	assert_non_null(strstr(err.msg, "curve"));
	BIO_free(bio);
	EVP_PKEY_free(small);
	small = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
	assert_non_null(small);
	bio = BIO_new(BIO_s_mem());
	assert_int_equal(PEM_write_bio_PrivateKey(bio, small, NULL, NULL, 0, NULL, NULL),
			 1);
	n = BIO_get_mem_data(bio, &data);
	assert_null(cf_key_from_pem(data, (size_t)n, &err));
	assert_non_null(strstr(err.msg, "1024"));
	BIO_free(bio);
	EVP_PKEY_free(small);
	EVP_PKEY_free(pkey);
}

/* ---- JWS signatures ---- */

static void check_es(cf_key_type t, const char *alg, const char *md, size_t siglen)
{
	static const char msg[] = "eyJhbGciOiJFUzI1NiJ9.eyJ0ZXN0Ijp0cnVlfQ";
	cf_key *key = key_of(t);
	EVP_PKEY *pkey = to_evp(key);
	cf_buf sig = {0};
	cf_err err = {0};
	bool r_zero = false, s_zero = false;
	int i;

	assert_string_equal(cf_jws_alg(key), alg);
	/* Sign until both r and s have had a leading zero byte (p = 1/256 each per
	 * signature), which must still come out full width; 8192 rounds miss either
	 * with p < 1e-13. */
	for (i = 0; i < 8192 && (i < 64 || !r_zero || !s_zero); i++) {
		cf_buf_reset(&sig);
		assert_int_equal(cf_jws_sign(key, msg, strlen(msg), &sig, &err), 0);
		assert_int_equal(sig.len, siglen);
		assert_int_equal(
			openssl_verify_es(pkey, md, sig.data, sig.len, msg, strlen(msg)),
			1);
		assert_int_equal(
			cf_jws_verify(key, msg, strlen(msg), sig.data, sig.len, &err), 0);
		r_zero |= sig.data[0] == 0;
		s_zero |= sig.data[siglen / 2] == 0;
	}
	assert_true(r_zero && s_zero);
	/* a flipped signature byte, a flipped message byte */
	sig.data[siglen - 1] ^= 0x01;
	assert_int_not_equal(
		openssl_verify_es(pkey, md, sig.data, sig.len, msg, strlen(msg)), 1);
	assert_int_equal(cf_jws_verify(key, msg, strlen(msg), sig.data, sig.len, &err), -1);
	assert_non_null(strstr(err.msg, "signature does not verify"));
	sig.data[siglen - 1] ^= 0x01;
	assert_int_not_equal(openssl_verify_es(pkey, md, sig.data, sig.len, "fyJ", 3), 1);
	assert_int_equal(cf_jws_verify(key, msg, strlen(msg) - 1, sig.data, sig.len, &err),
			 -1);
	/* a DER signature is not a JWS signature */
	assert_int_equal(cf_jws_verify(key, msg, strlen(msg), sig.data, sig.len - 1, &err),
			 -1);
	cf_buf_free(&sig);
	EVP_PKEY_free(pkey);
}

static void test_es256(void **state)
{
	check_es(CF_KEY_EC256, "ES256", "SHA256", 64);
}

static void test_es384(void **state)
{
	check_es(CF_KEY_EC384, "ES384", "SHA384", 96);
}

static void test_rs256(void **state)
{
	static const char msg[] = "protected.payload";
	size_t i;

	for (i = 2; i < NTYPES; i++) {
		EVP_PKEY *pkey = to_evp(keys[i]);
		EVP_MD_CTX *mctx = EVP_MD_CTX_new();
		uint8_t ref[512];
		size_t reflen = sizeof(ref);
		cf_buf sig = {0};
		cf_err err = {0};

		assert_string_equal(cf_jws_alg(keys[i]), "RS256");
		assert_int_equal(cf_jws_sign(keys[i], msg, strlen(msg), &sig, &err), 0);
		assert_int_equal(sig.len, (size_t)EVP_PKEY_get_size(pkey));
		assert_int_equal(
			openssl_verify_rs256(pkey, sig.data, sig.len, msg, strlen(msg)), 1);
		/* PKCS#1 v1.5 is deterministic: same bytes as OpenSSL's own RS256 */
		assert_int_equal(
			EVP_DigestSignInit_ex(mctx, NULL, "SHA256", NULL, NULL, pkey, NULL),
			1);
		assert_int_equal(EVP_DigestSign(mctx, ref, &reflen, (const uint8_t *)msg,
						strlen(msg)),
				 1);
		assert_int_equal(reflen, sig.len);
		assert_memory_equal(ref, sig.data, reflen);
		sig.data[10] ^= 0x80;
		assert_int_not_equal(
			openssl_verify_rs256(pkey, sig.data, sig.len, msg, strlen(msg)), 1);
		assert_int_equal(
			cf_jws_verify(keys[i], msg, strlen(msg), sig.data, sig.len, &err),
			-1);
		cf_buf_free(&sig);
		EVP_MD_CTX_free(mctx);
		EVP_PKEY_free(pkey);
	}
}

static void test_jws_flatten(void **state)
{
	static const char *payloads[] = {"", "{\"termsOfServiceAgreed\":true}"};
	cf_key *key = key_of(CF_KEY_EC256);
	EVP_PKEY *pkey = to_evp(key);
	json_t *hdr = json_pack("{s:s, s:s, s:s}", "alg", "ES256", "nonce", "n0nce", "url",
				"https://ca.example/acme/new-order");
	char *hdrtext = json_dumps(hdr, JSON_COMPACT);
	size_t i;

	for (i = 0; i < 2; i++) {
		cf_err err = {0};
		char *text = cf_jws_flatten(key, hdr, payloads[i], &err), input[1024];
		json_t *jws;
		const char *prot, *pay, *sigb64;
		uint8_t *dec, *sig;
		size_t declen, siglen;

		assert_non_null(text);
		jws = json_loads(text, 0, NULL);
		assert_non_null(jws);
		assert_int_equal(json_object_size(jws), 3);
		prot = json_string_value(json_object_get(jws, "protected"));
		pay = json_string_value(json_object_get(jws, "payload"));
		sigb64 = json_string_value(json_object_get(jws, "signature"));
		assert_non_null(prot);
		assert_non_null(pay);
		assert_non_null(sigb64);
		dec = cf_b64url_decode(prot, &declen);
		assert_non_null(dec);
		assert_int_equal(declen, strlen(hdrtext));
		assert_memory_equal(dec, hdrtext, declen);
		free(dec);
		if (payloads[i][0] == '\0') {
			assert_string_equal(pay, ""); /* POST-as-GET */
		} else {
			dec = cf_b64url_decode(pay, &declen);
			assert_non_null(dec);
			assert_int_equal(declen, strlen(payloads[i]));
			assert_memory_equal(dec, payloads[i], declen);
			free(dec);
		}
		sig = cf_b64url_decode(sigb64, &siglen);
		assert_non_null(sig);
		assert_int_equal(siglen, 64);
		assert_true(snprintf(input, sizeof(input), "%s.%s", prot, pay) <
			    (int)sizeof(input));
		assert_int_equal(openssl_verify_es(pkey, "SHA256", sig, siglen, input,
						   strlen(input)),
				 1);
		free(sig);
		json_decref(jws);
		free(text);
	}
	assert_null(cf_jws_flatten(key, hdr, NULL, NULL));
	free(hdrtext);
	json_decref(hdr);
	EVP_PKEY_free(pkey);
}

/* ---- JWK and thumbprints ---- */

/* RFC 7638 section 3.1. */
static const char rfc7638_n[] = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAA"
				"tVT86zwu1RK7aPFFxuhDR1L6tSoc"
				"_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-"
				"5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR"
				"0_"
				"FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn"
				"1n91CbOpbISD08qNLyrdkt-bFTW"
				"hAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-"
				"csFCur-kEgU8awapJzKnqDKgw";

static void test_rfc7638_thumbprint(void **state)
{
	json_t *jwk = json_pack("{s:s, s:s, s:s, s:s, s:s}", "kty", "RSA", "n", rfc7638_n,
				"e", "AQAB", "alg", "RS256", "kid", "2011-04-29");
	json_t *pub;
	cf_err err = {0};
	cf_key *key = cf_key_from_jwk(jwk, &err);
	char *tp;
	cf_buf sig = {0};

	assert_non_null(key);
	assert_int_equal(cf_key_get_type(key), CF_KEY_RSA2048);
	assert_string_equal(cf_jws_alg(key), "RS256");
	tp = cf_jwk_thumbprint(key, &err);
	assert_non_null(tp);
	assert_string_equal(tp, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
	free(tp);
	/* the public JWK gives back exactly n and e */
	pub = cf_jwk_public(key, &err);
	assert_non_null(pub);
	assert_int_equal(json_object_size(pub), 3);
	assert_string_equal(json_string_value(json_object_get(pub, "n")), rfc7638_n);
	assert_string_equal(json_string_value(json_object_get(pub, "e")), "AQAB");
	assert_string_equal(json_string_value(json_object_get(pub, "kty")), "RSA");
	/* public only: cannot sign or export */
	assert_int_equal(cf_jws_sign(key, "x", 1, &sig, &err), -1);
	assert_null(cf_key_to_pem(key, &err));
	json_decref(pub);
	json_decref(jwk);
	cf_key_free(key);
}

static void check_ec_jwk(cf_key_type t, const char *crv, size_t width)
{
	cf_key *key = key_of(t), *back;
	EVP_PKEY *pkey = to_evp(key);
	json_t *jwk;
	void *it;
	const char *expect_order[] = {"crv", "kty", "x", "y"};
	const char *x, *y;
	char *dumped, canon[512], *tp, *tp2, *pem, *want;
	uint8_t *xb, *yb, md[32], *spki = NULL;
	size_t xlen, ylen, i = 0;
	int spkilen;
	cf_err err = {0};

	jwk = cf_jwk_public(key, &err);
	assert_non_null(jwk);
	assert_int_equal(json_object_size(jwk), 4);
	for (it = json_object_iter(jwk); it; it = json_object_iter_next(jwk, it), i++)
		assert_string_equal(json_object_iter_key(it), expect_order[i]);
	assert_string_equal(json_string_value(json_object_get(jwk, "crv")), crv);
	assert_string_equal(json_string_value(json_object_get(jwk, "kty")), "EC");
	x = json_string_value(json_object_get(jwk, "x"));
	y = json_string_value(json_object_get(jwk, "y"));
	assert_non_null(x);
	assert_non_null(y);
	xb = cf_b64url_decode(x, &xlen);
	yb = cf_b64url_decode(y, &ylen);
	assert_int_equal(xlen, width);
	assert_int_equal(ylen, width);
	/* x||y are the last bytes of the SubjectPublicKeyInfo (04 || x || y) */
	spkilen = i2d_PUBKEY(pkey, &spki);
	assert_true(spkilen > (int)(2 * width + 1));
	assert_int_equal(spki[spkilen - 2 * width - 1], 0x04);
	assert_memory_equal(spki + spkilen - 2 * width, xb, width);
	assert_memory_equal(spki + spkilen - width, yb, width);

	/* canonical form: sorted members, no whitespace; hashed independently here */
	dumped = json_dumps(jwk, JSON_COMPACT | JSON_SORT_KEYS);
	snprintf(canon, sizeof(canon),
		 "{\"crv\":\"%s\",\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}", crv, x, y);
	assert_string_equal(dumped, canon);
	assert_int_equal(EVP_Q_digest(NULL, "SHA256", NULL, canon, strlen(canon), md, NULL),
			 1);
	want = cf_b64url_encode(md, sizeof(md));
	tp = cf_jwk_thumbprint(key, &err);
	assert_non_null(tp);
	assert_int_equal(strlen(tp), 43);
	assert_string_equal(tp, want);

	/* stable across a PEM round trip and a JWK round trip */
	pem = cf_key_to_pem(key, &err);
	back = cf_key_from_pem(pem, strlen(pem), &err);
	assert_non_null(back);
	tp2 = cf_jwk_thumbprint(back, &err);
	assert_string_equal(tp, tp2);
	cf_key_free(back);
	free(tp2);
	back = cf_key_from_jwk(jwk, &err);
	assert_non_null(back);
	assert_true(cf_key_public_equal(back, key));
	tp2 = cf_jwk_thumbprint(back, &err);
	assert_string_equal(tp, tp2);

	cf_key_free(back);
	free(tp2);
	cf_secret_free(pem);
	free(tp);
	free(want);
	free(dumped);
	OPENSSL_free(spki);
	free(xb);
	free(yb);
	json_decref(jwk);
	EVP_PKEY_free(pkey);
}

static void test_jwk_ec256(void **state)
{
	check_ec_jwk(CF_KEY_EC256, "P-256", 32);
}

static void test_jwk_ec384(void **state)
{
	check_ec_jwk(CF_KEY_EC384, "P-384", 48);
}

/* A P-256 key whose x or y starts with a zero byte: the JWK keeps 32 bytes. */
static void test_jwk_leading_zero(void **state)
{
	uint8_t *spki = NULL, *xb, *yb;
	int i, spkilen = 0;
	EVP_PKEY *pkey = NULL;
	BIO *bio;
	char *data;
	long n;
	cf_key *key;
	json_t *jwk;
	size_t xlen, ylen;

	for (i = 0; i < 20000; i++) { /* p = 1/128 per key */
		pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
		assert_non_null(pkey);
		spkilen = i2d_PUBKEY(pkey, &spki);
		assert_int_equal(spkilen, 91);
		if (spki[spkilen - 64] == 0 || spki[spkilen - 32] == 0)
			break;
		OPENSSL_free(spki);
		spki = NULL;
		EVP_PKEY_free(pkey);
		pkey = NULL;
	}
	assert_non_null(pkey);
	bio = BIO_new(BIO_s_mem());
	assert_int_equal(PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL), 1);
	n = BIO_get_mem_data(bio, &data);
	key = cf_key_from_pem(data, (size_t)n, NULL);
	assert_non_null(key);
	jwk = cf_jwk_public(key, NULL);
	assert_non_null(jwk);
	xb = cf_b64url_decode(json_string_value(json_object_get(jwk, "x")), &xlen);
	yb = cf_b64url_decode(json_string_value(json_object_get(jwk, "y")), &ylen);
	assert_int_equal(xlen, 32);
	assert_int_equal(ylen, 32);
	assert_memory_equal(xb, spki + spkilen - 64, 32);
	assert_memory_equal(yb, spki + spkilen - 32, 32);
	free(xb);
	free(yb);
	json_decref(jwk);
	cf_key_free(key);
	BIO_free(bio);
	OPENSSL_free(spki);
	EVP_PKEY_free(pkey);
}

static void test_jwk_import_rejects(void **state)
{
	json_t *good = cf_jwk_public(key_of(CF_KEY_EC256), NULL), *bad;
	const char *y = json_string_value(json_object_get(good, "y"));
	char *y2 = strdup(y), *nb64;
	cf_err err = {0};
	cf_key *k;
	EVP_PKEY *small;
	BIGNUM *n = NULL;
	uint8_t nbytes[128];
	int nlen;

	/* the unmodified JWK imports */
	k = cf_key_from_jwk(good, &err);
	assert_non_null(k);
	cf_key_free(k);
	/* y changed: the point is no longer on the curve */
	y2[5] = y2[5] == 'A' ? 'B' : 'A';
	bad = json_deep_copy(good);
	json_object_set_new(bad, "y", json_string(y2));
	assert_null(cf_key_from_jwk(bad, &err));
	json_decref(bad);
	/* short coordinate */
	bad = json_deep_copy(good);
	json_object_set_new(bad, "x", json_string("AAAA"));
	assert_null(cf_key_from_jwk(bad, &err));
	assert_non_null(strstr(err.msg, "32 bytes"));
	json_decref(bad);
	/* private member, unknown kty, unsupported crv, missing member */
	bad = json_deep_copy(good);
	json_object_set_new(bad, "d", json_string("AAAA"));
	assert_null(cf_key_from_jwk(bad, &err));
	json_object_del(bad, "d");
	json_object_set_new(bad, "crv", json_string("P-521"));
	assert_null(cf_key_from_jwk(bad, &err));
	json_object_set_new(bad, "kty", json_string("OKP"));
	assert_null(cf_key_from_jwk(bad, &err));
	json_decref(bad);
	bad = json_pack("{s:s, s:s}", "kty", "RSA", "e", "AQAB");
	assert_null(cf_key_from_jwk(bad, &err));
	assert_non_null(strstr(err.msg, "\"n\""));
	json_decref(bad);
	/* an even RSA modulus (the RFC 7638 n with its last bits changed) */
	nb64 = strdup(rfc7638_n);
	assert_int_equal(nb64[strlen(nb64) - 1], 'w');
	nb64[strlen(nb64) - 1] = 'g';
	bad = json_pack("{s:s, s:s, s:s}", "kty", "RSA", "e", "AQAB", "n", nb64);
	assert_null(cf_key_from_jwk(bad, &err));
	assert_non_null(strstr(err.msg, "EVP_PKEY_public_check"));
	json_decref(bad);
	free(nb64);
	/* RSA below 2048 bits: a real 1024-bit key */
	small = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
	assert_non_null(small);
	assert_int_equal(EVP_PKEY_get_bn_param(small, "n", &n), 1);
	nlen = BN_bn2bin(n, nbytes);
	nb64 = cf_b64url_encode(nbytes, (size_t)nlen);
	bad = json_pack("{s:s, s:s, s:s}", "kty", "RSA", "e", "AQAB", "n", nb64);
	assert_null(cf_key_from_jwk(bad, &err));
	assert_non_null(strstr(err.msg, "1024"));
	json_decref(bad);
	free(nb64);
	BN_free(n);
	EVP_PKEY_free(small);
	free(y2);
	json_decref(good);
}

/* ---- HMAC and SHA-256 ---- */

static void test_hmac_sha256(void **state)
{
	/* RFC 4231 test case 2 */
	static const uint8_t want[32] = {0x5b, 0xdc, 0xc1, 0x46, 0xbf, 0x60, 0x75, 0x4e,
					 0x6a, 0x04, 0x24, 0x26, 0x08, 0x95, 0x75, 0xc7,
					 0x5a, 0x00, 0x3f, 0x08, 0x9d, 0x27, 0x39, 0x83,
					 0x9d, 0xec, 0x58, 0xb9, 0x64, 0xec, 0x38, 0x43};
	/* FIPS 180-2 "abc" */
	static const uint8_t abc[32] = {0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea,
					0x41, 0x41, 0x40, 0xde, 0x5d, 0xae, 0x22, 0x23,
					0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c,
					0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad};
	static const char data[] = "what do ya want for nothing?";
	uint8_t out[32];

	assert_int_equal(cf_hmac_sha256("Jefe", 4, data, strlen(data), out), 0);
	assert_memory_equal(out, want, 32);
	assert_int_equal(cf_hmac_sha256("Jeff", 4, data, strlen(data), out), 0);
	assert_memory_not_equal(out, want, 32);
	assert_int_equal(cf_hmac_sha256("k", 1, "", 0, out), 0);
	cf_sha256("abc", 3, out);
	assert_memory_equal(out, abc, 32);
}

/* ---- sealing ---- */

static const uint8_t seal_key[CF_SEAL_KEY_LEN] = {
	0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a,
	0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15,
	0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f};
static const char row_a[] = "certificate_versions:web:3:private_key";
static const char row_b[] = "certificate_versions:api:1:private_key";
static const char secret[] = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEG\n";

static void test_seal_roundtrip(void **state)
{
	cf_buf blob = {0}, blob2 = {0}, plain = {0};
	cf_err err = {0};
	size_t i;

	assert_int_equal(cf_seal(seal_key, row_a, secret, strlen(secret), &blob, &err), 0);
	assert_int_equal(blob.len, 1 + 12 + strlen(secret) + 16);
	assert_int_equal(blob.data[0], 0x01);
	for (i = 0; i + 7 <= blob.len; i++)
		assert_memory_not_equal(blob.data + i, "PRIVATE", 7);
	assert_int_equal(cf_unseal(seal_key, row_a, blob.data, blob.len, &plain, &err), 0);
	assert_int_equal(plain.len, strlen(secret));
	assert_memory_equal(plain.data, secret, plain.len);
	/* a fresh nonce each time */
	assert_int_equal(cf_seal(seal_key, row_a, secret, strlen(secret), &blob2, &err), 0);
	assert_int_equal(blob2.len, blob.len);
	assert_memory_not_equal(blob.data + 1, blob2.data + 1, 12);
	assert_memory_not_equal(blob.data, blob2.data, blob.len);
	/* empty plaintext and empty aad work too */
	cf_buf_reset(&blob);
	cf_buf_free_secret(&plain);
	assert_int_equal(cf_seal(seal_key, "", "", 0, &blob, &err), 0);
	assert_int_equal(blob.len, 29);
	assert_int_equal(cf_unseal(seal_key, "", blob.data, blob.len, &plain, &err), 0);
	assert_int_equal(plain.len, 0);
	assert_int_equal(cf_seal(seal_key, NULL, "", 0, &blob, &err), -1);
	cf_buf_free_secret(&plain);
	cf_buf_free(&blob);
	cf_buf_free(&blob2);
}

static void test_unseal_failures(void **state)
{
	uint8_t other_key[CF_SEAL_KEY_LEN];
	cf_buf blob = {0}, plain = {0};
	cf_err err = {0};
	size_t i;

	assert_int_equal(cf_seal(seal_key, row_a, secret, strlen(secret), &blob, &err), 0);
	/* the blob of row a stored in row b (swapped ciphertexts) */
	assert_int_equal(cf_unseal(seal_key, row_b, blob.data, blob.len, &plain, &err), -1);
	assert_int_equal(plain.len, 0);
	assert_non_null(strstr(err.msg, "EVP_DecryptFinal_ex"));
	/* wrong key */
	memcpy(other_key, seal_key, sizeof(other_key));
	other_key[31] ^= 0x01;
	assert_int_equal(cf_unseal(other_key, row_a, blob.data, blob.len, &plain, &err),
			 -1);
	assert_int_equal(plain.len, 0);
	/* every single flipped byte: version, nonce, ciphertext, tag */
	for (i = 0; i < blob.len; i++) {
		blob.data[i] ^= 0x20;
		assert_int_equal(
			cf_unseal(seal_key, row_a, blob.data, blob.len, &plain, &err), -1);
		assert_int_equal(plain.len, 0);
		blob.data[i] ^= 0x20;
	}
	assert_int_equal(cf_unseal(seal_key, row_a, blob.data, blob.len, &plain, &err), 0);
	cf_buf_free_secret(&plain);
	/* unknown version, truncated blobs */
	blob.data[0] = 0x02;
	assert_int_equal(cf_unseal(seal_key, row_a, blob.data, blob.len, &plain, &err), -1);
	assert_non_null(strstr(err.msg, "version"));
	blob.data[0] = 0x01;
	assert_int_equal(cf_unseal(seal_key, row_a, blob.data, blob.len - 1, &plain, &err),
			 -1);
	assert_int_equal(cf_unseal(seal_key, row_a, blob.data, 28, &plain, &err), -1);
	assert_int_equal(cf_unseal(seal_key, row_a, blob.data, 0, &plain, &err), -1);
	assert_int_equal(plain.len, 0);
	cf_buf_free(&blob);
	cf_buf_free_secret(&plain);
}

/* ---- random and compare ---- */

static void test_random(void **state)
{
	uint8_t a[32] = {0}, b[32] = {0};
	char *t1, *t2;
	size_t i;

	assert_int_equal(cf_random_bytes(a, sizeof(a)), 0);
	assert_int_equal(cf_random_bytes(b, sizeof(b)), 0);
	assert_memory_not_equal(a, b, sizeof(a));
	assert_int_equal(cf_random_bytes(a, 0), 0);
	t1 = cf_random_token(32);
	t2 = cf_random_token(32);
	assert_non_null(t1);
	assert_non_null(t2);
	assert_int_equal(strlen(t1), 43);
	assert_string_not_equal(t1, t2);
	for (i = 0; t1[i]; i++)
		assert_non_null(
			strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
			       "0123456789-_",
			       t1[i]));
	free(t2);
	t2 = cf_random_token(9);
	assert_non_null(t2);
	assert_int_equal(strlen(t2), 12);
	assert_null(cf_random_token(0));
	free(t1);
	free(t2);
}

static void test_ct_equal(void **state)
{
	assert_true(cf_ct_equal("abcdef", 6, "abcdef", 6));
	assert_false(cf_ct_equal("abcdef", 6, "abcdeg", 6));
	assert_false(cf_ct_equal("bbcdef", 6, "abcdef", 6));
	assert_false(cf_ct_equal("abcdef", 6, "abcdef", 5));
	assert_false(cf_ct_equal("abc", 3, "abcdef", 6));
	assert_true(cf_ct_equal("", 0, "", 0));
	assert_false(cf_ct_equal(NULL, 3, "abc", 3));
}

static void test_secret_free(void **state)
{
	cf_secret_free(NULL);
	cf_secret_free(strdup("hunter2"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_key_type_names),
		cmocka_unit_test(test_key_pem_roundtrip),
		cmocka_unit_test(test_key_public_equal),
		cmocka_unit_test(test_key_from_traditional_pem),
		cmocka_unit_test(test_key_from_pem_rejects),
		cmocka_unit_test(test_es256),
		cmocka_unit_test(test_es384),
		cmocka_unit_test(test_rs256),
		cmocka_unit_test(test_jws_flatten),
		cmocka_unit_test(test_rfc7638_thumbprint),
		cmocka_unit_test(test_jwk_ec256),
		cmocka_unit_test(test_jwk_ec384),
		cmocka_unit_test(test_jwk_leading_zero),
		cmocka_unit_test(test_jwk_import_rejects),
		cmocka_unit_test(test_hmac_sha256),
		cmocka_unit_test(test_seal_roundtrip),
		cmocka_unit_test(test_unseal_failures),
		cmocka_unit_test(test_random),
		cmocka_unit_test(test_ct_equal),
		cmocka_unit_test(test_secret_free),
	};

	return cmocka_run_group_tests(tests, setup_keys, teardown_keys);
}
