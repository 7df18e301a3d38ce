/*
 * route53.h: the wire format of the route53 provider (providers/route53_xml.c),
 * pure functions exported for providers/route53.c and its unit tests: a small
 * strict XML reader, the ChangeResourceRecordSets body, and the few answers the provider reads
 * (ListHostedZonesByName, ListResourceRecordSets, ChangeInfo, errors). The
 * provider itself is reached through the registry as cf_provider_route53;
 * nothing else should call these. TXT values are quoted by providers/txt.h
 * (CF_TXT_OCTAL, Route 53's presentation form).
 */
#ifndef CERTFLEET_PROVIDERS_ROUTE53_H
#define CERTFLEET_PROVIDERS_ROUTE53_H

#include <stdbool.h>
#include <stddef.h>

#include "util/buf.h"
#include "util/err.h"

#define CF_R53_XMLNS "https://route53.amazonaws.com/doc/2013-04-01/"
#define CF_R53_ID_MAX 64

/* ---- XML ---- */

/* An element: its local name (prefix dropped), its text (the decoded character
 * data directly inside it, "" when none) and its children. Attributes are read
 * and dropped. Owned by the tree's root. */
typedef struct cf_xml {
	char *name;
	char *text;
	struct cf_xml *child; /* first child */
	struct cf_xml *next;  /* next sibling */
} cf_xml;

/* Parses one document: an optional <?xml ...?> prolog, comments, and exactly one
 * root element. Refuses DOCTYPE (no entities beyond the five predefined ones and
 * character references), CDATA, processing instructions inside, mismatched
 * tags, nesting deeper than 32 and more than 20000 elements. NULL with a
 * permanent error on malformed input. */
cf_xml *cf_xml_parse(const char *text, size_t len, cf_err *err);
void cf_xml_free(cf_xml *x);
/* The first descendant along path ("A/B/C", each step the first child of that
 * name), or NULL. */
const cf_xml *cf_xml_get(const cf_xml *x, const char *path);
/* The text of cf_xml_get(x, path), or NULL when absent. */
const char *cf_xml_text(const cf_xml *x, const char *path);
/* The next sibling of x (or x itself when self) named name, or NULL. */
const cf_xml *cf_xml_next(const cf_xml *x, const char *name, bool self);
/* Appends s with & < > " ' escaped. Returns 0 / -1. */
CF_MUST_CHECK int cf_xml_escape(cf_buf *b, const char *s);

/* ---- requests and answers ---- */

/* A TXT rrset as read back: found, its TTL, its Value texts verbatim. */
typedef struct cf_r53_rrset {
	bool found;
	long ttl;
	char **values; /* owned, n entries */
	size_t n;
} cf_r53_rrset;

void cf_r53_rrset_free(cf_r53_rrset *r);
/* true when the rrset holds value (a Value text whose unquoted form is value). */
bool cf_r53_rrset_has(const cf_r53_rrset *r, const char *value);

/* The body of ChangeResourceRecordSets with one change: action ("UPSERT",
 * "DELETE", "CREATE") of the TXT rrset at name (a trailing dot is added) with
 * ttl and the Value texts values[0..n). Caller frees; NULL when out of memory. */
char *cf_r53_change_body(const char *action, const char *name, long ttl,
			 const char *const *values, size_t n, const char *comment);

/* One change of a batch: action of the TXT rrset at name with ttl and the Value
 * texts values[0..n) (borrowed). */
typedef struct cf_r53_change {
	const char *action;
	const char *name;
	long ttl;
	const char *const *values;
	size_t n;
} cf_r53_change;

/* The body of ChangeResourceRecordSets with the changes ch[0..nch), applied by
 * Route 53 all or none. Caller frees; NULL when out of memory. */
char *cf_r53_changes_body(const cf_r53_change *ch, size_t nch, const char *comment);

/* From a ListResourceRecordSets answer: the TXT rrset at exactly name, or
 * found = false when the first rrset listed is another one. -1 (permanent) when
 * the answer is malformed or the rrset uses a routing policy (SetIdentifier). */
CF_MUST_CHECK int cf_r53_parse_rrset(const cf_xml *doc, const char *name, cf_r53_rrset *out, cf_err *err);
/* From a ListHostedZonesByName answer: the id (without "/hostedzone/") of the one
 * public zone named exactly name. 1 found, 0 none, -1 when there are several
 * (the error asks for hosted_zone_id) or the answer is malformed. */
CF_MUST_CHECK int cf_r53_parse_zone(const cf_xml *doc, const char *name, char id[CF_R53_ID_MAX + 1],
		      cf_err *err);
/* From a ChangeResourceRecordSets or GetChange answer: the change id (without
 * "/change/") and its status ("PENDING", "INSYNC"). -1 when malformed. */
CF_MUST_CHECK int cf_r53_parse_change(const cf_xml *doc, char id[CF_R53_ID_MAX + 1], char *status,
			size_t status_len, cf_err *err);
/* A Route 53 id ("Z1D633PJN98FT9", "/hostedzone/Z1..." or "/change/C2...") with
 * its prefix dropped, checked to be [A-Za-z0-9]{1,64}. -1 when it is not. */
CF_MUST_CHECK int cf_r53_id(const char *text, char out[CF_R53_ID_MAX + 1]);

/* Fills err from an error answer: "route53: <what>: HTTP <status> <Code>:
 * <Message>" (an <ErrorResponse>, or an <InvalidChangeBatch> with its
 * messages). Class: Throttling, PriorRequestNotComplete, 429 and 5xx are
 * transient; the rest permanent. *code gets the error code ("" when none).
 * Returns -1. */
int cf_r53_error(long status, const char *body, size_t len, const char *what, char *code,
		 size_t code_len, cf_err *err);

#endif
