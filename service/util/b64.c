/*
 * b64.c: base64 and base64url codecs on OpenSSL's EVP_EncodeBlock/DecodeBlock;
 * see b64.h.
 */
#include "util/b64.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

char *cf_b64_encode(const void *data, size_t len)
{
	size_t olen = 4 * ((len + 2) / 3);
	char *out = malloc(olen + 1);

	if (out == NULL || len > (size_t)INT32_MAX) {
		free(out);
		return NULL;
	}
	EVP_EncodeBlock((unsigned char *)out, data, (int)len);
	out[olen] = '\0';
	return out;
}

uint8_t *cf_b64_decode(const char *s, size_t *outlen)
{
	size_t len = strlen(s), pad = 0;
	uint8_t *out;
	int n;

	const char *eq = strchr(s, '=');

	if (len % 4 != 0 || len > (size_t)INT32_MAX)
		return NULL;
	/* padding only at the end, at most two characters of it */
	if (eq != NULL && (strspn(eq, "=") != strlen(eq) || strlen(eq) > 2))
		return NULL;
	out = malloc(len / 4 * 3 + 1);
	if (out == NULL)
		return NULL;
	n = EVP_DecodeBlock(out, (const unsigned char *)s, (int)len);
	if (n < 0) {
		free(out);
		return NULL;
	}
	if (len >= 1 && s[len - 1] == '=')
		pad++;
	if (len >= 2 && s[len - 2] == '=')
		pad++;
	*outlen = (size_t)n - pad;
	return out;
}

char *cf_b64url_encode(const void *data, size_t len)
{
	char *s = cf_b64_encode(data, len);
	size_t i, n;

	if (s == NULL)
		return NULL;
	n = strlen(s);
	while (n > 0 && s[n - 1] == '=')
		s[--n] = '\0';
	for (i = 0; i < n; i++) {
		if (s[i] == '+')
			s[i] = '-';
		else if (s[i] == '/')
			s[i] = '_';
	}
	return s;
}

uint8_t *cf_b64url_decode(const char *s, size_t *outlen)
{
	size_t n = strlen(s), i, padded;
	char *t;
	uint8_t *out;

	while (n > 0 && s[n - 1] == '=')
		n--;
	if (n % 4 == 1)
		return NULL;
	padded = (n + 3) / 4 * 4;
	t = malloc(padded + 1);
	if (t == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		char c = s[i];
		if (c == '-')
			c = '+';
		else if (c == '_')
			c = '/';
		else if (c == '+' || c == '/' || c == '=') {
			free(t);
			return NULL;
		}
		t[i] = c;
	}
	for (; i < padded; i++)
		t[i] = '=';
	t[padded] = '\0';
	out = cf_b64_decode(t, outlen);
	free(t);
	return out;
}
