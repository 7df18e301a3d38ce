/*
 * acmedns.h: the pure parts of the acmedns provider (providers/acmedns.c),
 * exported for its unit tests: the TXT value check and the per-process table of
 * live values per acme-dns account. The provider itself is reached through the
 * registry as cf_provider_acmedns.
 */
#ifndef CERTFLEET_PROVIDERS_ACMEDNS_H
#define CERTFLEET_PROVIDERS_ACMEDNS_H

#include <stdbool.h>

#include "util/err.h"

/* acme-dns keeps this many TXT values per subdomain (the newest ones). */
#define CF_ACMEDNS_MAX_VALUES 2
/* A value presented and not cleaned up for this long no longer counts. */
#define CF_ACMEDNS_SLOT_TTL_S 3600

/* true when value is what acme-dns accepts: 43 characters of base64url (an
 * ACME DNS-01 digest). */
bool cf_acmedns_txt_ok(const char *value);

/* Counts value as live at account (an opaque key: API URL and subdomain) from
 * now_s on. *fresh is true when it was not live yet (the caller must write it)
 * and false when it already was (nothing to write). -1 with a permanent error
 * when CF_ACMEDNS_MAX_VALUES other values are live there. */
CF_MUST_CHECK int cf_acmedns_slot_take(const char *account, const char *value, long now_s, bool *fresh,
			 cf_err *err);
/* Stops counting value at account (nothing when it is not counted). */
void cf_acmedns_slot_drop(const char *account, const char *value);
/* How many values are live at account at now_s. */
CF_MUST_CHECK int cf_acmedns_slot_count(const char *account, long now_s);

#endif
