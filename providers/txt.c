/*
 * txt.c: TXT value quoting and the per-name lock of the API providers; see txt.h.
 *
 * The stripes are initialised once (pthread_once) and never destroyed: they live
 * as long as the process, like the providers that use them.
 */
#include "providers/txt.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#define STRING_MAX 255 /* bytes in one character-string */
#define LOCK_STRIPES 64

/* ---- quoting ---- */

/* One byte of a value, escaped when it must be. */
static int quote_byte(unsigned char ch, cf_txt_escape esc, cf_buf *out)
{
	if (ch == '"' || ch == '\\')
		return cf_buf_printf(out, "\\%c", ch);
	if (ch < 0x20 || ch > 0x7e)
		return cf_buf_printf(out, esc == CF_TXT_OCTAL ? "\\%03o" : "\\%03u", ch);
	return cf_buf_append(out, &ch, 1);
}

int cf_txt_quote(const char *value, cf_txt_escape esc, cf_buf *out)
{
	size_t len = strlen(value), off = 0, i, n;

	do {
		n = len - off > STRING_MAX ? STRING_MAX : len - off;
		if (cf_buf_append_str(out, off ? " \"" : "\"") != 0)
			return -1;
		for (i = off; i < off + n; i++)
			if (quote_byte((unsigned char)value[i], esc, out) != 0)
				return -1;
		if (cf_buf_append_str(out, "\"") != 0)
			return -1;
		off += n;
	} while (off < len);
	return 0;
}

/* The three-digit escape at p (after the backslash) in base esc: its value, or
 * -1 when p does not start with one (the backslash then escapes *p as it is), or
 * -2 when it is a decimal escape over 255 (malformed). */
static int escape_value(const char *p, cf_txt_escape esc)
{
	int v;

	if (esc == CF_TXT_OCTAL) {
		if (p[0] < '0' || p[0] > '3' || p[1] < '0' || p[1] > '7' || p[2] < '0' ||
		    p[2] > '7')
			return -1;
		return (p[0] - '0') * 64 + (p[1] - '0') * 8 + (p[2] - '0');
	}
	if (p[0] < '0' || p[0] > '9' || p[1] < '0' || p[1] > '9' || p[2] < '0' || p[2] > '9')
		return -1;
	v = (p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0');
	return v > 255 ? -2 : v;
}

int cf_txt_unquote(const char *text, cf_txt_escape esc, cf_buf *out)
{
	const char *p = text;
	unsigned char ch;
	bool quoted;
	int v;

	while (*p != '\0') {
		if (*p == ' ' || *p == '\t') {
			p++;
			continue;
		}
		quoted = *p == '"';
		p += quoted;
		while (*p != '\0' && (quoted ? *p != '"' : (*p != ' ' && *p != '\t'))) {
			ch = (unsigned char)*p++;
			if (ch == '\\') {
				if ((v = escape_value(p, esc)) == -2 || *p == '\0')
					return -1;
				if (v >= 0) {
					ch = (unsigned char)v;
					p += 3;
				} else {
					ch = (unsigned char)*p++;
				}
			}
			if (cf_buf_append(out, &ch, 1) != 0)
				return -1;
		}
		if (quoted && *p++ != '"')
			return -1; /* unterminated */
	}
	if (out->data == NULL && cf_buf_append(out, "", 0) != 0)
		return -1;
	return 0;
}

/* ---- the per-name lock ---- */

static pthread_mutex_t stripes[LOCK_STRIPES];
static pthread_once_t stripes_once = PTHREAD_ONCE_INIT;

static void stripes_init(void)
{
	for (size_t i = 0; i < LOCK_STRIPES; i++)
		pthread_mutex_init(&stripes[i], NULL);
}

pthread_mutex_t *cf_txt_name_lock(const char *name)
{
	uint32_t h = 2166136261u; /* FNV-1a over the lower-case name, no final dot */
	size_t n = strlen(name);

	pthread_once(&stripes_once, stripes_init);
	if (n > 0 && name[n - 1] == '.')
		n--;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)name[i];

		h = (h ^ (uint32_t)(ch >= 'A' && ch <= 'Z' ? ch + 32 : ch)) * 16777619u;
	}
	return &stripes[h % LOCK_STRIPES];
}
