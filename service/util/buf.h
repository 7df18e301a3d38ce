/*
 * buf.h: a growable byte buffer with an optional size cap.
 *
 * Used for HTTP response bodies (the cap bounds what a peer can make us hold),
 * DER/PEM blobs and string building. The data is always NUL-terminated (the NUL is
 * not counted in len), so text can be used as a C string. cf_buf_free_secret()
 * wipes the bytes before freeing, for keys and credentials; cf_wipe() wipes any
 * other memory that held a secret (OPENSSL_cleanse, which the compiler cannot
 * drop, so that no layer above util/ and crypto/ needs an OpenSSL header).
 */
#ifndef CERTFLEET_UTIL_BUF_H
#define CERTFLEET_UTIL_BUF_H

#include <stddef.h>
#include <stdint.h>

typedef struct cf_buf {
	uint8_t *data; /* owned; NULL until the first append */
	size_t len;
	size_t cap;
	size_t max; /* 0 = unlimited; appends beyond it fail */
} cf_buf;

/* Appends n bytes. Returns 0, or -1 when memory runs out or max would be exceeded. */
int cf_buf_append(cf_buf *b, const void *p, size_t n);
int cf_buf_append_str(cf_buf *b, const char *s);
int cf_buf_printf(cf_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Hands the data over to the caller (who frees it) and resets the buffer. */
char *cf_buf_steal(cf_buf *b);
void cf_buf_reset(cf_buf *b);
void cf_buf_free(cf_buf *b);
void cf_buf_free_secret(cf_buf *b);
/* Overwrites n bytes at p with zeros in a way the compiler cannot optimise away.
 * p may be NULL when n is 0. */
void cf_wipe(void *p, size_t n);

#endif
