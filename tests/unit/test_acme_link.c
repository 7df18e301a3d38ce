/*
 * test_acme_link.c: Link header parsing (RFC 8288) as the certificate download
 * uses it: alternates among other relations, several links in one value, quoted
 * parameters with commas, relation lists, and malformed values.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "acme/acme_int.h"

static size_t parse(const char *value, const char *rel, char **urls, size_t max, int want_rc)
{
	size_t n = 0;

	assert_int_equal(cf_acme_link_parse(value, rel, urls, max, &n), want_rc);
	return n;
}

static void free_urls(char **urls, size_t n)
{
	while (n > 0)
		free(urls[--n]);
}

static void test_single_alternate(void **state)
{
	char *u[4];
	size_t n;

	(void)state;
	n = parse("<https://ca.test/acme/cert/mAt3xBGaobw/1>;rel=\"alternate\"", "alternate", u, 4, 0);
	assert_int_equal(n, 1);
	assert_string_equal(u[0], "https://ca.test/acme/cert/mAt3xBGaobw/1");
	free_urls(u, n);
	/* token form of rel, blanks around separators, case of the relation */
	n = parse("<https://ca.test/c/2> ; REL = Alternate", "alternate", u, 4, 0);
	assert_int_equal(n, 1);
	assert_string_equal(u[0], "https://ca.test/c/2");
	free_urls(u, n);
}

static void test_mixed_relations(void **state)
{
	char *u[4];
	size_t n;
	const char *v = "<https://ca.test/dir>;rel=\"index\", "
			"<https://ca.test/c/1>;title=\"a, b; c\";rel=\"alternate\","
			"<https://ca.test/issuer>;rel=up, "
			"<https://ca.test/c/2>; rel=\"next alternate\"";

	(void)state;
	n = parse(v, "alternate", u, 4, 0);
	assert_int_equal(n, 2);
	assert_string_equal(u[0], "https://ca.test/c/1");
	assert_string_equal(u[1], "https://ca.test/c/2");
	free_urls(u, n);
	n = parse(v, "up", u, 4, 0);
	assert_int_equal(n, 1);
	assert_string_equal(u[0], "https://ca.test/issuer");
	free_urls(u, n);
	n = parse(v, "index", u, 4, 0);
	assert_int_equal(n, 1);
	free_urls(u, n);
	/* "alternate" is not matched by a prefix or a suffix */
	n = parse("<https://ca.test/x>;rel=\"alternates\", <https://ca.test/y>;rel=\"xalternate\"",
		  "alternate", u, 4, 0);
	assert_int_equal(n, 0);
}

static void test_only_https_and_max(void **state)
{
	char *u[2];
	size_t n;

	(void)state;
	n = parse("<http://ca.test/c/1>;rel=alternate, </relative/2>;rel=alternate, "
		  "<https://ca.test/c/3>;rel=alternate",
		  "alternate", u, 2, 0);
	assert_int_equal(n, 1);
	assert_string_equal(u[0], "https://ca.test/c/3");
	free_urls(u, n);
	n = parse("<https://a.test/1>;rel=alternate,<https://a.test/2>;rel=alternate,"
		  "<https://a.test/3>;rel=alternate",
		  "alternate", u, 2, 0);
	assert_int_equal(n, 2); /* capped at max, the rest ignored */
	free_urls(u, n);
	/* a target with a blank or a quote is not a URL we follow */
	n = parse("<https://a.test/a b>;rel=alternate", "alternate", u, 2, 0);
	assert_int_equal(n, 0);
}

static void test_malformed(void **state)
{
	char *u[4];
	size_t n;

	(void)state;
	parse("https://ca.test/c/1;rel=alternate", "alternate", u, 4, -1);
	parse("<https://ca.test/c/1;rel=alternate", "alternate", u, 4, -1);
	parse("<https://ca.test/c/1>;rel=\"alternate", "alternate", u, 4, -1);
	parse("<https://ca.test/c/1>;=x", "alternate", u, 4, -1);
	parse("<https://ca.test/c/1> junk", "alternate", u, 4, -1);
	/* links before the fault are kept */
	n = parse("<https://ca.test/c/1>;rel=alternate, garbage", "alternate", u, 4, -1);
	assert_int_equal(n, 1);
	free_urls(u, n);
	/* empty values are fine and yield nothing */
	assert_int_equal(parse("", "alternate", u, 4, 0), 0);
	assert_int_equal(parse(" , ", "alternate", u, 4, 0), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_single_alternate),
		cmocka_unit_test(test_mixed_relations),
		cmocka_unit_test(test_only_https_and_max),
		cmocka_unit_test(test_malformed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
