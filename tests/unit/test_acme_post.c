/*
 * test_acme_post.c: acme_post() and the object readers against a scripted fake CA
 * on a loopback port (plain HTTP, which the transport allows for loopback only).
 * The fake serves the directory and newNonce itself and answers every POST from
 * a script of canned responses, recording each request, so the tests can check
 * what the client sent: the nonce of the previous error response after badNonce
 * (retried for a time, not a count), no repeat at all after 429 / rateLimited /
 * 503 (the last failure tells the caller when to come back), in-line waits for
 * reads after other 5xx, no repeat of a non-idempotent POST after a 500,
 * the body cap, header capture, and polling with Retry-After or, without it, from
 * the client's first interval (poll_initial_ms) doubling, and no poll read at all
 * when the caller already holds the object in a final status; a finalize answered
 * "processing" with Retry-After; the directory's profiles and "profile" in
 * newOrder; deactivation of pending / valid authorizations only.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "acme/acme_int.h"
#include "util/b64.h"

#define MAX_REQ 32
#define MAX_SCRIPT 16
#define P ACME_URN_PREFIX

typedef struct canned {
	int status; /* 0: read the request and never answer */
	const char *headers; /* extra header lines, each ending in \r\n, or NULL */
	const char *body;
} canned;

typedef struct fake_ca {
	int lfd, port;
	pthread_t th;
	volatile int stop;
	pthread_mutex_t mu;
	canned script[MAX_SCRIPT];
	int nscript, next, nonces;
	int nreq;
	char method[MAX_REQ][8];
	char path[MAX_REQ][128];
	char *body[MAX_REQ];
	char user_agent[128];
	int parked[8]; /* connections left unanswered, closed at the end */
	int nparked;
	int eab_required; /* the directory's meta.externalAccountRequired */
	const char *meta_extra; /* more members of the directory's meta, or NULL */
	canned fallback; /* answers POSTs once the script ran out (status 0: 500) */
	int nposts;      /* every POST, also beyond MAX_REQ */
} fake_ca;

/* ---- the fake CA ---- */

static void send_all(int fd, const char *s, size_t n)
{
	ssize_t w;

	while (n > 0 && (w = write(fd, s, n)) > 0) {
		s += w;
		n -= (size_t)w;
	}
}

static void respond(fake_ca *f, int fd, int status, const char *extra, const char *body,
		    bool head, bool with_nonce)
{
	char hdr[2048];
	size_t blen = body ? strlen(body) : 0;
	int n;

	char nonce[64] = "";

	if (with_nonce) { /* the directory comes without one, as at most CAs */
		pthread_mutex_lock(&f->mu);
		n = ++f->nonces;
		pthread_mutex_unlock(&f->mu);
		snprintf(nonce, sizeof(nonce), "Replay-Nonce: nonce-%d\r\n", n);
	}
	snprintf(hdr, sizeof(hdr),
		 "HTTP/1.1 %d X\r\nConnection: close\r\n%sContent-Length: %zu\r\n%s\r\n",
		 status, nonce, blen, extra ? extra : "");
	send_all(fd, hdr, strlen(hdr));
	if (!head && body)
		send_all(fd, body, blen);
}

/* Reads one request: method, path, body (malloc'd), User-Agent. */
static int read_request(int fd, char *method, char *path, char **body, char *ua, size_t ualen)
{
	static char buf[65536];
	size_t len = 0, want;
	ssize_t r;
	char *end = NULL, *cl;

	while (end == NULL && len < sizeof(buf) - 1 && (r = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0) {
		len += (size_t)r;
		buf[len] = '\0';
		end = strstr(buf, "\r\n\r\n");
	}
	if (end == NULL || sscanf(buf, "%7s %127s", method, path) != 2)
		return -1;
	cl = strstr(buf, "\r\nUser-Agent: ");
	if (cl && cl < end)
		snprintf(ua, ualen, "%.*s", (int)strcspn(cl + 14, "\r"), cl + 14);
	cl = strstr(buf, "\r\nContent-Length:"); /* curl's spelling */
	want = cl && cl < end ? strtoul(cl + 17, NULL, 10) : 0;
	end += 4;
	while ((size_t)(buf + len - end) < want && len < sizeof(buf) - 1 &&
	       (r = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0)
		len += (size_t)r;
	*body = strndup(end, want);
	return 0;
}

/* Serves one connection; false when it must stay open (unanswered). */
static bool serve_one(fake_ca *f, int fd)
{
	char method[8], path[128], dir[2048], *body = NULL;
	canned c = {500, NULL, "{}"};
	int i;

	if (read_request(fd, method, path, &body, f->user_agent, sizeof(f->user_agent)) != 0)
		return true;
	pthread_mutex_lock(&f->mu);
	i = f->nreq < MAX_REQ ? f->nreq++ : MAX_REQ - 1;
	snprintf(f->method[i], sizeof(f->method[i]), "%s", method);
	snprintf(f->path[i], sizeof(f->path[i]), "%s", path);
	free(f->body[i]);
	f->body[i] = body;
	if (strcmp(method, "POST") == 0 && f->next < f->nscript)
		c = f->script[f->next++];
	else if (strcmp(method, "POST") == 0 && f->fallback.status != 0)
		c = f->fallback;
	f->nposts += strcmp(method, "POST") == 0;
	pthread_mutex_unlock(&f->mu);
	if (strcmp(path, "/dir") == 0) {
		snprintf(dir, sizeof(dir),
			 "{\"newNonce\":\"http://127.0.0.1:%d/nonce\",\"newAccount\":\"http://127.0.0.1:%d/acct\","
			 "\"newOrder\":\"http://127.0.0.1:%d/order\",\"revokeCert\":\"http://127.0.0.1:%d/revoke\","
			 "\"keyChange\":\"http://127.0.0.1:%d/kc\",\"meta\":{\"termsOfService\":\"https://x/tos\","
			 "\"externalAccountRequired\":%s%s%s}}",
			 f->port, f->port, f->port, f->port, f->port, f->eab_required ? "true" : "false",
			 f->meta_extra ? "," : "", f->meta_extra ? f->meta_extra : "");
		respond(f, fd, 200, "Content-Type: application/json\r\n", dir, false, false);
	} else if (c.status == 0 && f->nparked < 8) {
		f->parked[f->nparked++] = fd;
		return false;
	} else if (strcmp(path, "/nonce") == 0) {
		respond(f, fd, 200, NULL, NULL, true, true);
	} else {
		respond(f, fd, c.status, c.headers, c.body, strcmp(method, "HEAD") == 0, true);
	}
	return true;
}

static void *fake_main(void *arg)
{
	fake_ca *f = arg;
	struct pollfd pfd = {.fd = f->lfd, .events = POLLIN};
	int fd;

	while (!f->stop) {
		if (poll(&pfd, 1, 50) <= 0)
			continue;
		if ((fd = accept(f->lfd, NULL, NULL)) < 0)
			continue;
		if (serve_one(f, fd))
			close(fd);
	}
	return NULL;
}

static fake_ca *fake_start(void)
{
	fake_ca *f = calloc(1, sizeof(*f));
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t alen = sizeof(a);

	assert_non_null(f);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	f->lfd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(f->lfd >= 0);
	assert_int_equal(bind(f->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(f->lfd, 16), 0);
	getsockname(f->lfd, (struct sockaddr *)&a, &alen);
	f->port = ntohs(a.sin_port);
	pthread_mutex_init(&f->mu, NULL);
	assert_int_equal(pthread_create(&f->th, NULL, fake_main, f), 0);
	return f;
}

static void fake_stop(fake_ca *f)
{
	int i;

	f->stop = 1;
	pthread_join(f->th, NULL);
	close(f->lfd);
	for (i = 0; i < f->nparked; i++)
		close(f->parked[i]);
	for (i = 0; i < MAX_REQ; i++)
		free(f->body[i]);
	pthread_mutex_destroy(&f->mu);
	free(f);
}

static void script(fake_ca *f, int status, const char *headers, const char *body)
{
	f->script[f->nscript++] = (canned){status, headers, body};
}

/* How many requests of a method were seen. */
static int count(fake_ca *f, const char *method)
{
	int i, n = 0;

	for (i = 0; i < f->nreq; i++)
		n += strcmp(f->method[i], method) == 0;
	return n;
}

/* A protected-header member of the i-th POST. */
static char *post_header(fake_ca *f, int nth, const char *member)
{
	int i, seen = 0;

	for (i = 0; i < f->nreq; i++) {
		if (strcmp(f->method[i], "POST") != 0 || seen++ != nth)
			continue;
		json_t *jws = json_loads(f->body[i], 0, NULL), *h;
		size_t n = 0;
		uint8_t *raw = cf_b64url_decode(json_string_value(json_object_get(jws, "protected")), &n);
		char *out;

		h = json_loadb((char *)raw, n, 0, NULL);
		out = json_string_value(json_object_get(h, member))
			      ? strdup(json_string_value(json_object_get(h, member)))
			      : NULL;
		json_decref(h);
		json_decref(jws);
		free(raw);
		return out;
	}
	return NULL;
}

/* The decoded JSON payload of the i-th POST (new reference), or NULL. */
static json_t *post_payload(fake_ca *f, int nth)
{
	int i, seen = 0;

	for (i = 0; i < f->nreq; i++) {
		if (strcmp(f->method[i], "POST") != 0 || seen++ != nth)
			continue;
		json_t *jws = json_loads(f->body[i], 0, NULL), *out;
		size_t n = 0;
		uint8_t *raw = cf_b64url_decode(json_string_value(json_object_get(jws, "payload")), &n);

		out = raw ? json_loadb((char *)raw, n, 0, NULL) : NULL;
		json_decref(jws);
		free(raw);
		return out;
	}
	return NULL;
}

/* ---- the client under test ---- */

typedef struct fixture {
	fake_ca *f;
	cf_key *key;
	cf_acme_client *c;
	char url[128];
	int waits;
	long wait_ms[8];
} fixture;

static void on_event(const cf_acme_event *ev, void *arg)
{
	fixture *fx = arg;

	if (ev->kind == CF_ACME_EV_WAIT && fx->waits < 8)
		fx->wait_ms[fx->waits++] = ev->duration_ms;
}

static int setup(void **state)
{
	fixture *fx = calloc(1, sizeof(*fx));
	cf_acme_options o = {0};
	cf_err e = {0};
	char dir[128];

	fx->f = fake_start();
	fx->key = cf_key_generate(CF_KEY_EC256, &e);
	assert_non_null(fx->key);
	snprintf(dir, sizeof(dir), "http://127.0.0.1:%d/dir", fx->f->port);
	snprintf(fx->url, sizeof(fx->url), "http://127.0.0.1:%d/thing", fx->f->port);
	o.directory_url = dir;
	o.timeout_ms = 5000;
	o.max_body = 4096;
	o.bad_nonce_retries = 3;
	o.max_inline_wait_ms = 1500;
	o.on_event = on_event;
	o.event_arg = fx;
	fx->c = cf_acme_client_new(&o, fx->key, &e);
	assert_non_null(fx->c);
	assert_int_equal(cf_acme_client_set_account(fx->c, "http://127.0.0.1/acct/1", &e), 0);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	fixture *fx = *state;

	cf_acme_client_free(fx->c);
	cf_key_free(fx->key);
	fake_stop(fx->f);
	free(fx);
	return 0;
}

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
	cf_acme_client_set_account(c, "http://127.0.0.1/acct/1", &e);
	/* 15 rejections, then an answer: all within the time budget */
	for (int i = 0; i < 15; i++)
		script(fx->f, 400, "Content-Type: application/problem+json\r\n", bad_nonce);
	script(fx->f, 200, NULL, "{}");
	assert_int_equal(acme_post(c, "test", fx->url, "{}", NULL, NULL, &r, &e), 0);
	assert_int_equal(fx->f->nposts, 16);
	/* a CA that never takes a nonce: retried until the time is up, then transient */
	fx->f->fallback = (canned){400, "Content-Type: application/problem+json\r\n", bad_nonce};
	t0 = acme_now_ms();
	assert_int_equal(acme_post(c, "test", fx->url, "{}", NULL, NULL, &r, &e), -1);
	assert_true(acme_now_ms() - t0 >= 400);
	assert_true(acme_now_ms() - t0 < 3000);
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

/* A rate limit is not sent again, whatever its Retry-After: the caller learns
 * the status, the type and the Retry-After (ms and s) from the last failure. */
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

/* 503 is not sent again either, not even for a read: the issuer is paused. */
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
	char *big = malloc(8001);

	memset(big, 'a', 8000);
	big[8000] = '\0';
	script(fx->f, 200, NULL, big);
	assert_int_equal(acme_post(fx->c, "test", fx->url, "{}", NULL, NULL, &r, &e), -1);
	assert_int_equal(e.cls, CF_ERR_PERMANENT);
	assert_non_null(strstr(e.msg, "larger than 4096 bytes"));
	cf_err_clear(&e);
	acme_resp_free(&r);
	free(big);
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
	cf_acme_client_set_account(fx->c, NULL, &e);
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
	cf_acme_client_set_account(c, "http://127.0.0.1/acct/1", &e);
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
	t0 = acme_now_ms();
	assert_int_equal(cf_acme_order_poll(fx->c, fx->url, time(NULL) + 30, &ord, &e), 0);
	assert_true(acme_now_ms() - t0 < 250 * 3); /* the old 250 ms start: 1750 ms */
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
	t0 = acme_now_ms();
	assert_int_equal(cf_acme_order_poll(fx->c, o.url, time(NULL) + 30, &o, &e), 0);
	assert_true(acme_now_ms() - t0 < 50);
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

static const char order_pending[] =
	"{\"status\":\"pending\",\"finalize\":\"https://ca.test/fin\","
	"\"identifiers\":[{\"type\":\"dns\",\"value\":\"a.test\"}],"
	"\"authorizations\":[\"https://ca.test/authz/1\"]}";

/* finalize answered "processing" with Retry-After: the poll waits that long
 * before its first read, then reads until valid. */
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
	t0 = acme_now_ms();
	assert_int_equal(cf_acme_order_finalize(fx->c, &o, csr, sizeof(csr), &o, &e), 0);
	assert_int_equal(o.status, CF_ACME_PROCESSING);
	assert_int_equal(o.retry_after_ms, 1000);
	assert_int_equal(cf_acme_order_poll(fx->c, o.url, time(NULL) + 30, &o, &e), 0);
	assert_true(acme_now_ms() - t0 >= 2000);
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

/* Only pending and valid authorizations are deactivated: the others are read and
 * left alone (Let's Encrypt refuses them). */
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
		T(test_bad_nonce_retry),
		T(test_bad_nonce_exhausted),
		T(test_bad_nonce_time_budget),
		T(test_rate_limited_not_retried),
		T(test_rate_limited_long_retry_after),
		T(test_503_not_retried),
		T(test_502_read_backoff),
		T(test_finalize_processing_retry_after),
		T(test_profiles_in_directory),
		T(test_profile_in_new_order),
		T(test_deactivate_only_pending_or_valid),
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
