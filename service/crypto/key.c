/*
 * key.c: the cf_key wrapper around EVP_PKEY: key type names, generation of P-256,
 * P-384 and RSA 2048/3072/4096 keys, PKCS#8 PEM import and export, public-key
 * comparison, import of a public JWK (RFC 7517/7518), and the shared helper that
 * reports OpenSSL errors. Private key PEM leaves here only through secure memory
 * BIOs and buffers the caller wipes.
 */
#include "crypto/crypto_int.h"

#include <limits.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <stdlib.h>
#include <string.h>

#include "util/b64.h"

static const struct {
	cf_key_type type;
	const char *name;
	const char *curve; /* NULL for RSA */
	int bits;
} key_types[] = {
	{CF_KEY_EC256, "ec256", "P-256", 256},
	{CF_KEY_EC384, "ec384", "P-384", 384},
	{CF_KEY_RSA2048, "rsa2048", NULL, 2048},
	{CF_KEY_RSA3072, "rsa3072", NULL, 3072},
	{CF_KEY_RSA4096, "rsa4096", NULL, 4096},
};
#define NKEY_TYPES (sizeof(key_types) / sizeof(key_types[0]))

int cf_crypto_fail(cf_err *err, const char *call)
{
	unsigned long e = ERR_get_error();
	char detail[256];

	if (e != 0)
		ERR_error_string_n(e, detail, sizeof(detail));
	else
		snprintf(detail, sizeof(detail), "no OpenSSL error queued");
	ERR_clear_error();
	return cf_err_set(err, CF_ERR_PERMANENT, "%s failed: %s", call, detail);
}

int cf_key_type_parse(const char *s, cf_key_type *out)
{
	size_t i;

	if (s == NULL)
		return -1;
	for (i = 0; i < NKEY_TYPES; i++) {
		if (strcmp(s, key_types[i].name) == 0) {
			if (out)
				*out = key_types[i].type;
			return 0;
		}
	}
	return -1;
}

const char *cf_key_type_name(cf_key_type t)
{
	size_t i;

	for (i = 0; i < NKEY_TYPES; i++)
		if (key_types[i].type == t)
			return key_types[i].name;
	return NULL;
}

/* Maps the curve of an EC key to "P-256"/"P-384", or NULL for any other curve. */
static const char *ec_curve_of(const EVP_PKEY *pkey)
{
	char group[80];
	int nid;

	if (EVP_PKEY_get_group_name(pkey, group, sizeof(group), NULL) != 1)
		return NULL;
	nid = OBJ_sn2nid(group);
	if (nid == NID_undef)
		nid = EC_curve_nist2nid(group);
	if (nid == NID_X9_62_prime256v1)
		return "P-256";
	if (nid == NID_secp384r1)
		return "P-384";
	return NULL;
}

cf_key *cf_key_wrap(EVP_PKEY *pkey, bool has_private, cf_err *err)
{
	cf_key *key = NULL;
	cf_key_type type = 0;
	const char *curve, *name;
	int bits;

	if (pkey == NULL) {
		cf_err_set(err, CF_ERR_PERMANENT, "cf_key_wrap: no key");
		goto out;
	}
	if (EVP_PKEY_is_a(pkey, "EC")) {
		curve = ec_curve_of(pkey);
		if (curve == NULL) {
			cf_err_set(err, CF_ERR_PERMANENT,
				   "unsupported EC curve (only P-256 and P-384)");
			goto out;
		}
		type = strcmp(curve, "P-256") == 0 ? CF_KEY_EC256 : CF_KEY_EC384;
	} else if (EVP_PKEY_is_a(pkey, "RSA")) {
		bits = EVP_PKEY_get_bits(pkey);
		if (bits < 2048) {
			cf_err_set(err, CF_ERR_PERMANENT, "RSA key of %d bits is too small",
				   bits);
			goto out;
		}
		type = bits == 2048   ? CF_KEY_RSA2048
		       : bits == 3072 ? CF_KEY_RSA3072
		       : bits == 4096 ? CF_KEY_RSA4096
				      : 0;
	} else {
		name = EVP_PKEY_get0_type_name(pkey);
		cf_err_set(err, CF_ERR_PERMANENT, "unsupported key algorithm %s",
			   name ? name : "(unknown)");
		goto out;
	}
	key = calloc(1, sizeof(*key));
	if (key == NULL) {
		cf_err_oom(err, NULL);
		goto out;
	}
	key->pkey = pkey;
	key->type = type;
	key->has_private = has_private;
	pkey = NULL;
out:
	EVP_PKEY_free(pkey);
	return key;
}

cf_key *cf_key_generate(cf_key_type t, cf_err *err)
{
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *pkey = NULL;
	cf_key *key = NULL;
	size_t i;

	for (i = 0; i < NKEY_TYPES; i++)
		if (key_types[i].type == t)
			break;
	if (i == NKEY_TYPES) {
		cf_err_set(err, CF_ERR_PERMANENT, "cf_key_generate: unknown key type %d",
			   (int)t);
		goto out;
	}
	ctx = EVP_PKEY_CTX_new_from_name(NULL, key_types[i].curve ? "EC" : "RSA", NULL);
	if (ctx == NULL) {
		cf_crypto_fail(err, "EVP_PKEY_CTX_new_from_name");
		goto out;
	}
	if (EVP_PKEY_keygen_init(ctx) <= 0) {
		cf_crypto_fail(err, "EVP_PKEY_keygen_init");
		goto out;
	}
	if (key_types[i].curve) {
		if (EVP_PKEY_CTX_set_group_name(ctx, key_types[i].curve) <= 0) {
			cf_crypto_fail(err, "EVP_PKEY_CTX_set_group_name");
			goto out;
		}
	} else if (EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, key_types[i].bits) <= 0) {
		cf_crypto_fail(err, "EVP_PKEY_CTX_set_rsa_keygen_bits");
		goto out;
	}
	if (EVP_PKEY_generate(ctx, &pkey) <= 0) {
		cf_crypto_fail(err, "EVP_PKEY_generate");
		goto out;
	}
	key = cf_key_wrap(pkey, true, err);
	pkey = NULL; /* owned by cf_key_wrap now */
out:
	EVP_PKEY_free(pkey);
	EVP_PKEY_CTX_free(ctx);
	return key;
}

int cf_pem_no_password(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

cf_key *cf_key_from_pem(const char *pem, size_t len, cf_err *err)
{
	BIO *bio = NULL;
	EVP_PKEY *pkey = NULL;
	cf_key *key = NULL;

	if (pem == NULL || len == 0 || len > INT_MAX) {
		cf_err_set(err, CF_ERR_PERMANENT,
			   "cf_key_from_pem: empty or oversized PEM");
		goto out;
	}
	bio = BIO_new_mem_buf(pem, (int)len);
	if (bio == NULL) {
		cf_crypto_fail(err, "BIO_new_mem_buf");
		goto out;
	}
	pkey = PEM_read_bio_PrivateKey(bio, NULL, cf_pem_no_password, NULL);
	if (pkey == NULL) {
		cf_crypto_fail(err, "PEM_read_bio_PrivateKey");
		goto out;
	}
	key = cf_key_wrap(pkey, true, err);
	pkey = NULL;
out:
	EVP_PKEY_free(pkey);
	BIO_free(bio);
	return key;
}

char *cf_key_to_pem(const cf_key *key, cf_err *err)
{
	BIO *bio = NULL;
	char *data = NULL, *pem = NULL;
	long n;

	if (key == NULL || !key->has_private) {
		cf_err_set(err, CF_ERR_PERMANENT, "cf_key_to_pem: no private key");
		goto out;
	}
	/* The secure-memory BIO wipes its buffer when freed. */
	bio = BIO_new(BIO_s_secmem());
	if (bio == NULL) {
		cf_crypto_fail(err, "BIO_new");
		goto out;
	}
	if (PEM_write_bio_PrivateKey(bio, key->pkey, NULL, NULL, 0, NULL, NULL) != 1) {
		cf_crypto_fail(err, "PEM_write_bio_PrivateKey");
		goto out;
	}
	n = BIO_get_mem_data(bio, &data);
	if (n <= 0 || data == NULL) {
		cf_crypto_fail(err, "BIO_get_mem_data");
		goto out;
	}
	pem = malloc((size_t)n + 1);
	if (pem == NULL) {
		cf_err_oom(err, NULL);
		goto out;
	}
	memcpy(pem, data, (size_t)n);
	pem[n] = '\0';
out:
	BIO_free(bio);
	return pem;
}

cf_key_type cf_key_get_type(const cf_key *key)
{
	return key ? key->type : 0;
}

bool cf_key_public_equal(const cf_key *a, const cf_key *b)
{
	bool eq;

	if (a == NULL || b == NULL)
		return false;
	eq = EVP_PKEY_eq(a->pkey, b->pkey) == 1;
	ERR_clear_error(); /* a type mismatch queues an error */
	return eq;
}

void cf_key_free(cf_key *key)
{
	if (key == NULL)
		return;
	EVP_PKEY_free(key->pkey); /* clears the private scalar / exponents */
	free(key);
}

/* Reads member name of jwk as a base64url string into freshly allocated bytes. */
static uint8_t *jwk_member(const json_t *jwk, const char *name, size_t *len, cf_err *err)
{
	const char *s = json_string_value(json_object_get(jwk, name));
	uint8_t *bytes;

	if (s == NULL) {
		cf_err_set(err, CF_ERR_PERMANENT, "JWK: missing string member \"%s\"",
			   name);
		return NULL;
	}
	bytes = cf_b64url_decode(s, len);
	if (bytes == NULL || *len == 0) {
		free(bytes);
		cf_err_set(err, CF_ERR_PERMANENT, "JWK: member \"%s\" is not base64url",
			   name);
		return NULL;
	}
	return bytes;
}

cf_key *cf_key_from_jwk(const json_t *jwk, cf_err *err)
{
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *pkey = NULL;
	BIGNUM *n = NULL, *e = NULL;
	uint8_t *a = NULL, *b = NULL, point[1 + 2 * 48];
	size_t alen = 0, blen = 0, width;
	const char *kty, *crv, *alg_name;
	cf_key *key = NULL;

	kty = json_string_value(json_object_get(jwk, "kty"));
	if (kty == NULL) {
		cf_err_set(err, CF_ERR_PERMANENT, "JWK: missing \"kty\"");
		goto out;
	}
	if (json_object_get(jwk, "d") != NULL) {
		cf_err_set(err, CF_ERR_PERMANENT, "JWK: private keys are not accepted");
		goto out;
	}
	bld = OSSL_PARAM_BLD_new();
	if (bld == NULL) {
		cf_crypto_fail(err, "OSSL_PARAM_BLD_new");
		goto out;
	}
	if (strcmp(kty, "EC") == 0) {
		alg_name = "EC";
		crv = json_string_value(json_object_get(jwk, "crv"));
		if (crv == NULL ||
		    (strcmp(crv, "P-256") != 0 && strcmp(crv, "P-384") != 0)) {
			cf_err_set(err, CF_ERR_PERMANENT, "JWK: unsupported \"crv\" %s",
				   crv ? crv : "(missing)");
			goto out;
		}
		width = strcmp(crv, "P-256") == 0 ? 32 : 48;
		if ((a = jwk_member(jwk, "x", &alen, err)) == NULL ||
		    (b = jwk_member(jwk, "y", &blen, err)) == NULL)
			goto out;
		if (alen != width || blen != width) {
			cf_err_set(err, CF_ERR_PERMANENT,
				   "JWK: coordinates must be %zu bytes for %s", width, crv);
			goto out;
		}
		point[0] = 0x04; /* uncompressed point: 04 || x || y */
		memcpy(point + 1, a, width);
		memcpy(point + 1 + width, b, width);
		if (OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, crv,
						    0) != 1 ||
		    OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point,
						     1 + 2 * width) != 1) {
			cf_crypto_fail(err, "OSSL_PARAM_BLD_push");
			goto out;
		}
	} else if (strcmp(kty, "RSA") == 0) {
		alg_name = "RSA";
		if ((a = jwk_member(jwk, "n", &alen, err)) == NULL ||
		    (b = jwk_member(jwk, "e", &blen, err)) == NULL)
			goto out;
		if (alen > 2048 || blen > 8) {
			cf_err_set(err, CF_ERR_PERMANENT,
				   "JWK: RSA \"n\" or \"e\" too long");
			goto out;
		}
		n = BN_bin2bn(a, (int)alen, NULL);
		e = BN_bin2bn(b, (int)blen, NULL);
		if (n == NULL || e == NULL) {
			cf_crypto_fail(err, "BN_bin2bn");
			goto out;
		}
		if (OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) != 1 ||
		    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) != 1) {
			cf_crypto_fail(err, "OSSL_PARAM_BLD_push_BN");
			goto out;
		}
	} else {
		cf_err_set(err, CF_ERR_PERMANENT, "JWK: unsupported \"kty\" %s", kty);
		goto out;
	}
	params = OSSL_PARAM_BLD_to_param(bld);
	if (params == NULL) {
		cf_crypto_fail(err, "OSSL_PARAM_BLD_to_param");
		goto out;
	}
	ctx = EVP_PKEY_CTX_new_from_name(NULL, alg_name, NULL);
	if (ctx == NULL) {
		cf_crypto_fail(err, "EVP_PKEY_CTX_new_from_name");
		goto out;
	}
	if (EVP_PKEY_fromdata_init(ctx) <= 0 ||
	    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0) {
		cf_crypto_fail(err, "EVP_PKEY_fromdata");
		goto out;
	}
	/* Rejects EC points off the curve and malformed RSA moduli/exponents. */
	EVP_PKEY_CTX_free(ctx);
	ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
	if (ctx == NULL || EVP_PKEY_public_check(ctx) != 1) {
		cf_crypto_fail(err, "EVP_PKEY_public_check");
		goto out;
	}
	key = cf_key_wrap(pkey, false, err);
	pkey = NULL;
out:
	EVP_PKEY_free(pkey);
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	BN_free(n);
	BN_free(e);
	free(a);
	free(b);
	return key;
}
