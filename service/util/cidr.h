/*
 * cidr.h: lists of address ranges ("127.0.0.0/8,::1,10.1.2.3") and the test of a
 * socket address against them: which clients of the API count as local
 * (CERTFLEET_LOCAL_ADDRESSES), and so may receive a private key over plain HTTP.
 *
 * An IPv4 client seen through an IPv6 socket (::ffff:a.b.c.d) is matched as the
 * IPv4 address it is. Parsing is strict: a range whose host bits are not zero
 * ("10.0.0.1/8") is refused, so a typo cannot silently widen or shift a range.
 */
#ifndef CERTFLEET_UTIL_CIDR_H
#define CERTFLEET_UTIL_CIDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "util/err.h"

#define CF_CIDR_MAX 32

typedef struct cf_cidr {
	int family;        /* AF_INET or AF_INET6 */
	uint8_t addr[16];  /* network address (4 bytes used for AF_INET) */
	unsigned prefix;   /* 0-32 or 0-128 */
} cf_cidr;

typedef struct cf_cidr_list {
	cf_cidr e[CF_CIDR_MAX];
	size_t n;
} cf_cidr_list;

/* Parses a comma-separated list of ADDRESS or ADDRESS/PREFIX (spaces allowed
 * around the commas). An empty text gives an empty list (no address is local).
 * Returns 0, or -1 with err naming the entry at fault. */
int cf_cidr_list_parse(const char *text, cf_cidr_list *out, cf_err *err);

/* true when the address (struct sockaddr_in or sockaddr_in6) is in one of the
 * ranges. NULL or any other family: false. */
bool cf_cidr_list_match(const cf_cidr_list *l, const struct sockaddr *sa);

/* The same for an address in text form ("127.0.0.1", "::1"); false when the
 * text is not a numeric address. */
bool cf_cidr_list_match_text(const cf_cidr_list *l, const char *addr);

#endif
