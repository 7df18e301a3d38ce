/*
 * revocation.h: the revocation reasons of RFC 5280 section 5.3.1 (CRLReason), by
 * code and by name, in one table shared by the admin API (POST .../revoke,
 * http/h_versions.c) and the CLI (`certfleet revoke --reason`, cmd/revoke_cmd.c).
 * Code 7 is not assigned; 0-10 otherwise. Pure functions, no state.
 */
#ifndef CERTFLEET_API_REVOCATION_H
#define CERTFLEET_API_REVOCATION_H

#include <stdbool.h>

/* The highest reason code (aACompromise). */
#define CF_REVOCATION_REASON_MAX 10

/* The name of code ("keyCompromise" for 1), or NULL when code is not a reason
 * (7, or outside 0-CF_REVOCATION_REASON_MAX). Static storage. */
const char *cf_revocation_reason_name(int code);

/* The code of name, compared exactly or, with ignore_case, in any case; -1 when
 * name is not a reason (or NULL). */
int cf_revocation_reason_code(const char *name, bool ignore_case);

#endif
