/*
 * route53_xml.c: the wire format of the route53 provider (REST-XML, API version
 * 2013-04-01); see route53.h. No network here: these functions build request
 * bodies and read answers, and the unit tests drive them directly.
 *
 * The XML reader is deliberately small and strict, for the answers of one API:
 * elements, attributes (read and dropped; Route 53 sends only xmlns), character
 * data with the five predefined entities and character references, comments.
 * Anything else (DOCTYPE, CDATA, processing instructions after the prolog,
 * unknown entities, mismatched tags) is an error rather than a guess, and the
 * tree is bounded in depth and size. Every string is malloc'd and owned by the
 * tree, released by cf_xml_free().
 *
 * TXT values follow Route 53's presentation rule, which differs from a zone file
 * in one point: a byte outside printable ASCII is escaped as a backslash and
 * three OCTAL digits (cf_txt_quote with CF_TXT_OCTAL, providers/txt.c).
 */
#include "providers/route53.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dns/dns.h"
#include "providers/txt.h"
#include "util/http_client.h"

#define XML_MAX_DEPTH 32
#define XML_MAX_NODES 20000
#define MSG_MAX 300

typedef struct parser {
	const char *p, *end, *start;
	int depth;
	size_t nodes;
	cf_err *err;
} parser;

/* ---- the reader ---- */

static int fail(parser *ps, const char *what)
{
	return cf_err_set(ps->err, CF_ERR_PERMANENT, "route53: malformed XML answer: %s at byte %zu",
			  what, (size_t)(ps->p - ps->start));
}

static bool at(const parser *ps, const char *lit)
{
	size_t n = strlen(lit);

	return (size_t)(ps->end - ps->p) >= n && memcmp(ps->p, lit, n) == 0;
}

static void skip_ws(parser *ps)
{
	while (ps->p < ps->end &&
	       (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\r' || *ps->p == '\n'))
		ps->p++;
}

/* Moves past the next occurrence of lit; -1 when there is none. */
static int skip_past(parser *ps, const char *lit)
{
	size_t n = strlen(lit);

	for (; ps->p + n <= ps->end; ps->p++)
		if (memcmp(ps->p, lit, n) == 0) {
			ps->p += n;
			return 0;
		}
	return -1;
}

/* Blanks and comments (and, in the prolog, processing instructions). */
static int skip_misc(parser *ps, bool prolog)
{
	for (;;) {
		skip_ws(ps);
		if (at(ps, "<!--")) {
			if (skip_past(ps, "-->") != 0)
				return fail(ps, "unterminated comment");
		} else if (prolog && at(ps, "<?")) {
			if (skip_past(ps, "?>") != 0)
				return fail(ps, "unterminated declaration");
		} else if (at(ps, "<!")) {
			return fail(ps, "DOCTYPE or CDATA not accepted");
		} else {
			return 0;
		}
	}
}

static bool name_char(char c, bool first)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
	       (!first && ((c >= '0' && c <= '9') || c == '-' || c == '.'));
}

/* Reads a name; *q and *qlen give the qualified name in the input. */
static int read_name(parser *ps, const char **q, size_t *qlen)
{
	const char *s = ps->p;

	if (ps->p >= ps->end || !name_char(*ps->p, true))
		return fail(ps, "expected a name");
	while (ps->p < ps->end && name_char(*ps->p, false))
		ps->p++;
	*q = s;
	*qlen = (size_t)(ps->p - s);
	return 0;
}

static int put_utf8(cf_buf *b, unsigned long cp)
{
	unsigned char u[4];
	size_t n;

	if (cp < 0x80) {
		u[0] = (unsigned char)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (unsigned char)(0xc0 | (cp >> 6));
		u[1] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = (unsigned char)(0xe0 | (cp >> 12));
		u[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		u[2] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		u[0] = (unsigned char)(0xf0 | (cp >> 18));
		u[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
		u[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		u[3] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	return cf_buf_append(b, u, n);
}

/* Decodes character data up to the next '<' (or the end of an attribute value
 * at quote when quote != 0) into out. */
static int read_chars(parser *ps, char quote, cf_buf *out)
{
	static const struct {
		const char *ent;
		char c;
	} ents[] = { { "&lt;", '<' }, { "&gt;", '>' }, { "&amp;", '&' },
		     { "&quot;", '"' }, { "&apos;", '\'' } };
	size_t i;

	while (ps->p < ps->end && *ps->p != '<' && !(quote && *ps->p == quote)) {
		if (*ps->p != '&') {
			if (cf_buf_append(out, ps->p++, 1) != 0)
				return fail(ps, "out of memory");
			continue;
		}
		for (i = 0; i < sizeof(ents) / sizeof(ents[0]) && !at(ps, ents[i].ent); i++)
			;
		if (i < sizeof(ents) / sizeof(ents[0])) {
			ps->p += strlen(ents[i].ent);
			if (cf_buf_append(out, &ents[i].c, 1) != 0)
				return fail(ps, "out of memory");
		} else if (at(ps, "&#")) {
			bool hex = ps->p + 2 < ps->end && ps->p[2] == 'x';
			char *endp = NULL;
			unsigned long cp;

			ps->p += hex ? 3 : 2;
			cp = strtoul(ps->p, &endp, hex ? 16 : 10);
			if (endp == ps->p || endp >= ps->end || *endp != ';' || cp == 0 ||
			    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
				return fail(ps, "bad character reference");
			ps->p = endp + 1;
			if (put_utf8(out, cp) != 0)
				return fail(ps, "out of memory");
		} else {
			return fail(ps, "unknown entity");
		}
	}
	if (quote && (ps->p >= ps->end || *ps->p != quote))
		return fail(ps, "unterminated attribute value");
	return 0;
}

static cf_xml *node_new(const char *q, size_t qlen)
{
	cf_xml *x = calloc(1, sizeof(*x));
	const char *colon = memchr(q, ':', qlen);

	if (x == NULL)
		return NULL;
	if (colon != NULL) { /* the local name */
		qlen -= (size_t)(colon + 1 - q);
		q = colon + 1;
	}
	x->name = strndup(q, qlen);
	if (x->name == NULL) {
		free(x);
		return NULL;
	}
	return x;
}

/* Reads attributes up to '>' or "/>"; *empty tells which. */
static int read_attrs(parser *ps, bool *empty)
{
	cf_buf junk = { 0 };
	const char *q;
	size_t qlen;
	char quote;

	for (;;) {
		skip_ws(ps);
		if (at(ps, "/>") || at(ps, ">")) {
			*empty = at(ps, "/>");
			ps->p += *empty ? 2 : 1;
			cf_buf_free(&junk);
			return 0;
		}
		if (read_name(ps, &q, &qlen) != 0)
			break;
		skip_ws(ps);
		if (!at(ps, "=")) {
			fail(ps, "expected '=' after an attribute name");
			break;
		}
		ps->p++;
		skip_ws(ps);
		if (!at(ps, "\"") && !at(ps, "'")) {
			fail(ps, "expected a quoted attribute value");
			break;
		}
		quote = *ps->p++;
		if (read_chars(ps, quote, &junk) != 0)
			break;
		ps->p++; /* the closing quote */
		cf_buf_reset(&junk);
	}
	cf_buf_free(&junk);
	return -1;
}

/* Reads one element (ps->p at its '<') into *out. */
static int read_element(parser *ps, cf_xml **out)
{
	cf_buf text = { 0 };
	cf_xml *x = NULL, **tail;
	const char *q, *eq;
	size_t qlen, eqlen;
	bool empty = false;

	*out = NULL;
	if (++ps->depth > XML_MAX_DEPTH || ++ps->nodes > XML_MAX_NODES)
		return fail(ps, "document too deep or too large");
	ps->p++; /* '<' */
	if (read_name(ps, &q, &qlen) != 0)
		return -1;
	if ((x = node_new(q, qlen)) == NULL)
		return fail(ps, "out of memory");
	tail = &x->child;
	if (read_attrs(ps, &empty) != 0)
		goto fail;
	while (!empty) {
		if (ps->p >= ps->end) {
			fail(ps, "unterminated element");
			goto fail;
		}
		if (at(ps, "</")) {
			ps->p += 2;
			if (read_name(ps, &eq, &eqlen) != 0)
				goto fail;
			skip_ws(ps);
			if (eqlen != qlen || memcmp(eq, q, qlen) != 0 || !at(ps, ">")) {
				fail(ps, "mismatched end tag");
				goto fail;
			}
			ps->p++;
			break;
		}
		if (at(ps, "<!--")) {
			if (skip_past(ps, "-->") != 0) {
				fail(ps, "unterminated comment");
				goto fail;
			}
		} else if (at(ps, "<!") || at(ps, "<?")) {
			fail(ps, "CDATA, DOCTYPE or processing instruction not accepted");
			goto fail;
		} else if (at(ps, "<")) {
			if (read_element(ps, tail) != 0)
				goto fail;
			tail = &(*tail)->next;
		} else if (read_chars(ps, 0, &text) != 0) {
			goto fail;
		}
	}
	x->text = text.data ? cf_buf_steal(&text) : strdup("");
	if (x->text == NULL) {
		fail(ps, "out of memory");
		goto fail;
	}
	ps->depth--;
	*out = x;
	return 0;
fail:
	cf_buf_free(&text);
	cf_xml_free(x);
	return -1;
}

cf_xml *cf_xml_parse(const char *text, size_t len, cf_err *err)
{
	parser ps = { .p = text, .end = text + len, .start = text, .err = err };
	cf_xml *root = NULL;

	if (text == NULL) {
		cf_err_set(err, CF_ERR_PERMANENT, "route53: empty answer where XML was expected");
		return NULL;
	}
	if (at(&ps, "\xef\xbb\xbf"))
		ps.p += 3;
	if (skip_misc(&ps, true) != 0)
		return NULL;
	if (!at(&ps, "<")) {
		fail(&ps, "no root element");
		return NULL;
	}
	if (read_element(&ps, &root) != 0)
		return NULL;
	if (skip_misc(&ps, false) != 0 || ps.p != ps.end) {
		if (ps.p != ps.end)
			fail(&ps, "content after the root element");
		cf_xml_free(root);
		return NULL;
	}
	return root;
}

void cf_xml_free(cf_xml *x)
{
	while (x != NULL) {
		cf_xml *next = x->next;

		cf_xml_free(x->child);
		free(x->name);
		free(x->text);
		free(x);
		x = next;
	}
}

const cf_xml *cf_xml_next(const cf_xml *x, const char *name, bool self)
{
	for (x = (x && !self) ? x->next : x; x != NULL; x = x->next)
		if (strcmp(x->name, name) == 0)
			return x;
	return NULL;
}

const cf_xml *cf_xml_get(const cf_xml *x, const char *path)
{
	char step[64];
	size_t n;

	while (x != NULL && *path != '\0') {
		n = strcspn(path, "/");
		if (n >= sizeof(step))
			return NULL;
		memcpy(step, path, n);
		step[n] = '\0';
		x = cf_xml_next(x->child, step, true);
		path += n + (path[n] == '/');
	}
	return x;
}

const char *cf_xml_text(const cf_xml *x, const char *path)
{
	const cf_xml *e = cf_xml_get(x, path);

	return e ? e->text : NULL;
}

int cf_xml_escape(cf_buf *b, const char *s)
{
	for (; *s != '\0'; s++) {
		const char *e = *s == '&' ? "&amp;" : *s == '<' ? "&lt;" : *s == '>' ? "&gt;"
			      : *s == '"' ? "&quot;" : *s == '\'' ? "&apos;" : NULL;

		if (e ? cf_buf_append_str(b, e) != 0 : cf_buf_append(b, s, 1) != 0)
			return -1;
	}
	return 0;
}

/* ---- requests and answers ---- */

void cf_r53_rrset_free(cf_r53_rrset *r)
{
	size_t i;

	if (r == NULL)
		return;
	for (i = 0; i < r->n; i++)
		free(r->values[i]);
	free(r->values);
	memset(r, 0, sizeof(*r));
}

bool cf_r53_rrset_has(const cf_r53_rrset *r, const char *value)
{
	cf_buf b = { 0 };
	bool found = false;
	size_t i;

	for (i = 0; i < r->n && !found; i++) {
		cf_buf_reset(&b);
		found = cf_txt_unquote(r->values[i], CF_TXT_OCTAL, &b) == 0 && b.data != NULL &&
			b.len == strlen(value) && memcmp(b.data, value, b.len) == 0;
	}
	cf_buf_free(&b);
	return found;
}

char *cf_r53_change_body(const char *action, const char *name, long ttl,
			 const char *const *values, size_t n, const char *comment)
{
	cf_r53_change ch = { action, name, ttl, values, n };

	return cf_r53_changes_body(&ch, 1, comment);
}

char *cf_r53_changes_body(const cf_r53_change *ch, size_t nch, const char *comment)
{
	size_t nl, i, c;
	cf_buf b = { 0 };
	int rc;

	rc = cf_buf_printf(&b,
			   "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
			   "<ChangeResourceRecordSetsRequest xmlns=\"%s\"><ChangeBatch><Comment>",
			   CF_R53_XMLNS);
	rc = rc ? rc : cf_xml_escape(&b, comment ? comment : "certfleet");
	rc = rc ? rc : cf_buf_append_str(&b, "</Comment><Changes>");
	for (c = 0; c < nch && rc == 0; c++) {
		nl = strlen(ch[c].name);
		rc = cf_buf_printf(&b, "<Change><Action>%s</Action><ResourceRecordSet><Name>",
				   ch[c].action);
		rc = rc ? rc : cf_xml_escape(&b, ch[c].name);
		rc = rc ? rc : cf_buf_printf(&b, "%s</Name><Type>TXT</Type><TTL>%ld</TTL>"
						 "<ResourceRecords>",
					     nl > 0 && ch[c].name[nl - 1] == '.' ? "" : ".",
					     ch[c].ttl);
		for (i = 0; i < ch[c].n && rc == 0; i++) {
			rc = cf_buf_append_str(&b, "<ResourceRecord><Value>");
			rc = rc ? rc : cf_xml_escape(&b, ch[c].values[i]);
			rc = rc ? rc : cf_buf_append_str(&b, "</Value></ResourceRecord>");
		}
		rc = rc ? rc : cf_buf_append_str(&b, "</ResourceRecords></ResourceRecordSet>"
						     "</Change>");
	}
	rc = rc ? rc : cf_buf_append_str(&b, "</Changes></ChangeBatch>"
					     "</ChangeResourceRecordSetsRequest>\n");
	if (rc != 0) {
		cf_buf_free(&b);
		return NULL;
	}
	return cf_buf_steal(&b);
}

/* A name as Route 53 lists it (octal escapes such as \052 for '*') compared
 * with ours, ignoring case and a trailing dot. */
static bool r53_name_equal(const char *listed, const char *name)
{
	char plain[CF_NAME_MAX + 2];
	size_t o = 0;
	const char *p;

	for (p = listed; *p != '\0' && o + 1 < sizeof(plain); o++) {
		if (p[0] == '\\' && p[1] >= '0' && p[1] <= '3' && p[2] >= '0' && p[2] <= '7' &&
		    p[3] >= '0' && p[3] <= '7') {
			plain[o] = (char)((p[1] - '0') * 64 + (p[2] - '0') * 8 + (p[3] - '0'));
			p += 4;
		} else {
			plain[o] = *p++;
		}
	}
	plain[o] = '\0';
	return *p == '\0' && cf_name_equal(plain, name);
}

int cf_r53_parse_rrset(const cf_xml *doc, const char *name, cf_r53_rrset *out, cf_err *err)
{
	const cf_xml *rs = cf_xml_get(doc, "ResourceRecordSets/ResourceRecordSet"), *rr;
	const char *n, *t, *ttl;
	char *end = NULL, **v;

	memset(out, 0, sizeof(*out));
	if (doc == NULL || strcmp(doc->name, "ListResourceRecordSetsResponse") != 0)
		return cf_err_set(err, CF_ERR_PERMANENT,
				  "route53: ListResourceRecordSets: unexpected answer <%s>",
				  doc ? doc->name : "");
	if (rs == NULL)
		return 0;
	n = cf_xml_text(rs, "Name");
	t = cf_xml_text(rs, "Type");
	if (n == NULL || t == NULL || !r53_name_equal(n, name) || strcmp(t, "TXT") != 0)
		return 0;
	if (cf_xml_get(rs, "SetIdentifier") != NULL)
		return cf_err_set(err, CF_ERR_PERMANENT,
				  "route53: the TXT rrset at %s uses a routing policy "
				  "(SetIdentifier): not supported for challenge records",
				  name);
	ttl = cf_xml_text(rs, "TTL");
	out->ttl = ttl ? strtol(ttl, &end, 10) : -1;
	if (ttl == NULL || *end != '\0' || out->ttl < 0)
		return cf_err_set(err, CF_ERR_PERMANENT, "route53: the TXT rrset at %s has no TTL",
				  name);
	for (rr = cf_xml_get(rs, "ResourceRecords/ResourceRecord"); rr != NULL;
	     rr = cf_xml_next(rr, "ResourceRecord", false)) {
		const char *val = cf_xml_text(rr, "Value");

		if (val == NULL || (v = realloc(out->values, (out->n + 1) * sizeof(*v))) == NULL)
			goto bad;
		out->values = v;
		if ((v[out->n] = strdup(val)) == NULL)
			goto bad;
		out->n++;
	}
	if (out->n == 0)
		goto bad;
	out->found = true;
	return 0;
bad:
	cf_r53_rrset_free(out);
	return cf_err_set(err, CF_ERR_PERMANENT,
			  "route53: the TXT rrset at %s in the answer is malformed", name);
}

int cf_r53_id(const char *text, char out[CF_R53_ID_MAX + 1])
{
	size_t i, n;

	if (text == NULL)
		return -1;
	if (strncmp(text, "/hostedzone/", 12) == 0)
		text += 12;
	else if (strncmp(text, "/change/", 8) == 0)
		text += 8;
	n = strlen(text);
	if (n == 0 || n > CF_R53_ID_MAX)
		return -1;
	for (i = 0; i < n; i++)
		if (!((text[i] >= 'A' && text[i] <= 'Z') || (text[i] >= 'a' && text[i] <= 'z') ||
		      (text[i] >= '0' && text[i] <= '9')))
			return -1;
	memcpy(out, text, n + 1);
	return 0;
}

int cf_r53_parse_zone(const cf_xml *doc, const char *name, char id[CF_R53_ID_MAX + 1],
		      cf_err *err)
{
	const cf_xml *z;
	int found = 0;

	if (doc == NULL || strcmp(doc->name, "ListHostedZonesByNameResponse") != 0)
		return cf_err_set(err, CF_ERR_PERMANENT,
				  "route53: ListHostedZonesByName: unexpected answer <%s>",
				  doc ? doc->name : "");
	for (z = cf_xml_get(doc, "HostedZones/HostedZone"); z != NULL;
	     z = cf_xml_next(z, "HostedZone", false)) {
		const char *zn = cf_xml_text(z, "Name");
		const char *priv = cf_xml_text(z, "Config/PrivateZone");

		if (zn == NULL || !r53_name_equal(zn, name) || (priv && strcmp(priv, "true") == 0))
			continue;
		if (found)
			return cf_err_set(err, CF_ERR_PERMANENT,
					  "route53: several public hosted zones are named %s: set "
					  "hosted_zone_id",
					  name);
		if (cf_r53_id(cf_xml_text(z, "Id"), id) != 0)
			return cf_err_set(err, CF_ERR_PERMANENT,
					  "route53: the hosted zone %s has a malformed Id", name);
		found = 1;
	}
	return found;
}

int cf_r53_parse_change(const cf_xml *doc, char id[CF_R53_ID_MAX + 1], char *status,
			size_t status_len, cf_err *err)
{
	const char *i = cf_xml_text(doc, "ChangeInfo/Id");
	const char *s = cf_xml_text(doc, "ChangeInfo/Status");

	if (i == NULL || s == NULL || cf_r53_id(i, id) != 0 || s[0] == '\0' ||
	    strlen(s) >= status_len)
		return cf_err_set(err, CF_ERR_PERMANENT,
				  "route53: the answer has no valid ChangeInfo (Id, Status)");
	memcpy(status, s, strlen(s) + 1);
	return 0;
}

/* Copies s into out (cap bytes) with control characters dropped. */
static void clean_copy(char *out, size_t cap, const char *s)
{
	size_t o = 0;

	for (; s != NULL && *s != '\0' && o + 1 < cap; s++)
		if ((unsigned char)*s >= 0x20 && *s != 0x7f)
			out[o++] = *s;
	out[o] = '\0';
}

int cf_r53_error(long status, const char *body, size_t len, const char *what, char *code,
		 size_t code_len, cf_err *err)
{
	cf_xml *doc = cf_xml_parse(body, len, NULL);
	char c[64] = "", m[MSG_MAX] = "";
	const cf_xml *e;
	cf_err_class cls;

	if (doc != NULL && strcmp(doc->name, "ErrorResponse") == 0) {
		clean_copy(c, sizeof(c), cf_xml_text(doc, "Error/Code"));
		clean_copy(m, sizeof(m), cf_xml_text(doc, "Error/Message"));
	} else if (doc != NULL && strcmp(doc->name, "InvalidChangeBatch") == 0) {
		snprintf(c, sizeof(c), "InvalidChangeBatch");
		for (e = cf_xml_get(doc, "Messages/Message"); e != NULL && strlen(m) < 200;
		     e = cf_xml_next(e, "Message", false)) {
			if (m[0] != '\0')
				strcat(m, "; ");
			clean_copy(m + strlen(m), sizeof(m) - strlen(m), e->text);
		}
		if (m[0] == '\0')
			clean_copy(m, sizeof(m), cf_xml_text(doc, "Message"));
	} else {
		snprintf(m, sizeof(m), "not a Route 53 error document");
	}
	cf_xml_free(doc);
	if (code != NULL && code_len > 0)
		snprintf(code, code_len, "%s", c);
	cls = strcmp(c, "Throttling") == 0 || strcmp(c, "PriorRequestNotComplete") == 0 ||
		      strcmp(c, "ServiceUnavailable") == 0
		      ? CF_ERR_TRANSIENT
		      : cf_http_status_class(status);
	if (status == 403)
		return cf_err_set(err, cls,
				  "route53: %s: HTTP 403 %s: %s (check access_key_id, "
				  "secret_access_key and session_token; their values are not shown)",
				  what, c[0] ? c : "Forbidden", m);
	return cf_err_set(err, cls, "route53: %s: HTTP %ld%s%s: %s", what, status, c[0] ? " " : "",
			  c, m);
}
