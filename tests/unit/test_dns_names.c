/*
 * test_dns_names.c: the network-free parts of dns/: name normalisation and
 * challenge records (table-driven: good names, bad names with the reason in the
 * message), alias plans in the modes that need no DNS (none, one, map and its
 * errors; auto without servers), and DNS server lists (HOST[:PORT], resolv.conf).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dns/dns.h"

typedef struct good_name {
	const char *in;
	bool wildcard_ok;
	const char *norm;
	const char *record;
} good_name;

static const good_name good_names[] = {
	{ "*.Example.COM.", true, "*.example.com", "_acme-challenge.example.com" },
	{ "Example.COM.", false, "example.com", "_acme-challenge.example.com" },
	{ "www.example.test", false, "www.example.test", "_acme-challenge.www.example.test" },
	{ "WWW.Example.Test", true, "www.example.test", "_acme-challenge.www.example.test" },
	{ "xn--bcher-kva.example", false, "xn--bcher-kva.example",
	  "_acme-challenge.xn--bcher-kva.example" },
	{ "*.xn--80ak6aa92e.com", true, "*.xn--80ak6aa92e.com",
	  "_acme-challenge.xn--80ak6aa92e.com" },
	{ "a-b.c0.example.com", false, "a-b.c0.example.com",
	  "_acme-challenge.a-b.c0.example.com" },
	{ "3com.example", false, "3com.example", "_acme-challenge.3com.example" },
};

typedef struct bad_name {
	const char *in;
	bool wildcard_ok;
	const char *why; /* a substring the message must contain */
} bad_name;

static const bad_name bad_names[] = {
	{ "", true, "empty" },
	{ ".", true, "empty" },
	{ "a..example.com", true, "empty label" },
	{ ".example.com", true, "empty label" },
	{ "example.com..", true, "empty label" },
	{ "foo.*.example.com", true, "wildcard" },
	{ "*foo.example.com", true, "wildcard" },
	{ "*.*.example.com", true, "wildcard" },
	{ "*.example.com", false, "wildcard" },
	{ "*", true, "two labels" },
	{ "*.com", true, "two labels" },
	{ "localhost", true, "two labels" },
	{ "_acme-challenge.example.com", true, "underscore" },
	{ "my_host.example.com", true, "underscore" },
	{ "-foo.example.com", true, "hyphen" },
	{ "foo-.example.com", true, "hyphen" },
	{ "ab--cd.example.com", true, "xn--" },
	{ "exa mple.com", true, "letter, digit or hyphen" },
	{ "b\xc3\xbc" "cher.example", true, "A-labels" },
	{ "1.2.3.4", true, "IP address" },
};

static void test_good_names(void **state)
{
	size_t i;

	for (i = 0; i < sizeof(good_names) / sizeof(good_names[0]); i++) {
		char out[CF_NAME_MAX + 1], rec[CF_NAME_MAX + 1];
		cf_err err = { 0 };

		if (cf_name_normalize(good_names[i].in, good_names[i].wildcard_ok, out, &err) != 0)
			fail_msg("%s: %s", good_names[i].in, err.msg);
		assert_string_equal(out, good_names[i].norm);
		assert_int_equal(cf_challenge_record(out, rec, &err), 0);
		assert_string_equal(rec, good_names[i].record);
		assert_int_equal(cf_name_is_wildcard(out), good_names[i].in[0] == '*');
	}
}

static void test_bad_names(void **state)
{
	size_t i;

	for (i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++) {
		char out[CF_NAME_MAX + 1];
		cf_err err = { 0 };

		if (cf_name_normalize(bad_names[i].in, bad_names[i].wildcard_ok, out, &err) == 0)
			fail_msg("accepted bad name \"%s\" as %s", bad_names[i].in, out);
		assert_int_equal(err.cls, CF_ERR_PERMANENT);
		if (strstr(err.msg, bad_names[i].why) == NULL)
			fail_msg("\"%s\": message \"%s\" lacks \"%s\"", bad_names[i].in, err.msg,
				 bad_names[i].why);
		/* the message names the input */
		if (bad_names[i].in[0] != '\0' && strstr(err.msg, bad_names[i].in) == NULL)
			fail_msg("\"%s\": message \"%s\" does not name it", bad_names[i].in,
				 err.msg);
	}
}

/* Builds "a.a.a...." of about len characters, ending in ".example". */
static void long_name(char *buf, size_t len, size_t label)
{
	size_t n = 0;

	while (n + label + 1 + 8 <= len) {
		memset(buf + n, 'a', label);
		n += label;
		buf[n++] = '.';
	}
	memcpy(buf + n, "example", 8);
}

static void test_lengths(void **state)
{
	char name[600], out[CF_NAME_MAX + 1], rec[CF_NAME_MAX + 1];
	char label64[100];
	cf_err err = { 0 };

	/* a 63-character label is fine, 64 is not */
	memset(label64, 'x', 63);
	strcpy(label64 + 63, ".example.com");
	assert_int_equal(cf_name_normalize(label64, false, out, &err), 0);
	memset(label64, 'x', 64);
	strcpy(label64 + 64, ".example.com");
	assert_int_equal(cf_name_normalize(label64, false, out, &err), -1);
	assert_non_null(strstr(err.msg, "63"));

	/* 253 characters pass (with a trailing dot too), 254 do not */
	memset(name, 0, sizeof(name));
	long_name(name, 253, 9);
	while (strlen(name) < 253) {
		memmove(name + 1, name, strlen(name) + 1);
		name[0] = 'b';
	}
	assert_int_equal(strlen(name), 253);
	assert_int_equal(cf_name_normalize(name, false, out, &err), 0);
	strcat(name, ".");
	assert_int_equal(cf_name_normalize(name, false, out, &err), 0);
	memmove(name + 1, name, strlen(name) + 1);
	name[0] = 'b';
	assert_int_equal(cf_name_normalize(name, false, out, &err), -1);
	assert_non_null(strstr(err.msg, "253"));

	/* a valid name whose challenge record would be too long */
	memset(name, 0, sizeof(name));
	long_name(name, 250, 20);
	assert_int_equal(cf_name_normalize(name, false, out, &err), 0);
	assert_int_equal(cf_challenge_record(out, rec, &err), -1);
	assert_non_null(strstr(err.msg, "challenge record"));
}

static void test_compare(void **state)
{
	char out[CF_NAME_MAX + 1];
	cf_err err = { 0 };

	assert_true(cf_name_equal("Example.COM.", "example.com"));
	assert_true(cf_name_equal("example.com", "EXAMPLE.com."));
	assert_false(cf_name_equal("example.com", "example.co"));
	assert_false(cf_name_equal("a.example.com", "example.com"));
	assert_true(cf_name_is_under("www.Example.com.", "example.com"));
	assert_true(cf_name_is_under("example.com", "example.com."));
	assert_false(cf_name_is_under("badexample.com", "example.com"));
	assert_false(cf_name_is_under("example.com", "www.example.com"));
	assert_true(cf_name_is_under("x.y", "."));

	/* targets are DNS names: underscores allowed, wildcards not */
	assert_int_equal(cf_target_normalize("_acme-challenge.X.Alias.Test.", out, &err), 0);
	assert_string_equal(out, "_acme-challenge.x.alias.test");
	assert_int_equal(cf_target_normalize("*.alias.test", out, &err), -1);
	assert_int_equal(cf_target_normalize("alias..test", out, &err), -1);
	assert_int_equal(cf_target_normalize("single", out, &err), -1);
}

static const char *const order[] = { "*.Example.test", "example.test.", "www.example.test" };

static void test_plan_none(void **state)
{
	cf_alias_spec spec = { .mode = CF_ALIAS_NONE };
	cf_alias_plan plan = { 0 };
	cf_err err = { 0 };

	assert_int_equal(cf_alias_plan_build(order, 3, &spec, NULL, &plan, &err), 0);
	assert_int_equal(plan.n, 2);
	assert_string_equal(plan.t[0].record, "_acme-challenge.example.test");
	assert_string_equal(plan.t[0].target, "_acme-challenge.example.test");
	assert_int_equal(plan.t[0].nnames, 2);
	assert_int_equal(plan.t[0].names[0], 0);
	assert_int_equal(plan.t[0].names[1], 1);
	assert_string_equal(plan.t[1].record, "_acme-challenge.www.example.test");
	assert_string_equal(plan.t[1].target, "_acme-challenge.www.example.test");
	assert_int_equal(plan.t[1].nnames, 1);
	assert_int_equal(plan.t[1].names[0], 2);
	cf_alias_plan_free(&plan);

	/* a NULL spec means no alias */
	assert_int_equal(cf_alias_plan_build(order, 1, NULL, NULL, &plan, &err), 0);
	assert_string_equal(plan.t[0].target, "_acme-challenge.example.test");
	cf_alias_plan_free(&plan);
}

static void test_plan_one(void **state)
{
	cf_alias_spec spec = { .mode = CF_ALIAS_ONE, .one = "Shared.RFC-Alias.test." };
	cf_alias_plan plan = { 0 };
	cf_err err = { 0 };

	assert_int_equal(cf_alias_plan_build(order, 3, &spec, NULL, &plan, &err), 0);
	assert_int_equal(plan.n, 2);
	assert_string_equal(plan.t[0].target, "shared.rfc-alias.test");
	assert_string_equal(plan.t[1].target, "shared.rfc-alias.test");
	cf_alias_plan_free(&plan);

	spec.one = "bad..alias.test";
	assert_int_equal(cf_alias_plan_build(order, 3, &spec, NULL, &plan, &err), -1);
	assert_non_null(strstr(err.msg, "alias"));
	assert_null(plan.t);
}

typedef struct map_case {
	const char *names[4];
	const char *targets[4];
	size_t n;
	const char *why; /* NULL: must succeed */
} map_case;

static const map_case map_cases[] = {
	{ { "*.example.test", "example.test", "www.example.test" },
	  { "a.alias.test", "A.alias.test.", "_acme-challenge.www.alias2.test" }, 3, NULL },
	{ { "*.example.test", "www.example.test" }, { "a.alias.test", "b.alias.test" }, 2,
	  "no target for example.test" },
	{ { "*.example.test", "example.test", "www.example.test", "api.example.test" },
	  { "a.alias.test", "a.alias.test", "b.alias.test", "c.alias.test" }, 4,
	  "api.example.test, which is not one of the certificate's names" },
	{ { "*.example.test", "example.test", "www.example.test" },
	  { "a.alias.test", "b.alias.test", "c.alias.test" }, 3,
	  "share the challenge record _acme-challenge.example.test" },
	{ { "*.example.test", "example.test", "www.example.test" },
	  { "a.alias.test", "a.alias.test", "c..alias.test" }, 3, "target for www.example.test" },
	{ { "*.example.test", "example.test", "WWW.example.test", "www.example.test" },
	  { "a.alias.test", "a.alias.test", "c.alias.test", "c.alias.test" }, 4, "twice" },
};

static void test_plan_map(void **state)
{
	size_t i;

	for (i = 0; i < sizeof(map_cases) / sizeof(map_cases[0]); i++) {
		const map_case *mc = &map_cases[i];
		cf_alias_spec spec = { .mode = CF_ALIAS_MAP, .map_names = (char **)mc->names,
				       .map_targets = (char **)mc->targets, .nmap = mc->n };
		cf_alias_plan plan = { 0 };
		cf_err err = { 0 };
		int rc = cf_alias_plan_build(order, 3, &spec, NULL, &plan, &err);

		if (mc->why == NULL) {
			if (rc != 0)
				fail_msg("map case %zu: %s", i, err.msg);
			assert_int_equal(plan.n, 2);
			assert_string_equal(plan.t[0].target, "a.alias.test");
			assert_string_equal(plan.t[1].target, "_acme-challenge.www.alias2.test");
		} else {
			assert_int_equal(rc, -1);
			assert_int_equal(err.cls, CF_ERR_PERMANENT);
			if (strstr(err.msg, mc->why) == NULL)
				fail_msg("map case %zu: \"%s\" lacks \"%s\"", i, err.msg, mc->why);
		}
		cf_alias_plan_free(&plan);
	}
}

static void test_plan_errors(void **state)
{
	const char *dup[] = { "www.example.test", "WWW.example.test." };
	const char *bad[] = { "www.example.test", "under_score.example.test" };
	cf_alias_spec spec = { .mode = CF_ALIAS_AUTO };
	cf_dns_servers none = { 0 };
	cf_alias_plan plan = { 0 };
	cf_err err = { 0 };

	assert_int_equal(cf_alias_plan_build(dup, 2, NULL, NULL, &plan, &err), -1);
	assert_non_null(strstr(err.msg, "twice"));
	assert_int_equal(cf_alias_plan_build(bad, 2, NULL, NULL, &plan, &err), -1);
	assert_non_null(strstr(err.msg, "under_score"));
	assert_int_equal(cf_alias_plan_build(bad, 0, NULL, NULL, &plan, &err), -1);
	/* auto needs DNS: with no servers it fails before any packet is sent */
	assert_int_equal(cf_alias_plan_build(order, 3, &spec, &none, &plan, &err), -1);
	assert_non_null(strstr(err.msg, "no DNS servers"));
	assert_null(plan.t);
}

static void test_spec_free(void **state)
{
	cf_alias_spec spec = { .mode = CF_ALIAS_MAP, .nmap = 2 };

	spec.one = strdup("x.test");
	spec.map_names = calloc(2, sizeof(char *));
	spec.map_targets = calloc(2, sizeof(char *));
	spec.map_names[0] = strdup("a.test");
	spec.map_names[1] = strdup("b.test");
	spec.map_targets[0] = strdup("c.test");
	spec.map_targets[1] = strdup("d.test");
	cf_alias_spec_free(&spec); /* leaks show up under ASan */
	assert_null(spec.map_names);
	assert_int_equal(spec.nmap, 0);
}

typedef struct server_case {
	const char *in;
	const char *ip; /* NULL: must fail */
	uint16_t port;
	const char *str;
} server_case;

static const server_case server_cases[] = {
	{ "192.0.2.1", "192.0.2.1", 53, "192.0.2.1:53" },
	{ "192.0.2.1:5353", "192.0.2.1", 5353, "192.0.2.1:5353" },
	{ "[::1]", "::1", 53, "[::1]:53" },
	{ "[2001:DB8::1]:5353", "2001:db8::1", 5353, "[2001:db8::1]:5353" },
	{ "2001:db8::2", "2001:db8::2", 53, "[2001:db8::2]:53" },
	{ "", NULL, 0, NULL },
	{ "ns1.example.test", NULL, 0, NULL },
	{ "192.0.2.1:0", NULL, 0, NULL },
	{ "192.0.2.1:65536", NULL, 0, NULL },
	{ "192.0.2.1:", NULL, 0, NULL },
	{ "192.0.2.1:53x", NULL, 0, NULL },
	{ "999.0.2.1", NULL, 0, NULL },
	{ "[::1", NULL, 0, NULL },
	{ "[::1]x", NULL, 0, NULL },
	{ "[192.0.2.1]", NULL, 0, NULL },
};

static void test_servers(void **state)
{
	cf_dns_servers l = { 0 };
	char buf[CF_DNS_SERVER_STRLEN];
	cf_err err = { 0 };
	size_t i;

	for (i = 0; i < sizeof(server_cases) / sizeof(server_cases[0]); i++) {
		const server_case *sc = &server_cases[i];
		cf_dns_servers one = { 0 };
		int rc = cf_dns_servers_add(&one, sc->in, &err);

		if (sc->ip == NULL) {
			if (rc == 0)
				fail_msg("accepted server \"%s\"", sc->in);
			continue;
		}
		if (rc != 0)
			fail_msg("server \"%s\": %s", sc->in, err.msg);
		assert_int_equal(one.n, 1);
		assert_string_equal(one.s[0].ip, sc->ip);
		assert_int_equal(one.s[0].port, sc->port);
		cf_dns_server_str(&one.s[0], buf);
		assert_string_equal(buf, sc->str);
	}

	/* lists: commas or blanks, duplicates once, at most CF_DNS_MAX_SERVERS */
	assert_int_equal(cf_dns_servers_parse(&l, "192.0.2.1, 192.0.2.2:54,192.0.2.1", &err), 0);
	assert_int_equal(l.n, 2);
	assert_int_equal(l.s[1].port, 54);
	assert_int_equal(cf_dns_servers_parse(&l, " , ", &err), -1);
	for (i = 0; i < CF_DNS_MAX_SERVERS; i++) {
		snprintf(buf, sizeof(buf), "198.51.100.%zu", i);
		if (cf_dns_servers_add(&l, buf, &err) != 0)
			break;
	}
	assert_int_equal(l.n, CF_DNS_MAX_SERVERS);
	assert_non_null(strstr(err.msg, "too many"));
}

static void test_resolv_conf(void **state)
{
	char path[] = "/tmp/test_dns_names_XXXXXX";
	cf_dns_servers l = { 0 };
	cf_err err = { 0 };
	int fd = mkstemp(path);
	FILE *f;

	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	assert_non_null(f);
	fputs("# a comment\nsearch example.test\nnameserver 192.0.2.53\n"
	      "nameserver fe80::1%eth0\nnameserver ::1\nnameserver not-an-ip\n"
	      "options ndots:2\n", f);
	fclose(f);
	assert_int_equal(cf_dns_servers_from_resolv_conf(&l, path, &err), 0);
	assert_int_equal(l.n, 2);
	assert_string_equal(l.s[0].ip, "192.0.2.53");
	assert_string_equal(l.s[1].ip, "::1");

	f = fopen(path, "w");
	assert_non_null(f);
	fputs("search example.test\n", f);
	fclose(f);
	memset(&l, 0, sizeof(l));
	assert_int_equal(cf_dns_servers_from_resolv_conf(&l, path, &err), -1);
	assert_non_null(strstr(err.msg, "no usable nameserver"));
	unlink(path);
	assert_int_equal(cf_dns_servers_from_resolv_conf(&l, path, &err), -1);
}

static void test_propagation_parse(void **state)
{
	cf_propagation p;

	assert_int_equal(cf_propagation_parse("authoritative", &p), 0);
	assert_int_equal(p, CF_PROP_AUTHORITATIVE);
	assert_int_equal(cf_propagation_parse("resolvers", &p), 0);
	assert_int_equal(p, CF_PROP_RESOLVERS);
	assert_int_equal(cf_propagation_parse("none", &p), 0);
	assert_int_equal(p, CF_PROP_NONE);
	assert_int_equal(cf_propagation_parse("dig", &p), -1);
	assert_string_equal(cf_propagation_name(CF_PROP_RESOLVERS), "resolvers");
	/* none returns at once, whatever the servers */
	assert_int_equal(cf_dns_wait_txt(CF_PROP_NONE, NULL, NULL, 0, 10, NULL), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_names),   cmocka_unit_test(test_bad_names),
		cmocka_unit_test(test_lengths),      cmocka_unit_test(test_compare),
		cmocka_unit_test(test_plan_none),    cmocka_unit_test(test_plan_one),
		cmocka_unit_test(test_plan_map),     cmocka_unit_test(test_plan_errors),
		cmocka_unit_test(test_spec_free),    cmocka_unit_test(test_servers),
		cmocka_unit_test(test_resolv_conf),  cmocka_unit_test(test_propagation_parse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
