/*
 * jws.c: JSON Web Signatures as ACME (RFC 8555 section 6.2) needs them: the alg of
 * a key, the public JWK and its RFC 7638 thumbprint, ES256/ES384 signatures in the
 * fixed-width r||s form of RFC 7518 section 3.4 (converted from and to OpenSSL's
 * DER ECDSA-Sig-Value), RS256, the flattened JSON serialisation, and the HMAC-SHA256
 * and SHA-256 primitives.
 */
#include "crypto/crypto_int.h"

#include <limits.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <stdlib.h>
#include <string.h>

#include "util/b64.h"

/* Field size in bytes of an EC key's curve (the width of r, s, x and y), or 0. */
static size_t ec_width(const cf_key *key)
{
	if (key->type == CF_KEY_EC256)
		return 32;
	if (key->type == CF_KEY_EC384)
		return 48;
	return 0;
}

/* The digest of the key's JWS alg: SHA-384 for ES384, SHA-256 otherwise. */
static const char *jws_digest(const cf_key *key)
{
	return key->type == CF_KEY_EC384 ? "SHA384" : "SHA256";
}

const char *cf_jws_alg(const cf_key *key)
{
	if (key == NULL)
		return NULL;
	if (key->type == CF_KEY_EC256)
		return "ES256";
	if (key->type == CF_KEY_EC384)
		return "ES384";
	return EVP_PKEY_is_a(key->pkey, "RSA") ? "RS256" : NULL;
}

/* base64url of a BIGNUM parameter of the key; width 0 = minimal big-endian bytes,
 * otherwise left-padded to width bytes. */
static char *bn_param_b64url(const cf_key *key, const char *param, size_t width,
			     cf_err *err)
{
	BIGNUM *bn = NULL;
	uint8_t *bytes = NULL;
	char *out = NULL;
	int n;

	if (EVP_PKEY_get_bn_param(key->pkey, param, &bn) != 1) {
		cf_crypto_fail(err, "EVP_PKEY_get_bn_param");
		goto out;
	}
	n = width ? (int)width : BN_num_bytes(bn);
	bytes = malloc(n > 0 ? (size_t)n : 1);
	if (bytes == NULL) {
		cf_err_oom(err, NULL);
		goto out;
	}
	if (BN_bn2binpad(bn, bytes, n) != n) {
		cf_crypto_fail(err, "BN_bn2binpad");
		goto out;
	}
	out = cf_b64url_encode(bytes, (size_t)n);
	if (out == NULL)
		cf_err_oom(err, NULL);
out:
	BN_free(bn);
	free(bytes);
	return out;
}

/* The public JWK members as base64url strings; a/b are x/y for EC, n/e for RSA. */
static int jwk_parts(const cf_key *key, const char **crv, char **a, char **b, cf_err *err)
{
	size_t width = ec_width(key);

	*crv = NULL;
	*a = *b = NULL;
	if (width) {
		*crv = key->type == CF_KEY_EC256 ? "P-256" : "P-384";
		*a = bn_param_b64url(key, OSSL_PKEY_PARAM_EC_PUB_X, width, err);
		if (*a)
			*b = bn_param_b64url(key, OSSL_PKEY_PARAM_EC_PUB_Y, width, err);
	} else if (EVP_PKEY_is_a(key->pkey, "RSA")) {
		*a = bn_param_b64url(key, OSSL_PKEY_PARAM_RSA_N, 0, err);
		if (*a)
			*b = bn_param_b64url(key, OSSL_PKEY_PARAM_RSA_E, 0, err);
	} else {
		cf_err_set(err, CF_ERR_PERMANENT, "JWK: unsupported key");
	}
	if (*a && *b)
		return 0;
	free(*a);
	free(*b);
	*a = *b = NULL;
	return -1;
}

json_t *cf_jwk_public(const cf_key *key, cf_err *err)
{
	const char *crv;
	char *a = NULL, *b = NULL;
	json_t *jwk = NULL;

	if (key == NULL) {
		cf_err_set(err, CF_ERR_PERMANENT, "cf_jwk_public: no key");
		goto out;
	}
	if (jwk_parts(key, &crv, &a, &b, err) != 0)
		goto out;
	/* Members in lexicographic order, as RFC 7638 orders them. */
	if (crv)
		jwk = json_pack("{s:s, s:s, s:s, s:s}", "crv", crv, "kty", "EC", "x", a,
				"y", b);
	else
		jwk = json_pack("{s:s, s:s, s:s}", "e", b, "kty", "RSA", "n", a);
	if (jwk == NULL)
		cf_err_set(err, CF_ERR_PERMANENT, "cf_jwk_public: json_pack failed");
out:
	free(a);
	free(b);
	return jwk;
}

char *cf_jwk_thumbprint(const cf_key *key, cf_err *err)
{
	const char *crv;
	char *a = NULL, *b = NULL, *out = NULL;
	cf_buf canon = {0};
	uint8_t md[32];
	int rc;

	if (key == NULL) {
		cf_err_set(err, CF_ERR_PERMANENT, "cf_jwk_thumbprint: no key");
		goto out;
	}
	if (jwk_parts(key, &crv, &a, &b, err) != 0)
		goto out;
	/* RFC 7638 section 3.2: required members only, sorted, no whitespace. The
	 * values are base64url or fixed names, so nothing needs JSON escaping. */
	if (crv)
		rc = cf_buf_printf(
			&canon, "{\"crv\":\"%s\",\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}",
			crv, a, b);
	else
		rc = cf_buf_printf(&canon, "{\"e\":\"%s\",\"kty\":\"RSA\",\"n\":\"%s\"}", b,
				   a);
	if (rc != 0) {
		cf_err_oom(err, NULL);
		goto out;
	}
	cf_sha256(canon.data, canon.len, md);
	out = cf_b64url_encode(md, sizeof(md));
	if (out == NULL)
		cf_err_oom(err, NULL);
out:
	cf_buf_free(&canon);
	free(a);
	free(b);
	return out;
}

/* Appends the JWS form r||s (each left-padded to width) of a DER ECDSA-Sig-Value. */
static int ecdsa_der_to_jws(const uint8_t *der, size_t derlen, size_t width, cf_buf *sig,
			    cf_err *err)
{
	ECDSA_SIG *esig = NULL;
	const BIGNUM *r, *s;
	const unsigned char *p = der;
	uint8_t rs[2 * 48];
	int rc = -1;

	esig = d2i_ECDSA_SIG(NULL, &p, (long)derlen);
	if (esig == NULL || p != der + derlen) {
		cf_crypto_fail(err, "d2i_ECDSA_SIG");
		goto out;
	}
	ECDSA_SIG_get0(esig, &r, &s);
	if (BN_bn2binpad(r, rs, (int)width) != (int)width ||
	    BN_bn2binpad(s, rs + width, (int)width) != (int)width) {
		cf_crypto_fail(err, "BN_bn2binpad");
		goto out;
	}
	if (cf_buf_append(sig, rs, 2 * width) != 0) {
		cf_err_oom(err, NULL);
		goto out;
	}
	rc = 0;
out:
	ECDSA_SIG_free(esig);
	return rc;
}

int cf_jws_sign(const cf_key *key, const void *data, size_t len, cf_buf *sig, cf_err *err)
{
	EVP_MD_CTX *mctx = NULL;
	uint8_t *der = NULL;
	size_t derlen = 0, width;
	int rc = -1;

	if (key == NULL || !key->has_private || cf_jws_alg(key) == NULL) {
		cf_err_set(err, CF_ERR_PERMANENT, "cf_jws_sign: no usable private key");
		goto out;
	}
	mctx = EVP_MD_CTX_new();
	if (mctx == NULL) {
		cf_crypto_fail(err, "EVP_MD_CTX_new");
		goto out;
	}
	if (EVP_DigestSignInit_ex(mctx, NULL, jws_digest(key), NULL, NULL, key->pkey,
				  NULL) != 1) {
		cf_crypto_fail(err, "EVP_DigestSignInit_ex");
		goto out;
	}
	if (EVP_DigestSign(mctx, NULL, &derlen, data, len) != 1) {
		cf_crypto_fail(err, "EVP_DigestSign");
		goto out;
	}
	der = malloc(derlen);
	if (der == NULL) {
		cf_err_oom(err, NULL);
		goto out;
	}
	if (EVP_DigestSign(mctx, der, &derlen, data, len) != 1) {
		cf_crypto_fail(err, "EVP_DigestSign");
		goto out;
	}
	width = ec_width(key);
	if (width) {
		rc = ecdsa_der_to_jws(der, derlen, width, sig, err);
	} else { /* RS256: the PKCS#1 v1.5 signature already is the JWS form */
		rc = cf_buf_append(sig, der, derlen);
		if (rc != 0)
			cf_err_oom(err, NULL);
	}
out:
	free(der);
	EVP_MD_CTX_free(mctx);
	return rc;
}

int cf_jws_verify(const cf_key *key, const void *data, size_t len, const void *sig,
		  size_t siglen, cf_err *err)
{
	EVP_MD_CTX *mctx = NULL;
	ECDSA_SIG *esig = NULL;
	BIGNUM *r = NULL, *s = NULL;
	unsigned char *der = NULL;
	const unsigned char *check = sig;
	size_t checklen = siglen, width;
	int derlen, vrc, rc = -1;

	if (key == NULL || sig == NULL || cf_jws_alg(key) == NULL) {
		cf_err_set(err, CF_ERR_PERMANENT, "cf_jws_verify: no usable key");
		goto out;
	}
	width = ec_width(key);
	if (width) {
		if (siglen != 2 * width) {
			cf_err_set(err, CF_ERR_PERMANENT,
				   "JWS signature is %zu bytes, %s needs %zu", siglen,
				   cf_jws_alg(key), 2 * width);
			goto out;
		}
		esig = ECDSA_SIG_new();
		r = BN_bin2bn(sig, (int)width, NULL);
		s = BN_bin2bn((const uint8_t *)sig + width, (int)width, NULL);
		if (esig == NULL || r == NULL || s == NULL ||
		    ECDSA_SIG_set0(esig, r, s) != 1) {
			cf_crypto_fail(err, "ECDSA_SIG_set0");
			goto out;
		}
		r = s = NULL; /* owned by esig */
		derlen = i2d_ECDSA_SIG(esig, &der);
		if (derlen <= 0) {
			cf_crypto_fail(err, "i2d_ECDSA_SIG");
			goto out;
		}
		check = der;
		checklen = (size_t)derlen;
	}
	mctx = EVP_MD_CTX_new();
	if (mctx == NULL) {
		cf_crypto_fail(err, "EVP_MD_CTX_new");
		goto out;
	}
	if (EVP_DigestVerifyInit_ex(mctx, NULL, jws_digest(key), NULL, NULL, key->pkey,
				    NULL) != 1) {
		cf_crypto_fail(err, "EVP_DigestVerifyInit_ex");
		goto out;
	}
	vrc = EVP_DigestVerify(mctx, check, checklen, data, len);
	if (vrc == 0) {
		ERR_clear_error();
		cf_err_set(err, CF_ERR_PERMANENT, "%s signature does not verify",
			   cf_jws_alg(key));
		goto out;
	}
	if (vrc != 1) {
		cf_crypto_fail(err, "EVP_DigestVerify");
		goto out;
	}
	rc = 0;
out:
	OPENSSL_free(der);
	BN_free(r);
	BN_free(s);
	ECDSA_SIG_free(esig);
	EVP_MD_CTX_free(mctx);
	return rc;
}

char *cf_jws_flatten(const cf_key *key, const json_t *protected_hdr, const char *payload,
		     cf_err *err)
{
	char *hdr = NULL, *prot = NULL, *pay = NULL, *sigb64 = NULL, *out = NULL;
	cf_buf input = {0}, sig = {0};
	json_t *jws = NULL;

	if (key == NULL || protected_hdr == NULL || payload == NULL) {
		cf_err_set(err, CF_ERR_PERMANENT, "cf_jws_flatten: missing argument");
		goto out;
	}
	hdr = json_dumps(protected_hdr, JSON_COMPACT);
	if (hdr == NULL) {
		cf_err_set(err, CF_ERR_PERMANENT, "cf_jws_flatten: json_dumps failed");
		goto out;
	}
	prot = cf_b64url_encode(hdr, strlen(hdr));
	pay = cf_b64url_encode(payload, strlen(payload)); /* "" stays "" */
	if (prot == NULL || pay == NULL || cf_buf_printf(&input, "%s.%s", prot, pay) != 0) {
		cf_err_oom(err, NULL);
		goto out;
	}
	if (cf_jws_sign(key, input.data, input.len, &sig, err) != 0)
		goto out;
	sigb64 = cf_b64url_encode(sig.data, sig.len);
	if (sigb64 == NULL) {
		cf_err_oom(err, NULL);
		goto out;
	}
	jws = json_pack("{s:s, s:s, s:s}", "protected", prot, "payload", pay, "signature",
			sigb64);
	out = jws ? json_dumps(jws, JSON_COMPACT) : NULL;
	if (out == NULL)
		cf_err_set(err, CF_ERR_PERMANENT,
			   "cf_jws_flatten: building the JSON failed");
out:
	json_decref(jws);
	cf_buf_free(&input);
	cf_buf_free(&sig);
	free(hdr);
	free(prot);
	free(pay);
	free(sigb64);
	return out;
}

int cf_hmac_sha256(const void *key, size_t keylen, const void *data, size_t len,
		   uint8_t out[32])
{
	static const uint8_t empty[1];
	size_t outlen = 0;

	if (EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, keylen ? key : empty, keylen,
		      len ? data : empty, len, out, 32, &outlen) == NULL ||
	    outlen != 32) {
		ERR_clear_error();
		return -1;
	}
	return 0;
}

/* One EVP digest of data into out (size bytes). */
static void digest(const EVP_MD *md, const void *data, size_t len, uint8_t *out, size_t size)
{
	static const uint8_t empty[1];

	if (EVP_Digest(len ? data : empty, len, out, NULL, md, NULL) != 1) {
		/* Only a broken OpenSSL install gets here; never return stale bytes. */
		memset(out, 0, size);
		ERR_clear_error();
	}
}

void cf_sha256(const void *data, size_t len, uint8_t out[32])
{
	digest(EVP_sha256(), data, len, out, 32);
}

void cf_sha1(const void *data, size_t len, uint8_t out[20])
{
	digest(EVP_sha1(), data, len, out, 20);
}
