/*
 * fetch_cmd.c: `certfleet fetch`, the host agent: brings one certificate and
 * its key from certfleet into a folder, for a web server to use.
 *
 *   certfleet fetch --server URL --token-file F --certificate ID --out DIR
 *                   [--ca-file PEM] [--reload CMD] [--owner USER[:GROUP]]
 *                   [--allow-http] [--quiet]
 *
 * One run: check DIR (it must belong to the user running the agent and be
 * writable by no one else: cmd/fetch_dir.c works through its fd and never
 * follows a link in it), take DIR/.certfleet-fetch.lock (a second run on the
 * same folder fails at once), remove temporary files a killed run left behind, ask for
 * GET /v1/certificates/ID/bundle with If-None-Match (the ETag of the installed
 * version, kept in DIR/.certfleet-fetch.json), and on a new version write
 * cert.pem, chain.pem, fullchain.pem (0644) and privkey.pem (0600), each
 * atomically (cf_fdir_write: a temporary file with a random name, created
 * O_EXCL|O_NOFOLLOW, owned and moded, fsync, renameat), then
 * the state (the ETag and each file's SHA-256), then run the reload command
 * (/bin/sh -c CMD) once. If-None-Match is sent only when every file still has the
 * hash the state records, so a folder left half-written (or edited by hand) is
 * repaired by the next run.
 *
 * Exit status: 0 nothing changed; 10 a new version was installed (and reloaded);
 * 3 the files were installed but the reload command failed (it is run again by
 * the next run, until it succeeds); 5 the installed version was revoked for
 * keyCompromise and the server has no replacement yet (410; the server's detail
 * is printed; nothing is written, nothing reloaded); 1 any other error, 2 a usage
 * error; each with a message on stderr. A run killed at any point leaves every file whole (old or
 * new) and the next run completes the change: the state is written after the
 * files and says "reload pending" until the command has succeeded, so a change is
 * reloaded at least once even across crashes, and exactly once otherwise.
 *
 * Secrets: the token (read from a file, never from argv; refused when other
 * users may read the file) and the key are wiped from memory after use: jansson
 * allocates through a wiping allocator here, and the response buffer grows by
 * copy-and-wipe (the shared HTTP client's CF_HTTP_SECRET_BODY). The request goes
 * through that client (util/http_client.h): its timeouts, scheme rule and error
 * mapper are those of every outgoing request. Plain http:// is refused unless
 * the server is on loopback or --allow-http is given (the token would travel in
 * clear; the server refuses keys over plain HTTP to non-local clients anyway).
 */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
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
#include "cmd/fetch_dir.h"
#include "crypto/crypto.h"
#include "util/buf.h"
#include "util/files.h"
#include "util/http_client.h"

extern char **environ;

#define EXIT_CHANGED 10
#define EXIT_RELOAD_FAILED 3
#define EXIT_REVOKED 5
#define STATE_FILE ".certfleet-fetch.json"
#define LOCK_FILE ".certfleet-fetch.lock"
#define MAX_BODY (4 * 1024 * 1024)
#define MAX_PEM (1024 * 1024)

typedef struct fetch_args {
	const char *server, *token_file, *id, *out, *ca_file, *reload, *owner;
	bool allow_http, quiet;
	uid_t uid;
	gid_t gid;
	int dfd; /* DIR, opened and checked by cf_fdir_open */
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
		"exit status: 0 unchanged, 10 changed, 3 reload failed,\n"
		"             5 revoked (keyCompromise, no replacement yet), 1 error, 2 usage\n"
		"DIR must belong to the user running the agent and be writable by no one else\n");
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
	cf_wipe(p, *(size_t *)(void *)p + 16);
	free(p);
}

/* The response's ETag, kept by the header callback of the shared HTTP client;
 * a new response head (after a 1xx) drops what an earlier one gave. */
static int on_header(void *arg, const char *name, size_t nlen, const char *value,
		     size_t vlen)
{
	char *etag = arg; /* answer.etag, 128 bytes */

	if (name == NULL)
		etag[0] = '\0';
	else if (nlen == 4 && strncasecmp(name, "etag", 4) == 0 && vlen < 128)
		snprintf(etag, 128, "%.*s", (int)vlen, value);
	return 0;
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

/* https://, or http:// to a loopback host, or any http:// with --allow-http: the
 * shared client's scheme rule, checked before the token is read so that the
 * error can say why. */
static int check_server(const fetch_args *a, cf_err *err)
{
	CURLU *u = curl_url();
	char *host = NULL;
	int rc = -1;

	if (u == NULL || curl_url_set(u, CURLUPART_URL, a->server, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK)
		cf_err_set(err, CF_ERR_PERMANENT, "--server: \"%s\" is not a URL", a->server);
	else if (cf_http_url_allowed(a->server, a->allow_http ? CF_HTTP_PLAIN_ANY : 0))
		rc = 0;
	else if (strncasecmp(a->server, "http://", 7) == 0)
		cf_err_set(err, CF_ERR_PERMANENT,
			   "--server: plain http:// to %s would send the token in clear: use "
			   "https:// (or --allow-http)", host);
	else
		cf_err_set(err, CF_ERR_PERMANENT, "--server: \"%s\" is not an https:// URL",
			   a->server);
	curl_free(host);
	curl_url_cleanup(u);
	return rc;
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

/* Removes ".<file>.tmp-*" files of a run that was killed while writing (we
 * hold the lock: no run is writing now). */
static void remove_leftovers(const fetch_args *a)
{
	const char *names[NFILES + 1];

	for (int i = 0; i < NFILES; i++)
		names[i] = files[i].name;
	names[NFILES] = STATE_FILE;
	cf_fdir_remove_leftovers(a->dfd, names, NFILES + 1);
}

static void state_free(state *s)
{
	free(s->etag);
	memset(s, 0, sizeof(*s));
}

/* The state of the last run for certificate id (empty when none or another id). */
static void state_read(const fetch_args *a, state *s)
{
	const char *cert;
	size_t n = 0;
	char *text;
	json_t *j;

	memset(s, 0, sizeof(*s));
	if ((text = cf_fdir_read(a->dfd, STATE_FILE, MAX_PEM, &n)) == NULL)
		return;
	j = json_loadb(text, n, 0, NULL);
	cf_secret_free(text);
	if (j == NULL)
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
	char hex[65], *text;
	size_t n = 0;
	bool ok = true;

	for (int i = 0; ok && i < NFILES; i++) {
		if ((text = cf_fdir_read(a->dfd, files[i].name, MAX_PEM, &n)) == NULL)
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
		cf_err_oom(err, NULL);
	else
		rc = cf_fdir_write(a->dfd, a->out, STATE_FILE, text, strlen(text), 0644, false, 0,
				   0, err);
	wipe_free(text); /* json_dumps allocates through the allocator set in cmd_fetch */
	json_decref(j);
	return rc;
}

/* ---- the request ---- */

typedef struct answer {
	long status;
	char etag[128];
	cf_buf body; /* holds the key: grown by copy-and-wipe, freed with cf_buf_free_secret */
} answer;

/* GET /v1/certificates/ID/bundle through the shared HTTP client, with the token
 * as a bearer and, when etag is not NULL, If-None-Match. 0 with ans->status
 * whatever the status; -1 with err when no complete answer came. */
static int request(const fetch_args *a, const char *token, const char *etag, answer *ans,
		   cf_err *err)
{
	char url[2048];
	cf_outreq req = {
		.method = "GET",
		.url = url,
		.ca_file = a->ca_file,
		.user_agent = "certfleet-fetch/" CERTFLEET_VERSION,
		.connect_timeout_ms = 10 * 1000,
		.timeout_ms = 60 * 1000,
		.flags = CF_HTTP_SECRET_BODY | (a->allow_http ? CF_HTTP_PLAIN_ANY : 0),
		.on_header = on_header,
		.header_arg = ans->etag,
	};
	struct curl_slist *h = NULL;
	size_t n = strlen(a->server);
	CURL *c = curl_easy_init();
	int ret = -1;

	while (n > 0 && a->server[n - 1] == '/')
		n--;
	snprintf(url, sizeof(url), "%.*s/v1/certificates/%s/bundle", (int)n, a->server, a->id);
	if (c == NULL || cf_http_header_bearer(&h, token) != 0 ||
	    (etag != NULL && cf_http_header_add(&h, "If-None-Match", etag) != 0)) {
		cf_err_oom(err, NULL);
		goto out;
	}
	req.headers = h;
	ans->body.max = MAX_BODY;
	ret = cf_http_perform(c, &req, &ans->body, &ans->status, NULL, err);
out:
	cf_http_headers_free(h); /* wipes the token's copy */
	if (c != NULL)
		curl_easy_cleanup(c);
	return ret;
}

/* The error of a non-200/304 answer: the problem document's type and detail. */
static int answer_error(const fetch_args *a, const answer *ans, cf_err *err)
{
	json_t *p = ans->body.data ? json_loadb((const char *)ans->body.data, ans->body.len, 0,
						NULL)
				   : NULL;
	const char *type = json_string_value(json_object_get(p, "type"));
	const char *detail = json_string_value(json_object_get(p, "detail"));

	if (type != NULL && strrchr(type, '/') != NULL)
		type = strrchr(type, '/') + 1;
	cf_err_set(err, cf_http_status_class(ans->status),
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

	b->doc = json_loadb((const char *)ans->body.data, ans->body.len, 0, NULL);
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

/* Does DIR/name hold exactly text (a regular file, not a link)? */
static bool same_content(int dfd, const char *name, const char *text)
{
	char *have;
	size_t n = 0;
	bool same;

	if ((have = cf_fdir_read(dfd, name, MAX_PEM, &n)) == NULL)
		return false;
	same = n == strlen(text) && memcmp(have, text, n) == 0;
	cf_secret_free(have);
	return same;
}

/* Writes the files that differ; *changed tells whether any did. */
static int install(const fetch_args *a, const bundle *b, bool *changed, cf_err *err)
{
	*changed = false;
	for (int i = 0; i < NFILES; i++) {
		if (same_content(a->dfd, files[i].name, b->text[i]))
			continue;
		*changed = true;
		if (cf_fdir_write(a->dfd, a->out, files[i].name, b->text[i], strlen(b->text[i]),
				  files[i].mode, a->owner != NULL, a->uid, a->gid, err) != 0)
			return -1;
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
	fetch_args a = { .dfd = -1 };
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
	    (token = read_token(a.token_file, &err)) == NULL ||
	    (a.dfd = cf_fdir_open(a.out, &err)) < 0 ||
	    cf_fdir_lock(a.dfd, a.out, LOCK_FILE, &err) != 0)
		goto out;
	remove_leftovers(&a);
	state_read(&a, &st);
	if (request(&a, token, st.etag && files_intact(&a, &st) ? st.etag : NULL, &ans, &err) != 0)
		goto out;
	if (ans.status == 304) {
		rc = st.reload_pending ? reload_step(&a, &st, &err) : 0;
		if (rc == 0 && !a.quiet)
			printf("%s: unchanged (version %d)\n", a.id, st.version);
	} else if (ans.status == 200) {
		rc = on_new(&a, &ans, &st, &err);
	} else if (ans.status == 410) {
		/* revoked for keyCompromise, no replacement yet: keep what is installed
		 * (the web server keeps running), say why, and let the operator know by
		 * the exit status; the next run installs the replacement */
		answer_error(&a, &ans, &err);
		rc = EXIT_REVOKED;
	} else {
		answer_error(&a, &ans, &err);
	}
out:
	if (rc != 0 && rc != EXIT_CHANGED)
		fprintf(stderr, "certfleet fetch: %s\n", err.msg);
	cf_secret_free(token);
	if (a.dfd >= 0)
		close(a.dfd); /* the lock's own fd stays open until exit */
	cf_buf_free_secret(&ans.body);
	state_free(&st);
	cf_err_clear(&err);
	return rc;
}
