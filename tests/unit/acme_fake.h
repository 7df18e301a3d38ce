/*
 * acme_fake.h: the scripted fake CA that the ACME unit tests (test_acme_post.c,
 * test_acme_issuer.c) run the client against, on a loopback port (plain HTTP,
 * which the transport allows for loopback only). It serves the directory (with
 * optional extra meta members) and newNonce itself and answers every POST from a
 * script of canned responses (then from a fallback answer, if set), recording
 * each request so that a test can check what the client sent. Also the cmocka
 * fixture: a client of that CA with an account URL, counting WAIT events.
 * Header-only (static inline) so that each test binary stays one file.
 */
#ifndef CERTFLEET_TEST_ACME_FAKE_H
#define CERTFLEET_TEST_ACME_FAKE_H

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
	atomic_int stop; /* set by the test thread, read by the server thread */
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

static inline void send_all(int fd, const char *s, size_t n)
{
	ssize_t w;

	while (n > 0 && (w = write(fd, s, n)) > 0) {
		s += w;
		n -= (size_t)w;
	}
}

static inline void respond(fake_ca *f, int fd, int status, const char *extra, const char *body,
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
static inline int read_request(int fd, char *method, char *path, char **body, char *ua,
			       size_t ualen)
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
static inline bool serve_one(fake_ca *f, int fd)
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

static inline void *fake_main(void *arg)
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

static inline fake_ca *fake_start(void)
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

static inline void fake_stop(fake_ca *f)
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

static inline void script(fake_ca *f, int status, const char *headers, const char *body)
{
	pthread_mutex_lock(&f->mu); /* the server thread reads the script under mu */
	f->script[f->nscript++] = (canned){status, headers, body};
	pthread_mutex_unlock(&f->mu);
}

/* How many requests of a method were seen. */
static inline int count(fake_ca *f, const char *method)
{
	int i, n = 0;

	pthread_mutex_lock(&f->mu); /* a request may still be arriving */
	for (i = 0; i < f->nreq; i++)
		n += strcmp(f->method[i], method) == 0;
	pthread_mutex_unlock(&f->mu);
	return n;
}

/* A protected-header member of the i-th POST. */
static inline char *post_header(fake_ca *f, int nth, const char *member)
{
	int i, seen = 0;
	char *out = NULL;

	pthread_mutex_lock(&f->mu);
	for (i = 0; i < f->nreq; i++) {
		if (strcmp(f->method[i], "POST") != 0 || seen++ != nth)
			continue;
		json_t *jws = json_loads(f->body[i], 0, NULL), *h;
		size_t n = 0;
		uint8_t *raw = cf_b64url_decode(json_string_value(json_object_get(jws, "protected")), &n);

		h = json_loadb((char *)raw, n, 0, NULL);
		out = json_string_value(json_object_get(h, member))
			      ? strdup(json_string_value(json_object_get(h, member)))
			      : NULL;
		json_decref(h);
		json_decref(jws);
		free(raw);
		break;
	}
	pthread_mutex_unlock(&f->mu);
	return out;
}

/* The decoded JSON payload of the i-th POST (new reference), or NULL. */
static inline json_t *post_payload(fake_ca *f, int nth)
{
	int i, seen = 0;
	json_t *out = NULL;

	pthread_mutex_lock(&f->mu);
	for (i = 0; i < f->nreq; i++) {
		if (strcmp(f->method[i], "POST") != 0 || seen++ != nth)
			continue;
		json_t *jws = json_loads(f->body[i], 0, NULL);
		size_t n = 0;
		uint8_t *raw = cf_b64url_decode(json_string_value(json_object_get(jws, "payload")), &n);

		out = raw ? json_loadb((char *)raw, n, 0, NULL) : NULL;
		json_decref(jws);
		free(raw);
		break;
	}
	pthread_mutex_unlock(&f->mu);
	return out;
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

static inline void on_event(const cf_acme_event *ev, void *arg)
{
	fixture *fx = arg;

	if (ev->kind == CF_ACME_EV_WAIT && fx->waits < 8)
		fx->wait_ms[fx->waits++] = ev->duration_ms;
}

static inline int setup(void **state)
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

static inline int teardown(void **state)
{
	fixture *fx = *state;

	cf_acme_client_free(fx->c);
	cf_key_free(fx->key);
	fake_stop(fx->f);
	free(fx);
	return 0;
}

#endif
