/*
 * utf8.c: in-place scrubbing of invalid UTF-8; see utf8.h.
 */
#include "util/utf8.h"

#include <stddef.h>
#include <stdint.h>

/* The length of the valid UTF-8 sequence at s (1-4), or 0 when s does not start
 * one (RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF). */
static size_t seq_len(const uint8_t *s)
{
	uint8_t c = s[0];

	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF)
		return (s[1] & 0xC0) == 0x80 ? 2 : 0;
	if (c >= 0xE0 && c <= 0xEF) {
		uint8_t lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;

		return s[1] >= lo && s[1] <= hi && (s[2] & 0xC0) == 0x80 ? 3 : 0;
	}
	if (c >= 0xF0 && c <= 0xF4) {
		uint8_t lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;

		return s[1] >= lo && s[1] <= hi && (s[2] & 0xC0) == 0x80 &&
		       (s[3] & 0xC0) == 0x80 ? 4 : 0;
	}
	return 0;
}

bool cf_utf8_scrub(char *str)
{
	uint8_t *s = (uint8_t *)str;
	bool changed = false;

	/* a NUL fails every continuation check, so no read goes past the end */
	while (*s != 0) {
		size_t n = seq_len(s);

		if (n == 0) {
			*s++ = '?';
			changed = true;
		} else {
			s += n;
		}
	}
	return changed;
}
