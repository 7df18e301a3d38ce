/*
 * test_alerts.c: the pure parts of alerts: the kind table (names and parsing,
 * one string per kind), the title and facts of each kind, the e-mail message
 * (CRLF, headers without line breaks from the data, long lines cut), the Slack
 * payload (text + header/section/context blocks) and both Teams shapes (a
 * message with an Adaptive Card attachment; an Office 365 MessageCard).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "store/alerts.h"
#include "worker/alerts.h"

static json_t *failed_alert(void)
{
	json_t *a = json_loads(
		"{\"id\": \"e1\", \"event\": \"alert\", \"alert\": \"issuance_failed\", "
		"\"rule\": \"ops\", \"at\": \"2026-12-08T02:00:00.000Z\", \"certificate\": "
		"\"web\", \"names\": [\"www.example.com\", \"example.com\"], \"job\": \"j1\", "
		"\"job_kind\": \"renew\", \"problem\": {\"step\": \"preflight\", \"detail\": "
		"\"_acme-challenge.www.example.com. has no CNAME\", \"name\": "
		"\"www.example.com\", \"alias_check\": {\"verdict\": \"missing\", \"detail\": "
		"\"no CNAME\", \"target\": \"www.example.com.alias.test\"}}}", 0, NULL);

	assert_non_null(a);
	return a;
}

static void test_kinds(void **state)
{
	for (int k = 0; k < CF_ALERT__MAX; k++) {
		assert_non_null(cf_alert_kind_name((cf_alert_kind)k));
		assert_int_equal(cf_alert_kind_parse(cf_alert_kind_name((cf_alert_kind)k)), k);
	}
	assert_string_equal(cf_alert_kind_name(CF_ALERT_ROLLOUT_PAUSED), "rollout_paused");
	assert_int_equal(cf_alert_kind_parse("nope"), CF_ALERT__MAX);
	assert_int_equal(cf_alert_kind_parse(NULL), CF_ALERT__MAX);
	assert_null(cf_alert_kind_name(CF_ALERT__MAX));
}

static const char *fact(json_t *facts, const char *name)
{
	size_t i;
	json_t *f;

	json_array_foreach(facts, i, f)
		if (strcmp(json_string_value(json_array_get(f, 0)), name) == 0)
			return json_string_value(json_array_get(f, 1));
	return NULL;
}

static void test_failed_title_and_facts(void **state)
{
	json_t *a = failed_alert(), *facts = wk_alert_facts(a);
	char *t = wk_alert_title(a);

	assert_string_equal(t, "certfleet: renewal of web failed");
	assert_string_equal(fact(facts, "Names"), "www.example.com, example.com");
	assert_string_equal(fact(facts, "Step"), "preflight");
	assert_string_equal(fact(facts, "Alias verdict"), "missing: no CNAME");
	assert_string_equal(fact(facts, "Alias target"), "www.example.com.alias.test");
	assert_null(fact(facts, "CA problem"));
	free(t);
	json_decref(facts);
	json_decref(a);
}

static void test_other_kinds(void **state)
{
	json_t *e = json_loads("{\"alert\": \"expiring\", \"certificate\": \"web\", "
			       "\"days_left\": 3, \"not_after\": \"2026-12-11T00:00:00.000Z\", "
			       "\"last_job\": {\"state\": \"failed\", \"kind\": \"renew\", "
			       "\"problem\": {\"detail\": \"CA said no\"}}}", 0, NULL);
	json_t *p = json_loads("{\"alert\": \"issuer_paused\", \"issuer\": \"le\", "
			       "\"paused_until\": \"T\", \"reason\": \"rate\\r\\nlimited\"}", 0,
			       NULL);
	json_t *d = json_loads("{\"alert\": \"digest\", \"day\": \"2026-12-08\", \"at_risk\": "
			       "[{\"certificate\": \"web\", \"status\": \"failed\", \"not_after\": "
			       "null, \"names\": [\"a.test\"]}], \"paused_issuers\": []}", 0, NULL);
	json_t *fe = wk_alert_facts(e), *fd = wk_alert_facts(d);
	char *te = wk_alert_title(e), *tp = wk_alert_title(p), *td = wk_alert_title(d);

	assert_string_equal(te, "certfleet: web expires in 3 days with no successful renewal");
	assert_string_equal(fact(fe, "Last job: Problem"), "CA said no");
	assert_string_equal(tp, "certfleet: issuer le paused until T");
	assert_string_equal(td, "certfleet: digest of 2026-12-08: 1 certificates at risk, 0 "
			    "issuers paused");
	assert_non_null(strstr(fact(fd, "web"), "failed; no certificate yet"));
	free(te);
	free(tp);
	free(td);
	json_decref(fe);
	json_decref(fd);
	json_decref(e);
	json_decref(p);
	json_decref(d);
}

static void test_email(void **state)
{
	json_t *a = failed_alert();
	char long_detail[2000], *m, *body;

	memset(long_detail, 'x', sizeof(long_detail) - 1);
	long_detail[sizeof(long_detail) - 1] = '\0';
	json_object_set_new(json_object_get(a, "problem"), "detail", json_string(long_detail));
	json_object_set_new(a, "certificate", json_string("web\r\nBcc: evil@example.com"));
	m = wk_alert_email(a, "cf@example.com", "ops@example.com", "e1", 0);
	assert_non_null(m);
	assert_non_null(strstr(m, "Date: Thu, 01 Jan 1970 00:00:00 +0000\r\n"));
	assert_non_null(strstr(m, "Message-ID: <e1@certfleet>\r\n"));
	assert_non_null(strstr(m, "Subject: certfleet: renewal of web  Bcc: evil@example.com "
				  "failed\r\n"));
	body = strstr(m, "\r\n\r\n");
	assert_non_null(body);
	*body = '\0'; /* the header section: no line of the data's own */
	assert_null(strstr(m, "\r\nBcc:"));
	*body = '\r';
	for (char *l = body + 4, *e; (e = strstr(l, "\r\n")) != NULL; l = e + 2)
		assert_true(e - l <= 900);
	for (char *c = m; *c; c++)
		if (*c == '\n')
			assert_true(c > m && c[-1] == '\r');
	free(m);
	json_decref(a);
}

static void test_slack_and_teams(void **state)
{
	json_t *a = failed_alert(), *s = wk_alert_slack(a), *t = wk_alert_teams(a, NULL);
	json_t *mc = wk_alert_teams(a, "messagecard"), *card, *facts;

	assert_string_equal(json_string_value(json_object_get(s, "text")),
			    "certfleet: renewal of web failed");
	assert_int_equal(json_array_size(json_object_get(s, "blocks")), 3);
	assert_string_equal(json_string_value(json_object_get(
		json_array_get(json_object_get(s, "blocks"), 0), "type")), "header");
	assert_non_null(strstr(json_string_value(json_object_get(json_object_get(
		json_array_get(json_object_get(s, "blocks"), 1), "text"), "text")),
		"*Alias verdict*: missing: no CNAME"));
	assert_string_equal(json_string_value(json_object_get(t, "type")), "message");
	card = json_array_get(json_object_get(t, "attachments"), 0);
	assert_string_equal(json_string_value(json_object_get(card, "contentType")),
			    "application/vnd.microsoft.card.adaptive");
	card = json_object_get(card, "content");
	assert_string_equal(json_string_value(json_object_get(card, "type")), "AdaptiveCard");
	facts = json_object_get(json_array_get(json_object_get(card, "body"), 1), "facts");
	assert_string_equal(json_string_value(json_object_get(json_array_get(facts, 0),
							      "title")), "Certificate");
	assert_string_equal(json_string_value(json_object_get(mc, "@type")), "MessageCard");
	assert_string_equal(json_string_value(json_object_get(mc, "summary")),
			    "certfleet: renewal of web failed");
	facts = json_object_get(json_array_get(json_object_get(mc, "sections"), 0), "facts");
	assert_string_equal(json_string_value(json_object_get(json_array_get(facts, 0),
							      "name")), "Certificate");
	json_decref(s);
	json_decref(t);
	json_decref(mc);
	json_decref(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kinds),
		cmocka_unit_test(test_failed_title_and_facts),
		cmocka_unit_test(test_other_kinds),
		cmocka_unit_test(test_email),
		cmocka_unit_test(test_slack_and_teams),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
