/*
 * b64.h: base64url without padding (RFC 4648 section 5, as JWS uses it) and
 * standard base64 (TSIG secrets, PEM bodies). Thin wrappers over OpenSSL's EVP
 * encoder. Returned strings are NUL-terminated and owned by the caller (free()).
 */
#ifndef CERTFLEET_UTIL_B64_H
#define CERTFLEET_UTIL_B64_H

#include <stddef.h>
#include <stdint.h>

char *cf_b64url_encode(const void *data, size_t len);
/* Decodes base64url (padding optional). Returns malloc'd bytes and sets *outlen,
 * or NULL on bad input. */
uint8_t *cf_b64url_decode(const char *s, size_t *outlen);
char *cf_b64_encode(const void *data, size_t len);
uint8_t *cf_b64_decode(const char *s, size_t *outlen);

#endif
