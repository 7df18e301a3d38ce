/*
 * test_http_client.c: the shared libcurl transport (service/util/http_client.c)
 * against a tiny HTTP server on a loopback port, run in a thread of the test:
 * the scheme rule (https, plain http to loopback only unless CF_HTTP_PLAIN_ANY),
 * what a request carries (method, body, User-Agent, header lines), header
 * capture (trimmed values, a reset for each response head), the body cap (with
 * and without a Content-Length), and the error mapper: classes of curl codes
 * and HTTP statuses, and the messages of a refused connection, a timeout and an
 * overflow; and what certfleet fetch needs: a secret body grown by
 * copy-and-wipe, the bearer header. The server answers each connection with the test's canned raw
 * response (or, with none, never answers) and records the request it read.
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
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util/http_client.h"

typedef struct server {
	int lfd, port;
	pthread_t th;
	atomic_int stop; /* set by the test thread, read by the server thread */
	const char *answer; /* raw response; NULL: read the request, never answer */
	char request[8192]; /* the last request as read (head and body) */
	int parked[4];
	int nparked;
} server;

static void send_all(int fd, const char *s, size_t n)
{
	ssize_t w;

	while (n > 0 && (w = write(fd, s, n)) > 0) {
		s += w;
		n -= (size_t)w;
	}
}

/* Reads a request head and the body its Content-Length announces. */
static void read_request(server *s, int fd)
{
	size_t len = 0, want = 0;
	ssize_t r;
	char *end = NULL, *cl;

	while (end == NULL && len < sizeof(s->request) - 1 &&
	       (r = read(fd, s->request + len, sizeof(s->request) - 1 - len)) > 0) {
		len += (size_t)r;
		s->request[len] = '\0';
		end = strstr(s->request, "\r\n\r\n");
	}
	if (end == NULL)
		return;
	cl = strstr(s->request, "\r\nContent-Length:");
	if (cl != NULL && cl < end)
		want = strtoul(cl + 17, NULL, 10);
	end += 4;
	while ((size_t)(s->request + len - end) < want && len < sizeof(s->request) - 1 &&
	       (r = read(fd, s->request + len, sizeof(s->request) - 1 - len)) > 0) {
		len += (size_t)r;
		s->request[len] = '\0';
	}
}

static void *server_main(void *arg)
{
	server *s = arg;
	struct pollfd pfd = {.fd = s->lfd, .events = POLLIN};
	int fd;

	while (!s->stop) {
		if (poll(&pfd, 1, 50) <= 0 || (fd = accept(s->lfd, NULL, NULL)) < 0)
			continue;
		read_request(s, fd);
		if (s->answer == NULL && s->nparked < 4) {
			s->parked[s->nparked++] = fd; /* closed at the end */
			continue;
		}
		if (s->answer != NULL)
			send_all(fd, s->answer, strlen(s->answer));
		close(fd);
	}
	return NULL;
}

static int setup(void **state)
{
	server *s = calloc(1, sizeof(*s));
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t alen = sizeof(a);

	assert_non_null(s);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s->lfd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(s->lfd >= 0);
	assert_int_equal(bind(s->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(s->lfd, 8), 0);
	getsockname(s->lfd, (struct sockaddr *)&a, &alen);
	s->port = ntohs(a.sin_port);
	assert_int_equal(pthread_create(&s->th, NULL, server_main, s), 0);
	*state = s;
	return 0;
}

static int teardown(void **state)
{
	server *s = *state;
	int i;

	s->stop = 1;
	pthread_join(s->th, NULL);
	close(s->lfd);
	for (i = 0; i < s->nparked; i++)
		close(s->parked[i]);
	free(s);
	return 0;
}

/* A request to path on the test server, with the providers' settings. */
static cf_outreq req_to(const server *s, const char *method, const char *path, char *url,
			  size_t urllen)
{
	cf_outreq r = {.method = method,
			 .url = url,
			 .user_agent = CF_HTTP_USER_AGENT,
			 .connect_timeout_ms = 2000,
			 .timeout_ms = 5000,
			 .who = "test"};

	snprintf(url, urllen, "http://127.0.0.1:%d%s", s->port, path);
	return r;
}

/* Performs r on a fresh handle, expecting a failure: its CURLcode (CURLE_OK when
 * no transfer ran); err gets the error, the status must stay 0. */
static int fail_once(const cf_outreq *r, cf_err *err)
{
	CURL *c = curl_easy_init();
	cf_buf body = {0};
	long status = -1;
	int code = -1;

	assert_int_equal(cf_http_perform(c, r, &body, &status, &code, err), -1);
	assert_int_equal(status, 0);
	cf_buf_free(&body);
	curl_easy_cleanup(c);
	return code;
}

/* ---- the scheme rule ---- */

static void test_scheme_rule(void **state)
{
	(void)state;
	assert_true(cf_http_url_allowed("https://ca.example/dir", 0));
	assert_true(cf_http_url_allowed("HTTPS://ca.example", 0));
	assert_true(cf_http_url_allowed("http://127.0.0.1:14000/dir", 0));
	assert_true(cf_http_url_allowed("http://127.96.0.5/x", 0));
	assert_true(cf_http_url_allowed("http://localhost/x", 0));
	assert_true(cf_http_url_allowed("http://LOCALHOST:8080", 0));
	assert_true(cf_http_url_allowed("http://[::1]:99/x", 0));
	assert_true(cf_http_url_allowed("http://[::1]", 0));
	assert_false(cf_http_url_allowed("http://ca.example/dir", 0));
	assert_false(cf_http_url_allowed("http://10.0.0.1/", 0));
	assert_false(cf_http_url_allowed("http://127.0.0.1.nip.test/", 0));
	assert_false(cf_http_url_allowed("http://127.0.0.1:80@evil.test/", 0));
	assert_false(cf_http_url_allowed("http://localhost@evil.test/", 0));
	assert_false(cf_http_url_allowed("http://[::ffff:127.0.0.1]/", 0));
	assert_false(cf_http_url_allowed("http://[::1/x", 0));
	assert_false(cf_http_url_allowed("http://[::1]x/", 0));
	assert_false(cf_http_url_allowed("http:///x", 0));
	assert_false(cf_http_url_allowed("ftp://127.0.0.1/", 0));
	assert_false(cf_http_url_allowed(NULL, 0));
	/* powerdns and acme-dns: plain http to any host */
	assert_true(cf_http_url_allowed("http://pdns.internal:8081", CF_HTTP_PLAIN_ANY));
	assert_true(cf_http_url_allowed("https://pdns.internal", CF_HTTP_PLAIN_ANY));
	assert_false(cf_http_url_allowed("gopher://pdns.internal", CF_HTTP_PLAIN_ANY));
}

static void test_scheme_refused_before_sending(void **state)
{
	cf_outreq r = {.method = "GET", .url = "http://ca.example/dir", .user_agent = "x",
			 .connect_timeout_ms = 100, .timeout_ms = 100};
	cf_err e = {0};

	(void)state;
	assert_int_equal(fail_once(&r, &e), CURLE_OK);
	assert_int_equal(e.cls, CF_ERR_PERMANENT);
	assert_string_equal(e.msg, "GET http://ca.example/dir: only https:// URLs are allowed "
				   "(plain http:// to a loopback host only)");
	r.flags = CF_HTTP_PLAIN_ANY;
	r.url = "file:///etc/passwd";
	assert_int_equal(fail_once(&r, &e), CURLE_OK);
	assert_non_null(strstr(e.msg, "only http:// and https:// URLs"));
}

/* ---- requests and responses ---- */

static int collect(void *arg, const char *name, size_t nlen, const char *v, size_t vlen)
{
	char *seen = arg;
	size_t n = strlen(seen);

	if (name == NULL)
		snprintf(seen + n, 512 - n, "|");
	else
		snprintf(seen + n, 512 - n, "[%.*s=%.*s]", (int)nlen, name, (int)vlen, v);
	return 0;
}

static void test_get_with_headers(void **state)
{
	server *s = *state;
	CURL *c = curl_easy_init();
	struct curl_slist *h = NULL;
	char url[128], seen[512] = "";
	cf_outreq r = req_to(s, "GET", "/thing", url, sizeof(url));
	cf_buf body = {0};
	cf_err e = {0};
	long status = 0;
	int code = -1;

	s->answer = "HTTP/1.1 100 Continue\r\nX-Early: 1\r\n\r\n"
		    "HTTP/1.1 201 Created\r\nContent-Length: 5\r\nLocation:  /a/b \t\r\n"
		    "Connection: close\r\n\r\nhello";
	assert_int_equal(cf_http_header_add(&h, "Accept", "application/json"), 0);
	assert_int_equal(cf_http_header_add(&h, "X-Api-Key: secret", NULL), 0);
	assert_int_equal(cf_http_header_add(&h, "Expect", ""), 0);
	r.headers = h;
	r.on_header = collect;
	r.header_arg = seen;
	assert_int_equal(cf_http_perform(c, &r, &body, &status, &code, &e), 0);
	assert_int_equal(status, 201);
	assert_int_equal(code, CURLE_OK);
	assert_string_equal((char *)body.data, "hello");
	/* a reset for each head, values trimmed */
	assert_non_null(strstr(seen, "|[X-Early=1]|"));
	assert_non_null(strstr(seen, "[Location=/a/b]"));
	assert_non_null(strstr(s->request, "GET /thing HTTP/1.1\r\n"));
	assert_non_null(strstr(s->request, "\r\nUser-Agent: certfleet/" CERTFLEET_VERSION "\r\n"));
	assert_non_null(strstr(s->request, "\r\nAccept: application/json\r\n"));
	assert_non_null(strstr(s->request, "\r\nX-Api-Key: secret\r\n"));
	assert_null(strstr(s->request, "Expect"));
	cf_http_headers_free(h);
	cf_buf_free(&body);
	curl_easy_cleanup(c);
}

static void test_methods_and_bodies(void **state)
{
	server *s = *state;
	CURL *c = curl_easy_init(); /* one handle, reset between requests */
	char url[128];
	cf_outreq r = req_to(s, "POST", "/p", url, sizeof(url));
	cf_buf body = {0};
	cf_err e = {0};
	long status = 0;

	s->answer = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
	r.body = "{\"a\":1}";
	assert_int_equal(cf_http_perform(c, &r, &body, &status, NULL, &e), 0);
	assert_non_null(strstr(s->request, "POST /p HTTP/1.1\r\n"));
	assert_non_null(strstr(s->request, "\r\nContent-Length: 7\r\n"));
	assert_non_null(strstr(s->request, "\r\n\r\n{\"a\":1}"));
	/* a POST without a body sends an empty one */
	r.body = NULL;
	assert_int_equal(cf_http_perform(c, &r, &body, &status, NULL, &e), 0);
	assert_non_null(strstr(s->request, "\r\nContent-Length: 0\r\n"));
	r.method = "PATCH";
	r.body = "x";
	assert_int_equal(cf_http_perform(c, &r, &body, &status, NULL, &e), 0);
	assert_non_null(strstr(s->request, "PATCH /p HTTP/1.1\r\n"));
	r.method = "DELETE";
	r.body = NULL;
	assert_int_equal(cf_http_perform(c, &r, &body, &status, NULL, &e), 0);
	assert_non_null(strstr(s->request, "DELETE /p HTTP/1.1\r\n"));
	assert_null(strstr(s->request, "Content-Length"));
	r.method = "HEAD";
	s->answer = "HTTP/1.1 200 OK\r\nContent-Length: 99\r\nConnection: close\r\n\r\n";
	assert_int_equal(cf_http_perform(c, &r, &body, &status, NULL, &e), 0);
	assert_non_null(strstr(s->request, "HEAD /p HTTP/1.1\r\n"));
	assert_int_equal(body.len, 0);
	r.method = "GET";
	s->answer = "HTTP/1.1 503 Busy\r\nContent-Length: 4\r\nConnection: close\r\n\r\nbusy";
	assert_int_equal(cf_http_perform(c, &r, &body, &status, NULL, &e), 0);
	assert_int_equal(status, 503); /* a status is the caller's to judge */
	assert_string_equal((char *)body.data, "busy");
	cf_buf_free(&body);
	curl_easy_cleanup(c);
}

/* ---- the body cap ---- */

static void test_body_cap(void **state)
{
	server *s = *state;
	CURL *c = curl_easy_init();
	char url[128];
	cf_outreq r = req_to(s, "GET", "/big", url, sizeof(url));
	cf_buf body = {.max = 8};
	cf_err e = {0};
	long status = 0;
	int code = 0;

	/* announced by Content-Length: curl refuses it up front */
	s->answer = "HTTP/1.1 200 OK\r\nContent-Length: 16\r\nConnection: close\r\n\r\n"
		    "0123456789abcdef";
	assert_int_equal(cf_http_perform(c, &r, &body, &status, &code, &e), -1);
	assert_int_equal(code, CURLE_FILESIZE_EXCEEDED);
	assert_int_equal(e.cls, CF_ERR_PERMANENT);
	assert_non_null(strstr(e.msg, ": response body larger than 8 bytes"));
	assert_int_equal(strncmp(e.msg, "test: GET http://127.0.0.1:", 27), 0);
	/* without one (read until close): the sink stops it */
	s->answer = "HTTP/1.0 200 OK\r\n\r\n0123456789abcdef";
	assert_int_equal(cf_http_perform(c, &r, &body, &status, &code, &e), -1);
	assert_int_equal(code, CURLE_WRITE_ERROR);
	assert_int_equal(e.cls, CF_ERR_PERMANENT);
	assert_non_null(strstr(e.msg, "response body larger than 8 bytes"));
	assert_true(body.len <= 8);
	/* exactly the cap is fine */
	s->answer = "HTTP/1.0 200 OK\r\n\r\n01234567";
	assert_int_equal(cf_http_perform(c, &r, &body, &status, &code, &e), 0);
	assert_string_equal((char *)body.data, "01234567");
	cf_buf_free(&body);
	curl_easy_cleanup(c);
}

/* ---- a secret body, a bearer token (certfleet fetch) ---- */

static void test_secret_body_and_bearer(void **state)
{
	server *s = *state;
	CURL *c = curl_easy_init();
	struct curl_slist *h = NULL;
	char url[128];
	cf_outreq r = req_to(s, "GET", "/bundle", url, sizeof(url));
	static char big[64 * 1024];
	size_t head = strlen("HTTP/1.0 200 OK\r\n\r\n"), n = sizeof(big) - 1 - head;
	cf_buf body = {0};
	cf_err e = {0};
	long status = 0;

	assert_int_equal(cf_http_header_bearer(&h, "tok-123"), 0);
	r.headers = h;
	r.flags = CF_HTTP_SECRET_BODY;
	/* the buffer is grown here (copy-and-wipe, 8 KiB first), not by cf_buf (256) */
	s->answer = "HTTP/1.0 200 OK\r\n\r\nkey";
	assert_int_equal(cf_http_perform(c, &r, &body, &status, NULL, &e), 0);
	assert_int_equal(status, 200);
	assert_string_equal((char *)body.data, "key");
	assert_int_equal(body.cap, 8192);
	assert_non_null(strstr(s->request, "\r\nAuthorization: Bearer tok-123\r\n"));
	/* a body over several growths arrives whole */
	memcpy(big, "HTTP/1.0 200 OK\r\n\r\n", head);
	for (size_t i = 0; i < n; i++)
		big[head + i] = (char)('a' + i % 26);
	big[sizeof(big) - 1] = '\0';
	s->answer = big;
	assert_int_equal(cf_http_perform(c, &r, &body, &status, NULL, &e), 0);
	assert_int_equal(body.len, n);
	assert_memory_equal(body.data, big + head, n);
	assert_int_equal(body.data[n], '\0');
	assert_int_equal(body.cap, 64 * 1024);
	/* without the flag, cf_buf grows as usual */
	r.flags = 0;
	cf_buf_free_secret(&body);
	s->answer = "HTTP/1.0 200 OK\r\n\r\nkey";
	assert_int_equal(cf_http_perform(c, &r, &body, &status, NULL, &e), 0);
	assert_int_equal(body.cap, 256);
	cf_buf_free_secret(&body);
	cf_http_headers_free(h);
	curl_easy_cleanup(c);
}

/* ---- the error mapper ---- */

static void test_refused_connection(void **state)
{
	cf_outreq r = {.method = "GET", .url = "http://127.0.0.1:1/x", .user_agent = "x",
			 .connect_timeout_ms = 2000, .timeout_ms = 2000, .who = "pdns"};
	cf_err e = {0};
	int code;

	(void)state;
	code = fail_once(&r, &e);
	assert_int_equal(code, CURLE_COULDNT_CONNECT);
	assert_int_equal(e.cls, CF_ERR_TRANSIENT);
	assert_int_equal(strncmp(e.msg, "pdns: GET http://127.0.0.1:1/x: ", 32), 0);
	assert_non_null(strstr(e.msg, "(curl 7)"));
	assert_false(cf_http_maybe_delivered((CURLcode)code));
}

static void test_timeout(void **state)
{
	server *s = *state;
	char url[128];
	cf_outreq r = req_to(s, "POST", "/slow", url, sizeof(url));
	cf_err e = {0};
	int code;

	s->answer = NULL; /* never answers */
	r.who = NULL;
	r.connect_timeout_ms = r.timeout_ms = 300;
	r.body = "{}";
	code = fail_once(&r, &e);
	assert_int_equal(code, CURLE_OPERATION_TIMEDOUT);
	assert_int_equal(e.cls, CF_ERR_TRANSIENT);
	assert_non_null(strstr(e.msg, "POST http://127.0.0.1:"));
	assert_non_null(strstr(e.msg, "/slow: no answer within 300 ms (curl 28)"));
	assert_true(cf_http_maybe_delivered((CURLcode)code));
}

/* A listener whose accept queue is full drops new SYNs: the connect timeout. */
static void test_connect_timeout(void **state)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t alen = sizeof(a);
	int lfd = socket(AF_INET, SOCK_STREAM, 0), fill[8], i;
	char url[128];
	cf_outreq r = {.method = "GET", .url = url, .user_agent = "x",
			 .connect_timeout_ms = 200, .timeout_ms = 3000};
	cf_err e = {0};

	(void)state;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(lfd, 0), 0);
	getsockname(lfd, (struct sockaddr *)&a, &alen);
	for (i = 0; i < 8; i++) {
		fill[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
		connect(fill[i], (struct sockaddr *)&a, sizeof(a));
	}
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", ntohs(a.sin_port));
	assert_int_equal(fail_once(&r, &e), CURLE_OPERATION_TIMEDOUT);
	assert_int_equal(e.cls, CF_ERR_TRANSIENT);
	assert_non_null(strstr(e.msg, ": no connection within 200 ms (curl 28)"));
	for (i = 0; i < 8; i++)
		close(fill[i]);
	close(lfd);
}

static void test_classes(void **state)
{
	(void)state;
	assert_int_equal(cf_http_curl_class(CURLE_COULDNT_RESOLVE_HOST), CF_ERR_TRANSIENT);
	assert_int_equal(cf_http_curl_class(CURLE_COULDNT_CONNECT), CF_ERR_TRANSIENT);
	assert_int_equal(cf_http_curl_class(CURLE_OPERATION_TIMEDOUT), CF_ERR_TRANSIENT);
	assert_int_equal(cf_http_curl_class(CURLE_RECV_ERROR), CF_ERR_TRANSIENT);
	assert_int_equal(cf_http_curl_class(CURLE_SSL_CONNECT_ERROR), CF_ERR_TRANSIENT);
	assert_int_equal(cf_http_curl_class(CURLE_PEER_FAILED_VERIFICATION), CF_ERR_PERMANENT);
	assert_int_equal(cf_http_curl_class(CURLE_URL_MALFORMAT), CF_ERR_PERMANENT);
	assert_int_equal(cf_http_curl_class(CURLE_UNSUPPORTED_PROTOCOL), CF_ERR_PERMANENT);
	assert_int_equal(cf_http_status_class(429), CF_ERR_TRANSIENT);
	assert_int_equal(cf_http_status_class(500), CF_ERR_TRANSIENT);
	assert_int_equal(cf_http_status_class(503), CF_ERR_TRANSIENT);
	assert_int_equal(cf_http_status_class(400), CF_ERR_PERMANENT);
	assert_int_equal(cf_http_status_class(403), CF_ERR_PERMANENT);
	assert_int_equal(cf_http_status_class(404), CF_ERR_PERMANENT);
	assert_false(cf_http_maybe_delivered(CURLE_COULDNT_RESOLVE_HOST));
	assert_false(cf_http_maybe_delivered(CURLE_SSL_CONNECT_ERROR));
	assert_false(cf_http_maybe_delivered(CURLE_PEER_FAILED_VERIFICATION));
	assert_true(cf_http_maybe_delivered(CURLE_RECV_ERROR));
	assert_true(cf_http_maybe_delivered(CURLE_GOT_NOTHING));
}

static void test_header_lines(void **state)
{
	struct curl_slist *h = NULL;

	(void)state;
	assert_int_equal(cf_http_header_add(&h, "Authorization", "Bearer t0k"), 0);
	assert_int_equal(cf_http_header_add(&h, "Expect", ""), 0);
	assert_int_equal(cf_http_header_add(&h, "X-Raw: as is", NULL), 0);
	assert_string_equal(h->data, "Authorization: Bearer t0k");
	assert_string_equal(h->next->data, "Expect:");
	assert_string_equal(h->next->next->data, "X-Raw: as is");
	assert_null(h->next->next->next);
	cf_http_headers_free(h);
	cf_http_headers_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scheme_rule),
		cmocka_unit_test(test_scheme_refused_before_sending),
		cmocka_unit_test_setup_teardown(test_get_with_headers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_methods_and_bodies, setup, teardown),
		cmocka_unit_test_setup_teardown(test_body_cap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_secret_body_and_bearer, setup, teardown),
		cmocka_unit_test(test_refused_connection),
		cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
		cmocka_unit_test(test_connect_timeout),
		cmocka_unit_test(test_classes),
		cmocka_unit_test(test_header_lines),
	};

	curl_global_init(CURL_GLOBAL_DEFAULT);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
