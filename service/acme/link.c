/*
 * link.c: the Link header (RFC 8288), as ACME uses it: `rel="alternate"` for
 * alternate certificate chains (RFC 8555 section 7.4.2), `rel="up"` and
 * `rel="index"`. One header value may hold several links separated by commas, and
 * a parameter value may be a quoted string with commas and semicolons inside, so
 * this is a small tokenizer rather than a strtok(). Only absolute https:// targets
 * are returned: ACME servers send absolute URLs, and we never resolve a relative
 * one against a guess.
 */
#include "acme/acme_int.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

static void skip_ows(const char **p)
{
	while (**p == ' ' || **p == '\t')
		(*p)++;
}

static bool is_tchar(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       (ch != '\0' && strchr("!#$%&'*+-.^_`|~", ch) != NULL);
}

/* A token or quoted-string into out (truncated to outlen - 1). */
static int param_value(const char **p, char *out, size_t outlen)
{
	size_t n = 0;

	if (**p == '"') {
		(*p)++;
		while (**p != '"') {
			if (**p == '\0')
				return -1;
			if (**p == '\\' && (*p)[1] != '\0')
				(*p)++;
			if (n + 1 < outlen)
				out[n++] = **p;
			(*p)++;
		}
		(*p)++;
	} else {
		if (!is_tchar(**p))
			return -1;
		while (is_tchar(**p)) {
			if (n + 1 < outlen)
				out[n++] = **p;
			(*p)++;
		}
	}
	out[n] = '\0';
	return 0;
}

/* true when the space-separated relation list has rel (case-insensitive). */
static bool rel_has(const char *list, const char *rel)
{
	size_t n = strlen(rel);

	while (*list) {
		while (*list == ' ')
			list++;
		if (strncasecmp(list, rel, n) == 0 && (list[n] == ' ' || list[n] == '\0'))
			return true;
		while (*list && *list != ' ')
			list++;
	}
	return false;
}

/* The parameters after "<target>"; sets *match when rel is among them. */
static int link_params(const char **p, const char *rel, bool *match)
{
	char name[32], value[256];
	size_t n;

	for (;;) {
		skip_ows(p);
		if (**p != ';')
			return 0;
		(*p)++;
		skip_ows(p);
		for (n = 0; is_tchar(**p); (*p)++)
			if (n + 1 < sizeof(name))
				name[n++] = **p;
		name[n] = '\0';
		if (n == 0)
			return -1;
		skip_ows(p);
		value[0] = '\0';
		if (**p == '=') {
			(*p)++;
			skip_ows(p);
			if (param_value(p, value, sizeof(value)) != 0)
				return -1;
		}
		if (strcasecmp(name, "rel") == 0 && rel_has(value, rel))
			*match = true;
	}
}

static int add_url(const char *start, size_t len, char **urls, size_t max, size_t *n)
{
	char *u;
	size_t i;

	if (len < 9 || strncasecmp(start, "https://", 8) != 0 || *n >= max)
		return 0;
	for (i = 0; i < len; i++)
		if ((unsigned char)start[i] <= 0x20 || start[i] == 0x7f || start[i] == '"')
			return 0;
	u = strndup(start, len);
	if (u == NULL)
		return -1;
	urls[(*n)++] = u;
	return 0;
}

int cf_acme_link_parse(const char *value, const char *rel, char **urls, size_t max,
		       size_t *n)
{
	const char *p = value, *start, *end;
	bool match;

	for (;;) {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (*p == '\0')
			return 0;
		if (*p != '<')
			return -1;
		start = ++p;
		end = strchr(start, '>');
		if (end == NULL)
			return -1;
		p = end + 1;
		match = false;
		if (link_params(&p, rel, &match) != 0)
			return -1;
		skip_ows(&p);
		if (*p != ',' && *p != '\0')
			return -1;
		if (match && add_url(start, (size_t)(end - start), urls, max, n) != 0)
			return -1;
	}
}
