/*
 * test_cidr.c: address range lists (util/cidr.h), table driven: what parses and
 * what is refused (with the entry named), which addresses match (IPv4, IPv6,
 * IPv4-mapped IPv6, prefixes that end inside a byte); the settings that use them
 * (CERTFLEET_LOCAL_ADDRESSES and its default, CERTFLEET_ALLOW_PLAIN_KEYS,
 * CERTFLEET_CACHE_OFFLINE_GRACE); and the route table's fetch routes (matched,
 * with the certificate id captured, flagged to be served from the cache).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "http/http.h"
#include "util/cidr.h"

static void test_parse(void **state)
{
	static const struct {
		const char *in;
		int ok;
		size_t n;
		const char *in_error; /* a piece of the message */
	} cases[] = {
		{"127.0.0.0/8,::1", 1, 2, NULL},
		{" 10.0.0.0/8 , 192.168.1.7 ,fd00::/8 ", 1, 3, NULL},
		{"", 1, 0, NULL},
		{"0.0.0.0/0", 1, 1, NULL},
		{"::/0", 1, 1, NULL},
		{"10.0.0.1/8", 0, 0, "10.0.0.1/8"},
		{"127.0.0.1/33", 0, 0, "0-32"},
		{"::1/129", 0, 0, "0-128"},
		{"localhost", 0, 0, "localhost"},
		{"10.0.0.0/", 0, 0, "prefix"},
		{"10.0.0.0/8x", 0, 0, "prefix"},
		{"1.2.3.4, nope", 0, 0, "nope"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cf_cidr_list l;
		cf_err err = {0};
		int rc = cf_cidr_list_parse(cases[i].in, &l, &err);

		if (cases[i].ok) {
			if (rc != 0)
				fail_msg("case %zu (%s): %s", i, cases[i].in, err.msg);
			assert_int_equal(l.n, cases[i].n);
		} else {
			assert_int_equal(rc, -1);
			if (strstr(err.msg, cases[i].in_error) == NULL)
				fail_msg("case %zu: '%s' not in '%s'", i, cases[i].in_error, err.msg);
		}
	}
}

static void test_match(void **state)
{
	static const struct {
		const char *list, *addr;
		bool want;
	} cases[] = {
		{"127.0.0.0/8,::1", "127.0.0.1", true},
		{"127.0.0.0/8,::1", "127.89.0.20", true},
		{"127.0.0.0/8,::1", "::1", true},
		{"127.0.0.0/8,::1", "::ffff:127.0.0.1", true}, /* IPv4 seen through IPv6 */
		{"127.0.0.0/8,::1", "10.0.0.1", false},
		{"127.0.0.0/8,::1", "::2", false},
		{"127.0.0.1", "127.0.0.1", true},
		{"127.0.0.1", "127.0.0.2", false},
		{"127.0.0.1", "::ffff:127.0.0.2", false},
		{"10.1.2.0/23", "10.1.3.255", true}, /* a prefix inside a byte */
		{"10.1.2.0/23", "10.1.4.0", false},
		{"10.1.2.0/23", "10.1.1.255", false},
		{"fd00::/8", "fd12:3456::1", true},
		{"fd00::/8", "fe80::1", false},
		{"0.0.0.0/0", "203.0.113.9", true},
		{"", "127.0.0.1", false},
		{"127.0.0.1", "not an address", false},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cf_cidr_list l;
		cf_err err = {0};

		assert_int_equal(cf_cidr_list_parse(cases[i].list, &l, &err), 0);
		if (cf_cidr_list_match_text(&l, cases[i].addr) != cases[i].want)
			fail_msg("case %zu: %s in %s should be %d", i, cases[i].addr, cases[i].list,
				 cases[i].want);
	}
}

static void test_match_sockaddr(void **state)
{
	struct sockaddr_in v4 = {.sin_family = AF_INET};
	struct sockaddr_in6 v6 = {.sin6_family = AF_INET6};
	cf_cidr_list l;
	cf_err err = {0};

	assert_int_equal(cf_cidr_list_parse("127.0.0.1,::1", &l, &err), 0);
	inet_pton(AF_INET, "127.0.0.1", &v4.sin_addr);
	assert_true(cf_cidr_list_match(&l, (struct sockaddr *)&v4));
	inet_pton(AF_INET, "127.0.0.2", &v4.sin_addr);
	assert_false(cf_cidr_list_match(&l, (struct sockaddr *)&v4));
	inet_pton(AF_INET6, "::1", &v6.sin6_addr);
	assert_true(cf_cidr_list_match(&l, (struct sockaddr *)&v6));
	inet_pton(AF_INET6, "::ffff:127.0.0.1", &v6.sin6_addr);
	assert_true(cf_cidr_list_match(&l, (struct sockaddr *)&v6));
	assert_false(cf_cidr_list_match(&l, NULL));
}

static void test_settings(void **state)
{
	cf_config cfg;
	cf_err err = {0};

	setenv("CERTFLEET_DATABASE_URL", "postgresql://u@127.0.0.1/db", 1);
	unsetenv("CERTFLEET_CONFIG");
	unsetenv("CERTFLEET_LOCAL_ADDRESSES");
	unsetenv("CERTFLEET_ALLOW_PLAIN_KEYS");
	assert_int_equal(cf_config_load(&cfg, NULL, &err), 0);
	assert_string_equal(cfg.local_addresses, "127.0.0.0/8,::1");
	assert_false(cfg.allow_plain_keys);
	assert_int_equal(cfg.cache_offline_grace, 60);
	assert_string_equal(cfg.tls_cert, "");
	cf_config_free(&cfg);
	setenv("CERTFLEET_ALLOW_PLAIN_KEYS", "true", 1);
	setenv("CERTFLEET_LOCAL_ADDRESSES", "10.0.0.0/8", 1);
	assert_int_equal(cf_config_load(&cfg, NULL, &err), 0);
	assert_true(cfg.allow_plain_keys);
	assert_string_equal(cfg.local_addresses, "10.0.0.0/8");
	cf_config_free(&cfg);
	setenv("CERTFLEET_ALLOW_PLAIN_KEYS", "yes", 1);
	assert_int_equal(cf_config_load(&cfg, NULL, &err), -1);
	assert_non_null(strstr(err.msg, "CERTFLEET_ALLOW_PLAIN_KEYS"));
	unsetenv("CERTFLEET_ALLOW_PLAIN_KEYS");
	setenv("CERTFLEET_LOCAL_ADDRESSES", "10.0.0.1/8", 1);
	assert_int_equal(cf_config_load(&cfg, NULL, &err), -1);
	assert_non_null(strstr(err.msg, "CERTFLEET_LOCAL_ADDRESSES"));
	unsetenv("CERTFLEET_LOCAL_ADDRESSES");
	unsetenv("CERTFLEET_DATABASE_URL");
}

static void test_fetch_routes(void **state)
{
	static const char *const parts[] = {"bundle", "fullchain.pem", "chain.pem", "cert.pem",
					    "privkey.pem"};

	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
		cf_http_req req = {0};
		char path[128];
		const cf_route *rt;
		int known = 0;

		snprintf(path, sizeof(path), "/v1/certificates/web-1/%s", parts[i]);
		rt = cf_route_match("GET", path, &req, &known);
		assert_non_null(rt);
		assert_int_equal(rt->roles, CF_R_ADMIN | CF_R_HOST);
		assert_true(rt->flags & CF_ROUTE_CACHED);
		assert_int_equal(req.nparams, 1);
		assert_string_equal(req.params[0], "web-1");
		free(req.params[0]);
	}
	for (size_t i = 0; i < cf_nroutes; i++) /* only the fetches skip the database */
		if (cf_routes[i].flags & CF_ROUTE_CACHED)
			assert_non_null(strstr(cf_routes[i].pattern, "/v1/certificates/{id}/"));
	/* operator and viewer tokens never reach a private key: no fetch, no token
	 * route (which would let them mint a host token) names them */
	for (size_t i = 0; i < cf_nroutes; i++)
		if ((cf_routes[i].flags & CF_ROUTE_CACHED) ||
		    strncmp(cf_routes[i].pattern, "/v1/tokens", 10) == 0)
			assert_int_equal(cf_routes[i].roles & (CF_R_OPERATOR | CF_R_VIEWER), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_match),
		cmocka_unit_test(test_match_sockaddr),
		cmocka_unit_test(test_settings),
		cmocka_unit_test(test_fetch_routes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
