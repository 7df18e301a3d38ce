/*
 * test_acme_issuer.c: what the ACME client does for a service that treats the CA
 * as a limited, fallible resource (issue 11), against the scripted fake CA of
 * acme_fake.h: badNonce retried for a time, not a count; a 429 / rateLimited or
 * 503 never sent again, its status, type and Retry-After handed to the caller
 * (cf_acme_client_last_failure()) to pause the issuer with; a finalize answered
 * "processing" with Retry-After, which the poll waits before its first read; the
 * directory's profiles and "profile" in newOrder (absent when not asked for);
 * deactivation of pending or valid authorizations only.
 */
#include "acme_fake.h"

static const char bad_nonce[] = "{\"type\":\"" P "badNonce\",\"detail\":\"stale\"}";

static void test_bad_nonce_time_budget(void **state)
{
	fixture *fx = *state;
	cf_acme_options o = {0};
	acme_resp r = {0};
	cf_err e = {0};
	cf_acme_client *c;
	char dir[128];
	long long t0;

	snprintf(dir, sizeof(dir), "http://127.0.0.1:%d/dir", fx->f->port);
	o.directory_url = dir;
	o.bad_nonce_timeout_ms = 400;
	c = cf_acme_client_new(&o, fx->key, &e);
	assert_non_null(c);
	assert_int_equal(c->bad_nonce_retries, 0); /* no count cap by default */
	assert_int_equal(cf_acme_client_set_account(c, "http://127.0.0.1/acct/1", &e), 0);
	/* 15 rejections, then an answer: all within the time budget */
	for (int i = 0; i < 15; i++)
		script(fx->f, 400, "Content-Type: application/problem+json\r\n", bad_nonce);
	script(fx->f, 200, NULL, "{}");
	assert_int_equal(acme_post(c, "test", fx->url, "{}", NULL, NULL, &r, &e), 0);
	assert_int_equal(fx->f->nposts, 16);
	/* a CA that never takes a nonce: retried until the time is up, then transient */
	fx->f->fallback = (canned){400, "Content-Type: application/problem+json\r\n", bad_nonce};
	t0 = cf_clock_mono_ms();
	assert_int_equal(acme_post(c, "test", fx->url, "{}", NULL, NULL, &r, &e), -1);
	assert_true(cf_clock_mono_ms() - t0 >= 400);
	assert_true(cf_clock_mono_ms() - t0 < 3000);
	assert_true(fx->f->nposts > 16 + 11);
	assert_int_equal(e.cls, CF_ERR_TRANSIENT);
	assert_non_null(strstr(e.msg, "badNonce"));
	cf_err_clear(&e);
	acme_resp_free(&r);
	/* the default is 30 s */
	cf_acme_client_free(c);
	o.bad_nonce_timeout_ms = 0;
	c = cf_acme_client_new(&o, fx->key, &e);
	assert_int_equal(c->bad_nonce_timeout_ms, 30000);
	cf_acme_client_free(c);
}

static void test_rate_limited_not_retried(void **state)
{
	fixture *fx = *state;
	acme_resp r = {0};
	cf_err e = {0};
	cf_acme_failure f;

	script(fx->f, 429, "Content-Type: application/problem+json\r\nRetry-After: 1\r\n",
	       "{\"type\":\"" P "rateLimited\",\"detail\":\"slow down\"}");
	script(fx->f, 201, "Location: http://127.0.0.1/x/1\r\n", "{}");
	assert_int_equal(acme_post(fx->c, "newOrder", fx->url, "{}", NULL, NULL, &r, &e), -1);
	assert_int_equal(count(fx->f, "POST"), 1);
	assert_int_equal(fx->waits, 0);
	assert_int_equal(e.cls, CF_ERR_TRANSIENT);
	assert_non_null(strstr(e.msg, "rateLimited: slow down"));
	cf_acme_client_last_failure(fx->c, &f);
	assert_int_equal(f.http_status, 429);
	assert_true(f.rate_limited);
	assert_false(f.unavailable);
	assert_int_equal(f.retry_after_ms, 1000);
	assert_int_equal(f.retry_after_s, 1);
	assert_string_equal(f.problem_type, P "rateLimited");
	cf_err_clear(&e);
	/* the next call starts clean: it succeeds and the failure is forgotten */
	assert_int_equal(acme_post(fx->c, "newOrder", fx->url, "{}", NULL, NULL, &r, &e), 0);
	cf_acme_client_last_failure(fx->c, &f);
	assert_int_equal(f.http_status, 0);
	assert_false(f.rate_limited);
	assert_int_equal(cf_acme_client_retry_after_ms(fx->c), 0);
	acme_resp_free(&r);
}

static void test_rate_limited_long_retry_after(void **state)
{
	fixture *fx = *state;
	acme_resp r = {0};
	cf_err e = {0};
	cf_acme_failure f;

	/* a 429 without a problem document (or from a read) is a rate limit too */
	script(fx->f, 429, "Retry-After: 3600\r\n", "slow");
	assert_int_equal(acme_post(fx->c, "order", fx->url, NULL, NULL, NULL, &r, &e), -1);
	assert_int_equal(count(fx->f, "POST"), 1);
	assert_int_equal(fx->waits, 0);
	assert_int_equal(e.cls, CF_ERR_TRANSIENT);
	assert_int_equal(cf_acme_client_retry_after_ms(fx->c), 3600000);
	cf_acme_client_last_failure(fx->c, &f);
	assert_true(f.rate_limited);
	assert_int_equal(f.retry_after_s, 3600);
	assert_string_equal(f.problem_type, "");
	cf_err_clear(&e);
	acme_resp_free(&r);
}

static void test_503_not_retried(void **state)
{
	fixture *fx = *state;
	acme_resp r = {0};
	cf_err e = {0};
	cf_acme_failure f;

	script(fx->f, 503, "Retry-After: 120\r\n", "busy");
	script(fx->f, 503, NULL, "busy");
	script(fx->f, 200, NULL, "{}");
	assert_int_equal(acme_post(fx->c, "finalize", fx->url, "{}", NULL, NULL, &r, &e), -1);
	assert_int_equal(count(fx->f, "POST"), 1);
	assert_int_equal(e.cls, CF_ERR_TRANSIENT);
	cf_acme_client_last_failure(fx->c, &f);
	assert_int_equal(f.http_status, 503);
	assert_true(f.unavailable);
	assert_false(f.rate_limited);
	assert_int_equal(f.retry_after_s, 120);
	cf_err_clear(&e);
	assert_int_equal(acme_post(fx->c, "order", fx->url, NULL, NULL, NULL, &r, &e), -1);
	assert_int_equal(count(fx->f, "POST"), 2);
	assert_int_equal(fx->waits, 0);
	cf_acme_client_last_failure(fx->c, &f);
	assert_true(f.unavailable);
	assert_int_equal(f.retry_after_ms, 0);
	cf_err_clear(&e);
	acme_resp_free(&r);
}

static const char order_pending[] =
	"{\"status\":\"pending\",\"finalize\":\"https://ca.test/fin\","
	"\"identifiers\":[{\"type\":\"dns\",\"value\":\"a.test\"}],"
	"\"authorizations\":[\"https://ca.test/authz/1\"]}";

static void test_finalize_processing_retry_after(void **state)
{
	fixture *fx = *state;
	cf_acme_order o = {0};
	cf_err e = {0};
	const char *processing = "{\"status\":\"processing\",\"finalize\":\"https://ca.test/fin\"}";
	const char *valid = "{\"status\":\"valid\",\"finalize\":\"https://ca.test/fin\","
			    "\"certificate\":\"https://ca.test/cert/1\"}";
	unsigned char csr[4] = {1, 2, 3, 4};
	long long t0;

	script(fx->f, 200, "Retry-After: 1\r\n", processing); /* finalize */
	script(fx->f, 200, "Retry-After: 1\r\n", processing); /* first read */
	script(fx->f, 200, NULL, valid);
	o.url = strdup(fx->url);
	o.finalize_url = strdup(fx->url);
	o.status = CF_ACME_READY;
	t0 = cf_clock_mono_ms();
	assert_int_equal(cf_acme_order_finalize(fx->c, &o, csr, sizeof(csr), &o, &e), 0);
	assert_int_equal(o.status, CF_ACME_PROCESSING);
	assert_int_equal(o.retry_after_ms, 1000);
	assert_int_equal(cf_acme_order_poll(fx->c, o.url, time(NULL) + 30, &o, &e), 0);
	assert_true(cf_clock_mono_ms() - t0 >= 2000);
	assert_int_equal(o.status, CF_ACME_VALID);
	assert_int_equal(count(fx->f, "POST"), 3);
	assert_int_equal(fx->waits, 2);
	assert_int_equal(fx->wait_ms[0], 1000); /* the finalize response's Retry-After */
	assert_int_equal(fx->wait_ms[1], 1000); /* the first read's */
	cf_acme_order_free(&o);
}

static void test_profiles_in_directory(void **state)
{
	fixture *fx = *state;
	const cf_acme_directory *d = NULL;
	cf_err e = {0};

	fx->f->meta_extra = "\"profiles\":{\"classic\":\"The same profile you're accustomed to\","
			    "\"tlsserver\":\"https://x/tlsserver\",\"shortlived\":\"6 days\"}";
	assert_int_equal(cf_acme_client_directory(fx->c, &d, &e), 0);
	assert_int_equal(d->nprofiles, 3);
	assert_string_equal(d->profile_names[0], "classic");
	assert_string_equal(d->profile_names[1], "tlsserver");
	assert_string_equal(d->profile_names[2], "shortlived");
	assert_string_equal(cf_acme_directory_profile(d, "shortlived"), "6 days");
	assert_null(cf_acme_directory_profile(d, "nope"));
	assert_int_equal(cf_acme_directory_check_profile(d, "tlsserver", &e), 0);
	assert_int_equal(cf_acme_directory_check_profile(d, NULL, &e), 0);
	assert_int_equal(cf_acme_directory_check_profile(d, "", &e), 0);
	assert_int_equal(cf_acme_directory_check_profile(d, "nope", &e), -1);
	assert_int_equal(e.cls, CF_ERR_PERMANENT);
	assert_string_equal(e.msg, "profile \"nope\" is not offered by the CA "
				   "(offered: classic, tlsserver, shortlived)");
	cf_err_clear(&e);
}

static void test_profile_in_new_order(void **state)
{
	fixture *fx = *state;
	const char *names[] = {"a.test"};
	const cf_acme_directory *d = NULL;
	cf_acme_order_opts oo = {.profile = "shortlived", .replaces = "aaa.bbb"};
	cf_acme_order o = {0};
	cf_err e = {0};
	json_t *p;

	script(fx->f, 201, "Location: http://127.0.0.1/order/1\r\n",
	       "{\"status\":\"pending\",\"profile\":\"shortlived\","
	       "\"finalize\":\"https://ca.test/fin\"}");
	script(fx->f, 201, "Location: http://127.0.0.1/order/2\r\n", order_pending);
	script(fx->f, 201, "Location: http://127.0.0.1/order/3\r\n", order_pending);
	assert_int_equal(cf_acme_order_new_opts(fx->c, names, 1, &oo, &o, &e), 0);
	assert_string_equal(o.profile, "shortlived");
	p = post_payload(fx->f, 0);
	assert_string_equal(json_string_value(json_object_get(p, "profile")), "shortlived");
	assert_string_equal(json_string_value(json_object_get(p, "replaces")), "aaa.bbb");
	assert_int_equal(json_array_size(json_object_get(p, "identifiers")), 1);
	json_decref(p);
	/* no profile asked for: none sent, by both the old and the new call */
	assert_int_equal(cf_acme_order_new(fx->c, names, 1, &o, &e), 0);
	assert_null(o.profile);
	p = post_payload(fx->f, 1);
	assert_null(json_object_get(p, "profile"));
	assert_null(json_object_get(p, "replaces"));
	json_decref(p);
	assert_int_equal(cf_acme_order_new_opts(fx->c, names, 1, NULL, &o, &e), 0);
	p = post_payload(fx->f, 2);
	assert_null(json_object_get(p, "profile"));
	json_decref(p);
	cf_acme_order_free(&o);
	/* a directory without profiles: any profile is refused, saying so */
	assert_int_equal(cf_acme_client_directory(fx->c, &d, &e), 0);
	assert_int_equal(d->nprofiles, 0);
	assert_int_equal(cf_acme_directory_check_profile(d, "classic", &e), -1);
	assert_non_null(strstr(e.msg, "offers no profiles"));
	cf_err_clear(&e);
}

static const char *authz_body(const char *status)
{
	static char buf[512];

	snprintf(buf, sizeof(buf),
		 "{\"status\":\"%s\",\"identifier\":{\"type\":\"dns\",\"value\":\"a.test\"},"
		 "\"challenges\":[{\"type\":\"dns-01\",\"url\":\"https://ca.test/c/1\","
		 "\"token\":\"tok\",\"status\":\"%s\"}]}",
		 status, status);
	return strdup(buf);
}

static void test_deactivate_only_pending_or_valid(void **state)
{
	fixture *fx = *state;
	const char *st[] = {"invalid", "deactivated", "expired", "pending", "valid"};
	char *bodies[5];
	cf_err e = {0};
	bool done = true;
	json_t *p;
	int i;

	for (i = 0; i < 5; i++) {
		bodies[i] = (char *)authz_body(st[i]);
		script(fx->f, 200, NULL, bodies[i]);
		if (i >= 3)
			script(fx->f, 200, NULL, "{\"status\":\"deactivated\"}");
	}
	for (i = 0; i < 3; i++) {
		assert_int_equal(cf_acme_authz_release(fx->c, fx->url, CF_ACME_UNKNOWN, &done, &e),
				 0);
		assert_false(done);
	}
	assert_int_equal(fx->f->nposts, 3); /* three reads, no deactivation */
	assert_int_equal(cf_acme_authz_deactivate(fx->c, fx->url, &e), 0); /* pending */
	assert_int_equal(fx->f->nposts, 5);
	p = post_payload(fx->f, 4);
	assert_string_equal(json_string_value(json_object_get(p, "status")), "deactivated");
	json_decref(p);
	assert_int_equal(cf_acme_authz_release(fx->c, fx->url, CF_ACME_UNKNOWN, &done, &e), 0);
	assert_true(done);
	assert_int_equal(fx->f->nposts, 7);
	/* a status the caller knows is not read again */
	script(fx->f, 200, NULL, "{\"status\":\"deactivated\"}");
	assert_int_equal(cf_acme_authz_release(fx->c, fx->url, CF_ACME_VALID, &done, &e), 0);
	assert_true(done);
	assert_int_equal(fx->f->nposts, 8);
	assert_int_equal(cf_acme_authz_release(fx->c, fx->url, CF_ACME_INVALID, &done, &e), 0);
	assert_false(done);
	assert_int_equal(fx->f->nposts, 8);
	for (i = 0; i < 5; i++)
		free(bodies[i]);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_bad_nonce_time_budget),
		T(test_rate_limited_not_retried),
		T(test_rate_limited_long_retry_after),
		T(test_503_not_retried),
		T(test_finalize_processing_retry_after),
		T(test_profiles_in_directory),
		T(test_profile_in_new_order),
		T(test_deactivate_only_pending_or_valid),
	};
	int rc;

	if (cf_acme_global_init(NULL) != 0)
		return 1;
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	cf_acme_global_cleanup();
	return rc;
}
