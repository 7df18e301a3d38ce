/*
 * crypto.h: the one OpenSSL facade of certfleet. Besides service/crypto/, only two
 * leaf files of util/ include an OpenSSL header, because every layer uses them and
 * util/ may not depend on crypto/: util/buf.c (OPENSSL_cleanse, behind cf_wipe()
 * and cf_buf_free_secret()) and util/b64.c (the base64 block codec). Every other
 * layer wipes secrets with cf_wipe() and reaches OpenSSL through this file; the
 * unit tests may include OpenSSL directly, to build fixtures and check this
 * facade's output independently of it. OpenSSL version differences live here alone.
 *
 * What lives here: key generation and PEM (de)serialisation for certificate keys and
 * ACME account keys; JWS signatures (ES256/ES384 as fixed-width r||s, RS256) and the
 * JWK / RFC 7638 thumbprint; HMAC-SHA256 (EAB) and SHA-256; CSRs; certificate and PEM
 * chain parsing; AES-256-GCM sealing of secrets at rest; random bytes, random tokens
 * and a constant-time compare.
 *
 * Conventions: functions return 0 / -1 (or a pointer / NULL) and fill a cf_err.
 * Returned pointers are owned by the caller. Returned buffers that hold secrets
 * (private key PEM, unsealed plaintext) must be released with cf_secret_free() or
 * cf_buf_free_secret(), which wipe them first.
 */
#ifndef CERTFLEET_CRYPTO_H
#define CERTFLEET_CRYPTO_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "util/buf.h"
#include "util/err.h"

/* ---- keys ---- */
typedef enum cf_key_type {
	CF_KEY_EC256 = 1,
	CF_KEY_EC384,
	CF_KEY_RSA2048,
	CF_KEY_RSA3072,
	CF_KEY_RSA4096,
} cf_key_type;

typedef struct cf_key cf_key; /* opaque; wraps an EVP_PKEY */

/* "ec256" "ec384" "rsa2048" "rsa3072" "rsa4096" <-> enum. Returns -1 on unknown. */
CF_MUST_CHECK int cf_key_type_parse(const char *s, cf_key_type *out);
const char *cf_key_type_name(cf_key_type t);

cf_key *cf_key_generate(cf_key_type t, cf_err *err);
/* Parses a PEM private key (PKCS#8 or traditional EC/RSA). */
cf_key *cf_key_from_pem(const char *pem, size_t len, cf_err *err);
/* PKCS#8 PEM of the private key, NUL-terminated; free with cf_secret_free(). */
char *cf_key_to_pem(const cf_key *key, cf_err *err);
/* The key's type, or 0 when it is none of the supported ones. */
cf_key_type cf_key_get_type(const cf_key *key);
/* true when both hold the same public key (used to check cert/key match). */
bool cf_key_public_equal(const cf_key *a, const cf_key *b);
void cf_key_free(cf_key *key);
/* A public-only key from a JWK ({"kty":"EC","crv":"P-256"|"P-384","x","y"} with
 * full-width coordinates, or {"kty":"RSA","n","e"}, at least 2048 bits). Rejects
 * private JWKs (with "d") and points off the curve. The result can verify, compute
 * its JWK/thumbprint and be compared, but not sign, export PEM or make a CSR. */
cf_key *cf_key_from_jwk(const json_t *jwk, cf_err *err);

/* ---- JWS / JWK ---- */
/* "ES256" (P-256), "ES384" (P-384) or "RS256" (any RSA size). */
const char *cf_jws_alg(const cf_key *key);
/* The public JWK as a new JSON object: {"crv","kty","x","y"} or {"e","kty","n"}. */
json_t *cf_jwk_public(const cf_key *key, cf_err *err);
/* RFC 7638 thumbprint: base64url(SHA-256(canonical JWK)). Caller frees. */
char *cf_jwk_thumbprint(const cf_key *key, cf_err *err);
/* Signs data for JWS with the key's alg: for EC the fixed-width r||s (64 or 96
 * bytes), not DER; for RSA PKCS#1 v1.5 with SHA-256. Appends to sig. */
CF_MUST_CHECK int cf_jws_sign(const cf_key *key, const void *data, size_t len, cf_buf *sig, cf_err *err);
/* Verifies a JWS-form signature (as cf_jws_sign makes it) over data. Returns 0 when
 * it verifies, -1 otherwise (bad signature, wrong length or error). */
CF_MUST_CHECK int cf_jws_verify(const cf_key *key, const void *data, size_t len, const void *sig,
		  size_t siglen, cf_err *err);
/* Builds a flattened JWS JSON serialisation {"protected","payload","signature"}.
 * protected_hdr is consumed neither way (the caller keeps ownership); payload may be
 * "" (POST-as-GET), not NULL. Returns a malloc'd JSON text. */
char *cf_jws_flatten(const cf_key *key, const json_t *protected_hdr, const char *payload,
		     cf_err *err);
/* HMAC-SHA256 (EAB, webhooks). out must hold 32 bytes. Returns 0 / -1. */
CF_MUST_CHECK int cf_hmac_sha256(const void *key, size_t keylen, const void *data, size_t len,
		   uint8_t out[32]);
void cf_sha256(const void *data, size_t len, uint8_t out[32]);
/* SHA-1, for protocols that still sign with it (the ovh provider's
 * X-Ovh-Signature); never for anything of certfleet's own. */
void cf_sha1(const void *data, size_t len, uint8_t out[20]);

/* ---- CSR and certificates ---- */
/* DER CSR for exactly these names (SAN dNSNames; CN = first name that fits 64
 * chars, else none), signed by key. Appends to der. */
CF_MUST_CHECK int cf_csr_der(const cf_key *key, const char *const *names, size_t n, cf_buf *der,
	       cf_err *err);

typedef struct cf_cert_info {
	char serial[128];     /* lower-case hex, no separators */
	char subject_cn[256]; /* "" when none */
	char issuer_cn[256];  /* "" when none */
	time_t not_before;
	time_t not_after;
	char **sans; /* dNSName SANs, lower-case, owned */
	size_t nsans;
	char sha256_hex[65]; /* fingerprint of the DER */
} cf_cert_info;

/* Parses the first CERTIFICATE block of a PEM text. */
CF_MUST_CHECK int cf_cert_info_from_pem(const char *pem, size_t len, cf_cert_info *out, cf_err *err);
void cf_cert_info_free(cf_cert_info *info);
/* The RFC 9773 (ARI) certificate identifier of the first certificate of pem:
 * base64url(keyIdentifier of its Authority Key Identifier) "." base64url(the
 * DER content octets of its serial number), both without padding. Caller frees;
 * NULL with err when the certificate has no AKI keyIdentifier. */
char *cf_cert_ari_id(const char *pem, size_t len, cf_err *err);
/* true when the first certificate of pem carries key's public key. */
bool cf_cert_matches_key(const char *pem, size_t len, const cf_key *key);

/* RFC 8555 section 11.4: a certificate chain download is one or more PEM blocks, all
 * "CERTIFICATE", each decodes to an X.509 certificate; anything else is rejected. On
 * success the leaf (first block) and the rest are returned as separate malloc'd PEM
 * texts (*chain is "" when there is no intermediate). Either out pointer may be NULL. */
CF_MUST_CHECK int cf_pem_chain_split(const char *pem, size_t len, char **leaf, char **chain, cf_err *err);
/* Issuer CN of the last certificate in a chain (the one closest to the root), used
 * to pick a preferred chain among alternates. Returns 0 and fills out. */
CF_MUST_CHECK int cf_pem_chain_top_issuer(const char *pem, size_t len, char *out, size_t outlen,
			    cf_err *err);

/* A chain download read once (cf_pem_chain_read): what cf_pem_chain_split,
 * cf_pem_chain_top_issuer, cf_cert_info_from_pem and cf_cert_matches_key give,
 * from one parse of each block (the worker's download needed six). */
typedef struct cf_pem_chain {
	char *leaf;             /* the first block, PEM (owned) */
	char *rest;             /* the other blocks, PEM; "" when none (owned) */
	char top_issuer[256];   /* issuer CN of the last block */
	cf_cert_info leaf_info; /* the leaf's fields */
	cf_key *leaf_key;       /* the leaf's public key (owned; cf_key_same_public) */
} cf_pem_chain;
/* Validates pem as cf_pem_chain_split does and fills out (free with
 * cf_pem_chain_free; zeroed on failure). */
CF_MUST_CHECK int cf_pem_chain_read(const char *pem, size_t len, cf_pem_chain *out, cf_err *err);
void cf_pem_chain_free(cf_pem_chain *ch);
/* true when a and b hold the same public key (either may hold nothing more). */
bool cf_key_same_public(const cf_key *a, const cf_key *b);

/* ---- sealing secrets at rest: AES-256-GCM ---- */
#define CF_SEAL_KEY_LEN 32
/* aad must not be NULL (use "" deliberately if there is nothing to bind).
 * Output blob: version byte 0x01 || 12-byte nonce || ciphertext || 16-byte tag.
 * aad binds the blob to its row (e.g. "certificate_versions:web:3:private_key"). */
CF_MUST_CHECK int cf_seal(const uint8_t key[CF_SEAL_KEY_LEN], const char *aad, const void *plain,
	    size_t len, cf_buf *out, cf_err *err);
/* Opens a blob; fails (without output) when the tag, the key or the aad do not
 * match. Plaintext goes to out; release with cf_buf_free_secret(). */
CF_MUST_CHECK int cf_unseal(const uint8_t key[CF_SEAL_KEY_LEN], const char *aad, const void *blob,
	      size_t len, cf_buf *out, cf_err *err);

/* A key for one purpose derived from the master key: HKDF-SHA-256 (RFC 5869, no
 * salt) with info naming the purpose, e.g. "certfleet token hmac v1". Keys of
 * different purposes are unrelated, so a value keyed for one (a token's stored
 * HMAC) says nothing about another. Returns 0 / -1. The caller wipes out. */
CF_MUST_CHECK int cf_derive_key(const uint8_t master[CF_SEAL_KEY_LEN], const char *info,
				uint8_t out[32]);

/* An HMAC-SHA-256 key made ready once (the algorithm fetched, the key's pads
 * hashed), for a MAC computed on every request (the token check): cf_mac_key_new
 * copies key; cf_mac_key_sha256 may run from any number of threads at once on
 * the same cf_mac_key (each call works on its own copy); cf_mac_key_free wipes
 * and frees (NULL is fine). new returns NULL on failure; sha256 returns 0 / -1. */
typedef struct cf_mac_key cf_mac_key;
cf_mac_key *cf_mac_key_new(const uint8_t key[32]);
CF_MUST_CHECK int cf_mac_key_sha256(const cf_mac_key *k, const void *data, size_t len,
				    uint8_t out[32]);
void cf_mac_key_free(cf_mac_key *k);

/* ---- random and compare ---- */
CF_MUST_CHECK int cf_random_bytes(void *out, size_t n);
/* A random string of nbytes (1..1024) of entropy, base64url, caller frees; NULL on
 * failure. */
char *cf_random_token(size_t nbytes);
/* Constant-time equality of two equal-length byte strings (false if lengths differ). */
bool cf_ct_equal(const void *a, size_t alen, const void *b, size_t blen);
/* Wipes and frees a NUL-terminated secret string. NULL is fine. */
void cf_secret_free(char *s);

#endif
