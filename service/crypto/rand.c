/*
 * rand.c: randomness and secret hygiene: random bytes from the OpenSSL DRBG,
 * base64url random tokens (ACME nonces of our own API, webhook secrets), a
 * constant-time compare for MACs and tokens, and freeing secret strings after
 * wiping them.
 */
#include "crypto/crypto_int.h"

#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

#include "util/b64.h"

int cf_random_bytes(void *out, size_t n)
{
	uint8_t *p = out;
	size_t chunk;

	if (out == NULL && n > 0)
		return -1;
	while (n > 0) {
		chunk = n > INT_MAX ? INT_MAX : n;
		if (RAND_bytes(p, (int)chunk) != 1) {
			ERR_clear_error();
			return -1;
		}
		p += chunk;
		n -= chunk;
	}
	return 0;
}

char *cf_random_token(size_t nbytes)
{
	uint8_t *bytes = NULL;
	char *token = NULL;

	if (nbytes == 0 || nbytes > 1024)
		goto out;
	bytes = malloc(nbytes);
	if (bytes == NULL || cf_random_bytes(bytes, nbytes) != 0)
		goto out;
	token = cf_b64url_encode(bytes, nbytes);
out:
	if (bytes)
		OPENSSL_cleanse(bytes, nbytes);
	free(bytes);
	return token;
}

bool cf_ct_equal(const void *a, size_t alen, const void *b, size_t blen)
{
	if (alen != blen)
		return false;
	if (alen == 0)
		return true;
	if (a == NULL || b == NULL)
		return false;
	return CRYPTO_memcmp(a, b, alen) == 0;
}

void cf_secret_free(char *s)
{
	if (s == NULL)
		return;
	OPENSSL_cleanse(s, strlen(s));
	free(s);
}
