/*
 * revocation.c: the RFC 5280 revocation reason table; see revocation.h.
 */
#include "api/revocation.h"

#include <string.h>
#include <strings.h>

/* RFC 5280 section 5.3.1 CRLReason names, by code; 7 is not used. */
static const char *const reason_names[CF_REVOCATION_REASON_MAX + 1] = {
	[0] = "unspecified",
	[1] = "keyCompromise",
	[2] = "cACompromise",
	[3] = "affiliationChanged",
	[4] = "superseded",
	[5] = "cessationOfOperation",
	[6] = "certificateHold",
	[8] = "removeFromCRL",
	[9] = "privilegeWithdrawn",
	[10] = "aACompromise",
};

const char *cf_revocation_reason_name(int code)
{
	return code >= 0 && code <= CF_REVOCATION_REASON_MAX ? reason_names[code] : NULL;
}

int cf_revocation_reason_code(const char *name, bool ignore_case)
{
	for (int i = 0; name != NULL && i <= CF_REVOCATION_REASON_MAX; i++)
		if (reason_names[i] != NULL && (ignore_case ? strcasecmp(name, reason_names[i])
							    : strcmp(name, reason_names[i])) == 0)
			return i;
	return -1;
}
