/*
 * txt.h: what the providers that write TXT records through an HTTP API share
 * (powerdns.c, route53.c, and the providers of the next wave):
 *
 *  - the quoting of a TXT value as zone-file text: character-strings of at most
 *    255 bytes in double quotes, separated by a blank, '"' and '\\' escaped with
 *    a backslash, bytes outside 0x20-0x7e as a backslash and three digits. The
 *    digits are decimal in RFC 1035 zone files (PowerDNS) and octal in Route 53's
 *    API: the caller names its base. Unquoting reads what such an API sends back
 *    (several strings, unquoted words, escapes) into the value they stand for.
 *  - the per-name lock: these APIs replace a name's whole rrset, so a change is a
 *    read-modify-write, and two writers to one name in one process must take
 *    turns. One process-wide set of mutex stripes, hashed by name (case
 *    ignored): names that share a stripe only wait for each other.
 */
#ifndef CERTFLEET_PROVIDERS_TXT_H
#define CERTFLEET_PROVIDERS_TXT_H

#include <pthread.h>

#include "util/buf.h"
#include "util/err.h"

/* The base of the three-digit escapes. */
typedef enum cf_txt_escape {
	CF_TXT_DECIMAL, /* \DDD, RFC 1035 section 5.1 (PowerDNS) */
	CF_TXT_OCTAL,   /* \OOO (Route 53) */
} cf_txt_escape;

/* Appends value, quoted as above, to out (an empty value gives ""). -1 when
 * memory runs out. */
CF_MUST_CHECK int cf_txt_quote(const char *value, cf_txt_escape esc, cf_buf *out);

/* Appends the value that text stands for (its strings joined, escapes undone,
 * blanks between strings dropped, unquoted words taken as they are) to out, which
 * is NUL-terminated (and allocated) even when the value is empty. A backslash not
 * followed by three digits of the base escapes the next character as it is. -1
 * when text is malformed (an unterminated string, a trailing backslash, a decimal
 * escape over 255) or memory runs out. */
CF_MUST_CHECK int cf_txt_unquote(const char *text, cf_txt_escape esc, cf_buf *out);

/* The mutex that serialises changes to name within the process (the same for
 * "A.example." and "a.example"). The caller locks and unlocks it; it lives as
 * long as the process. */
pthread_mutex_t *cf_txt_name_lock(const char *name);

#endif
