/*
 * fuzz_rest_answers.c: what the records-API providers read from a DNS host's API
 * (providers/rest_records.c): error bodies made into message text, TXT contents
 * compared with a value (raw, or zone-file text with escapes), listed records
 * collected, and ids taken into URL paths.
 *
 * The input is an answer body. Invariants: the error text has no control
 * characters, single blanks only, and fits its buffer; a content always stands for its own
 * unquoted reading and a raw content for itself; cf_rest_collect keeps only
 * TXT records at the asked name; every id taken is [A-Za-z0-9_.-]{1,64}, so it
 * can never leave its place in a path.
 */
#include "fuzz.h"

#include "providers/rest_records.h"
#include "providers/txt.h"

static void check_id(const char *id)
{
	size_t n = strlen(id);

	FZ_CHECK(n >= 1 && n <= CF_REST_ID_MAX);
	for (; *id; id++)
		FZ_CHECK((*id >= 'a' && *id <= 'z') || (*id >= 'A' && *id <= 'Z') ||
			 (*id >= '0' && *id <= '9') || *id == '-' || *id == '_' || *id == '.');
}

static void error_text(const char *body, size_t len)
{
	cf_api_resp r = { 0 };
	char out[120];
	const unsigned char *p;

	r.body.data = (uint8_t *)body;
	r.body.len = len;
	cf_rest_error_text(&r, out, sizeof(out));
	FZ_CHECK(strlen(out) < sizeof(out));
	for (p = (const unsigned char *)out; *p; p++)
		FZ_CHECK(*p > 0x20 || (*p == ' ' && p[1] != ' ' && p[1] != '\0'));
}

static void content(const char *s)
{
	cf_buf v = { 0 };

	if (s[0] != '"') {
		FZ_CHECK(cf_rest_content_is(s, s));
		return;
	}
	if (cf_txt_unquote(s, CF_TXT_DECIMAL, &v) == 0 && strlen((char *)v.data) == v.len)
		FZ_CHECK(cf_rest_content_is(s, (const char *)v.data));
	cf_buf_free(&v);
}

static void listing(const char *body, size_t len)
{
	static const cf_rest_fields f = { "type", "name", "content", "id" };
	json_t *doc = json_loadb(body, len, 0, NULL), *out = json_array();
	char id[CF_REST_ID_MAX + 1];
	const json_t *r;
	size_t i;

	FZ_CHECK(out != NULL);
	if (cf_rest_collect(out, json_is_array(doc) ? doc : json_object_get(doc, "records"), &f,
			    "_acme-challenge") == 0)
		json_array_foreach(out, i, r) {
			FZ_CHECK(json_is_string(json_object_get(r, "content")));
			if (cf_rest_take_id(r, "id", id) == 0)
				check_id(id);
		}
	if (cf_rest_take_id(doc, "id", id) == 0)
		check_id(id);
	json_decref(out);
	json_decref(doc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fz_str(data, size);

	error_text(s, size);
	content(s);
	listing(s, size);
	free(s);
	return 0;
}
