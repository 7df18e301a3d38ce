/*
 * test_util.c: unit tests of the util layer: base64 and base64url (RFC 4648
 * vectors, round trips of every length, rejection of bad input), the growable
 * buffer (caps, printf, steal, secret free, cf_wipe), cf_err (set, wrap, oom,
 * problem documents, NULL errors), and the waiter's wake-ups (one, all, and a
 * wake-up of one that finds nobody waiting).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/b64.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/err.h"
#include "util/waiter.h"

/* ---- base64 ---- */

static void test_b64url_vectors(void **state)
{
	/* RFC 4648 section 10, without padding */
	static const char *const plain[] = {"",     "f",     "fo",    "foo",
					    "foob", "fooba", "foobar"};
	static const char *const enc[] = {"",       "Zg",      "Zm8",     "Zm9v",
					  "Zm9vYg", "Zm9vYmE", "Zm9vYmFy"};
	static const uint8_t special[] = {0xfb, 0xff, 0xbf};
	size_t i, n;
	char *s;
	uint8_t *d;

	for (i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
		s = cf_b64url_encode(plain[i], strlen(plain[i]));
		assert_non_null(s);
		assert_string_equal(s, enc[i]);
		free(s);
		d = cf_b64url_decode(enc[i], &n);
		assert_non_null(d);
		assert_int_equal(n, strlen(plain[i]));
		assert_memory_equal(d, plain[i], n);
		free(d);
	}
	/* the two characters that differ from standard base64 */
	s = cf_b64url_encode(special, sizeof(special));
	assert_string_equal(s, "-_-_");
	free(s);
	s = cf_b64_encode(special, sizeof(special));
	assert_string_equal(s, "+/+/");
	free(s);
	/* padding is optional on input */
	d = cf_b64url_decode("Zm9vYg==", &n);
	assert_non_null(d);
	assert_int_equal(n, 4);
	assert_memory_equal(d, "foob", 4);
	free(d);
}

static void test_b64url_roundtrip(void **state)
{
	uint8_t data[256], *back;
	size_t len, i, n;
	char *s;

	for (i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 37 + 11);
	for (len = 0; len <= sizeof(data); len++) {
		s = cf_b64url_encode(data, len);
		assert_non_null(s);
		assert_int_equal(strlen(s), (len * 4 + 2) / 3);
		assert_null(strpbrk(s, "+/="));
		back = cf_b64url_decode(s, &n);
		assert_non_null(back);
		assert_int_equal(n, len);
		if (len)
			assert_memory_equal(back, data, len);
		free(back);
		free(s);
	}
}

static void test_b64_std(void **state)
{
	static const char *const plain[] = {"",     "f",     "fo",    "foo",
					    "foob", "fooba", "foobar"};
	static const char *const enc[] = {"",         "Zg==",     "Zm8=",    "Zm9v",
					  "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
	size_t i, n;
	char *s;
	uint8_t *d;

	for (i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
		s = cf_b64_encode(plain[i], strlen(plain[i]));
		assert_string_equal(s, enc[i]);
		free(s);
		d = cf_b64_decode(enc[i], &n);
		assert_non_null(d);
		assert_int_equal(n, strlen(plain[i]));
		assert_memory_equal(d, plain[i], n);
		free(d);
	}
	assert_null(cf_b64_decode("Zg", &n)); /* standard base64 needs padding */
	assert_null(cf_b64_decode("Zm!v", &n));
}

static void test_b64url_rejects(void **state)
{
	static const char *const bad[] = {"Z",    "Zm9vY", "Zm!v", "Zm9v+",
					  "Zm9/", " Zm9",  "Zm9 ", "Zm9v\n"};
	size_t i, n;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint8_t *d = cf_b64url_decode(bad[i], &n);
		if (d != NULL) {
			free(d);
			fail_msg("cf_b64url_decode accepted \"%s\"", bad[i]);
		}
	}
}

/* '=' is padding only at the end; in the middle of the input it is an error. */
static void test_b64_rejects_inner_padding(void **state)
{
	static const char *const bad[] = {"Zm=v", "Zg=x", "Z===", "===="};
	size_t i, n;
	uint8_t *d;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		d = cf_b64_decode(bad[i], &n);
		if (d != NULL) {
			free(d);
			fail_msg("cf_b64_decode accepted \"%s\"", bad[i]);
		}
		if (strcmp(bad[i], "====") == 0) /* base64url: all padding = "" */
			continue;
		d = cf_b64url_decode(bad[i], &n);
		if (d != NULL) {
			free(d);
			fail_msg("cf_b64url_decode accepted \"%s\"", bad[i]);
		}
	}
}

/* ---- buffer ---- */

static void test_buf(void **state)
{
	cf_buf b = {0};
	char *s;

	assert_int_equal(cf_buf_append_str(&b, "hello"), 0);
	assert_int_equal(cf_buf_append(&b, ", ", 2), 0);
	assert_int_equal(cf_buf_printf(&b, "%s #%d", "world", 42), 0);
	assert_int_equal(b.len, strlen("hello, world #42"));
	assert_string_equal((char *)b.data, "hello, world #42"); /* NUL-terminated */
	cf_buf_reset(&b);
	assert_int_equal(b.len, 0);
	assert_string_equal((char *)b.data, "");
	/* growth past the first allocation */
	for (int i = 0; i < 1000; i++)
		assert_int_equal(cf_buf_append(&b, "0123456789", 10), 0);
	assert_int_equal(b.len, 10000);
	s = cf_buf_steal(&b);
	assert_int_equal(strlen(s), 10000);
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	free(s);
	/* steal of an empty buffer gives "" */
	s = cf_buf_steal(&b);
	assert_non_null(s);
	assert_string_equal(s, "");
	free(s);
	cf_buf_free(&b);
}

static void test_buf_max(void **state)
{
	cf_buf b = {.max = 8};

	assert_int_equal(cf_buf_append(&b, "12345678", 8), 0);
	assert_int_equal(cf_buf_append(&b, "9", 1), -1);
	assert_int_equal(b.len, 8);
	assert_int_equal(cf_buf_printf(&b, "%d", 1), -1);
	cf_buf_reset(&b);
	assert_int_equal(cf_buf_printf(&b, "%s", "123456789"), -1);
	assert_int_equal(cf_buf_printf(&b, "%s", "12345678"), 0);
	assert_string_equal((char *)b.data, "12345678");
	cf_buf_free_secret(&b);
	assert_null(b.data);
	cf_buf_free_secret(&b); /* twice is fine */
}

/* ---- errors ---- */

static void test_err(void **state)
{
	cf_err e = {0};

	assert_int_equal(cf_err_set(&e, CF_ERR_TRANSIENT, "timeout after %d s", 5), -1);
	assert_int_equal(e.cls, CF_ERR_TRANSIENT);
	assert_string_equal(e.msg, "timeout after 5 s");
	assert_int_equal(cf_err_wrap(&e, "query %s", "example.com"), -1);
	assert_string_equal(e.msg, "query example.com: timeout after 5 s");
	assert_int_equal(e.cls, CF_ERR_TRANSIENT);
	cf_err_set_problem(&e, "{\"type\":\"urn:ietf:params:acme:error:rateLimited\"}");
	assert_non_null(e.problem);
	cf_err_set_problem(&e, "{}");
	assert_string_equal(e.problem, "{}");
	cf_err_clear(&e);
	assert_null(e.problem);
	assert_int_equal(e.cls, CF_ERR_NONE);
	assert_string_equal(e.msg, "");
	/* wrap of an unset error makes it permanent */
	assert_int_equal(cf_err_wrap(&e, "x"), -1);
	assert_int_equal(e.cls, CF_ERR_PERMANENT);
	cf_err_clear(&e);
	/* NULL means "don't care" everywhere */
	assert_int_equal(cf_err_set(NULL, CF_ERR_PERMANENT, "x"), -1);
	assert_int_equal(cf_err_wrap(NULL, "x"), -1);
	assert_int_equal(cf_err_oom(NULL, "x"), -1);
	cf_err_set_problem(NULL, "{}");
	cf_err_clear(NULL);
}

/* Out of memory is one class, transient, and one spelling. */
static void test_err_oom(void **state)
{
	cf_err e = {0};

	assert_int_equal(cf_err_oom(&e, "listing jobs"), -1);
	assert_int_equal(e.cls, CF_ERR_TRANSIENT);
	assert_string_equal(e.msg, "listing jobs: out of memory");
	assert_int_equal(cf_err_oom(&e, NULL), -1);
	assert_int_equal(e.cls, CF_ERR_TRANSIENT);
	assert_string_equal(e.msg, "out of memory");
	cf_err_clear(&e);
}

static void test_wipe(void **state)
{
	char secret[8] = "hunter2";

	cf_wipe(secret, sizeof(secret));
	for (size_t i = 0; i < sizeof(secret); i++)
		assert_int_equal(secret[i], 0);
	cf_wipe(NULL, 0);
}

/* ---- the waiter ---- */

typedef struct sleeper {
	cf_waiter *w;
	pthread_t th;
	atomic_bool woke;
} sleeper;

static void *sleep_long(void *arg)
{
	sleeper *s = arg;

	cf_waiter_wait(s->w, 20);
	atomic_store(&s->woke, true);
	return NULL;
}

static unsigned waiting_now(cf_waiter *w)
{
	unsigned n;

	pthread_mutex_lock(&w->mu);
	n = w->waiting;
	pthread_mutex_unlock(&w->mu);
	return n;
}

/* Polls until n threads wait (at most 5 s). */
static void until_waiting(cf_waiter *w, unsigned n)
{
	long long deadline = cf_clock_mono_ms() + 5000;

	while (waiting_now(w) != n && cf_clock_mono_ms() < deadline) {
		struct timespec ts = {0, 1000000};

		nanosleep(&ts, NULL);
	}
	assert_int_equal(waiting_now(w), n);
}

static int woken(sleeper *s, int n)
{
	int k = 0;

	for (int i = 0; i < n; i++)
		k += atomic_load(&s[i].woke);
	return k;
}

/* Polls until k of the three woke (at most 5 s), then checks that no more do
 * within 100 ms. */
static void until_woken(sleeper *s, int k)
{
	long long deadline = cf_clock_mono_ms() + 5000;
	struct timespec ms = {0, 1000000}, settle = {0, 100000000};

	while (woken(s, 3) < k && cf_clock_mono_ms() < deadline)
		nanosleep(&ms, NULL);
	nanosleep(&settle, NULL);
	assert_int_equal(woken(s, 3), k);
}

static void test_waiter_wake_one(void **state)
{
	cf_waiter w;
	sleeper s[3];
	long long t0;

	(void)state;
	assert_int_equal(cf_waiter_init(&w), 0);
	/* nobody waits: the wake-up of one is dropped, a later wait times out */
	cf_waiter_wake_one(&w);
	t0 = cf_clock_mono_ms();
	assert_false(cf_waiter_wait(&w, 0.2));
	assert_true(cf_clock_mono_ms() - t0 >= 150);
	for (int i = 0; i < 3; i++) {
		s[i].w = &w;
		atomic_init(&s[i].woke, false);
		assert_int_equal(pthread_create(&s[i].th, NULL, sleep_long, &s[i]), 0);
	}
	until_waiting(&w, 3);
	cf_waiter_wake_one(&w); /* one of the three, and only one */
	until_woken(s, 1);
	assert_int_equal(waiting_now(&w), 2);
	cf_waiter_wake_one(&w);
	until_woken(s, 2);
	assert_int_equal(waiting_now(&w), 1);
	cf_waiter_wake(&w); /* all the others */
	for (int i = 0; i < 3; i++)
		pthread_join(s[i].th, NULL);
	assert_int_equal(woken(s, 3), 3);
	assert_int_equal(w.tickets, 0);
	cf_waiter_destroy(&w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_b64url_vectors),
		cmocka_unit_test(test_b64url_roundtrip),
		cmocka_unit_test(test_b64_std),
		cmocka_unit_test(test_b64url_rejects),
		cmocka_unit_test(test_b64_rejects_inner_padding),
		cmocka_unit_test(test_buf),
		cmocka_unit_test(test_buf_max),
		cmocka_unit_test(test_err),
		cmocka_unit_test(test_err_oom),
		cmocka_unit_test(test_wipe),
		cmocka_unit_test(test_waiter_wake_one),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
