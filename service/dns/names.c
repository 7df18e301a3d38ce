/*
 * names.c: the syntax of the names certfleet handles, without any network.
 *
 * ACME identifiers are host names: lower-cased, without the trailing dot, made of
 * LDH labels (letters, digits, hyphen; no leading or trailing hyphen), IDNs only in
 * their ASCII form ("xn--" A-labels), and a wildcard only as the whole left-most
 * label. Alias targets are DNS names rather than host names, so they may also carry
 * underscores ("_acme-challenge.x.alias.test"). The challenge record of a name is
 * the one TXT owner name the CA asks for: "*.x" and "x" share "_acme-challenge.x".
 */
#include "dns/dns.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#define CHALLENGE_PREFIX "_acme-challenge."

/* What a label may contain beyond LDH. */
enum label_kind { LABEL_HOST, LABEL_DNS };

static int is_ldh(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
}

/* Checks one lower-cased label of len bytes; returns NULL or the reason it is bad. */
static const char *label_problem(const char *l, size_t len, enum label_kind kind)
{
	size_t i;

	if (len == 0)
		return "empty label";
	if (len > 63)
		return "label longer than 63 characters";
	for (i = 0; i < len; i++) {
		if (is_ldh(l[i]))
			continue;
		if (l[i] == '_' && kind == LABEL_DNS)
			continue;
		if (l[i] == '_')
			return "underscore in a host name";
		if (l[i] == '*')
			return "wildcard '*' not as the whole left-most label";
		if ((unsigned char)l[i] >= 0x80)
			return "non-ASCII character (write IDNs as xn-- A-labels)";
		return "character other than letter, digit or hyphen";
	}
	if (l[0] == '-' || l[len - 1] == '-')
		return "label starts or ends with a hyphen";
	/* RFC 5891 4.2.3.1: "??--" is reserved for A-labels ("xn--"). */
	if (kind == LABEL_HOST && len >= 4 && l[2] == '-' && l[3] == '-' &&
	    !(l[0] == 'x' && l[1] == 'n'))
		return "hyphens in the 3rd and 4th position outside an xn-- label";
	return NULL;
}

/* Lower-cases in into out, drops one trailing dot and checks the overall length. */
static int copy_lower(const char *in, char out[CF_NAME_MAX + 1], cf_err *err)
{
	size_t len, i;

	if (in == NULL || in[0] == '\0')
		return cf_err_set(err, CF_ERR_PERMANENT, "empty DNS name");
	len = strlen(in);
	if (in[len - 1] == '.')
		len--;
	if (len == 0)
		return cf_err_set(err, CF_ERR_PERMANENT, "name \"%.300s\": empty name", in);
	if (len > CF_NAME_MAX)
		return cf_err_set(err, CF_ERR_PERMANENT,
				  "name \"%.300s\": longer than %d characters", in, CF_NAME_MAX);
	for (i = 0; i < len; i++) {
		char c = in[i];

		out[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
	}
	out[len] = '\0';
	return 0;
}

/* Checks every label of a lower-cased name starting at s; the name needs at least
 * two labels, and a last label of only digits would be an IP address. */
static int check_labels(const char *orig, const char *s, enum label_kind kind, cf_err *err)
{
	const char *p = s, *dot, *last = s;
	const char *why;
	size_t nlabels = 0, i;
	int digits_only = 1;

	for (;;) {
		dot = strchr(p, '.');
		size_t len = dot ? (size_t)(dot - p) : strlen(p);

		why = label_problem(p, len, kind);
		if (why != NULL)
			return cf_err_set(err, CF_ERR_PERMANENT, "name \"%.300s\": %s", orig,
					  why);
		nlabels++;
		last = p;
		if (dot == NULL)
			break;
		p = dot + 1;
	}
	if (nlabels < 2)
		return cf_err_set(err, CF_ERR_PERMANENT,
				  "name \"%.300s\": needs at least two labels", orig);
	for (i = 0; last[i] != '\0'; i++)
		if (last[i] < '0' || last[i] > '9')
			digits_only = 0;
	if (digits_only)
		return cf_err_set(err, CF_ERR_PERMANENT,
				  "name \"%.300s\": looks like an IP address, not a DNS name",
				  orig);
	return 0;
}

int cf_name_normalize(const char *in, bool allow_wildcard, char out[CF_NAME_MAX + 1],
		      cf_err *err)
{
	char tmp[CF_NAME_MAX + 1];
	const char *base = tmp;

	if (copy_lower(in, tmp, err) != 0)
		return -1;
	if (tmp[0] == '*' && tmp[1] == '.') {
		if (!allow_wildcard)
			return cf_err_set(err, CF_ERR_PERMANENT,
					  "name \"%.300s\": a wildcard is not allowed here", in);
		base = tmp + 2;
	} else if (strcmp(tmp, "*") == 0) {
		return cf_err_set(err, CF_ERR_PERMANENT,
				  "name \"%.300s\": needs at least two labels", in);
	}
	if (check_labels(in, base, LABEL_HOST, err) != 0)
		return -1;
	memcpy(out, tmp, strlen(tmp) + 1);
	return 0;
}

int cf_target_normalize(const char *in, char out[CF_NAME_MAX + 1], cf_err *err)
{
	char tmp[CF_NAME_MAX + 1];

	if (copy_lower(in, tmp, err) != 0)
		return -1;
	if (check_labels(in, tmp, LABEL_DNS, err) != 0)
		return -1;
	memcpy(out, tmp, strlen(tmp) + 1);
	return 0;
}

bool cf_name_is_wildcard(const char *normalized)
{
	return normalized != NULL && normalized[0] == '*' && normalized[1] == '.';
}

int cf_challenge_record(const char *normalized, char out[CF_NAME_MAX + 1], cf_err *err)
{
	const char *base = normalized;
	int n;

	if (normalized == NULL || normalized[0] == '\0')
		return cf_err_set(err, CF_ERR_PERMANENT, "challenge record of an empty name");
	if (cf_name_is_wildcard(normalized))
		base = normalized + 2;
	n = snprintf(out, CF_NAME_MAX + 1, "%s%s", CHALLENGE_PREFIX, base);
	if (n < 0 || n > CF_NAME_MAX) {
		out[0] = '\0';
		return cf_err_set(err, CF_ERR_PERMANENT,
				  "name \"%.300s\": its challenge record %s%.200s... is longer "
				  "than %d characters",
				  normalized, CHALLENGE_PREFIX, base, CF_NAME_MAX);
	}
	return 0;
}

static size_t len_without_dot(const char *s)
{
	size_t n = strlen(s);

	return (n > 0 && s[n - 1] == '.') ? n - 1 : n;
}

bool cf_name_equal(const char *a, const char *b)
{
	size_t la, lb;

	if (a == NULL || b == NULL)
		return false;
	la = len_without_dot(a);
	lb = len_without_dot(b);
	return la == lb && strncasecmp(a, b, la) == 0;
}

bool cf_name_is_under(const char *name, const char *zone)
{
	size_t ln, lz;

	if (name == NULL || zone == NULL)
		return false;
	ln = len_without_dot(name);
	lz = len_without_dot(zone);
	if (lz == 0)
		return true; /* the root contains every name */
	if (ln < lz || (ln > lz && name[ln - lz - 1] != '.'))
		return false;
	return strncasecmp(name + ln - lz, zone, lz) == 0;
}
