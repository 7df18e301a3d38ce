/*
 * cidr.c: address range lists and matching; see cidr.h.
 *
 * The list is small (at most CF_CIDR_MAX entries) and read-only after parsing,
 * so matching is a linear scan over byte-wise prefix compares with no
 * allocation: it runs on every request that asks for a private key.
 */
#include "util/cidr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* true when the first prefix bits of a and b agree. */
static bool prefix_equal(const uint8_t *a, const uint8_t *b, unsigned prefix)
{
	unsigned full = prefix / 8, rest = prefix % 8;

	if (memcmp(a, b, full) != 0)
		return false;
	if (rest == 0)
		return true;
	return ((a[full] ^ b[full]) & (uint8_t)(0xff << (8 - rest))) == 0;
}

/* true when every bit after prefix is zero. */
static bool host_bits_zero(const uint8_t *a, size_t len, unsigned prefix)
{
	for (size_t bit = prefix; bit < len * 8; bit++)
		if (a[bit / 8] & (0x80 >> (bit % 8)))
			return false;
	return true;
}

static int parse_one(const char *s, cf_cidr *out, cf_err *err)
{
	char addr[INET6_ADDRSTRLEN + 8], *slash, *end;
	unsigned max;
	long p;

	if (strlen(s) >= sizeof(addr))
		return cf_err_set(err, CF_ERR_PERMANENT, "'%.60s' is not an address or range", s);
	snprintf(addr, sizeof(addr), "%s", s);
	slash = strchr(addr, '/');
	if (slash != NULL)
		*slash++ = '\0';
	memset(out, 0, sizeof(*out));
	if (inet_pton(AF_INET, addr, out->addr) == 1) {
		out->family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, addr, out->addr) == 1) {
		out->family = AF_INET6;
		max = 128;
	} else {
		return cf_err_set(err, CF_ERR_PERMANENT,
				  "'%s' is not a numeric IPv4 or IPv6 address", s);
	}
	out->prefix = max;
	if (slash != NULL) {
		errno = 0;
		p = strtol(slash, &end, 10);
		if (errno != 0 || *slash == '\0' || *end != '\0' || p < 0 || p > (long)max)
			return cf_err_set(err, CF_ERR_PERMANENT, "'%s': the prefix must be 0-%u",
					  s, max);
		out->prefix = (unsigned)p;
	}
	if (!host_bits_zero(out->addr, max / 8, out->prefix))
		return cf_err_set(err, CF_ERR_PERMANENT,
				  "'%s': bits are set after the /%u prefix (did you mean the "
				  "network address?)", s, out->prefix);
	return 0;
}

int cf_cidr_list_parse(const char *text, cf_cidr_list *out, cf_err *err)
{
	char *copy, *tok, *save = NULL;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	if (text == NULL)
		return 0;
	if ((copy = strdup(text)) == NULL)
		return cf_err_oom(err, NULL);
	for (tok = strtok_r(copy, ", \t", &save); tok != NULL && rc == 0;
	     tok = strtok_r(NULL, ", \t", &save)) {
		if (out->n >= CF_CIDR_MAX)
			rc = cf_err_set(err, CF_ERR_PERMANENT, "more than %d entries", CF_CIDR_MAX);
		else if (parse_one(tok, &out->e[out->n], err) != 0)
			rc = -1;
		else
			out->n++;
	}
	free(copy);
	return rc;
}

/* Matches one address given as family + bytes. */
static bool match_bytes(const cf_cidr_list *l, int family, const uint8_t *a)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->e[i].family == family && prefix_equal(l->e[i].addr, a, l->e[i].prefix))
			return true;
	return false;
}

static bool match_v6(const cf_cidr_list *l, const struct in6_addr *a6)
{
	if (IN6_IS_ADDR_V4MAPPED(a6))
		return match_bytes(l, AF_INET, a6->s6_addr + 12);
	return match_bytes(l, AF_INET6, a6->s6_addr);
}

bool cf_cidr_list_match(const cf_cidr_list *l, const struct sockaddr *sa)
{
	if (sa == NULL)
		return false;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *v4 = (const struct sockaddr_in *)(const void *)sa;

		return match_bytes(l, AF_INET, (const uint8_t *)&v4->sin_addr);
	}
	if (sa->sa_family == AF_INET6)
		return match_v6(l, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr);
	return false;
}

bool cf_cidr_list_match_text(const cf_cidr_list *l, const char *addr)
{
	struct in6_addr a6;
	uint8_t a4[4];

	if (addr == NULL)
		return false;
	if (inet_pton(AF_INET, addr, a4) == 1)
		return match_bytes(l, AF_INET, a4);
	if (inet_pton(AF_INET6, addr, &a6) == 1)
		return match_v6(l, &a6);
	return false;
}
