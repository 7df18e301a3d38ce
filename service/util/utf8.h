/*
 * utf8.h: making peer-supplied text safe for JSON.
 *
 * jansson refuses a string that is not valid UTF-8, so a log line or a problem
 * document that quotes a path, a header or a truncated message with a cut
 * multi-byte character would be lost (the log line dropped, the body empty).
 * cf_utf8_scrub replaces, in place, every byte that is not part of a valid UTF-8
 * sequence (overlong forms, surrogates and code points above U+10FFFF included)
 * with '?', so the text keeps its length and whatever is readable in it.
 */
#ifndef CERTFLEET_UTIL_UTF8_H
#define CERTFLEET_UTIL_UTF8_H

#include <stdbool.h>

/* Replaces the bytes of s that are not valid UTF-8 with '?'. Returns true when
 * something was replaced. */
bool cf_utf8_scrub(char *s);

#endif
