/*
 * servers.c: lists of DNS servers to ask, as the operator writes them.
 *
 * A server is a numeric address and a port: "192.0.2.1", "192.0.2.1:5353",
 * "[2001:db8::1]", "[2001:db8::1]:5353" (a bare IPv6 address without a port is
 * accepted too). Host names are refused on purpose: resolving them would need a
 * resolver, and the point of the list is to say which resolver to trust. The list
 * is built from /etc/resolv.conf only when the operator configured none.
 */
#include "dns/dns.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Parses a decimal port 1..65535 (the whole string). */
static int parse_port(const char *s, uint16_t *out)
{
	char *end = NULL;
	long v;

	if (s[0] < '0' || s[0] > '9')
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < 1 || v > 65535)
		return -1;
	*out = (uint16_t)v;
	return 0;
}

/* Splits hostport into a numeric address and a port, checking both. */
static int parse_server(const char *hostport, cf_dns_server *s, cf_err *err)
{
	char host[sizeof(s->ip)];
	const char *port = NULL;
	size_t hlen;
	unsigned char bin[16];
	int af;

	s->port = 53;
	if (hostport[0] == '[') {
		const char *close = strchr(hostport, ']');

		if (close == NULL)
			return cf_err_set(err, CF_ERR_PERMANENT,
					  "DNS server \"%.100s\": missing ']'", hostport);
		hlen = (size_t)(close - hostport - 1);
		if (close[1] == ':')
			port = close + 2;
		else if (close[1] != '\0')
			return cf_err_set(err, CF_ERR_PERMANENT,
					  "DNS server \"%.100s\": unexpected text after ']'",
					  hostport);
		hostport++;
		af = AF_INET6;
	} else {
		const char *colon = strchr(hostport, ':');

		if (colon != NULL && strchr(colon + 1, ':') != NULL) {
			hlen = strlen(hostport); /* a bare IPv6 address */
			af = AF_INET6;
		} else {
			hlen = colon ? (size_t)(colon - hostport) : strlen(hostport);
			port = colon ? colon + 1 : NULL;
			af = AF_INET;
		}
	}
	if (hlen == 0 || hlen >= sizeof(host))
		return cf_err_set(err, CF_ERR_PERMANENT,
				  "DNS server \"%.100s\": missing or overlong address", hostport);
	memcpy(host, hostport, hlen);
	host[hlen] = '\0';
	if (inet_pton(af, host, bin) != 1)
		return cf_err_set(err, CF_ERR_PERMANENT,
				  "DNS server \"%.100s\": not a numeric %s address (use "
				  "1.2.3.4, 1.2.3.4:53, [::1] or [::1]:53)",
				  host, af == AF_INET ? "IPv4" : "IPv6");
	if (port != NULL && parse_port(port, &s->port) != 0)
		return cf_err_set(err, CF_ERR_PERMANENT,
				  "DNS server \"%.100s\": bad port \"%.20s\" (1-65535)", host, port);
	/* Store the canonical text form, so equal addresses compare equal. */
	if (inet_ntop(af, bin, s->ip, sizeof(s->ip)) == NULL)
		return cf_err_set(err, CF_ERR_PERMANENT, "DNS server \"%.100s\": bad address",
				  host);
	return 0;
}

int cf_dns_servers_add(cf_dns_servers *l, const char *hostport, cf_err *err)
{
	cf_dns_server s;
	size_t i;

	if (l == NULL || hostport == NULL || hostport[0] == '\0')
		return cf_err_set(err, CF_ERR_PERMANENT, "empty DNS server address");
	memset(&s, 0, sizeof(s));
	if (parse_server(hostport, &s, err) != 0)
		return -1;
	for (i = 0; i < l->n; i++)
		if (l->s[i].port == s.port && strcmp(l->s[i].ip, s.ip) == 0)
			return 0; /* already listed */
	if (l->n >= CF_DNS_MAX_SERVERS)
		return cf_err_set(err, CF_ERR_PERMANENT,
				  "too many DNS servers (at most %d): \"%.100s\"",
				  CF_DNS_MAX_SERVERS, hostport);
	l->s[l->n++] = s;
	return 0;
}

int cf_dns_servers_from_resolv_conf(cf_dns_servers *l, const char *path, cf_err *err)
{
	FILE *f = NULL;
	char line[512];
	size_t before;
	int rc = -1;

	if (path == NULL)
		path = "/etc/resolv.conf";
	before = l->n;
	f = fopen(path, "r");
	if (f == NULL) {
		cf_err_set(err, CF_ERR_PERMANENT, "cannot read %s: %s", path, strerror(errno));
		goto out;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		char *save = NULL;
		char *kw = strtok_r(line, " \t\r\n", &save);
		char *addr = kw ? strtok_r(NULL, " \t\r\n", &save) : NULL;
		cf_err ignored = {0};

		if (kw == NULL || strcmp(kw, "nameserver") != 0 || addr == NULL)
			continue;
		if (strchr(addr, '%') != NULL)
			continue; /* link-local with a scope: not usable from here */
		/* A bad line is skipped; a resolver library would do the same. */
		if (cf_dns_servers_add(l, addr, &ignored) != 0 && l->n >= CF_DNS_MAX_SERVERS)
			break;
		cf_err_clear(&ignored);
	}
	if (l->n == before) {
		cf_err_set(err, CF_ERR_PERMANENT, "%s lists no usable nameserver", path);
		goto out;
	}
	rc = 0;
out:
	if (f != NULL)
		fclose(f);
	return rc;
}

int cf_dns_servers_parse(cf_dns_servers *l, const char *list, cf_err *err)
{
	char *copy = NULL, *save = NULL, *tok;
	size_t count = 0;
	int rc = -1;

	if (list == NULL || list[0] == '\0') {
		cf_err_set(err, CF_ERR_PERMANENT, "empty DNS server list");
		goto out;
	}
	copy = strdup(list);
	if (copy == NULL) {
		cf_err_oom(err, NULL);
		goto out;
	}
	for (tok = strtok_r(copy, ", \t", &save); tok != NULL; tok = strtok_r(NULL, ", \t", &save)) {
		if (cf_dns_servers_add(l, tok, err) != 0)
			goto out;
		count++;
	}
	if (count == 0) {
		cf_err_set(err, CF_ERR_PERMANENT, "empty DNS server list");
		goto out;
	}
	rc = 0;
out:
	free(copy);
	return rc;
}

void cf_dns_server_str(const cf_dns_server *s, char out[CF_DNS_SERVER_STRLEN])
{
	if (strchr(s->ip, ':') != NULL)
		snprintf(out, CF_DNS_SERVER_STRLEN, "[%s]:%u", s->ip, (unsigned)s->port);
	else
		snprintf(out, CF_DNS_SERVER_STRLEN, "%s:%u", s->ip, (unsigned)s->port);
}
