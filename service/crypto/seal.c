/*
 * seal.c: AES-256-GCM sealing of secrets at rest (private keys, provider
 * credentials). A blob is 0x01 || 12-byte random nonce || ciphertext || 16-byte
 * tag; the additional authenticated data names the row and column the blob belongs
 * to, so a blob copied into another row fails to open. Plaintext never leaves
 * cf_unseal unless the tag verified.
 *
 * Keys for other purposes than sealing (the token HMAC, the Idempotency-Key
 * fingerprint) are derived from the master key with HKDF (cf_derive_key), never
 * the master key itself. A cf_mac_key holds such a key ready for an HMAC on every
 * request: the algorithm is fetched once, and each MAC works on a copy of the
 * keyed context.
 */
#include "crypto/crypto_int.h"

#include <limits.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

#define SEAL_VERSION 0x01
#define SEAL_NONCE_LEN 12
#define SEAL_TAG_LEN 16
#define SEAL_OVERHEAD (1 + SEAL_NONCE_LEN + SEAL_TAG_LEN)

int cf_seal(const uint8_t key[CF_SEAL_KEY_LEN], const char *aad, const void *plain,
	    size_t len, cf_buf *out, cf_err *err)
{
	EVP_CIPHER_CTX *ctx = NULL;
	uint8_t *blob = NULL, *nonce, *ct;
	size_t bloblen = 0;
	int n, rc = -1;

	if (key == NULL || aad == NULL || (plain == NULL && len > 0) ||
	    len > INT_MAX - SEAL_OVERHEAD) {
		cf_err_set(err, CF_ERR_PERMANENT, "cf_seal: missing key, aad or plaintext");
		goto out;
	}
	bloblen = SEAL_OVERHEAD + len;
	blob = malloc(bloblen);
	if (blob == NULL) {
		cf_err_oom(err, NULL);
		goto out;
	}
	blob[0] = SEAL_VERSION;
	nonce = blob + 1;
	ct = nonce + SEAL_NONCE_LEN;
	if (RAND_bytes(nonce, SEAL_NONCE_LEN) != 1) {
		cf_crypto_fail(err, "RAND_bytes");
		goto out;
	}
	ctx = EVP_CIPHER_CTX_new();
	if (ctx == NULL) {
		cf_crypto_fail(err, "EVP_CIPHER_CTX_new");
		goto out;
	}
	/* 12 bytes is the default GCM IV length, so no EVP_CTRL_GCM_SET_IVLEN. */
	if (EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, nonce) != 1) {
		cf_crypto_fail(err, "EVP_EncryptInit_ex");
		goto out;
	}
	if (EVP_EncryptUpdate(ctx, NULL, &n, (const uint8_t *)aad, (int)strlen(aad)) != 1) {
		cf_crypto_fail(err, "EVP_EncryptUpdate(aad)");
		goto out;
	}
	if (len > 0 && EVP_EncryptUpdate(ctx, ct, &n, plain, (int)len) != 1) {
		cf_crypto_fail(err, "EVP_EncryptUpdate");
		goto out;
	}
	if (EVP_EncryptFinal_ex(ctx, ct + len, &n) != 1) {
		cf_crypto_fail(err, "EVP_EncryptFinal_ex");
		goto out;
	}
	if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, SEAL_TAG_LEN, ct + len) != 1) {
		cf_crypto_fail(err, "EVP_CIPHER_CTX_ctrl(GET_TAG)");
		goto out;
	}
	if (cf_buf_append(out, blob, bloblen) != 0) {
		cf_err_oom(err, NULL);
		goto out;
	}
	rc = 0;
out:
	EVP_CIPHER_CTX_free(ctx);
	free(blob);
	return rc;
}

int cf_unseal(const uint8_t key[CF_SEAL_KEY_LEN], const char *aad, const void *blob,
	      size_t len, cf_buf *out, cf_err *err)
{
	EVP_CIPHER_CTX *ctx = NULL;
	const uint8_t *b = blob, *nonce, *ct, *tag;
	uint8_t *plain = NULL;
	size_t ctlen = 0;
	int n, rc = -1;

	if (key == NULL || aad == NULL || blob == NULL) {
		cf_err_set(err, CF_ERR_PERMANENT, "cf_unseal: missing key, aad or blob");
		goto out;
	}
	if (len < SEAL_OVERHEAD || len > INT_MAX) {
		cf_err_set(err, CF_ERR_PERMANENT,
			   "sealed blob has a bad length (%zu bytes)", len);
		goto out;
	}
	if (b[0] != SEAL_VERSION) {
		cf_err_set(err, CF_ERR_PERMANENT, "sealed blob has unknown version %u",
			   (unsigned)b[0]);
		goto out;
	}
	nonce = b + 1;
	ct = nonce + SEAL_NONCE_LEN;
	ctlen = len - SEAL_OVERHEAD;
	tag = ct + ctlen;
	plain = malloc(ctlen + 1);
	if (plain == NULL) {
		cf_err_oom(err, NULL);
		goto out;
	}
	ctx = EVP_CIPHER_CTX_new();
	if (ctx == NULL) {
		cf_crypto_fail(err, "EVP_CIPHER_CTX_new");
		goto out;
	}
	if (EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, nonce) != 1) {
		cf_crypto_fail(err, "EVP_DecryptInit_ex");
		goto out;
	}
	if (EVP_DecryptUpdate(ctx, NULL, &n, (const uint8_t *)aad, (int)strlen(aad)) != 1) {
		cf_crypto_fail(err, "EVP_DecryptUpdate(aad)");
		goto out;
	}
	if (ctlen > 0 && EVP_DecryptUpdate(ctx, plain, &n, ct, (int)ctlen) != 1) {
		cf_crypto_fail(err, "EVP_DecryptUpdate");
		goto out;
	}
	if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, SEAL_TAG_LEN, (void *)tag) !=
	    1) {
		cf_crypto_fail(err, "EVP_CIPHER_CTX_ctrl(SET_TAG)");
		goto out;
	}
	if (EVP_DecryptFinal_ex(ctx, plain + ctlen, &n) != 1) {
		ERR_clear_error();
		cf_err_set(err, CF_ERR_PERMANENT,
			   "EVP_DecryptFinal_ex failed: sealed blob does not authenticate "
			   "(wrong key, wrong aad or tampered)");
		goto out;
	}
	if (cf_buf_append(out, plain, ctlen) != 0) {
		cf_err_oom(err, NULL);
		goto out;
	}
	rc = 0;
out:
	if (plain)
		OPENSSL_cleanse(plain, ctlen + 1);
	free(plain);
	EVP_CIPHER_CTX_free(ctx);
	return rc;
}

int cf_derive_key(const uint8_t master[CF_SEAL_KEY_LEN], const char *info, uint8_t out[32])
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, NULL);
	size_t outlen = 32;
	int rc = -1;

	if (ctx == NULL || master == NULL || info == NULL)
		goto out;
	if (EVP_PKEY_derive_init(ctx) <= 0 ||
	    EVP_PKEY_CTX_set_hkdf_md(ctx, EVP_sha256()) <= 0 ||
	    EVP_PKEY_CTX_set1_hkdf_key(ctx, master, CF_SEAL_KEY_LEN) <= 0 ||
	    EVP_PKEY_CTX_add1_hkdf_info(ctx, (const unsigned char *)info,
					(int)strlen(info)) <= 0 ||
	    EVP_PKEY_derive(ctx, out, &outlen) <= 0 || outlen != 32)
		goto out;
	rc = 0;
out:
	if (rc != 0) {
		cf_wipe(out, 32);
		ERR_clear_error();
	}
	EVP_PKEY_CTX_free(ctx);
	return rc;
}

struct cf_mac_key {
	EVP_MAC_CTX *tmpl; /* keyed; only ever duplicated, never updated */
};

cf_mac_key *cf_mac_key_new(const uint8_t key[32])
{
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
		OSSL_PARAM_construct_end(),
	};
	EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	cf_mac_key *k = calloc(1, sizeof(*k));

	if (mac == NULL || k == NULL || (k->tmpl = EVP_MAC_CTX_new(mac)) == NULL ||
	    EVP_MAC_init(k->tmpl, key, 32, params) != 1) {
		cf_mac_key_free(k);
		k = NULL;
		ERR_clear_error();
	}
	EVP_MAC_free(mac); /* the context keeps its own reference */
	return k;
}

int cf_mac_key_sha256(const cf_mac_key *k, const void *data, size_t len, uint8_t out[32])
{
	static const uint8_t empty[1];
	EVP_MAC_CTX *c = k != NULL ? EVP_MAC_CTX_dup(k->tmpl) : NULL;
	size_t outlen = 0;
	int rc = -1;

	if (c != NULL && EVP_MAC_update(c, len ? data : empty, len) == 1 &&
	    EVP_MAC_final(c, out, &outlen, 32) == 1 && outlen == 32)
		rc = 0;
	if (rc != 0)
		ERR_clear_error();
	EVP_MAC_CTX_free(c); /* wipes the copy of the keyed state */
	return rc;
}

void cf_mac_key_free(cf_mac_key *k)
{
	if (k == NULL)
		return;
	EVP_MAC_CTX_free(k->tmpl);
	free(k);
}
