/*
 * test_config.c: the settings table (defaults, environment, file, errors naming
 * the setting), the help listing, the migrations folder's default, host:port
 * parsing, and the HTTP route matcher.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "http/http.h"

static void clear_env(void)
{
	const char *names[] = {"CERTFLEET_DATABASE_URL", "CERTFLEET_LISTEN", "CERTFLEET_WORKERS",
			       "CERTFLEET_CONFIG", "CERTFLEET_LOG_LEVEL", "CERTFLEET_MAX_BODY"};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		unsetenv(names[i]);
}

static void test_hostport(void **state)
{
	static const struct {
		const char *in;
		int ok;
		const char *host;
		unsigned port;
	} cases[] = {
		{"127.0.0.1:8080", 1, "127.0.0.1", 8080},
		{"[::1]:443", 1, "::1", 443},
		{"0.0.0.0:1", 1, "0.0.0.0", 1},
		{"127.0.0.1", 0, NULL, 0},
		{"127.0.0.1:0", 0, NULL, 0},
		{"127.0.0.1:65536", 0, NULL, 0},
		{":80", 0, NULL, 0},
		{"::1:80", 0, NULL, 0},
		{"[::1]80", 0, NULL, 0},
		{"1.2.3.4:8x", 0, NULL, 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char host[64];
		unsigned port = 0;
		int rc = cf_parse_hostport(cases[i].in, host, sizeof(host), &port);
		if (cases[i].ok) {
			assert_int_equal(rc, 0);
			assert_string_equal(host, cases[i].host);
			assert_int_equal(port, cases[i].port);
		} else {
			assert_int_equal(rc, -1);
		}
	}
}

static void test_defaults_and_required(void **state)
{
	cf_config cfg;
	cf_err err = {0};

	clear_env();
	assert_int_equal(cf_config_load(&cfg, NULL, &err), -1);
	assert_non_null(strstr(err.msg, "CERTFLEET_DATABASE_URL"));
	setenv("CERTFLEET_DATABASE_URL", "postgresql://u@127.0.0.1/db", 1);
	assert_int_equal(cf_config_load(&cfg, NULL, &err), 0);
	assert_string_equal(cfg.listen, "127.0.0.1:8080");
	assert_int_equal(cfg.workers, 4);
	assert_int_equal(cfg.max_body, 1048576);
	cf_config_free(&cfg);
	setenv("CERTFLEET_WORKERS", "300", 1);
	assert_int_equal(cf_config_load(&cfg, NULL, &err), -1);
	assert_non_null(strstr(err.msg, "CERTFLEET_WORKERS"));
	clear_env();
}

static void test_file_then_env(void **state)
{
	char path[] = "/tmp/cf-config-XXXXXX";
	int fd = mkstemp(path);
	FILE *f = fdopen(fd, "w");
	cf_config cfg;
	cf_err err = {0};

	clear_env();
	fprintf(f, "# comment\n\nCERTFLEET_DATABASE_URL=dbname=x\nCERTFLEET_WORKERS=7\n"
		   "CERTFLEET_LISTEN=[::1]:9000\n");
	fclose(f);
	assert_int_equal(cf_config_load(&cfg, path, &err), 0);
	assert_int_equal(cfg.workers, 7);
	assert_string_equal(cfg.listen, "[::1]:9000");
	cf_config_free(&cfg);
	setenv("CERTFLEET_WORKERS", "9", 1);
	assert_int_equal(cf_config_load(&cfg, path, &err), 0);
	assert_int_equal(cfg.workers, 9);
	cf_config_free(&cfg);
	f = fopen(path, "a");
	fprintf(f, "CERTFLEET_TYPO=1\n");
	fclose(f);
	assert_int_equal(cf_config_load(&cfg, path, &err), -1);
	assert_non_null(strstr(err.msg, "CERTFLEET_TYPO"));
	unlink(path);
	clear_env();
}

static void test_routes(void **state)
{
	cf_http_req req = {0};
	int known = 0;

	assert_non_null(cf_route_match("GET", "/healthz", &req, &known));
	assert_non_null(cf_route_match("HEAD", "/readyz", &req, &known));
	assert_null(cf_route_match("POST", "/healthz", &req, &known));
	assert_int_equal(known, 1);
	assert_null(cf_route_match("GET", "/healthz/x", &req, &known));
	assert_int_equal(known, 0);
	assert_null(cf_route_match("GET", "/", &req, &known));
	for (size_t i = 0; i < req.nparams; i++)
		free(req.params[i]);
}

/* `certfleet help`: each setting once, one "(default: ...)" at most, none empty. */
static void test_help_lists_each_default_once(void **state)
{
	char *text = NULL, *line, *save = NULL;
	size_t len = 0;
	int lines = 0;
	FILE *f = open_memstream(&text, &len);

	assert_non_null(f);
	cf_config_print_help(f);
	assert_int_equal(fclose(f), 0);
	assert_non_null(strstr(text, "CERTFLEET_LISTEN"));
	for (line = strtok_r(text, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
		const char *first = strstr(line, "(default:");

		lines++;
		assert_null(strstr(line, "(default: )"));
		if (first != NULL)
			assert_null(strstr(first + 1, "(default:"));
		if (strstr(line, "CERTFLEET_DATABASE_URL ") != NULL)
			assert_non_null(strstr(line, "(required)"));
		if (strstr(line, "CERTFLEET_LISTEN ") != NULL)
			assert_non_null(strstr(line, "(default: 127.0.0.1:8080)"));
		if (strstr(line, "CERTFLEET_ACME_CA_FILE ") != NULL)
			assert_non_null(strstr(line, "(default: the system store)"));
		if (strstr(line, "CERTFLEET_MASTER_KEY ") != NULL)
			assert_null(first); /* empty default: the help says what to do */
	}
	assert_true(lines > 30);
	free(text);
}

/* The migrations folder defaults to the install path; this development build falls
 * back to the source tree's migrations/ only while that path does not exist. */
static void test_migrations_default(void **state)
{
	cf_config cfg;
	cf_err err = {0};
	struct stat sb;

	clear_env();
	unsetenv("CERTFLEET_MIGRATIONS_DIR");
	setenv("CERTFLEET_DATABASE_URL", "postgresql://x@localhost/db", 1);
	assert_int_equal(cf_config_load(&cfg, NULL, &err), 0);
	assert_non_null(strstr(CERTFLEET_MIGRATIONS_DIR, "/share/certfleet/migrations"));
	assert_true(CERTFLEET_MIGRATIONS_DIR[0] == '/');
#ifdef CERTFLEET_DEV_MIGRATIONS_DIR
	if (stat(CERTFLEET_MIGRATIONS_DIR, &sb) != 0)
		assert_string_equal(cfg.migrations_dir, CERTFLEET_DEV_MIGRATIONS_DIR);
	else
		assert_string_equal(cfg.migrations_dir, CERTFLEET_MIGRATIONS_DIR);
	assert_int_equal(stat(cfg.migrations_dir, &sb), 0);
#else
	assert_string_equal(cfg.migrations_dir, CERTFLEET_MIGRATIONS_DIR);
	(void)sb;
#endif
	cf_config_free(&cfg);
	setenv("CERTFLEET_MIGRATIONS_DIR", "/elsewhere", 1); /* a setting always wins */
	assert_int_equal(cf_config_load(&cfg, NULL, &err), 0);
	assert_string_equal(cfg.migrations_dir, "/elsewhere");
	cf_config_free(&cfg);
	unsetenv("CERTFLEET_MIGRATIONS_DIR");
	clear_env();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hostport),
		cmocka_unit_test(test_defaults_and_required),
		cmocka_unit_test(test_file_then_env),
		cmocka_unit_test(test_routes),
		cmocka_unit_test(test_help_lists_each_default_once),
		cmocka_unit_test(test_migrations_default),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
