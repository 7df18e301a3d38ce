/*
 * fetch_cmd.c: `certfleet fetch`, the host agent: brings one certificate and
 * its key from certfleet into a folder, for a web server to use.
 *
 *   certfleet fetch --server URL --token-file F --certificate ID --out DIR
 *                   [--ca-file PEM] [--reload CMD] [--owner USER[:GROUP]]
 *                   [--allow-http] [--quiet]
 *
 * One run: take DIR/.certfleet-fetch.lock (a second run on the same folder
 * fails at once), remove temporary files a killed run left behind, ask for
 * GET /v1/certificates/ID/bundle with If-None-Match (the ETag of the installed
 * version, kept in DIR/.certfleet-fetch.json), and on a new version write
 * cert.pem, chain.pem, fullchain.pem (0644) and privkey.pem (0600), each
 * atomically (cf_write_file_atomic: a temporary file in DIR, fsync, rename), then
 * the state (the ETag and each file's SHA-256), then run the reload command
 * (/bin/sh -c CMD) once. If-None-Match is sent only when every file still has the
 * hash the state records, so a folder left half-written (or edited by hand) is
 * repaired by the next run.
 *
 * Exit status: 0 nothing changed; 10 a new version was installed (and reloaded);
 * 3 the files were installed but the reload command failed (it is run again by
 * the next run, until it succeeds); 1 any other error, 2 a usage error; each with
 * a message on stderr. A run killed at any point leaves every file whole (old or
 * new) and the next run completes the change: the state is written after the
 * files and says "reload pending" until the command has succeeded, so a change is
 * reloaded at least once even across crashes, and exactly once otherwise.
 *
 * Secrets: the token (read from a file, never from argv; refused when other
 * users may read the file) and the key are wiped from memory after use: jansson
 * allocates through a wiping allocator here, and the response buffer grows by
 * copy-and-wipe. Plain http:// is refused unless the server is on loopback or
 * --allow-http is given (the token would travel in clear; the server refuses
 * keys over plain HTTP to non-local clients anyway).
 */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <openssl/crypto.h>
#include <pwd.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "api/validate.h"
#include "cmd/cmd.h"
#include "crypto/crypto.h"
#include "util/files.h"

extern char **environ;

#define EXIT_CHANGED 10
#define EXIT_RELOAD_FAILED 3
#define STATE_FILE ".certfleet-fetch.json"
#define LOCK_FILE ".certfleet-fetch.lock"
#define MAX_BODY (4 * 1024 * 1024)
#define MAX_PEM (1024 * 1024)

typedef struct fetch_args {
	const char *server, *token_file, *id, *out, *ca_file, *reload, *owner;
	bool allow_http, quiet;
	uid_t uid;
	gid_t gid;
} fetch_args;

/* The files of a version, in the order they are written. */
enum { F_KEY, F_CERT, F_CHAIN, F_FULLCHAIN, NFILES };
static const struct {
	const char *name, *member;
	mode_t mode;
} files[NFILES] = {
	[F_KEY] = { "privkey.pem", "private_key", 0600 },
	[F_CERT] = { "cert.pem", "certificate", 0644 },
	[F_CHAIN] = { "chain.pem", "chain", 0644 },
	[F_FULLCHAIN] = { "fullchain.pem", "fullchain", 0644 },
};

/* What the last run left installed: the version's ETag and the SHA-256 of each
 * file as written. A conditional request is made only when every file still has
 * its hash: a run killed half-way through writing a version, or a file edited by
 * hand, makes the next run fetch unconditionally and repair the folder. */
typedef struct state {
	char *etag;
	int version;
	bool reload_pending;
	char sha[NFILES][65];
} state;

static int usage(void)
{
	fprintf(stderr,
		"usage: certfleet fetch --server URL --token-file F --certificate ID --out DIR\n"
		"                       [--ca-file PEM] [--reload CMD] [--owner USER[:GROUP]]\n"
		"                       [--allow-http] [--quiet]\n"
		"exit status: 0 unchanged, 10 changed, 3 reload failed, 1 error, 2 usage\n");
	return 2;
}

/* ---- memory that held secrets is wiped before it is freed ---- */

static void *wipe_malloc(size_t n)
{
	size_t *p = malloc(n + 16);

	if (p == NULL)
		return NULL;
	*p = n;
	return (char *)p + 16;
}

static void wipe_free(void *q)
{
	char *p;

	if (q == NULL)
		return;
	p = (char *)q - 16;
	OPENSSL_cleanse(p, *(size_t *)(void *)p + 16);
	free(p);
}

typedef struct body_buf {
	char *data;
	size_t len, cap;
	bool overflow;
} body_buf;

static void body_free(body_buf *b)
{
	if (b->data != NULL)
		OPENSSL_cleanse(b->data, b->cap);
	free(b->data);
	memset(b, 0, sizeof(*b));
}

/* curl's write callback: grows by copy-and-wipe, never by realloc. */
static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
	body_buf *b = ud;
	size_t n = size * nmemb;

	if (b->len + n + 1 > MAX_BODY) {
		b->overflow = true;
		return 0;
	}
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 8192;
		char *d;

		while (cap < b->len + n + 1)
			cap *= 2;
		if ((d = malloc(cap)) == NULL)
			return 0;
		if (b->data != NULL)
			memcpy(d, b->data, b->len);
		body_free(&(body_buf){ .data = b->data, .cap = b->cap });
		b->data = d;
		b->cap = cap;
	}
	memcpy(b->data + b->len, ptr, n);
	b->len += n;
	b->data[b->len] = '\0';
	return n;
}

/* curl's header callback: keeps the ETag. */
static size_t on_header(char *ptr, size_t size, size_t nmemb, void *ud)
{
	char *etag = ud;
	size_t n = size * nmemb, i = 5;

	if (n > 5 && strncasecmp(ptr, "etag:", 5) == 0) {
		while (i < n && (ptr[i] == ' ' || ptr[i] == '\t'))
			i++;
		while (n > i && (ptr[n - 1] == '\r' || ptr[n - 1] == '\n' || ptr[n - 1] == ' '))
			n--;
		if (n - i < 128)
			snprintf(etag, 128, "%.*s", (int)(n - i), ptr + i);
	}
	return size * nmemb;
}

/* ---- arguments ---- */

static int parse_owner(fetch_args *a, cf_err *err)
{
	char user[256], *colon;
	struct passwd *pw;
	struct group *gr;

	snprintf(user, sizeof(user), "%s", a->owner);
	if ((colon = strchr(user, ':')) != NULL)
		*colon++ = '\0';
	if ((pw = getpwnam(user)) == NULL)
		return cf_err_set(err, CF_ERR_PERMANENT, "--owner: no user \"%s\"", user);
	a->uid = pw->pw_uid;
	a->gid = pw->pw_gid;
	if (colon != NULL && *colon != '\0') {
		if ((gr = getgrnam(colon)) == NULL)
			return cf_err_set(err, CF_ERR_PERMANENT, "--owner: no group \"%s\"", colon);
		a->gid = gr->gr_gid;
	}
	return 0;
}

static int parse_args(int argc, char **argv, fetch_args *a)
{
	for (int i = 1; i < argc; i++) {
		const char **slot = NULL;

		if (strcmp(argv[i], "--server") == 0)
			slot = &a->server;
		else if (strcmp(argv[i], "--token-file") == 0)
			slot = &a->token_file;
		else if (strcmp(argv[i], "--certificate") == 0)
			slot = &a->id;
		else if (strcmp(argv[i], "--out") == 0)
			slot = &a->out;
		else if (strcmp(argv[i], "--ca-file") == 0)
			slot = &a->ca_file;
		else if (strcmp(argv[i], "--reload") == 0)
			slot = &a->reload;
		else if (strcmp(argv[i], "--owner") == 0)
			slot = &a->owner;
		else if (strcmp(argv[i], "--allow-http") == 0)
			a->allow_http = true;
		else if (strcmp(argv[i], "--quiet") == 0)
			a->quiet = true;
		else
			return -1;
		if (slot != NULL) {
			if (i + 1 >= argc)
				return -1;
			*slot = argv[++i];
		}
	}
	return a->server && a->token_file && a->id && a->out ? 0 : -1;
}

/* https://, or http:// to a loopback host, or any http:// with --allow-http. */
static int check_server(const fetch_args *a, cf_err *err)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL;
	unsigned char buf[16];
	bool ok = false;

	if (u == NULL || curl_url_set(u, CURLUPART_URL, a->server, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
		cf_err_set(err, CF_ERR_PERMANENT, "--server: \"%s\" is not a URL", a->server);
		goto out;
	}
	if (strcasecmp(scheme, "https") == 0 || a->allow_http)
		ok = true;
	else if (strcasecmp(scheme, "http") == 0)
		ok = strcasecmp(host, "localhost") == 0 || strcmp(host, "[::1]") == 0 ||
		     (inet_pton(AF_INET, host, buf) == 1 && buf[0] == 127);
	if (!ok)
		cf_err_set(err, CF_ERR_PERMANENT,
			   "--server: plain http:// to %s would send the token in clear: use "
			   "https:// (or --allow-http)", host);
out:
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(u);
	return ok ? 0 : -1;
}

/* The token from the file (trailing white space dropped); cf_secret_free it. */
static char *read_token(const char *path, cf_err *err)
{
	struct stat st;
	char *t;
	size_t n;

	if (stat(path, &st) != 0) {
		cf_err_set(err, CF_ERR_PERMANENT, "--token-file: cannot read %s: %s", path,
			   strerror(errno));
		return NULL;
	}
	if (st.st_mode & S_IROTH) {
		cf_err_set(err, CF_ERR_PERMANENT, "--token-file: %s is readable by every user "
			   "(mode %04o): chmod o-r it", path, (unsigned)(st.st_mode & 07777));
		return NULL;
	}
	if ((t = cf_read_file(path, 4096, &n, err)) == NULL)
		return NULL;
	while (n > 0 && (t[n - 1] == '\n' || t[n - 1] == '\r' || t[n - 1] == ' '))
		t[--n] = '\0';
	if (n == 0 || strchr(t, '\n') != NULL) {
		cf_secret_free(t);
		cf_err_set(err, CF_ERR_PERMANENT, "--token-file: %s must hold one token", path);
		return NULL;
	}
	return t;
}

/* ---- the folder: lock, leftovers, state ---- */

/* Takes DIR's lock (held until the process ends). */
static int lock_dir(const char *dir, cf_err *err)
{
	char path[4096];
	int fd;

	if (mkdir(dir, 0755) != 0 && errno != EEXIST)
		return cf_err_set(err, CF_ERR_PERMANENT, "--out: cannot create %s: %s", dir,
				  strerror(errno));
	snprintf(path, sizeof(path), "%s/%s", dir, LOCK_FILE);
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0)
		return cf_err_set(err, CF_ERR_PERMANENT, "cannot open %s: %s", path,
				  strerror(errno));
	if (flock(fd, LOCK_EX | LOCK_NB) != 0)
		return cf_err_set(err, CF_ERR_PERMANENT,
				  "another certfleet fetch is writing to %s (%s is locked)", dir, path);
	return 0; /* fd stays open: the lock lives as long as the process */
}

/* Removes ".<file>.tmp-<pid>" files of a run that was killed while writing (we
 * hold the lock: no run is writing now). */
static void remove_leftovers(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[4096], prefix[64];

	while (d != NULL && (e = readdir(d)) != NULL) {
		for (int i = 0; i <= NFILES; i++) {
			snprintf(prefix, sizeof(prefix), ".%s.tmp-",
				 i < NFILES ? files[i].name : STATE_FILE);
			if (strncmp(e->d_name, prefix, strlen(prefix)) == 0) {
				snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
				unlink(path);
			}
		}
	}
	if (d != NULL)
		closedir(d);
}

static void state_free(state *s)
{
	free(s->etag);
	memset(s, 0, sizeof(*s));
}

/* The state of the last run for certificate id (empty when none or another id). */
static void state_read(const fetch_args *a, state *s)
{
	char path[4096];
	const char *cert;
	json_t *j;

	memset(s, 0, sizeof(*s));
	snprintf(path, sizeof(path), "%s/%s", a->out, STATE_FILE);
	if ((j = json_load_file(path, 0, NULL)) == NULL)
		return;
	cert = json_string_value(json_object_get(j, "certificate"));
	if (cert != NULL && strcmp(cert, a->id) == 0 &&
	    json_is_string(json_object_get(j, "etag"))) {
		s->etag = strdup(json_string_value(json_object_get(j, "etag")));
		s->version = (int)json_integer_value(json_object_get(j, "version"));
		s->reload_pending = json_is_true(json_object_get(j, "reload_pending"));
		for (int i = 0; i < NFILES; i++) {
			const char *h = json_string_value(
				json_object_get(json_object_get(j, "sha256"), files[i].name));

			snprintf(s->sha[i], sizeof(s->sha[i]), "%s", h ? h : "");
		}
	}
	json_decref(j);
}

static void sha_hex(const char *text, size_t len, char out[65])
{
	uint8_t d[32];

	cf_sha256(text, len, d);
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
}

/* Does every file in DIR still have the hash the state records? */
static bool files_intact(const fetch_args *a, const state *s)
{
	char path[4096], hex[65], *text;
	size_t n = 0;
	bool ok = true;

	for (int i = 0; ok && i < NFILES; i++) {
		snprintf(path, sizeof(path), "%s/%s", a->out, files[i].name);
		if ((text = cf_read_file(path, MAX_PEM, &n, NULL)) == NULL)
			return false;
		sha_hex(text, n, hex);
		ok = strcmp(hex, s->sha[i]) == 0;
		cf_secret_free(text);
	}
	return ok;
}

static int state_write(const fetch_args *a, const state *s, cf_err *err)
{
	json_t *j = json_pack("{s:s, s:s, s:i, s:b, s:{s:s, s:s, s:s, s:s}}", "certificate",
			      a->id, "etag", s->etag, "version", s->version, "reload_pending",
			      s->reload_pending, "sha256", files[0].name, s->sha[0], files[1].name,
			      s->sha[1], files[2].name, s->sha[2], files[3].name, s->sha[3]);
	char *text = j ? json_dumps(j, JSON_INDENT(2)) : NULL;
	int rc = -1;

	if (text == NULL)
		cf_err_set(err, CF_ERR_TRANSIENT, "out of memory");
	else
		rc = cf_write_file_atomic(a->out, STATE_FILE, text, strlen(text), 0644, err);
	wipe_free(text); /* json_dumps allocates through the allocator set in cmd_fetch */
	json_decref(j);
	return rc;
}

/* ---- the request ---- */

typedef struct answer {
	long status;
	char etag[128];
	body_buf body;
} answer;

/* The Authorization header; its copy inside the list is wiped before it is freed. */
static void headers_free(struct curl_slist *h)
{
	for (struct curl_slist *p = h; p != NULL; p = p->next)
		OPENSSL_cleanse(p->data, strlen(p->data));
	curl_slist_free_all(h);
}

static int request(const fetch_args *a, const char *token, const char *etag, answer *ans,
		   cf_err *err)
{
	char url[2048], line[4200], errbuf[CURL_ERROR_SIZE] = "";
	struct curl_slist *h = NULL, *t;
	size_t n = strlen(a->server);
	CURL *c = curl_easy_init();
	CURLcode rc = CURLE_OK;
	int ret = -1;

	while (n > 0 && a->server[n - 1] == '/')
		n--;
	snprintf(url, sizeof(url), "%.*s/v1/certificates/%s/bundle", (int)n, a->server, a->id);
	snprintf(line, sizeof(line), "Authorization: Bearer %s", token);
	if (c == NULL || (h = curl_slist_append(NULL, line)) == NULL)
		goto oom;
	OPENSSL_cleanse(line, sizeof(line));
	if (etag != NULL) {
		snprintf(line, sizeof(line), "If-None-Match: %s", etag);
		if ((t = curl_slist_append(h, line)) == NULL)
			goto oom;
		h = t;
	}
#define OPT(o, v)                                                                         \
	do {                                                                               \
		if (rc == CURLE_OK)                                                        \
			rc = curl_easy_setopt(c, o, v);                                    \
	} while (0)
	OPT(CURLOPT_URL, url);
	OPT(CURLOPT_PROTOCOLS_STR, "https,http");
	OPT(CURLOPT_FOLLOWLOCATION, 0L);
	OPT(CURLOPT_NOSIGNAL, 1L);
	OPT(CURLOPT_CONNECTTIMEOUT, 10L);
	OPT(CURLOPT_TIMEOUT, 60L);
	OPT(CURLOPT_USERAGENT, "certfleet-fetch/" CERTFLEET_VERSION);
	OPT(CURLOPT_HTTPHEADER, h);
	OPT(CURLOPT_WRITEFUNCTION, on_body);
	OPT(CURLOPT_WRITEDATA, &ans->body);
	OPT(CURLOPT_HEADERFUNCTION, on_header);
	OPT(CURLOPT_HEADERDATA, (void *)ans->etag);
	OPT(CURLOPT_ERRORBUFFER, errbuf);
	if (a->ca_file != NULL)
		OPT(CURLOPT_CAINFO, a->ca_file);
#undef OPT
	if (rc == CURLE_OK)
		rc = curl_easy_perform(c);
	if (rc != CURLE_OK) {
		cf_err_set(err, CF_ERR_TRANSIENT, "GET %s: %s", url,
			   ans->body.overflow ? "the answer is larger than 4 MiB"
			   : errbuf[0] ? errbuf : curl_easy_strerror(rc));
		goto out;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &ans->status);
	ret = 0;
	goto out;
oom:
	cf_err_set(err, CF_ERR_TRANSIENT, "out of memory");
out:
	OPENSSL_cleanse(line, sizeof(line));
	headers_free(h);
	if (c != NULL)
		curl_easy_cleanup(c);
	return ret;
}

/* The error of a non-200/304 answer: the problem document's type and detail. */
static int answer_error(const fetch_args *a, const answer *ans, cf_err *err)
{
	json_t *p = ans->body.data ? json_loads(ans->body.data, 0, NULL) : NULL;
	const char *type = json_string_value(json_object_get(p, "type"));
	const char *detail = json_string_value(json_object_get(p, "detail"));

	if (type != NULL && strrchr(type, '/') != NULL)
		type = strrchr(type, '/') + 1;
	cf_err_set(err, ans->status >= 500 ? CF_ERR_TRANSIENT : CF_ERR_PERMANENT,
		   "certificate %s: the server answered %ld%s%s%s%s", a->id, ans->status,
		   type ? " " : "", type ? type : "", detail ? ": " : "", detail ? detail : "");
	json_decref(p);
	return -1;
}

/* ---- the new version ---- */

typedef struct bundle {
	json_t *doc; /* wiped when freed (the wiping allocator) */
	const char *text[NFILES];
	int version;
} bundle;

/* Parses and checks a bundle: every member present, the key matches the cert. */
static int bundle_parse(const fetch_args *a, const answer *ans, bundle *b, cf_err *err)
{
	cf_key *key = NULL;
	int rc = -1;

	b->doc = json_loadb(ans->body.data, ans->body.len, 0, NULL);
	if (!json_is_object(b->doc) || !json_is_integer(json_object_get(b->doc, "version"))) {
		cf_err_set(err, CF_ERR_PERMANENT, "certificate %s: the answer is not a bundle",
			   a->id);
		goto out;
	}
	b->version = (int)json_integer_value(json_object_get(b->doc, "version"));
	for (int i = 0; i < NFILES; i++)
		if ((b->text[i] = json_string_value(json_object_get(b->doc, files[i].member))) ==
		    NULL) {
			cf_err_set(err, CF_ERR_PERMANENT, "certificate %s: the bundle has no %s",
				   a->id, files[i].member);
			goto out;
		}
	if (ans->etag[0] == '\0') {
		cf_err_set(err, CF_ERR_PERMANENT, "certificate %s: the answer has no ETag", a->id);
		goto out;
	}
	key = cf_key_from_pem(b->text[F_KEY], strlen(b->text[F_KEY]), err);
	if (key == NULL || !cf_cert_matches_key(b->text[F_CERT], strlen(b->text[F_CERT]), key)) {
		cf_err_set(err, CF_ERR_PERMANENT, "certificate %s version %d: the private key "
			   "does not match the certificate; nothing was written", a->id, b->version);
		goto out;
	}
	rc = 0;
out:
	cf_key_free(key);
	return rc;
}

/* Does DIR/name hold exactly text? */
static bool same_content(const char *dir, const char *name, const char *text)
{
	char path[4096], *have;
	size_t n = 0;
	bool same;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((have = cf_read_file(path, MAX_PEM, &n, NULL)) == NULL)
		return false;
	same = n == strlen(text) && memcmp(have, text, n) == 0;
	cf_secret_free(have);
	return same;
}

/* Writes the files that differ; *changed tells whether any did. */
static int install(const fetch_args *a, const bundle *b, bool *changed, cf_err *err)
{
	char path[4096];

	*changed = false;
	for (int i = 0; i < NFILES; i++) {
		if (same_content(a->out, files[i].name, b->text[i]))
			continue;
		*changed = true;
		if (cf_write_file_atomic(a->out, files[i].name, b->text[i], strlen(b->text[i]),
					 files[i].mode, err) != 0)
			return -1;
		snprintf(path, sizeof(path), "%s/%s", a->out, files[i].name);
		if (a->owner != NULL && chown(path, a->uid, a->gid) != 0)
			return cf_err_set(err, CF_ERR_PERMANENT, "--owner: chown %s: %s", path,
					  strerror(errno));
	}
	return 0;
}

/* Runs the reload command through /bin/sh -c; 0 when it exited 0. */
static int run_reload(const char *cmd, cf_err *err)
{
	char *argv[] = { "sh", "-c", (char *)cmd, NULL };
	int status = 0, rc;
	pid_t pid;

	fflush(NULL);
	if ((rc = posix_spawn(&pid, "/bin/sh", NULL, NULL, argv, environ)) != 0)
		return cf_err_set(err, CF_ERR_PERMANENT, "reload: cannot run /bin/sh: %s",
				  strerror(rc));
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return cf_err_set(err, CF_ERR_PERMANENT, "reload: waitpid: %s",
					  strerror(errno));
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (WIFEXITED(status))
		return cf_err_set(err, CF_ERR_PERMANENT, "reload: `%s` exited %d", cmd,
				  WEXITSTATUS(status));
	return cf_err_set(err, CF_ERR_PERMANENT, "reload: `%s` was killed by signal %d", cmd,
			  WTERMSIG(status));
}

/* The reload step after an install (or a pending one): exit status. */
static int reload_step(const fetch_args *a, state *st, cf_err *err)
{
	if (a->reload == NULL) {
		st->reload_pending = false;
		return state_write(a, st, err) == 0 ? EXIT_CHANGED : 1;
	}
	if (run_reload(a->reload, err) != 0) {
		cf_err_wrap(err, "certificate %s version %d is installed in %s, but", a->id,
			    st->version, a->out);
		return EXIT_RELOAD_FAILED;
	}
	printf("%s: reload: `%s` exited 0\n", a->id, a->reload);
	st->reload_pending = false;
	return state_write(a, st, err) == 0 ? EXIT_CHANGED : 1;
}

/* A 200: install what differs, record it, reload. Returns the exit status. */
static int on_new(const fetch_args *a, answer *ans, state *st, cf_err *err)
{
	bundle b = { 0 };
	bool changed = false;
	int rc = 1;

	if (bundle_parse(a, ans, &b, err) != 0 || install(a, &b, &changed, err) != 0)
		goto out;
	for (int i = 0; i < NFILES; i++)
		sha_hex(b.text[i], strlen(b.text[i]), st->sha[i]);
	if (!changed && st->etag != NULL && strcmp(st->etag, ans->etag) == 0) {
		if (state_write(a, st, err) != 0)
			goto out;
		rc = st->reload_pending ? reload_step(a, st, err) : 0;
		if (rc == 0 && !a->quiet)
			printf("%s: unchanged (version %d)\n", a->id, b.version);
		goto out;
	}
	free(st->etag);
	if ((st->etag = strdup(ans->etag)) == NULL)
		goto out;
	st->version = b.version;
	st->reload_pending = a->reload != NULL;
	if (state_write(a, st, err) != 0)
		goto out;
	printf("%s: version %d installed in %s\n", a->id, b.version, a->out);
	rc = reload_step(a, st, err);
out:
	json_decref(b.doc);
	return rc;
}

int cmd_fetch(int argc, char **argv)
{
	fetch_args a = { 0 };
	answer ans = { 0 };
	state st = { 0 };
	cf_err err = { 0 };
	char *token = NULL;
	int rc = 1;

	if (parse_args(argc, argv, &a) != 0)
		return usage();
	json_set_alloc_funcs(wipe_malloc, wipe_free);
	if (!cf_valid_slug(a.id)) {
		cf_err_set(&err, CF_ERR_PERMANENT, "--certificate: \"%s\" is not a certificate id",
			   a.id);
		goto out;
	}
	if (check_server(&a, &err) != 0 || (a.owner && parse_owner(&a, &err) != 0) ||
	    (token = read_token(a.token_file, &err)) == NULL || lock_dir(a.out, &err) != 0)
		goto out;
	remove_leftovers(a.out);
	state_read(&a, &st);
	if (request(&a, token, st.etag && files_intact(&a, &st) ? st.etag : NULL, &ans, &err) != 0)
		goto out;
	if (ans.status == 304) {
		rc = st.reload_pending ? reload_step(&a, &st, &err) : 0;
		if (rc == 0 && !a.quiet)
			printf("%s: unchanged (version %d)\n", a.id, st.version);
	} else if (ans.status == 200) {
		rc = on_new(&a, &ans, &st, &err);
	} else {
		answer_error(&a, &ans, &err);
	}
out:
	if (rc != 0 && rc != EXIT_CHANGED)
		fprintf(stderr, "certfleet fetch: %s\n", err.msg);
	cf_secret_free(token);
	body_free(&ans.body);
	state_free(&st);
	cf_err_clear(&err);
	return rc;
}
