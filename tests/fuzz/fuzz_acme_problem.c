/*
 * fuzz_acme_problem.c: what a CA sends back on failure: problem documents
 * (service/acme/problem.c, RFC 8555 section 6.7 with subproblems) and the
 * Retry-After header (service/acme/retry_after.c).
 *
 * The first two bytes give the HTTP status (0..999), the rest is both the error
 * response body and, as a C string, a Retry-After value. Invariants: a problem
 * always gives -1 with a class and a message that starts with what failed, made
 * of printable ASCII only (CA text is sanitised before it enters a message); the
 * class agrees with cf_acme_problem_class of the type found; and a Retry-After
 * that parses gives a wait from 0 to CF_RETRY_AFTER_MAX_MS, one that does not
 * leaves the output alone.
 */
#include "fuzz.h"

#include "acme/acme_int.h"

#define WHAT "new-order"

static void check_msg(const cf_err *err)
{
	const unsigned char *m = (const unsigned char *)err->msg;

	FZ_CHECK(err->cls == CF_ERR_PERMANENT || err->cls == CF_ERR_TRANSIENT);
	FZ_CHECK(strncmp(err->msg, WHAT ": ", strlen(WHAT ": ")) == 0);
	for (; *m; m++)
		FZ_CHECK(*m >= 0x20 && *m < 0x7f);
}

static void problem(long status, const char *body, size_t len)
{
	char type[256];
	const char *t;
	json_error_t e;
	json_t *doc;
	cf_err err = { 0 };

	FZ_CHECK(cf_acme_problem_set_err(&err, WHAT, status, body, len) == -1);
	check_msg(&err);
	t = cf_acme_problem_type(body, len, type, sizeof(type));
	if (t != NULL)
		FZ_CHECK(err.cls == cf_acme_problem_class(t, status) || strlen(t) == sizeof(type) - 1);
	cf_err_clear(&err);

	doc = json_loadb(body, len, 0, &e);
	if (json_is_object(doc)) {
		FZ_CHECK(cf_acme_problem_json_set_err(&err, CF_ERR_PERMANENT, WHAT, doc) == -1);
		check_msg(&err);
		cf_err_clear(&err);
	}
	json_decref(doc);
}

static void retry_after(const char *value)
{
	static const time_t nows[] = { 0, 784111777 /* the RFC's 1994 date */, 1700000000 };
	long ms;
	size_t i;

	for (i = 0; i < sizeof(nows) / sizeof(nows[0]); i++) {
		ms = -12345;
		if (cf_retry_after_parse(value, nows[i], &ms) == 0)
			FZ_CHECK(ms >= 0 && ms <= CF_RETRY_AFTER_MAX_MS);
		else
			FZ_CHECK(ms == -12345);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	long status;
	char *s;

	if (size < 2)
		return 0;
	status = (long)((data[0] << 8 | data[1]) % 1000);
	s = fz_str(data + 2, size - 2);
	problem(status, s, size - 2);
	retry_after(s);
	free(s);
	return 0;
}
