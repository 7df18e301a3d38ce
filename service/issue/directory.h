/*
 * directory.h: what the API needs to know of a CA's directory without speaking
 * ACME itself (see directory.c).
 */
#ifndef CERTFLEET_ISSUE_DIRECTORY_H
#define CERTFLEET_ISSUE_DIRECTORY_H

#include "util/err.h"

/* The profiles the directory at url offers, joined by ", " into *out ("" when it
 * offers none; caller frees), read with ca_pem as the CA's TLS trust (NULL: the
 * system's). Returns 0, or -1 with err (the directory cannot be read). Matches
 * cf_app.directory_profiles. */
int cf_issue_directory_profiles(const char *url, const char *ca_pem, char **out, cf_err *err);

#endif
