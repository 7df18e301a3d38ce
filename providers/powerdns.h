/*
 * powerdns.h: the pure parts of the powerdns provider (providers/powerdns.c),
 * exported for its unit tests: PowerDNS zone ids and API URLs, and the rrset
 * read-modify-write step (TXT content is quoted by providers/txt.h, with
 * CF_TXT_DECIMAL). The provider itself is reached
 * through the registry as cf_provider_powerdns; nothing else should call these.
 */
#ifndef CERTFLEET_PROVIDERS_POWERDNS_H
#define CERTFLEET_PROVIDERS_POWERDNS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "util/buf.h"
#include "util/err.h"

/* PowerDNS's id of a zone (apiZoneNameToId): the name with a trailing dot, every
 * character other than [A-Za-z0-9.-] written as "=XX" (upper-case hex). -1 when
 * it does not fit in outlen. */
CF_MUST_CHECK int cf_pdns_zone_id(const char *zone, char *out, size_t outlen);

/* "{base}/api/v1/servers/{server_id}/zones/{zone id}", plus
 * "?rrset_name={name}.&rrset_type=TXT" when name is not NULL (PowerDNS 4.7+
 * filters on it; older servers send the whole zone, which the caller filters
 * anyway). -1 when it does not fit. */
CF_MUST_CHECK int cf_pdns_zone_url(const char *base, const char *server_id, const char *zone,
		     const char *name, char *out, size_t outlen);

/* The TXT records at name (dots optional, case ignored) in a zone document as
 * GET zones/{id} returns it: a new array of {"content", "disabled"} objects,
 * empty when there are none. NULL only when out of memory. */
json_t *cf_pdns_txt_records(const json_t *zone_doc, const char *name);
/* true when an enabled record of records stands for value. */
bool cf_pdns_records_have(const json_t *records, const char *value);

/* The body of the PATCH that adds value to (add) or removes it from the TXT
 * rrset at name whose records are `records`, keeping every other record as it
 * is: changetype REPLACE with the new record list and ttl, or DELETE when the
 * list becomes empty. *body is NULL (and 0 returned) when nothing needs to
 * change: the value is already there (add), or already gone (remove). The
 * caller frees *body. */
CF_MUST_CHECK int cf_pdns_patch_body(const json_t *records, const char *name, long ttl, const char *value,
		       bool add, char **body, cf_err *err);

#endif
