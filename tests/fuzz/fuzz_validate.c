/*
 * fuzz_validate.c: the admin API's input checks (service/api/validate.c), JSON in,
 * verdict out.
 *
 * The input is parsed as the API parses a body (json_loadb, duplicate keys
 * rejected) and given to every check that takes a document: a certificate
 * (create), a PATCH (when the input is an array [current, patch], the merge and
 * then the check of its result), and a provider document. Beyond "no sanitizer
 * report", the harness holds the checks to what validate.h promises: a verdict is
 * exactly 0 (with a document) or 1 (with at least one violation, and no
 * document); every violation's detail starts with its field; and a normalised
 * document is valid again and normalises to itself. Whether a provider exists is
 * decided from its name alone (names starting with 'x' do not), so the callback's
 * "no" path is reached too.
 */
#include "fuzz.h"

#include <jansson.h>

#include "api/validate.h"

static int provider_exists(void *arg, const char *name, cf_err *err)
{
	(void)arg;
	(void)err;
	return name[0] != 'x';
}

static const cf_cert_rules rules = { .max_names = 20, .provider_exists = provider_exists };

/* Every violation is reported as "<field>: ..." and none is empty. */
static void check_errs(const cf_verrs *errs)
{
	size_t i;

	FZ_CHECK(errs->n <= CF_VERR_MAX);
	for (i = 0; i < errs->n; i++) {
		size_t flen = strlen(errs->e[i].field);

		FZ_CHECK(strlen(errs->e[i].detail) > 0);
		FZ_CHECK(strncmp(errs->e[i].detail, errs->e[i].field, flen) == 0);
	}
}

/* A certificate document: the verdict's shape, then idempotence of normalising. */
static void cert(const json_t *doc)
{
	cf_verrs errs = { 0 }, errs2 = { 0 };
	json_t *out = NULL, *again = NULL;
	cf_err err = { 0 };
	int rc;

	rc = cf_cert_validate(doc, &rules, &out, &errs, &err);
	FZ_CHECK(rc == 0 || rc == 1);
	check_errs(&errs);
	if (rc == 1) {
		FZ_CHECK(out == NULL && errs.n > 0);
		goto out;
	}
	FZ_CHECK(out != NULL && errs.n == 0);
	rc = cf_cert_validate(out, &rules, &again, &errs2, &err);
	FZ_CHECK(rc == 0);
	FZ_CHECK(json_equal(out, again));
out:
	json_decref(out);
	json_decref(again);
	cf_err_clear(&err);
}

static void patch(const json_t *current, const json_t *p)
{
	cf_verrs errs = { 0 };
	json_t *merged = NULL;
	int rc;

	rc = cf_cert_patch_merge(current, p, &merged, &errs);
	FZ_CHECK(rc == 0 || rc == 1);
	check_errs(&errs);
	FZ_CHECK((rc == 0) == (merged != NULL));
	if (merged != NULL)
		cert(merged);
	json_decref(merged);
}

static void provider(const json_t *doc)
{
	const cf_provider_ops *ops = NULL;
	cf_verrs errs = { 0 };
	int rc;

	rc = cf_provider_doc_validate(doc, &ops, &errs);
	FZ_CHECK(rc == 0 || rc == 1);
	check_errs(&errs);
	FZ_CHECK((rc == 0) == (ops != NULL));
	FZ_CHECK(rc == 0 || errs.n > 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_error_t e;
	json_t *doc = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &e);

	if (doc == NULL)
		return 0;
	cert(doc);
	provider(doc);
	if (json_is_array(doc) && json_array_size(doc) == 2)
		patch(json_array_get(doc, 0), json_array_get(doc, 1));
	/* the small syntaxes on their own */
	if (json_is_string(doc)) {
		const char *s = json_string_value(doc);

		if (cf_valid_slug(s))
			FZ_CHECK(cf_valid_host(s));
		(void)cf_valid_token_name(s);
		(void)cf_valid_key_type(s);
	}
	json_decref(doc);
	return 0;
}
