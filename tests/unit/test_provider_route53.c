/*
 * test_provider_route53.c: the wire format of the route53 provider
 * (providers/route53.h) and its validate(): the strict XML reader (what it
 * accepts, what it refuses), XML escaping, TXT values in Route 53's form
 * (providers/txt.h with CF_TXT_OCTAL: octal escapes, 255-byte strings, round
 * trips of every byte), the change body, the
 * answers it reads (rrsets, hosted zones past a private twin, ChangeInfo,
 * errors and their classes), and settings validation that never echoes a secret.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "providers/provider.h"
#include "providers/route53.h"
#include "providers/txt.h"

#define NSDECL " xmlns=\"" CF_R53_XMLNS "\""
#define SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"

static cf_xml *parse(const char *s)
{
	cf_err err = { 0 };
	cf_xml *x = cf_xml_parse(s, strlen(s), &err);

	if (x == NULL)
		print_message("parse error: %s\n", err.msg);
	return x;
}

static void test_xml_reader(void **state)
{
	static const char doc[] =
		"\xef\xbb\xbf<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!-- hello -->\n"
		"<r:Root xmlns:r='urn:x' a=\"1 &amp; 2\">\n  <A>one &lt;&gt;&amp;&quot;&apos; "
		"&#65;&#x42;&#x20AC;</A>\n  <B/><B x=\"y\">second</B><!-- c -->\n"
		"  <C><D>deep</D></C>\n</r:Root>\n<!-- trailing -->\n";
	cf_xml *x = parse(doc);
	const cf_xml *b;

	assert_non_null(x);
	assert_string_equal(x->name, "Root");
	assert_string_equal(cf_xml_text(x, "A"), "one <>&\"' AB\xe2\x82\xac");
	assert_string_equal(cf_xml_text(x, "C/D"), "deep");
	assert_null(cf_xml_get(x, "C/E"));
	assert_null(cf_xml_text(x, "Z"));
	b = cf_xml_get(x, "B");
	assert_string_equal(b->text, "");
	b = cf_xml_next(b, "B", false);
	assert_string_equal(b->text, "second");
	assert_null(cf_xml_next(b, "B", false));
	cf_xml_free(x);
}

static void test_xml_refusals(void **state)
{
	static const char *const bad[] = {
		"",
		"just text",
		"<!DOCTYPE r [<!ENTITY e \"x\">]><r>&e;</r>",
		"<r><![CDATA[x]]></r>",
		"<r><?pi x?></r>",
		"<r><a></b></r>",
		"<r>&unknown;</r>",
		"<r>&#0;</r>",
		"<r>&#xD800;</r>",
		"<r>&amp</r>",
		"<r></r><r></r>",
		"<r></r>junk",
		"<r><a>",
		"<r a=\"1></r>",
		"<r a=1></r>",
		"<r a=\"<\"></r>",
		"<1r></1r>",
		"<r><!-- open </r>",
	};
	char deep[32 * 3 + 40 * 7 + 1] = "";
	size_t i;
	cf_err err = { 0 };

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		print_message("  %s\n", bad[i]);
		assert_null(cf_xml_parse(bad[i], strlen(bad[i]), &err));
		assert_int_equal(err.cls, CF_ERR_PERMANENT);
		assert_non_null(strstr(err.msg, "route53:"));
		cf_err_clear(&err);
	}
	for (i = 0; i < 40; i++)
		strcat(deep, "<a>");
	for (i = 0; i < 40; i++)
		strcat(deep, "</a>");
	assert_null(cf_xml_parse(deep, strlen(deep), &err));
	assert_non_null(strstr(err.msg, "too deep"));
	assert_null(cf_xml_parse(NULL, 0, &err));
}

static void test_xml_escape(void **state)
{
	cf_buf b = { 0 };

	assert_int_equal(cf_xml_escape(&b, "a&b<c>d\"e'f"), 0);
	assert_string_equal((char *)b.data, "a&amp;b&lt;c&gt;d&quot;e&apos;f");
	cf_buf_free(&b);
}

static void test_txt_quote(void **state)
{
	static const struct {
		const char *value, *text;
	} cases[] = {
		{ "abc", "\"abc\"" },
		{ "a\"b\\c", "\"a\\\"b\\\\c\"" },
		{ "tab\there\x01\x7f\xff", "\"tab\\011here\\001\\177\\377\"" },
		{ "sp ace", "\"sp ace\"" },
	};
	char big[301], want[320];
	cf_buf b = { 0 };
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cf_buf_reset(&b);
		assert_int_equal(cf_txt_quote(cases[i].value, CF_TXT_OCTAL, &b), 0);
		assert_string_equal((char *)b.data, cases[i].text);
		cf_buf_reset(&b);
		assert_int_equal(cf_txt_unquote(cases[i].text, CF_TXT_OCTAL, &b), 0);
		assert_string_equal((char *)b.data, cases[i].value);
	}
	memset(big, 'x', 300);
	big[300] = '\0';
	snprintf(want, sizeof(want), "\"%.255s\" \"%.45s\"", big, big);
	cf_buf_reset(&b);
	assert_int_equal(cf_txt_quote(big, CF_TXT_OCTAL, &b), 0);
	assert_string_equal((char *)b.data, want);
	cf_buf_reset(&b);
	assert_int_equal(cf_txt_unquote(want, CF_TXT_OCTAL, &b), 0);
	assert_string_equal((char *)b.data, big);
	cf_buf_free(&b);
}

static void test_txt_round_trip_every_byte(void **state)
{
	char all[256];
	cf_buf q = { 0 }, u = { 0 };
	int i;

	for (i = 1; i < 256; i++)
		all[i - 1] = (char)i;
	all[255] = '\0';
	assert_int_equal(cf_txt_quote(all, CF_TXT_OCTAL, &q), 0);
	assert_int_equal(cf_txt_unquote((char *)q.data, CF_TXT_OCTAL, &u), 0);
	assert_int_equal(u.len, 255);
	assert_memory_equal(u.data, all, 255);
	cf_buf_free(&q);
	cf_buf_free(&u);
}

static void test_txt_unquote_forms(void **state)
{
	static const char *const bad[] = { "\"open", "\"trailing\\", "\"a\" \"b" };
	cf_buf b = { 0 };
	size_t i;

	assert_int_equal(cf_txt_unquote("\"a\"  \"b\"\tunquoted \"\"", CF_TXT_OCTAL, &b), 0);
	assert_string_equal((char *)b.data, "abunquoted");
	cf_buf_reset(&b);
	assert_int_equal(cf_txt_unquote("\"\\400\"", CF_TXT_OCTAL, &b), 0); /* not octal: '4' '0' '0' */
	assert_string_equal((char *)b.data, "400");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cf_buf_reset(&b);
		assert_int_equal(cf_txt_unquote(bad[i], CF_TXT_OCTAL, &b), -1);
	}
	cf_buf_free(&b);
}

static void test_change_body(void **state)
{
	const char *vals[] = { "\"v1\"", "\"a&b<c\"" };
	char *body = cf_r53_change_body("UPSERT", "x.r53-alias.test", 60, vals, 2, "certfleet");
	cf_xml *x;

	assert_non_null(body);
	assert_non_null(strstr(body, "<Value>&quot;a&amp;b&lt;c&quot;</Value>"));
	x = parse(body);
	assert_non_null(x);
	assert_string_equal(x->name, "ChangeResourceRecordSetsRequest");
	assert_string_equal(cf_xml_text(x, "ChangeBatch/Changes/Change/Action"), "UPSERT");
	assert_string_equal(cf_xml_text(x, "ChangeBatch/Changes/Change/ResourceRecordSet/Name"),
			    "x.r53-alias.test.");
	assert_string_equal(cf_xml_text(x, "ChangeBatch/Changes/Change/ResourceRecordSet/TTL"), "60");
	assert_string_equal(cf_xml_text(x, "ChangeBatch/Changes/Change/ResourceRecordSet/"
					   "ResourceRecords/ResourceRecord/Value"),
			    "\"v1\"");
	cf_xml_free(x);
	assert_string_equal(strstr(body, "<ChangeResourceRecordSetsRequest"),
			    "<ChangeResourceRecordSetsRequest" NSDECL "><ChangeBatch><Comment>"
			    "certfleet</Comment><Changes><Change><Action>UPSERT</Action>"
			    "<ResourceRecordSet><Name>x.r53-alias.test.</Name><Type>TXT</Type>"
			    "<TTL>60</TTL><ResourceRecords><ResourceRecord><Value>&quot;v1&quot;"
			    "</Value></ResourceRecord><ResourceRecord><Value>&quot;a&amp;b&lt;c"
			    "&quot;</Value></ResourceRecord></ResourceRecords></ResourceRecordSet>"
			    "</Change></Changes></ChangeBatch></ChangeResourceRecordSetsRequest>\n");
	free(body);
	body = cf_r53_change_body("DELETE", "x.test.", 300, vals, 1, NULL);
	assert_non_null(strstr(body, "<Name>x.test.</Name>"));
	free(body);
}

#define LIST(sets) \
	"<?xml version=\"1.0\"?>\n<ListResourceRecordSetsResponse" NSDECL \
	"><ResourceRecordSets>" sets "</ResourceRecordSets><IsTruncated>false</IsTruncated>" \
	"<MaxItems>1</MaxItems></ListResourceRecordSetsResponse>"
#define RRSET(name, type, extra) \
	"<ResourceRecordSet><Name>" name "</Name><Type>" type "</Type>" extra "<TTL>60</TTL>" \
	"<ResourceRecords><ResourceRecord><Value>\"v1\"</Value></ResourceRecord>" \
	"<ResourceRecord><Value>\"v\\\"2\"</Value></ResourceRecord></ResourceRecords>" \
	"</ResourceRecordSet>"

static void test_parse_rrset(void **state)
{
	static const struct {
		const char *doc;
		int rc;
		bool found;
	} cases[] = {
		{ LIST(RRSET("_a.x.r53-alias.test.", "TXT", "")), 0, true },
		{ LIST(RRSET("\\137a.X.r53-alias.test", "TXT", "")), 0, true },
		{ LIST(RRSET("b.x.r53-alias.test.", "TXT", "")), 0, false },
		{ LIST(RRSET("_a.x.r53-alias.test.", "TYPE65534", "")), 0, false },
		{ LIST(""), 0, false },
		{ LIST(RRSET("_a.x.r53-alias.test.", "TXT", "<SetIdentifier>w</SetIdentifier>")), -1,
		  false },
		{ "<ErrorResponse/>", -1, false },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cf_xml *x = parse(cases[i].doc);
		cf_r53_rrset rr;
		cf_err err = { 0 };

		assert_non_null(x);
		assert_int_equal(cf_r53_parse_rrset(x, "_a.x.r53-alias.test", &rr, &err),
				 cases[i].rc);
		assert_int_equal(rr.found, cases[i].found);
		if (rr.found) {
			assert_int_equal(rr.ttl, 60);
			assert_int_equal(rr.n, 2);
			assert_string_equal(rr.values[1], "\"v\\\"2\"");
			assert_true(cf_r53_rrset_has(&rr, "v1"));
			assert_true(cf_r53_rrset_has(&rr, "v\"2"));
			assert_false(cf_r53_rrset_has(&rr, "v"));
		}
		cf_r53_rrset_free(&rr);
		cf_xml_free(x);
	}
}

#define ZONE(id, name, priv) \
	"<HostedZone><Id>/hostedzone/" id "</Id><Name>" name "</Name><Config><PrivateZone>" priv \
	"</PrivateZone></Config></HostedZone>"
#define ZONES(z) \
	"<ListHostedZonesByNameResponse" NSDECL "><HostedZones>" z "</HostedZones>" \
	"<IsTruncated>false</IsTruncated><MaxItems>10</MaxItems></ListHostedZonesByNameResponse>"

static void test_parse_zone(void **state)
{
	static const struct {
		const char *doc;
		int rc;
		const char *id;
	} cases[] = {
		{ ZONES(ZONE("Z0PRIV", "r53-alias.test.", "true") ZONE("Z1PUB", "r53-alias.test.",
								       "false")),
		  1, "Z1PUB" },
		{ ZONES(ZONE("Z0PRIV", "r53-alias.test.", "true")), 0, NULL },
		{ ZONES(ZONE("Z3", "zz.r53-alias.test.", "false")), 0, NULL },
		{ ZONES(""), 0, NULL },
		{ ZONES(ZONE("Z1", "r53-alias.test.", "false") ZONE("Z2", "R53-alias.test", "false")),
		  -1, NULL },
		{ ZONES(ZONE("Z/../x", "r53-alias.test.", "false")), -1, NULL },
		{ "<Other/>", -1, NULL },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char id[CF_R53_ID_MAX + 1] = "";
		cf_xml *x = parse(cases[i].doc);
		cf_err err = { 0 };

		assert_non_null(x);
		assert_int_equal(cf_r53_parse_zone(x, "r53-alias.test", id, &err), cases[i].rc);
		if (cases[i].id)
			assert_string_equal(id, cases[i].id);
		if (i == 4)
			assert_non_null(strstr(err.msg, "hosted_zone_id"));
		cf_xml_free(x);
	}
}

static void test_parse_change_and_ids(void **state)
{
	cf_xml *x = parse("<GetChangeResponse" NSDECL "><ChangeInfo><Id>/change/C2682N5HXP0BZ4</Id>"
			  "<Status>INSYNC</Status><SubmittedAt>2017-03-10T01:36:41.958Z"
			  "</SubmittedAt></ChangeInfo></GetChangeResponse>");
	char id[CF_R53_ID_MAX + 1], st[16];
	cf_err err = { 0 };

	assert_int_equal(cf_r53_parse_change(x, id, st, sizeof(st), &err), 0);
	assert_string_equal(id, "C2682N5HXP0BZ4");
	assert_string_equal(st, "INSYNC");
	cf_xml_free(x);
	x = parse("<GetChangeResponse><ChangeInfo><Id>/change/C1</Id></ChangeInfo>"
		  "</GetChangeResponse>");
	assert_int_equal(cf_r53_parse_change(x, id, st, sizeof(st), &err), -1);
	cf_xml_free(x);

	assert_int_equal(cf_r53_id("Z1D633PJN98FT9", id), 0);
	assert_string_equal(id, "Z1D633PJN98FT9");
	assert_int_equal(cf_r53_id("/hostedzone/Z1D633PJN98FT9", id), 0);
	assert_string_equal(id, "Z1D633PJN98FT9");
	assert_int_equal(cf_r53_id("/change/C1", id), 0);
	assert_int_equal(cf_r53_id("", id), -1);
	assert_int_equal(cf_r53_id("/hostedzone/", id), -1);
	assert_int_equal(cf_r53_id("Z1/../../x", id), -1);
	assert_int_equal(cf_r53_id("Z1?a=b", id), -1);
	assert_int_equal(cf_r53_id(NULL, id), -1);
}

static void test_errors(void **state)
{
	static const char sig[] =
		"<?xml version=\"1.0\"?>\n<ErrorResponse" NSDECL "><Error><Type>Sender</Type>"
		"<Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated "
		"does not match</Message></Error><RequestId>r</RequestId></ErrorResponse>";
	static const char thr[] = "<ErrorResponse><Error><Code>Throttling</Code><Message>Rate "
				  "exceeded</Message></Error></ErrorResponse>";
	static const char icb[] =
		"<InvalidChangeBatch" NSDECL "><Messages><Message>Tried to delete resource record "
		"set [name='a.', type='TXT'] but the values provided do not match the current "
		"values</Message><Message>second</Message></Messages></InvalidChangeBatch>";
	char code[64];
	cf_err err = { 0 };

	assert_int_equal(cf_r53_error(403, sig, strlen(sig), "GET /x", code, sizeof(code), &err),
			 -1);
	assert_string_equal(code, "SignatureDoesNotMatch");
	assert_int_equal(err.cls, CF_ERR_PERMANENT);
	assert_non_null(strstr(err.msg, "route53: GET /x: HTTP 403 SignatureDoesNotMatch: The "
					"request signature"));
	assert_non_null(strstr(err.msg, "secret_access_key"));

	assert_int_equal(cf_r53_error(400, thr, strlen(thr), "GET /y", code, sizeof(code), &err),
			 -1);
	assert_int_equal(err.cls, CF_ERR_TRANSIENT);
	assert_non_null(strstr(err.msg, "HTTP 400 Throttling: Rate exceeded"));

	assert_int_equal(cf_r53_error(400, icb, strlen(icb), "POST /z", code, sizeof(code), &err),
			 -1);
	assert_string_equal(code, "InvalidChangeBatch");
	assert_int_equal(err.cls, CF_ERR_PERMANENT);
	assert_non_null(strstr(err.msg, "do not match the current values; second"));

	assert_int_equal(cf_r53_error(503, "<html>", 6, "GET /w", code, sizeof(code), &err), -1);
	assert_int_equal(err.cls, CF_ERR_TRANSIENT);
	assert_string_equal(code, "");
	assert_non_null(strstr(err.msg, "HTTP 503: not a Route 53 error document"));
	assert_int_equal(cf_r53_error(404, NULL, 0, "GET /v", NULL, 0, &err), -1);
	assert_int_equal(err.cls, CF_ERR_PERMANENT);
}

static void test_validate(void **state)
{
	static const struct {
		const char *json; /* merged over the two keys */
		const char *expect;
	} cases[] = {
		{ "{}", NULL },
		{ "{\"session_token\": \"FQoGZXIvYXdzEP\", \"region\": \"us-east-1\"}", NULL },
		{ "{\"hosted_zone_id\": \"/hostedzone/Z1D633PJN98FT9\", \"ttl\": 300}", NULL },
		{ "{\"endpoint\": \"http://127.0.0.1:9999\", \"insync_timeout\": \"0\"}", NULL },
		{ "{\"endpoint\": \"https://route53.amazonaws.com/\"}", NULL },
		{ "{\"endpoint\": \"http://route53.amazonaws.com\"}", "setting endpoint" },
		{ "{\"endpoint\": \"http://10.1.1.1:80\"}", "setting endpoint" },
		{ "{\"endpoint\": \"https://r53.test/p%41th\"}", "setting endpoint" },
		{ "{\"access_key_id\": \"\"}", "setting access_key_id" },
		{ "{\"access_key_id\": \"AK/ID\"}", "setting access_key_id" },
		{ "{\"secret_access_key\": \"has blank\"}", "setting secret_access_key" },
		{ "{\"session_token\": \"\"}", "setting session_token" },
		{ "{\"region\": \"US-EAST-1\"}", "setting region" },
		{ "{\"region\": \"\"}", "setting region" },
		{ "{\"hosted_zone_id\": \"Z 1\"}", "setting hosted_zone_id" },
		{ "{\"ttl\": 0}", "setting ttl" },
		{ "{\"insync_timeout\": 901}", "setting insync_timeout" },
		{ "{\"zone\": \"x\"}", "unknown setting \"zone\"" },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *s = json_pack("{s:s,s:s}", "access_key_id", "AKIDEXAMPLE",
				      "secret_access_key", SECRET);
		json_t *x = json_loads(cases[i].json, 0, NULL);
		cf_err err = { 0 };
		int rc;

		assert_non_null(x);
		json_object_update(s, x);
		rc = cf_provider_route53.validate(s, &err);
		print_message("  %s\n", cases[i].json);
		if (cases[i].expect == NULL) {
			assert_int_equal(rc, 0);
		} else {
			assert_int_equal(rc, -1);
			assert_non_null(strstr(err.msg, cases[i].expect));
		}
		assert_null(strstr(err.msg, SECRET));
		assert_null(strstr(err.msg, "has blank"));
		json_decref(x);
		json_decref(s);
	}
	assert_ptr_equal(cf_provider_find("route53"), &cf_provider_route53);
	assert_true(cf_provider_is_secret(&cf_provider_route53, "secret_access_key"));
	assert_true(cf_provider_is_secret(&cf_provider_route53, "session_token"));
	assert_false(cf_provider_is_secret(&cf_provider_route53, "access_key_id"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_xml_reader),
		cmocka_unit_test(test_xml_refusals),
		cmocka_unit_test(test_xml_escape),
		cmocka_unit_test(test_txt_quote),
		cmocka_unit_test(test_txt_round_trip_every_byte),
		cmocka_unit_test(test_txt_unquote_forms),
		cmocka_unit_test(test_change_body),
		cmocka_unit_test(test_parse_rrset),
		cmocka_unit_test(test_parse_zone),
		cmocka_unit_test(test_parse_change_and_ids),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_validate),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
