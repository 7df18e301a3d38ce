/*
 * test_ctl.c: the pure parts of `certfleet ctl` (cmd/ctl.h), table driven: a
 * verb's option parsing (values given both ways, flags, unknown options, a
 * missing value, "-" as a positional for stdin), percent-encoding of path
 * segments and query values, timestamps, and the cells of tables (lists cut
 * after three, maps as k=v, timestamps to seconds, days left, yes/no, nulls as
 * "-", line breaks of a server's message flattened). The requests themselves are
 * tested against a real serve (tests/integration/test_ctl.py).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmd/ctl.h"

static void test_args(void **state)
{
	char *argv[] = { "web", "--reason", "keyCompromise", "--replace", "--version=3", "-",
			 "--reason=4", NULL };
	ctl_args a;
	cf_err err = { 0 };

	assert_int_equal(ctl_args_parse(7, argv, "--reason= --version= --replace --watch", &a,
					&err), 0);
	assert_int_equal(a.npos, 2);
	assert_string_equal(a.pos[0], "web");
	assert_string_equal(a.pos[1], "-");
	assert_string_equal(ctl_arg(&a, "--reason"), "4"); /* the last one wins */
	assert_string_equal(ctl_arg(&a, "--version"), "3");
	assert_true(ctl_flag(&a, "--replace"));
	assert_false(ctl_flag(&a, "--watch"));
	assert_null(ctl_arg(&a, "--watch"));
	assert_true(ctl_opt_is(&a.opt[2], "--version"));
	assert_false(ctl_opt_is(&a.opt[2], "--ver"));
	ctl_args_free(&a);

	static struct {
		int argc;
		char *argv[3];
		const char *msg;
	} bad[] = {
		{ 1, { "--bogus" }, "unknown option --bogus" },
		{ 1, { "--reason" }, "--reason needs a value" },
		{ 1, { "--replace=yes" }, "--replace takes no value" },
		{ 1, { "--reasonable" }, "unknown option --reasonable" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(ctl_args_parse(bad[i].argc, bad[i].argv, "--reason= --replace", &a,
						&err), -1);
		assert_string_equal(err.msg, bad[i].msg);
		ctl_args_free(&a);
	}
}

static void test_seg_and_query(void **state)
{
	char out[64];
	cf_buf q = { 0 };

	assert_string_equal(ctl_seg("web-01.example_x~", out, sizeof(out)), "web-01.example_x~");
	assert_string_equal(ctl_seg("a/b?c=d&e f%", out, sizeof(out)), "a%2Fb%3Fc%3Dd%26e%20f%25");
	assert_string_equal(ctl_seg("", out, sizeof(out)), "");
	assert_null(ctl_seg("abcdef", out, 6));   /* no room for the NUL */
	assert_null(ctl_seg("a/", out, 3));       /* %2F does not fit */
	assert_int_equal(ctl_query_add(&q, "since", "2026-01-01T00:00:00Z"), 0);
	assert_int_equal(ctl_query_add(&q, "actor", "web 01"), 0);
	assert_string_equal((char *)q.data, "since=2026-01-01T00%3A00%3A00Z&actor=web%2001");
	cf_buf_free(&q);
}

static void test_time(void **state)
{
	assert_int_equal(ctl_time_parse("1970-01-01T00:00:00.000Z"), 0);
	assert_int_equal(ctl_time_parse("2026-12-08T02:04:01.123Z"), 1796695441LL);
	assert_int_equal(ctl_time_parse("2026-12-08"), -1);
	assert_int_equal(ctl_time_parse("yesterday"), -1);
	assert_int_equal(ctl_time_parse(NULL), -1);
}

static void test_cells(void **state)
{
	char future[32], past[32];
	time_t now = time(NULL);
	json_t *row;

	strftime(future, sizeof(future), "%Y-%m-%dT%H:%M:%S.000Z",
		 gmtime(&(time_t){ now + 10 * 86400 + 3600 }));
	strftime(past, sizeof(past), "%Y-%m-%dT%H:%M:%S.000Z",
		 gmtime(&(time_t){ now - 2 * 86400 - 3600 }));
	row = json_pack("{s:[s,s,s,s,s], s:[], s:{s:s,s:s}, s:s, s:s, s:s, s:b, s:n, s:f, s:i,"
			" s:s, s:{s:{s:s}}}",
			"domains", "a.test", "b.test", "c.test", "d.test", "e.test", "hosts", "alias",
			"a.test", "x.test", "b.test", "y.test", "at", "2026-12-08T02:04:01.123Z",
			"exp", future, "gone", past, "current", 1, "revoked_at", "fraction",
			0.6667, "version", 3, "message", "line one\nline\ttwo", "cv", "v", "s", "abc");
	static const struct {
		ctl_col col;
		const char *want;
	} cases[] = {
		{ { "D", "domains", CTL_LIST }, "a.test, b.test, c.test +2" },
		{ { "D", "domains", CTL_ALL }, "a.test, b.test, c.test, d.test, e.test" },
		{ { "H", "hosts", CTL_LIST }, "-" },
		{ { "A", "alias", CTL_LIST }, "a.test=x.test, b.test=y.test" },
		{ { "T", "at", CTL_TIME }, "2026-12-08 02:04:01" },
		{ { "T", "revoked_at", CTL_TIME }, "-" },
		{ { "E", "exp", CTL_DAYS }, "10" },
		{ { "G", "gone", CTL_DAYS }, "-3" },
		{ { "C", "current", CTL_BOOL }, "yes" },
		{ { "C", "missing", CTL_BOOL }, "-" },
		{ { "F", "fraction", CTL_STR }, "0.6667" },
		{ { "V", "version", CTL_STR }, "3" },
		{ { "M", "message", CTL_STR }, "line one line two" },
		{ { "P", "cv.v.s", CTL_STR }, "abc" },
		{ { "P", "cv.v", CTL_STR }, "{\"s\":\"abc\"}" },
		{ { "P", "cv.nothing.s", CTL_STR }, "-" },
	};
	assert_non_null(row);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *s = ctl_cell(row, &cases[i].col);

		assert_non_null(s);
		if (strcmp(s, cases[i].want) != 0)
			fail_msg("%s (%d): \"%s\", want \"%s\"", cases[i].col.path, cases[i].col.fmt, s,
				 cases[i].want);
		free(s);
	}
	json_decref(row);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_args),
		cmocka_unit_test(test_seg_and_query),
		cmocka_unit_test(test_time),
		cmocka_unit_test(test_cells),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
