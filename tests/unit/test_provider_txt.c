/*
 * test_provider_txt.c: the helper the API providers share (providers/txt.h):
 * TXT quoting in both escape bases (the same bytes quoted as decimal for
 * PowerDNS and as octal for Route 53, every byte round-tripped through each,
 * what a base does with the other's escapes, malformed texts refused) and the
 * per-name lock (one mutex per name whatever its case or final dot, and two
 * threads doing read-modify-writes on one name under it lose no update).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>

#include "providers/txt.h"

static const cf_txt_escape bases[] = { CF_TXT_DECIMAL, CF_TXT_OCTAL };

/* Quotes value in base esc, checks the text (when want is not NULL) and that it
 * unquotes to value again. */
static void round_trip(const char *value, size_t len, cf_txt_escape esc, const char *want)
{
	cf_buf q = { 0 }, u = { 0 };

	assert_int_equal(cf_txt_quote(value, esc, &q), 0);
	if (want != NULL)
		assert_string_equal((const char *)q.data, want);
	assert_int_equal(cf_txt_unquote((const char *)q.data, esc, &u), 0);
	assert_non_null(u.data);
	assert_int_equal(u.len, len);
	assert_memory_equal(u.data, value, len);
	cf_buf_free(&q);
	cf_buf_free(&u);
}

static void test_quote_forms(void **state)
{
	round_trip("", 0, CF_TXT_DECIMAL, "\"\"");
	round_trip("", 0, CF_TXT_OCTAL, "\"\"");
	round_trip("a\"b\\c", 5, CF_TXT_DECIMAL, "\"a\\\"b\\\\c\"");
	round_trip("a\"b\\c", 5, CF_TXT_OCTAL, "\"a\\\"b\\\\c\"");
	/* the same bytes, in each base */
	round_trip("t\tx\x01\x7f\xff", 6, CF_TXT_DECIMAL, "\"t\\009x\\001\\127\\255\"");
	round_trip("t\tx\x01\x7f\xff", 6, CF_TXT_OCTAL, "\"t\\011x\\001\\177\\377\"");
}

static void test_every_byte_and_long_values(void **state)
{
	char all[256], big[601], want[700];
	cf_buf b = { 0 };

	for (int i = 1; i < 256; i++)
		all[i - 1] = (char)i;
	all[255] = '\0';
	memset(big, 'x', 600);
	big[600] = '\0';
	snprintf(want, sizeof(want), "\"%.255s\" \"%.255s\" \"%.90s\"", big, big, big);
	for (size_t i = 0; i < sizeof(bases) / sizeof(bases[0]); i++) {
		round_trip(all, 255, bases[i], NULL);
		round_trip(big, 600, bases[i], want); /* strings of 255 bytes at most */
	}
	/* a 255-byte value is one string, 256 bytes are two */
	assert_int_equal(cf_txt_quote(big + 345, CF_TXT_OCTAL, &b), 0);
	assert_null(strchr((const char *)b.data, ' '));
	cf_buf_reset(&b);
	assert_int_equal(cf_txt_quote(big + 344, CF_TXT_OCTAL, &b), 0);
	assert_non_null(strstr((const char *)b.data, "\" \"x\""));
	cf_buf_free(&b);
}

static void test_unquote_forms(void **state)
{
	static const char *const bad[] = { "\"open", "\"trailing\\", "\"a\" \"b", "x\\" };
	cf_buf b = { 0 };

	/* several strings, blanks between them, unquoted words */
	for (size_t i = 0; i < sizeof(bases) / sizeof(bases[0]); i++) {
		cf_buf_reset(&b);
		assert_int_equal(cf_txt_unquote("\"a\"  \"b\"\tword \"\"", bases[i], &b), 0);
		assert_string_equal((const char *)b.data, "abword");
		for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
			cf_buf_reset(&b);
			assert_int_equal(cf_txt_unquote(bad[k], bases[i], &b), -1);
		}
	}
	/* \065 is 'A' in decimal and '5' in octal */
	cf_buf_reset(&b);
	assert_int_equal(cf_txt_unquote("\"c\\065\"", CF_TXT_DECIMAL, &b), 0);
	assert_string_equal((const char *)b.data, "cA");
	cf_buf_reset(&b);
	assert_int_equal(cf_txt_unquote("\"c\\065\"", CF_TXT_OCTAL, &b), 0);
	assert_string_equal((const char *)b.data, "c5");
	/* not an escape of the base: the backslash escapes the next character */
	cf_buf_reset(&b);
	assert_int_equal(cf_txt_unquote("\"\\400\\x\"", CF_TXT_OCTAL, &b), 0);
	assert_string_equal((const char *)b.data, "400x");
	cf_buf_reset(&b);
	assert_int_equal(cf_txt_unquote("\"\\12a\"", CF_TXT_DECIMAL, &b), 0);
	assert_string_equal((const char *)b.data, "12a");
	/* a decimal escape over 255 is malformed */
	cf_buf_reset(&b);
	assert_int_equal(cf_txt_unquote("\"bad \\999\"", CF_TXT_DECIMAL, &b), -1);
	cf_buf_free(&b);
	/* an empty value still gives a string */
	assert_int_equal(cf_txt_unquote("", CF_TXT_DECIMAL, &b), 0);
	assert_non_null(b.data);
	assert_string_equal((const char *)b.data, "");
	cf_buf_free(&b);
}

static void test_name_lock_identity(void **state)
{
	pthread_mutex_t *m = cf_txt_name_lock("_acme-challenge.www.example.test");
	int distinct = 0;
	char name[64];

	assert_ptr_equal(cf_txt_name_lock("_ACME-challenge.WWW.example.test."), m);
	assert_ptr_equal(cf_txt_name_lock("_acme-challenge.www.example.test."), m);
	/* names are spread over the stripes, not all on one */
	for (int i = 0; i < 32; i++) {
		snprintf(name, sizeof(name), "n%d.example.test", i);
		distinct += cf_txt_name_lock(name) != m;
	}
	assert_true(distinct > 16);
}

#define ROUNDS 20000

typedef struct shared {
	const char *name; /* each thread spells it its own way */
	volatile long *counter;
} shared;

/* A read-modify-write of the counter under the name's lock, ROUNDS times. */
static void *bump(void *arg)
{
	shared *s = arg;

	for (int i = 0; i < ROUNDS; i++) {
		pthread_mutex_t *m = cf_txt_name_lock(s->name);
		long v;

		pthread_mutex_lock(m);
		v = *s->counter;
		sched_yield();
		*s->counter = v + 1;
		pthread_mutex_unlock(m);
	}
	return NULL;
}

static void test_name_lock_serialises(void **state)
{
	volatile long counter = 0;
	shared a = { "x.example.test", &counter }, b = { "X.Example.Test.", &counter };
	pthread_t ta, tb;

	assert_int_equal(pthread_create(&ta, NULL, bump, &a), 0);
	assert_int_equal(pthread_create(&tb, NULL, bump, &b), 0);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	assert_int_equal(counter, 2 * ROUNDS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_quote_forms),
		cmocka_unit_test(test_every_byte_and_long_values),
		cmocka_unit_test(test_unquote_forms),
		cmocka_unit_test(test_name_lock_identity),
		cmocka_unit_test(test_name_lock_serialises),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
