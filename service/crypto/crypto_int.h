/*
 * crypto_int.h: what the files of service/crypto/ share and nobody else sees: the
 * layout of cf_key and the helper that turns the OpenSSL error queue into a cf_err.
 * Only the .c files of service/crypto/ include this header.
 */
#ifndef CERTFLEET_CRYPTO_INT_H
#define CERTFLEET_CRYPTO_INT_H

#include <openssl/evp.h>
#include <stdbool.h>

#include "crypto/crypto.h"

struct cf_key {
	EVP_PKEY *pkey;
	cf_key_type type; /* 0 for an RSA key of an unlisted size */
	bool has_private; /* false for keys built from a public JWK */
};

/* Sets err to "<call> failed: <first queued OpenSSL error>", empties the thread's
 * OpenSSL error queue and returns -1. */
int cf_crypto_fail(cf_err *err, const char *call);

/* Wraps an already parsed EVP_PKEY (taking ownership, also on failure): checks that
 * it is P-256, P-384 or RSA of at least 2048 bits. */
cf_key *cf_key_wrap(EVP_PKEY *pkey, bool has_private, cf_err *err);

/* PEM password callback that refuses: encrypted PEM is an error, never a prompt on
 * the service's terminal. */
int cf_pem_no_password(char *buf, int size, int rwflag, void *u);

#endif
