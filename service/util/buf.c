/*
 * buf.c: growable byte buffer; see buf.h.
 */
#include "util/buf.h"

#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int reserve(cf_buf *b, size_t extra)
{
	size_t need, ncap;
	uint8_t *p;

	if (extra > SIZE_MAX - b->len - 1)
		return -1;
	need = b->len + extra + 1;
	if (b->max && b->len + extra > b->max)
		return -1;
	if (need <= b->cap)
		return 0;
	ncap = b->cap ? b->cap : 256;
	while (ncap < need)
		ncap *= 2;
	p = realloc(b->data, ncap);
	if (p == NULL)
		return -1;
	b->data = p;
	b->cap = ncap;
	return 0;
}

int cf_buf_append(cf_buf *b, const void *p, size_t n)
{
	if (reserve(b, n) != 0)
		return -1;
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

int cf_buf_append_str(cf_buf *b, const char *s)
{
	return cf_buf_append(b, s, strlen(s));
}

int cf_buf_printf(cf_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || reserve(b, (size_t)n) != 0)
		return -1;
	va_start(ap, fmt);
	vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

char *cf_buf_steal(cf_buf *b)
{
	char *p;

	if (b->data == NULL && cf_buf_append(b, "", 0) != 0)
		return NULL;
	p = (char *)b->data;
	b->data = NULL;
	b->len = b->cap = 0;
	return p;
}

void cf_buf_reset(cf_buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

void cf_buf_free(cf_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

void cf_wipe(void *p, size_t n)
{
	if (p != NULL && n > 0)
		OPENSSL_cleanse(p, n);
}

void cf_buf_free_secret(cf_buf *b)
{
	if (b->data)
		cf_wipe(b->data, b->cap);
	cf_buf_free(b);
}
