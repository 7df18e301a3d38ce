/*
 * test_provider_powerdns.c: the pure parts of the powerdns provider: validate()
 * (table-driven: each bad settings object fails with a message naming the
 * setting and never echoing the api_key), zone ids and API URLs, TXT content
 * quoting both ways (providers/txt.h with CF_TXT_DECIMAL, PowerDNS's form), and the rrset read-modify-write step (the PATCH body keeps
 * every other record, adds or drops exactly one value, and is NULL when nothing
 * needs to change). Also the api_url checks and error text of api_http.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "providers/api_http.h"
#include "providers/powerdns.h"
#include "providers/provider.h"
#include "providers/txt.h"

#define KEY "pdns-key-that-must-never-appear"

typedef struct settings_case {
	const char *json;
	const char *setting; /* NULL: valid */
} settings_case;

static const settings_case cases[] = {
	{ "{\"api_url\":\"http://127.0.0.1:8081\",\"api_key\":\"" KEY "\"}", NULL },
	{ "{\"api_url\":\"https://pdns.example:8443/api/v1/\",\"api_key\":\"" KEY "\","
	  "\"server_id\":\"localhost\",\"zone\":\"Alias.Example.\",\"ttl\":\"120\","
	  "\"ca_file\":\"/etc/ssl/ca.pem\"}", NULL },
	{ "{\"api_url\":\"http://[::1]:8081\",\"api_key\":\"" KEY "\",\"ttl\":300}", NULL },
	{ "{\"api_key\":\"" KEY "\"}", "api_url" },
	{ "{\"api_url\":\"ftp://h\",\"api_key\":\"" KEY "\"}", "api_url" },
	{ "{\"api_url\":\"http://\",\"api_key\":\"" KEY "\"}", "api_url" },
	{ "{\"api_url\":\"http://u:" KEY "@h\",\"api_key\":\"" KEY "\"}", "api_url" },
	{ "{\"api_url\":\"http://h/?x=1\",\"api_key\":\"" KEY "\"}", "api_url" },
	{ "{\"api_url\":\"http://h x\",\"api_key\":\"" KEY "\"}", "api_url" },
	{ "{\"api_url\":\"http://h\"}", "api_key" },
	{ "{\"api_url\":\"http://h\",\"api_key\":\"\"}", "api_key" },
	{ "{\"api_url\":\"http://h\",\"api_key\":\"" KEY "\\n\"}", "api_key" },
	{ "{\"api_url\":\"http://h\",\"api_key\":42}", "api_key" },
	{ "{\"api_url\":\"http://h\",\"api_key\":\"" KEY "\",\"server_id\":\"a/b\"}",
	  "server_id" },
	{ "{\"api_url\":\"http://h\",\"api_key\":\"" KEY "\",\"zone\":\"bad..zone\"}", "zone" },
	{ "{\"api_url\":\"http://h\",\"api_key\":\"" KEY "\",\"ttl\":\"0\"}", "ttl" },
	{ "{\"api_url\":\"http://h\",\"api_key\":\"" KEY "\",\"ttl\":86401}", "ttl" },
	{ "{\"api_url\":\"http://h\",\"api_key\":\"" KEY "\",\"ttl\":\"6o\"}", "ttl" },
	{ "{\"api_url\":\"http://h\",\"api_key\":\"" KEY "\",\"ca_file\":\"ca.pem\"}",
	  "ca_file" },
	{ "{\"api_url\":\"http://h\",\"api_key\":\"" KEY "\",\"apikey\":\"x\"}", "apikey" },
	{ "[]", "settings" },
};

static void test_validate(void **state)
{
	const cf_provider_ops *ops = cf_provider_find("powerdns");
	size_t i;

	assert_ptr_equal(ops, &cf_provider_powerdns);
	assert_true(cf_provider_is_secret(ops, "api_key"));
	assert_false(cf_provider_is_secret(ops, "api_url"));
	assert_int_equal(ops->max_values_per_name, 0);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *s = json_loads(cases[i].json, 0, NULL);
		cf_err err = { 0 };
		int rc;

		if (s == NULL)
			fail_msg("case %zu: bad JSON", i);
		rc = ops->validate(s, &err);
		if (cases[i].setting == NULL) {
			if (rc != 0)
				fail_msg("case %zu refused: %s", i, err.msg);
		} else {
			if (rc == 0)
				fail_msg("case %zu accepted: %s", i, cases[i].json);
			assert_int_equal(err.cls, CF_ERR_PERMANENT);
			if (strstr(err.msg, cases[i].setting) == NULL)
				fail_msg("case %zu: \"%s\" does not name %s", i, err.msg,
					 cases[i].setting);
			assert_null(strstr(err.msg, KEY));
		}
		json_decref(s);
	}
}

static void test_urls(void **state)
{
	char out[600];

	assert_int_equal(cf_pdns_zone_id("pdns-alias.test", out, sizeof(out)), 0);
	assert_string_equal(out, "pdns-alias.test.");
	assert_int_equal(cf_pdns_zone_id("pdns-alias.test.", out, sizeof(out)), 0);
	assert_string_equal(out, "pdns-alias.test.");
	assert_int_equal(cf_pdns_zone_id("_x.Example", out, sizeof(out)), 0);
	assert_string_equal(out, "=5Fx.Example.");
	assert_int_equal(cf_pdns_zone_id("abcdef", out, 6), -1);

	assert_int_equal(cf_pdns_zone_url("http://h:8081", "localhost", "z.test", NULL, out,
					  sizeof(out)),
			 0);
	assert_string_equal(out, "http://h:8081/api/v1/servers/localhost/zones/z.test.");
	assert_int_equal(cf_pdns_zone_url("http://h:8081", "srv1", "z.test", "a.b.z.test", out,
					  sizeof(out)),
			 0);
	assert_string_equal(out, "http://h:8081/api/v1/servers/srv1/zones/z.test."
				 "?rrset_name=a.b.z.test.&rrset_type=TXT");
	assert_int_equal(cf_pdns_zone_url("http://h", "s", "z.test", NULL, out, 20), -1);

	assert_int_equal(cf_api_url_check("p", "api_url", "https://h:1/x//", out, NULL), 0);
	assert_string_equal(out, "https://h:1/x");
	assert_int_equal(cf_api_url_check("p", "api_url", "http://h/", out, NULL), 0);
	assert_string_equal(out, "http://h");
}

static void quote_round_trip(const char *value, const char *want)
{
	cf_buf q = { 0 }, u = { 0 };

	assert_int_equal(cf_txt_quote(value, CF_TXT_DECIMAL, &q), 0);
	if (want != NULL)
		assert_string_equal((const char *)q.data, want);
	assert_int_equal(cf_txt_unquote((const char *)q.data, CF_TXT_DECIMAL, &u), 0);
	assert_int_equal(u.len, strlen(value));
	assert_memory_equal(u.len ? (const char *)u.data : "", value, u.len);
	cf_buf_free(&q);
	cf_buf_free(&u);
}

static void test_quoting(void **state)
{
	char long_value[600];
	cf_buf b = { 0 };

	quote_round_trip("Zm9vYmFyLWRpZ2VzdC1vZi10aGUta2V5LWF1dGgtMTIz",
			 "\"Zm9vYmFyLWRpZ2VzdC1vZi10aGUta2V5LWF1dGgtMTIz\"");
	quote_round_trip("", "\"\"");
	quote_round_trip("a\"b\\c", "\"a\\\"b\\\\c\"");
	quote_round_trip("tab\there\x01", "\"tab\\009here\\001\"");
	memset(long_value, 'x', sizeof(long_value) - 1);
	long_value[sizeof(long_value) - 1] = '\0';
	quote_round_trip(long_value, NULL);
	assert_int_equal(cf_txt_quote(long_value, CF_TXT_DECIMAL, &b), 0);
	assert_non_null(strstr((const char *)b.data, "\" \"")); /* split at 255 */
	cf_buf_free(&b);

	/* what PowerDNS may send back: several strings, \DDD, unquoted words */
	assert_int_equal(cf_txt_unquote("\"ab\" \"c\\065\" d", CF_TXT_DECIMAL, &b), 0);
	assert_string_equal((const char *)b.data, "abcAd");
	cf_buf_free(&b);
	assert_int_equal(cf_txt_unquote("\"unterminated", CF_TXT_DECIMAL, &b), -1);
	cf_buf_free(&b);
	assert_int_equal(cf_txt_unquote("\"bad \\999\"", CF_TXT_DECIMAL, &b), -1);
	cf_buf_free(&b);
}

/* A zone document as GET zones/{id} returns it (4.7, unfiltered). */
static const char *zone_doc =
	"{\"name\":\"pdns-alias.test.\",\"rrsets\":["
	"{\"name\":\"pdns-alias.test.\",\"type\":\"SOA\",\"ttl\":60,\"records\":"
	"[{\"content\":\"a. b. 1 2 3 4 5\",\"disabled\":false}]},"
	"{\"name\":\"x.pdns-alias.test.\",\"type\":\"A\",\"ttl\":60,\"records\":"
	"[{\"content\":\"192.0.2.1\",\"disabled\":false}]},"
	"{\"name\":\"X.pdns-alias.test.\",\"type\":\"TXT\",\"ttl\":60,\"records\":["
	"{\"content\":\"\\\"other\\\"\",\"disabled\":false},"
	"{\"content\":\"\\\"off\\\"\",\"disabled\":true}]},"
	"{\"name\":\"y.pdns-alias.test.\",\"type\":\"TXT\",\"ttl\":60,\"records\":"
	"[{\"content\":\"\\\"mine\\\"\",\"disabled\":false}]}]}";

static json_t *patch_of(const json_t *recs, const char *value, bool add)
{
	char *body = NULL;
	cf_err err = { 0 };
	json_t *j, *rr;

	assert_int_equal(cf_pdns_patch_body(recs, "x.pdns-alias.test", 60, value, add, &body,
					    &err),
			 0);
	if (body == NULL)
		return NULL;
	j = json_loads(body, 0, NULL);
	free(body);
	assert_non_null(j);
	rr = json_incref(json_array_get(json_object_get(j, "rrsets"), 0));
	json_decref(j);
	assert_non_null(rr);
	return rr;
}

static void test_rrset(void **state)
{
	json_t *doc = json_loads(zone_doc, 0, NULL), *recs, *rr, *rr2;
	json_t *one = json_loads("[{\"content\":\"\\\"mine\\\"\",\"disabled\":false}]", 0, NULL);

	assert_non_null(doc);
	recs = cf_pdns_txt_records(doc, "x.pdns-alias.test.");
	assert_int_equal(json_array_size(recs), 2); /* name matched ignoring case */
	assert_true(cf_pdns_records_have(recs, "other"));
	assert_false(cf_pdns_records_have(recs, "off")); /* disabled */
	assert_false(cf_pdns_records_have(recs, "mine"));

	/* add: REPLACE with both old records kept and ours appended */
	rr = patch_of(recs, "mine", true);
	assert_non_null(rr);
	assert_string_equal(json_string_value(json_object_get(rr, "changetype")), "REPLACE");
	assert_string_equal(json_string_value(json_object_get(rr, "name")),
			    "x.pdns-alias.test.");
	assert_string_equal(json_string_value(json_object_get(rr, "type")), "TXT");
	assert_int_equal(json_integer_value(json_object_get(rr, "ttl")), 60);
	assert_int_equal(json_array_size(json_object_get(rr, "records")), 3);
	/* the disabled record is kept as it was */
	assert_string_equal(json_string_value(json_object_get(
				    json_array_get(json_object_get(rr, "records"), 1), "content")),
			    "\"off\"");
	assert_true(json_is_true(json_object_get(
		json_array_get(json_object_get(rr, "records"), 1), "disabled")));
	assert_true(cf_pdns_records_have(json_object_get(rr, "records"), "mine"));
	assert_true(cf_pdns_records_have(json_object_get(rr, "records"), "other"));
	json_decref(rr);

	/* add of a value already there: nothing to write */
	assert_null(patch_of(recs, "other", true));
	/* add of a value there only disabled: the disabled copy is replaced */
	rr = patch_of(recs, "off", true);
	assert_int_equal(json_array_size(json_object_get(rr, "records")), 2);
	assert_true(cf_pdns_records_have(json_object_get(rr, "records"), "off"));
	json_decref(rr);

	/* remove: exactly that value goes, the others stay */
	rr = patch_of(recs, "other", false);
	assert_string_equal(json_string_value(json_object_get(rr, "changetype")), "REPLACE");
	assert_int_equal(json_array_size(json_object_get(rr, "records")), 1);
	assert_false(cf_pdns_records_have(json_object_get(rr, "records"), "other"));
	/* remove of a value that is not there: nothing to write */
	assert_null(patch_of(recs, "absent", false));
	/* remove of the last value: DELETE of the rrset */
	rr2 = patch_of(one, "mine", false);
	assert_string_equal(json_string_value(json_object_get(rr2, "changetype")), "DELETE");
	assert_null(json_object_get(rr2, "records"));
	json_decref(rr2);
	json_decref(rr);
	json_decref(recs);

	/* a name with no TXT, and a document without rrsets */
	recs = cf_pdns_txt_records(doc, "z.pdns-alias.test");
	assert_int_equal(json_array_size(recs), 0);
	rr = patch_of(recs, "new", true);
	assert_int_equal(json_array_size(json_object_get(rr, "records")), 1);
	json_decref(rr);
	json_decref(recs);
	recs = cf_pdns_txt_records(one, "x.pdns-alias.test");
	assert_int_equal(json_array_size(recs), 0);
	json_decref(recs);
	json_decref(one);
	json_decref(doc);
}

static void test_error_text(void **state)
{
	cf_api_resp r = { 0 };
	char out[64];

	cf_buf_append_str(&r.body, "{\"error\": \"Record x./TXT 'a': Not in\\n expected\"}");
	cf_api_error_text(&r, out, sizeof(out));
	assert_string_equal(out, "Record x./TXT 'a': Not in expected");
	cf_buf_reset(&r.body);
	cf_buf_append_str(&r.body, "Unauthorized\r\n");
	cf_api_error_text(&r, out, sizeof(out));
	assert_string_equal(out, "Unauthorized");
	cf_buf_reset(&r.body);
	cf_api_error_text(&r, out, 8);
	assert_string_equal(out, "");
	cf_api_resp_free(&r);
}

static void test_present_checks_first(void **state)
{
	const cf_provider_ops *ops = cf_provider_find("powerdns");
	json_t *s = json_pack("{s:s,s:s,s:s}", "api_url", "http://127.0.0.1:9", "api_key", KEY,
			      "zone", "pdns-alias.test");
	cf_provider_ctx ctx = { .settings = s, .timeout_ms = 500 };
	cf_err err = { 0 };

	/* a name outside the configured zone is refused before any request */
	assert_int_equal(ops->present(&ctx, "x.other.test", "v", &err), -1);
	assert_non_null(strstr(err.msg, "not in zone"));
	/* nothing listens on port 9: transient, names api_url, not the key */
	assert_int_equal(ops->cleanup(&ctx, "x.pdns-alias.test", "v", &err), -1);
	assert_int_equal(err.cls, CF_ERR_TRANSIENT);
	assert_non_null(strstr(err.msg, "api_url"));
	assert_null(strstr(err.msg, KEY));
	json_decref(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_validate),   cmocka_unit_test(test_urls),
		cmocka_unit_test(test_quoting),    cmocka_unit_test(test_rrset),
		cmocka_unit_test(test_error_text), cmocka_unit_test(test_present_checks_first),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
