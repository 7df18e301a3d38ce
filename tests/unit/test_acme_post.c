/*
 * test_acme_post.c: acme_post() and the object readers against the scripted fake
 * CA of acme_fake.h, checking what the client sent: the nonce of the previous
 * error response after badNonce, in-line waits for reads after a 5xx other than
 * 503, no repeat of a non-idempotent POST after a 500, the body cap, header
 * capture, and polling with Retry-After or, without it, from the client's first
 * interval (poll_initial_ms) doubling, and no poll read at all when the caller
 * already holds the object in a final status. test_acme_issuer.c has the tests of
 * rate limits, 503, badNonce over time, profiles and deactivation.
 */
#include "acme_fake.h"

static const char bad_nonce[] = "{\"type\":\"" P "badNonce\",\"detail\":\"stale\"}";

static void test_bad_nonce_retry(void **state)
{
	fixture *fx = *state;
	acme_resp r = {0};
	cf_err e = {0};
	char *n0, *n1, *n2;

	script(fx->f, 400, "Content-Type: application/problem+json\r\n", bad_nonce);
	script(fx->f, 400, "Content-Type: application/problem+json\r\n", bad_nonce);
	script(fx->f, 200, "Content-Type: application/json\r\n", "{\"ok\":true}");
	assert_int_equal(acme_post(fx->c, "test", fx->url, "{}", NULL, NULL, &r, &e), 0);
	assert_int_equal(r.status, 200);
	assert_int_equal(count(fx->f, "POST"), 3);
	assert_int_equal(count(fx->f, "HEAD"), 1); /* newNonce only once */
	n0 = post_header(fx->f, 0, "nonce");
	n1 = post_header(fx->f, 1, "nonce");
	n2 = post_header(fx->f, 2, "nonce");
	/* nonce-1: the HEAD; then each POST carries the nonce of the response before */
	assert_string_equal(n0, "nonce-1");
	assert_string_equal(n1, "nonce-2");
	assert_string_equal(n2, "nonce-3");
	free(n0);
	free(n1);
	free(n2);
	n0 = post_header(fx->f, 0, "kid");
	assert_string_equal(n0, "http://127.0.0.1/acct/1");
	assert_null(post_header(fx->f, 0, "jwk")); /* kid, never both */
	free(n0);
	assert_int_equal(fx->waits, 0); /* badNonce is retried at once */
	acme_resp_free(&r);
	/* the last response's nonce is held for the next request */
	assert_string_equal(fx->c->nonce, "nonce-4");
}

static void test_bad_nonce_exhausted(void **state)
{
	fixture *fx = *state;
	acme_resp r = {0};
	cf_err e = {0};
	int i;

	for (i = 0; i < 5; i++)
		script(fx->f, 400, "Content-Type: application/problem+json\r\n", bad_nonce);
	assert_int_equal(acme_post(fx->c, "test", fx->url, "{}", NULL, NULL, &r, &e), -1);
	assert_int_equal(count(fx->f, "POST"), 4); /* 1 + bad_nonce_retries */
	assert_int_equal(e.cls, CF_ERR_TRANSIENT);
	assert_string_equal(e.problem, bad_nonce);
	assert_string_equal(e.msg, "test: HTTP 400: badNonce: stale");
	cf_err_clear(&e);
	acme_resp_free(&r);
}

/* badNonce is retried for a time, not a count: far more than the old fixed ten,
 * and the call gives up (transient) once bad_nonce_timeout_ms has passed. */
/* A rate limit is not sent again, whatever its Retry-After: the caller learns
 * the status, the type and the Retry-After (ms and s) from the last failure. */
/* 503 is not sent again either, not even for a read: the issuer is paused. */
/* Other 5xx of a read still get the in-line backoff: 250, 500. */
static void test_502_read_backoff(void **state)
{
	fixture *fx = *state;
	acme_resp r = {0};
	cf_err e = {0};

	script(fx->f, 502, NULL, "gateway");
	script(fx->f, 502, NULL, "gateway");
	script(fx->f, 200, NULL, "{}");
	assert_int_equal(acme_post(fx->c, "order", fx->url, NULL, NULL, NULL, &r, &e), 0);
	assert_int_equal(count(fx->f, "POST"), 3);
	assert_int_equal(fx->waits, 2);
	assert_int_equal(fx->wait_ms[0], 250);
	assert_int_equal(fx->wait_ms[1], 500);
	acme_resp_free(&r);
}

static void test_500_not_repeated_unless_read(void **state)
{
	fixture *fx = *state;
	acme_resp r = {0};
	cf_err e = {0};
	const char *prob = "{\"type\":\"" P "serverInternal\",\"detail\":\"oops\"}";

	script(fx->f, 500, "Content-Type: application/problem+json\r\n", prob);
	script(fx->f, 500, "Content-Type: application/problem+json\r\n", prob);
	script(fx->f, 200, NULL, "{}");
	/* a POST with a payload may have changed state: not sent again */
	assert_int_equal(acme_post(fx->c, "finalize", fx->url, "{}", NULL, NULL, &r, &e), -1);
	assert_int_equal(e.cls, CF_ERR_TRANSIENT);
	assert_int_equal(count(fx->f, "POST"), 1);
	cf_err_clear(&e);
	/* POST-as-GET is a read: retried */
	assert_int_equal(acme_post(fx->c, "order", fx->url, NULL, NULL, NULL, &r, &e), 0);
	assert_int_equal(count(fx->f, "POST"), 3);
	acme_resp_free(&r);
}

static void test_permanent_not_retried(void **state)
{
	fixture *fx = *state;
	acme_resp r = {0};
	cf_err e = {0};

	script(fx->f, 403, "Content-Type: application/problem+json\r\n",
	       "{\"type\":\"" P "unauthorized\",\"detail\":\"no\"}");
	assert_int_equal(acme_post(fx->c, "test", fx->url, "{}", NULL, NULL, &r, &e), -1);
	assert_int_equal(e.cls, CF_ERR_PERMANENT);
	assert_int_equal(count(fx->f, "POST"), 1);
	assert_int_equal(r.status, 403); /* the response stays readable */
	cf_err_clear(&e);
	acme_resp_free(&r);
}

static void test_body_cap(void **state)
{
	fixture *fx = *state;
	acme_resp r = {0};
	cf_err e = {0};
	/* static: the fake CA's thread may still be sending it when acme_post() has
	 * given up at the cap, so it must outlive the test (TSan saw the free race) */
	static char big[8001];

	memset(big, 'a', 8000);
	big[8000] = '\0';
	script(fx->f, 200, NULL, big);
	assert_int_equal(acme_post(fx->c, "test", fx->url, "{}", NULL, NULL, &r, &e), -1);
	assert_int_equal(e.cls, CF_ERR_PERMANENT);
	assert_non_null(strstr(e.msg, "larger than 4096 bytes"));
	cf_err_clear(&e);
	acme_resp_free(&r);
}

static void test_headers_captured(void **state)
{
	fixture *fx = *state;
	acme_resp r = {0};
	cf_err e = {0};
	char *urls[4];
	size_t n = 0;

	script(fx->f, 200,
	       "Content-Type: application/pem-certificate-chain; charset=utf-8\r\n"
	       "Link: <https://ca.test/dir>;rel=\"index\"\r\n"
	       "Link: <https://ca.test/cert/1/1>;rel=\"alternate\"\r\n"
	       "link: <https://ca.test/cert/1/2>;rel=\"alternate\", <https://ca.test/up>;rel=up\r\n"
	       "Retry-After: 7\r\n",
	       "pem");
	assert_int_equal(acme_post(fx->c, "cert", fx->url, NULL, NULL, NULL, &r, &e), 0);
	assert_true(acme_resp_is(&r, "application/pem-certificate-chain"));
	assert_false(acme_resp_is(&r, "application/pem"));
	assert_int_equal(r.nlinks, 3);
	assert_int_equal(acme_resp_links(&r, "alternate", urls, 4, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(urls[0], "https://ca.test/cert/1/1");
	assert_string_equal(urls[1], "https://ca.test/cert/1/2");
	assert_int_equal(acme_resp_retry_after_ms(&r), 7000);
	assert_string_equal((char *)r.body.data, "pem");
	free(urls[0]);
	free(urls[1]);
	acme_resp_free(&r);
}

static void test_jwk_and_missing_kid(void **state)
{
	fixture *fx = *state;
	acme_resp r = {0};
	cf_err e = {0};
	char *kid;

	script(fx->f, 201, "Location: http://127.0.0.1/acct/2\r\n", "{\"status\":\"valid\"}");
	assert_int_equal(acme_post(fx->c, "newAccount", fx->url, "{}", fx->key, NULL, &r, &e), 0);
	kid = post_header(fx->f, 0, "kid");
	assert_null(kid);
	assert_int_equal(fx->f->nreq, 3); /* dir, nonce, post */
	acme_resp_free(&r);
	/* without an account URL, a kid request is refused before anything is sent */
	assert_int_equal(cf_acme_client_set_account(fx->c, NULL, &e), 0);
	assert_int_equal(acme_post(fx->c, "newOrder", fx->url, "{}", NULL, NULL, &r, &e), -1);
	assert_int_equal(e.cls, CF_ERR_PERMANENT);
	assert_int_equal(count(fx->f, "POST"), 1);
	cf_err_clear(&e);
	acme_resp_free(&r);
}

/* At a CA that requires EAB, a registration without EAB is a look-up: it finds an
 * account made earlier (with EAB), and otherwise says EAB is needed. */
static void test_eab_required_register_is_a_lookup(void **state)
{
	fixture *fx = *state;
	cf_acme_account_req req = {.terms_agreed = true};
	cf_acme_account a = {0};
	cf_err e = {0};
	json_t *p;

	fx->f->eab_required = 1;
	script(fx->f, 400, "Content-Type: application/problem+json\r\n",
	       "{\"type\":\"" P "accountDoesNotExist\",\"detail\":\"no account\"}");
	script(fx->f, 200, "Location: http://127.0.0.1/acct/7\r\n", "{\"status\":\"valid\"}");
	assert_int_equal(cf_acme_account_register(fx->c, &req, &a, &e), -1);
	assert_int_equal(e.cls, CF_ERR_PERMANENT);
	assert_non_null(strstr(e.msg, "requires External Account Binding"));
	assert_non_null(strstr(e.problem, "accountDoesNotExist")); /* the CA's answer kept */
	p = post_payload(fx->f, 0);
	assert_true(json_is_true(json_object_get(p, "onlyReturnExisting")));
	json_decref(p);
	cf_err_clear(&e);
	/* the key's account exists (made with EAB): found, not created */
	assert_int_equal(cf_acme_account_register(fx->c, &req, &a, &e), 0);
	assert_string_equal(a.url, "http://127.0.0.1/acct/7");
	assert_false(a.created);
	p = post_payload(fx->f, 1);
	assert_true(json_is_true(json_object_get(p, "onlyReturnExisting")));
	json_decref(p);
	cf_acme_account_free(&a);
}

static void test_timeout(void **state)
{
	fixture *fx = *state;
	cf_acme_options o = {0};
	acme_resp r = {0};
	cf_err e = {0};
	cf_acme_client *c;
	char dir[128];

	snprintf(dir, sizeof(dir), "http://127.0.0.1:%d/dir", fx->f->port);
	o.directory_url = dir;
	o.timeout_ms = 300;
	c = cf_acme_client_new(&o, fx->key, &e);
	assert_int_equal(cf_acme_client_set_account(c, "http://127.0.0.1/acct/1", &e), 0);
	script(fx->f, 0, NULL, NULL);
	script(fx->f, 0, NULL, NULL);
	script(fx->f, 200, NULL, "{}");
	/* a POST that may have reached the server is not sent again */
	assert_int_equal(acme_post(c, "finalize", fx->url, "{}", NULL, NULL, &r, &e), -1);
	assert_int_equal(e.cls, CF_ERR_TRANSIENT);
	assert_non_null(strstr(e.msg, "(curl 28)"));
	assert_int_equal(count(fx->f, "POST"), 1);
	cf_err_clear(&e);
	/* a read is: one more timeout, then the answer */
	assert_int_equal(acme_post(c, "order", fx->url, NULL, NULL, NULL, &r, &e), 0);
	assert_int_equal(count(fx->f, "POST"), 3);
	/* every request says who we are */
	assert_string_equal(fx->f->user_agent, "certfleet/" CERTFLEET_VERSION " libcurl");
	acme_resp_free(&r);
	cf_acme_client_free(c);
}

static void test_connection_refused(void **state)
{
	cf_acme_options o = {0};
	cf_err e = {0};
	cf_acme_client *c;
	fixture *fx = *state;

	(void)fx;
	o.directory_url = "http://127.0.0.1:1/dir";
	o.max_inline_wait_ms = -1;
	c = cf_acme_client_new(&o, fx->key, &e);
	assert_non_null(c);
	assert_int_equal(cf_acme_client_directory(c, NULL, &e), -1);
	assert_int_equal(e.cls, CF_ERR_TRANSIENT);
	cf_err_clear(&e);
	cf_acme_client_free(c);
	/* https only, except loopback */
	o.directory_url = "http://ca.example/dir";
	c = cf_acme_client_new(&o, fx->key, &e);
	assert_int_equal(cf_acme_client_directory(c, NULL, &e), -1);
	assert_int_equal(e.cls, CF_ERR_PERMANENT);
	assert_non_null(strstr(e.msg, "only https://"));
	cf_err_clear(&e);
	cf_acme_client_free(c);
}

static void test_order_poll_retry_after(void **state)
{
	fixture *fx = *state;
	cf_acme_order o = {0};
	cf_err e = {0};
	const char *processing = "{\"status\":\"processing\",\"finalize\":\"https://ca.test/fin\","
				 "\"identifiers\":[{\"type\":\"dns\",\"value\":\"a.test\"}],"
				 "\"authorizations\":[\"https://ca.test/authz/1\"]}";
	const char *valid = "{\"status\":\"valid\",\"finalize\":\"https://ca.test/fin\","
			    "\"certificate\":\"https://ca.test/cert/1\","
			    "\"identifiers\":[{\"type\":\"dns\",\"value\":\"a.test\"}],"
			    "\"authorizations\":[\"https://ca.test/authz/1\"]}";

	script(fx->f, 200, "Retry-After: 1\r\n", processing);
	script(fx->f, 200, NULL, processing);
	script(fx->f, 200, NULL, valid);
	/* a filled struct, with the URL pointing into it: refreshed in place */
	o.url = strdup(fx->url);
	assert_int_equal(cf_acme_order_poll(fx->c, o.url, time(NULL) + 30, &o, &e), 0);
	assert_int_equal(o.status, CF_ACME_VALID);
	assert_string_equal(o.url, fx->url);
	assert_string_equal(o.cert_url, "https://ca.test/cert/1");
	assert_int_equal(o.nidentifiers, 1);
	assert_string_equal(o.identifiers[0], "a.test");
	assert_int_equal(o.nauthz, 1);
	assert_int_equal(fx->waits, 2);
	assert_int_equal(fx->wait_ms[0], 1000); /* the server's Retry-After */
	assert_int_equal(fx->wait_ms[1], 100);  /* then the backoff of attempt 1: 50 << 1 */
	cf_acme_order_free(&o);
}

/* Without Retry-After a poll starts at poll_initial_ms (50 ms unless set) and
 * doubles; the in-line retries of acme_post() keep their own 250 ms base. */
static void test_poll_initial_interval(void **state)
{
	fixture *fx = *state;
	cf_acme_options o = {0};
	cf_acme_order ord = {0};
	cf_acme_client *c;
	cf_err e = {0};
	char dir[128];
	const char *processing = "{\"status\":\"processing\",\"finalize\":\"https://ca.test/fin\"}";
	const char *valid = "{\"status\":\"valid\",\"finalize\":\"https://ca.test/fin\","
			    "\"certificate\":\"https://ca.test/cert/1\"}";
	long long t0;
	int i;

	/* the default client of setup(): 50, 100, 200 */
	for (i = 0; i < 3; i++)
		script(fx->f, 200, NULL, processing);
	script(fx->f, 200, NULL, valid);
	t0 = cf_clock_mono_ms();
	assert_int_equal(cf_acme_order_poll(fx->c, fx->url, time(NULL) + 30, &ord, &e), 0);
	assert_true(cf_clock_mono_ms() - t0 < 250 * 3); /* the old 250 ms start: 1750 ms */
	assert_int_equal(fx->waits, 3);
	assert_int_equal(fx->wait_ms[0], 50);
	assert_int_equal(fx->wait_ms[1], 100);
	assert_int_equal(fx->wait_ms[2], 200);
	assert_int_equal(ord.status, CF_ACME_VALID);
	cf_acme_order_free(&ord);

	/* a client of its own with 120 ms: 120, 240 */
	fx->waits = 0;
	snprintf(dir, sizeof(dir), "http://127.0.0.1:%d/dir", fx->f->port);
	o.directory_url = dir;
	o.poll_initial_ms = 120;
	o.on_event = on_event;
	o.event_arg = fx;
	c = cf_acme_client_new(&o, fx->key, &e);
	assert_non_null(c);
	assert_int_equal(c->poll_initial_ms, 120);
	assert_int_equal(cf_acme_client_set_account(c, "http://127.0.0.1/acct/1", &e), 0);
	script(fx->f, 200, NULL, processing);
	script(fx->f, 200, NULL, processing);
	script(fx->f, 200, NULL, valid);
	assert_int_equal(cf_acme_order_poll(c, fx->url, time(NULL) + 30, &ord, &e), 0);
	assert_int_equal(fx->waits, 2);
	assert_int_equal(fx->wait_ms[0], 120);
	assert_int_equal(fx->wait_ms[1], 240);
	cf_acme_order_free(&ord);
	cf_acme_client_free(c);

	/* out of range: 0 and negative mean the default, above the cap is the cap */
	o.poll_initial_ms = 0;
	c = cf_acme_client_new(&o, fx->key, &e);
	assert_int_equal(c->poll_initial_ms, CF_ACME_POLL_INITIAL_MS);
	cf_acme_client_free(c);
	o.poll_initial_ms = -7;
	c = cf_acme_client_new(&o, fx->key, &e);
	assert_int_equal(c->poll_initial_ms, CF_ACME_POLL_INITIAL_MS);
	cf_acme_client_free(c);
	o.poll_initial_ms = 60000;
	c = cf_acme_client_new(&o, fx->key, &e);
	assert_int_equal(c->poll_initial_ms, CF_ACME_BACKOFF_MAX_MS);
	cf_acme_client_free(c);
}

/* The first poll after a finalize looks at the order the response left in out:
 * valid or invalid there means no read and no wait; busy (processing) means the
 * immediate read and, while the order stays busy, the waits as always. */
static void test_poll_after_final_response(void **state)
{
	fixture *fx = *state;
	cf_acme_order o = {0};
	cf_acme_authz a = {0};
	cf_err e = {0};
	const char *processing = "{\"status\":\"processing\",\"finalize\":\"https://ca.test/fin\"}";
	const char *valid = "{\"status\":\"valid\",\"finalize\":\"https://ca.test/fin\","
			    "\"certificate\":\"https://ca.test/cert/1\"}";
	long long t0;

	/* valid, as a finalize that the CA completed at once answers: no request */
	o.url = strdup(fx->url);
	o.status = CF_ACME_VALID;
	o.cert_url = strdup("https://ca.test/cert/1");
	t0 = cf_clock_mono_ms();
	assert_int_equal(cf_acme_order_poll(fx->c, o.url, time(NULL) + 30, &o, &e), 0);
	assert_true(cf_clock_mono_ms() - t0 < 50);
	assert_int_equal(count(fx->f, "POST"), 0);
	assert_int_equal(fx->waits, 0);
	assert_string_equal(o.cert_url, "https://ca.test/cert/1");
	cf_acme_order_free(&o);

	/* invalid: the verdict with the order's problem, still no request */
	o.url = strdup(fx->url);
	o.status = CF_ACME_INVALID;
	o.problem = strdup("{\"type\":\"" P "badCSR\",\"detail\":\"key too weak\"}");
	assert_int_equal(cf_acme_order_poll(fx->c, o.url, time(NULL) + 30, &o, &e), -1);
	assert_int_equal(e.cls, CF_ERR_PERMANENT);
	assert_non_null(strstr(e.msg, "key too weak"));
	assert_int_equal(count(fx->f, "POST"), 0);
	cf_err_clear(&e);
	cf_acme_order_free(&o);

	/* a valid order of another URL says nothing about this one: it is read */
	o.url = strdup("https://ca.test/order/other");
	o.status = CF_ACME_VALID;
	script(fx->f, 200, NULL, valid);
	assert_int_equal(cf_acme_order_poll(fx->c, fx->url, time(NULL) + 30, &o, &e), 0);
	assert_int_equal(count(fx->f, "POST"), 1);
	assert_string_equal(o.url, fx->url);
	cf_acme_order_free(&o);

	/* processing: read at once, then the first wait (50 ms) only while still busy */
	o.url = strdup(fx->url);
	o.status = CF_ACME_PROCESSING;
	script(fx->f, 200, NULL, processing);
	script(fx->f, 200, NULL, valid);
	assert_int_equal(cf_acme_order_poll(fx->c, o.url, time(NULL) + 30, &o, &e), 0);
	assert_int_equal(count(fx->f, "POST"), 3);
	assert_int_equal(fx->waits, 1);
	assert_int_equal(fx->wait_ms[0], 50);
	assert_int_equal(o.status, CF_ACME_VALID);
	cf_acme_order_free(&o);

	/* an authorization the caller already holds as valid: no request either */
	a.url = strdup(fx->url);
	a.identifier = strdup("a.test");
	a.status = CF_ACME_VALID;
	assert_int_equal(cf_acme_authz_poll(fx->c, a.url, time(NULL) + 30, &a, &e), 0);
	assert_int_equal(count(fx->f, "POST"), 3);
	assert_int_equal(fx->waits, 1);
	cf_acme_authz_free(&a);
}

static void test_order_poll_deadline(void **state)
{
	fixture *fx = *state;
	cf_acme_order o = {0};
	cf_err e = {0};
	const char *pending = "{\"status\":\"pending\",\"finalize\":\"https://ca.test/fin\"}";
	int i;

	for (i = 0; i < 8; i++)
		script(fx->f, 200, "Retry-After: 60\r\n", pending);
	assert_int_equal(cf_acme_order_poll(fx->c, fx->url, time(NULL) + 1, &o, &e), -1);
	assert_int_equal(e.cls, CF_ERR_TRANSIENT);
	assert_int_equal(o.status, CF_ACME_PENDING); /* the last state read */
	assert_true(count(fx->f, "POST") <= 3);
	cf_err_clear(&e);
	cf_acme_order_free(&o);
}

static void test_authz_invalid_keeps_problem(void **state)
{
	fixture *fx = *state;
	cf_acme_authz a = {0};
	cf_err e = {0};
	const char *body =
		"{\"status\":\"invalid\",\"identifier\":{\"type\":\"dns\",\"value\":\"a.test\"},"
		"\"wildcard\":true,\"challenges\":[{\"type\":\"http-01\",\"url\":\"https://ca.test/c/0\","
		"\"token\":\"t0\",\"status\":\"pending\"},{\"type\":\"dns-01\",\"url\":\"https://ca.test/c/1\","
		"\"token\":\"tok-1\",\"status\":\"invalid\",\"error\":{\"type\":\"" P "dns\","
		"\"detail\":\"NXDOMAIN looking up TXT\",\"status\":400}}]}";

	script(fx->f, 200, NULL, body);
	assert_int_equal(cf_acme_authz_poll(fx->c, fx->url, time(NULL) + 10, &a, &e), -1);
	assert_int_equal(e.cls, CF_ERR_PERMANENT);
	assert_string_equal(e.msg, "authorization of *.a.test invalid: dns: NXDOMAIN looking up TXT");
	assert_non_null(strstr(e.problem, "NXDOMAIN looking up TXT"));
	assert_true(a.wildcard);
	assert_string_equal(a.identifier, "a.test");
	assert_string_equal(a.chall_url, "https://ca.test/c/1");
	assert_string_equal(a.chall_token, "tok-1");
	assert_int_equal(a.chall_status, CF_ACME_INVALID);
	cf_err_clear(&e);
	cf_acme_authz_free(&a);
}

static void test_authz_pending_without_dns01(void **state)
{
	fixture *fx = *state;
	cf_acme_authz a = {0};
	cf_err e = {0};

	script(fx->f, 200, NULL,
	       "{\"status\":\"pending\",\"identifier\":{\"type\":\"dns\",\"value\":\"a.test\"},"
	       "\"challenges\":[{\"type\":\"http-01\",\"url\":\"https://ca.test/c/0\",\"token\":\"t\"}]}");
	assert_int_equal(cf_acme_authz_get(fx->c, fx->url, &a, &e), -1);
	assert_int_equal(e.cls, CF_ERR_PERMANENT);
	assert_non_null(strstr(e.msg, "no dns-01 challenge for a.test"));
	cf_err_clear(&e);
	cf_acme_authz_free(&a);
}

/* finalize answered "processing" with Retry-After: the poll waits that long
 * before its first read, then reads until valid. */
/* Only pending and valid authorizations are deactivated: the others are read and
 * left alone (Let's Encrypt refuses them). */
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_bad_nonce_retry),
		T(test_bad_nonce_exhausted),
		T(test_502_read_backoff),
		T(test_500_not_repeated_unless_read),
		T(test_permanent_not_retried),
		T(test_body_cap),
		T(test_headers_captured),
		T(test_jwk_and_missing_kid),
		T(test_eab_required_register_is_a_lookup),
		T(test_timeout),
		T(test_connection_refused),
		T(test_order_poll_retry_after),
		T(test_poll_initial_interval),
		T(test_poll_after_final_response),
		T(test_order_poll_deadline),
		T(test_authz_invalid_keeps_problem),
		T(test_authz_pending_without_dns01),
	};
	int rc;

	if (cf_acme_global_init(NULL) != 0)
		return 1;
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	cf_acme_global_cleanup();
	return rc;
}
