/*
 * test_provider_exec.c: the exec provider: validate() (table-driven: each bad
 * settings object fails naming the setting), the environment name of a setting,
 * the bounded output tail and the scrubbing of secrets, and a few runs of small
 * shell scripts written to /tmp: the lego argument convention and a clean
 * environment, a non-zero exit carrying stderr (secrets scrubbed, EX_TEMPFAIL
 * transient), a timeout killing the process group, and strays killed when the
 * program exits.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "providers/exec.h"
#include "providers/provider.h"

#define SECRET "exec-secret-value-never-shown"

static char script[64], outfile[64], pidfile[64];

/* Writes body as an executable /bin/sh script at script. */
static void write_script(const char *body)
{
	FILE *f = fopen(script, "w");

	assert_non_null(f);
	fprintf(f, "#!/bin/sh\n%s\n", body);
	fclose(f);
	assert_int_equal(chmod(script, 0755), 0);
}

static int setup(void **state)
{
	int fd;

	snprintf(script, sizeof(script), "/tmp/cf-exec-test-XXXXXX");
	fd = mkstemp(script);
	if (fd < 0)
		return -1;
	close(fd);
	snprintf(outfile, sizeof(outfile), "%s.out", script);
	snprintf(pidfile, sizeof(pidfile), "%s.pid", script);
	return 0;
}

static int teardown(void **state)
{
	unlink(script);
	unlink(outfile);
	unlink(pidfile);
	return 0;
}

static void test_env_name_tail_scrub(void **state)
{
	char out[128], big[CF_EXEC_TAIL_MAX + 100], got[CF_EXEC_TAIL_MAX + 1];
	cf_exec_tail t = { 0 };
	char text[128];

	assert_int_equal(cf_exec_env_name("tsig_secret", out, sizeof(out)), 0);
	assert_string_equal(out, "CERTFLEET_SETTING_TSIG_SECRET");
	assert_int_equal(cf_exec_env_name("api.key-2", out, sizeof(out)), 0);
	assert_string_equal(out, "CERTFLEET_SETTING_API_KEY_2");
	assert_int_equal(cf_exec_env_name("bad key", out, sizeof(out)), -1);
	assert_int_equal(cf_exec_env_name("", out, sizeof(out)), -1);
	assert_int_equal(cf_exec_env_name("x=y", out, sizeof(out)), -1);
	assert_int_equal(cf_exec_env_name("abc", out, 20), -1);

	cf_exec_tail_append(&t, "hello ", 6);
	cf_exec_tail_append(&t, "world", 5);
	assert_int_equal(cf_exec_tail_get(&t, got, sizeof(got)), 11);
	assert_string_equal(got, "hello world");
	assert_int_equal(cf_exec_tail_get(&t, got, 6), 5);
	assert_string_equal(got, "world"); /* the newest bytes stay */
	memset(big, 'a', sizeof(big));
	big[sizeof(big) - 1] = 'z';
	cf_exec_tail_append(&t, big, sizeof(big));
	assert_int_equal(cf_exec_tail_get(&t, got, sizeof(got)), CF_EXEC_TAIL_MAX);
	assert_int_equal(got[CF_EXEC_TAIL_MAX - 1], 'z');
	assert_int_equal(got[0], 'a');
	assert_int_equal(t.dropped, 11 + sizeof(big) - CF_EXEC_TAIL_MAX);

	snprintf(text, sizeof(text), "key %s and %s.", SECRET, SECRET);
	cf_exec_scrub(text, SECRET);
	assert_string_equal(text, "key *** and ***.");
	snprintf(text, sizeof(text), "abc");
	cf_exec_scrub(text, "ab"); /* too short to scrub */
	assert_string_equal(text, "abc");
}

static void test_validate(void **state)
{
	const cf_provider_ops *ops = cf_provider_find("exec");
	static const struct {
		const char *json, *setting;
	} cases[] = {
		{ "{\"command\":\"/bin/sh\"}", NULL },
		{ "{\"command\":\"/bin/sh\",\"timeout\":\"5\",\"server\":\"x\",\"tsig.name\":\"k\"}",
		  NULL },
		{ "{}", "command" },
		{ "{\"command\":\"sh\"}", "command" },
		{ "{\"command\":\"/nonexistent/hook\"}", "command" },
		{ "{\"command\":\"/tmp\"}", "command" },
		{ "{\"command\":\"/etc/passwd\"}", "command" },
		{ "{\"command\":\"/bin/sh\",\"timeout\":\"0\"}", "timeout" },
		{ "{\"command\":\"/bin/sh\",\"timeout\":\"3601\"}", "timeout" },
		{ "{\"command\":\"/bin/sh\",\"bad key\":\"v\"}", "bad key" },
		{ "{\"command\":\"/bin/sh\",\"num\":5}", "num" },
		{ "{\"command\":\"/bin/sh\",\"a-b\":\"1\",\"a_b\":\"2\"}", "CERTFLEET_SETTING_A_B" },
	};
	size_t i;

	assert_ptr_equal(ops, &cf_provider_exec);
	assert_true(cf_provider_is_secret(ops, "tsig_secret"));
	assert_true(cf_provider_is_secret(ops, "password"));
	assert_true(cf_provider_is_secret(ops, "server")); /* all but command, timeout */
	assert_true(cf_provider_is_secret(ops, "any_other"));
	assert_false(cf_provider_is_secret(ops, "command"));
	assert_false(cf_provider_is_secret(ops, "timeout"));
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *s = json_loads(cases[i].json, 0, NULL);
		cf_err err = { 0 };
		int rc;

		if (s == NULL)
			fail_msg("case %zu: bad JSON", i);
		rc = ops->validate(s, &err);
		if (cases[i].setting == NULL && rc != 0)
			fail_msg("case %zu refused: %s", i, err.msg);
		if (cases[i].setting != NULL &&
		    (rc == 0 || strstr(err.msg, cases[i].setting) == NULL))
			fail_msg("case %zu: rc %d, \"%s\" does not name %s", i, rc, err.msg,
				 cases[i].setting);
		json_decref(s);
	}
	/* a program any user could replace */
	write_script("exit 0");
	chmod(script, 0757);
	{
		json_t *s = json_pack("{s:s}", "command", script);
		cf_err err = { 0 };

		assert_int_equal(ops->validate(s, &err), -1);
		assert_non_null(strstr(err.msg, "writable"));
		json_decref(s);
	}
}

/* Runs present (or cleanup) with settings {command: script, extra...}. */
static int run(bool present, const char *value, json_t *extra, cf_err *err)
{
	const cf_provider_ops *ops = cf_provider_find("exec");
	json_t *s = extra ? extra : json_object();
	cf_provider_ctx ctx = { .timeout_ms = 1000 };
	int rc;

	json_object_set_new(s, "command", json_string(script));
	ctx.settings = s;
	rc = ops->validate(s, err);
	if (rc == 0)
		rc = (present ? ops->present : ops->cleanup)(&ctx, "X.Alias.Test", value, err);
	json_decref(s);
	return rc;
}

static char *slurp(const char *path)
{
	static char buf[8192];
	FILE *f = fopen(path, "r");
	size_t n;

	assert_non_null(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static void test_arguments_and_environment(void **state)
{
	cf_err err = { 0 };
	char body[512], *got;

	snprintf(body, sizeof(body),
		 "{ echo \"args:$#:$1:$2:$3\"; echo \"cwd:$(pwd)\"; env | sort; "
		 "read -r line && echo \"stdin:$line\"; } > %s\necho noise; echo noise >&2",
		 outfile);
	write_script(body);
	setenv("CERTFLEET_MASTER_KEY", "must-not-leak", 1);
	assert_int_equal(run(true, "-value-", json_pack("{s:s,s:s}", "server", "192.0.2.1",
						       "tsig.secret", SECRET),
			     &err),
			 0);
	unsetenv("CERTFLEET_MASTER_KEY");
	got = slurp(outfile);
	assert_non_null(strstr(got, "args:3:present:x.alias.test.:-value-\n"));
	assert_non_null(strstr(got, "cwd:/\n"));
	assert_non_null(strstr(got, "CERTFLEET_SETTING_SERVER=192.0.2.1\n"));
	assert_non_null(strstr(got, "CERTFLEET_SETTING_TSIG_SECRET=" SECRET "\n"));
	assert_non_null(strstr(got, "PATH=/usr/local/sbin:"));
	assert_null(strstr(got, "must-not-leak"));
	assert_null(strstr(got, "CERTFLEET_SETTING_COMMAND"));
	assert_null(strstr(got, "stdin:")); /* stdin is /dev/null */
	assert_int_equal(run(false, "v", NULL, &err), 0);
	assert_non_null(strstr(slurp(outfile), "args:3:cleanup:x.alias.test.:v\n"));
}

static void test_exit_status(void **state)
{
	cf_err err = { 0 };

	write_script("echo progress; echo \"zone refused the key $CERTFLEET_SETTING_PASSWORD\" >&2;"
		     " exit 3");
	assert_int_equal(run(true, "v1", json_pack("{s:s}", "password", SECRET), &err), -1);
	assert_int_equal(err.cls, CF_ERR_PERMANENT);
	assert_non_null(strstr(err.msg, "exited with status 3"));
	assert_non_null(strstr(err.msg, "zone refused the key ***"));
	assert_null(strstr(err.msg, SECRET));
	assert_null(strstr(err.msg, "progress")); /* stderr wins over stdout */

	write_script("echo only-stdout; exit 75");
	assert_int_equal(run(true, "v1", NULL, &err), -1);
	assert_int_equal(err.cls, CF_ERR_TRANSIENT);
	assert_non_null(strstr(err.msg, "only-stdout"));

	write_script("exit 9");
	assert_int_equal(run(false, "v1", NULL, &err), -1);
	assert_non_null(strstr(err.msg, "status 9 (no output)"));
}

/* true when pid is gone or a zombie (killed, not yet reaped by init). */
static bool dead(pid_t pid)
{
	char path[64], buf[256], *p;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return true;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	p = strrchr(buf, ')');
	return p != NULL && (p[2] == 'Z' || p[2] == 'X');
}

static pid_t read_pid(void)
{
	return (pid_t)atol(slurp(pidfile));
}

static void test_timeout_and_strays(void **state)
{
	struct timespec t0, t1;
	cf_err err = { 0 };
	char body[256];
	pid_t pid;
	int i;

	snprintf(body, sizeof(body), "sleep 30 & echo $! > %s; echo waiting >&2; wait", pidfile);
	write_script(body);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(run(true, "v", json_pack("{s:s}", "timeout", "1"), &err), -1);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_int_equal(err.cls, CF_ERR_TRANSIENT);
	assert_non_null(strstr(err.msg, "did not finish within 1 s"));
	assert_non_null(strstr(err.msg, "waiting"));
	assert_true(t1.tv_sec - t0.tv_sec < 4);
	pid = read_pid();
	for (i = 0; i < 100 && !dead(pid); i++)
		usleep(10000);
	assert_true(dead(pid)); /* the whole group was killed */

	/* exits at once but leaves a child holding the pipes: killed, no long wait */
	snprintf(body, sizeof(body), "sleep 30 & echo $! > %s; exit 0", pidfile);
	write_script(body);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(run(true, "v", NULL, &err), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_true(t1.tv_sec - t0.tv_sec < 3);
	pid = read_pid();
	for (i = 0; i < 100 && !dead(pid); i++)
		usleep(10000);
	assert_true(dead(pid));
}

/* The operator's folder (CERTFLEET_EXEC_DIR): required by serve; one message
 * for every failure. Runs last: the rule is process-wide. */
static void check_policy(const char *command, const char *want)
{
	const cf_provider_ops *ops = cf_provider_find("exec");
	json_t *s = json_pack("{s:s}", "command", command);
	cf_err err = { 0 };
	int rc = ops->validate(s, &err);

	if (want == NULL && rc != 0)
		fail_msg("%s refused: %s", command, err.msg);
	if (want != NULL && (rc == 0 || strstr(err.msg, want) == NULL))
		fail_msg("%s: rc %d, \"%s\" lacks \"%s\"", command, rc, err.msg, want);
	json_decref(s);
}

static void test_exec_dir(void **state)
{
	const char *bad = "not an executable file directly inside CERTFLEET_EXEC_DIR";
	cf_err err = { 0 };

	cf_exec_policy_set("", true);
	check_policy("/usr/bin/dash", "CERTFLEET_EXEC_DIR");
	cf_exec_policy_set("/usr/bin/", true);
	check_policy("/usr/bin/dash", NULL);
	check_policy("/usr/bin/sh", bad);          /* a symlink (to dash) */
	check_policy("/usr/bin/no-such-program", bad);
	check_policy("/usr/bin/../bin/dash", bad); /* not directly inside */
	check_policy("/bin/dash", bad);
	check_policy("dash", bad);
	assert_int_equal(cf_exec_dir_check("/usr/bin", &err), 0);
	assert_int_equal(cf_exec_dir_check("/tmp", &err), -1); /* writable by all */
	assert_non_null(strstr(err.msg, "writable by no one else"));
	cf_err_clear(&err);
	cf_exec_policy_set(NULL, false);
	check_policy("/usr/bin/sh", NULL); /* the CLI without the setting */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_env_name_tail_scrub),
		cmocka_unit_test_setup_teardown(test_validate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_arguments_and_environment, setup, teardown),
		cmocka_unit_test_setup_teardown(test_exit_status, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timeout_and_strays, setup, teardown),
		cmocka_unit_test(test_exec_dir),
	};

	signal(SIGPIPE, SIG_IGN); /* as the service does; the child must not inherit it */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
