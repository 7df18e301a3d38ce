/*
 * cli_util.c: parsing helpers for subcommands that configure DNS providers and
 * resolvers on the command line, and the account key file of the ACME commands;
 * see cli_util.h. Settings become a JSON object of strings (allowed_names, which
 * every provider takes, a JSON array: "a,b" or '["a","b"]'), exactly the shape a
 * provider's validate() expects from the database, so the command line and the
 * API share one validation path. An account key file is created the way a key
 * file must be: mode 0600 from the first byte, complete before its name appears
 * (written under a temporary name, then hard-linked to its name, which also
 * refuses to replace a key that another process created meanwhile).
 */
#include "cmd/cli_util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "util/files.h"

/* allowed_names=a,b (or a JSON array) as a JSON array of strings, or NULL. */
static json_t *names_list(const char *text)
{
	json_t *a;
	const char *p = text, *end;

	if (*text == '[')
		return json_loads(text, JSON_DECODE_ANY, NULL);
	if ((a = json_array()) == NULL)
		return NULL;
	while (*p != '\0') {
		end = p + strcspn(p, ", ");
		if (end > p && json_array_append_new(a, json_stringn(p, (size_t)(end - p))) != 0) {
			json_decref(a);
			return NULL;
		}
		p = *end != '\0' ? end + 1 : end;
	}
	return a;
}

static int key_char_ok(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '-' || c == '.';
}

int cf_cli_settings_add(json_t *obj, const char *kv, cf_err *err)
{
	char key[128];
	const char *eq;
	size_t klen, i;
	json_t *v = NULL;
	int rc = -1;

	if (obj == NULL || !json_is_object(obj)) {
		cf_err_set(err, CF_ERR_PERMANENT, "--provider-setting: no settings object");
		goto out;
	}
	eq = kv ? strchr(kv, '=') : NULL;
	if (eq == NULL) {
		cf_err_set(err, CF_ERR_PERMANENT, "--provider-setting: expected KEY=VALUE");
		goto out;
	}
	klen = (size_t)(eq - kv);
	if (klen == 0 || klen >= sizeof(key)) {
		cf_err_set(err, CF_ERR_PERMANENT, "--provider-setting: missing or overlong KEY "
			   "in KEY=VALUE");
		goto out;
	}
	for (i = 0; i < klen; i++)
		if (!key_char_ok(kv[i])) {
			cf_err_set(err, CF_ERR_PERMANENT,
				   "--provider-setting: bad character in key \"%.*s\"", (int)klen,
				   kv);
			goto out;
		}
	memcpy(key, kv, klen);
	key[klen] = '\0';
	if (json_object_get(obj, key) != NULL) {
		cf_err_set(err, CF_ERR_PERMANENT, "--provider-setting: %s given twice", key);
		goto out;
	}
	if (eq[1] == '@') {
		/* KEY=@FILE: the value is read from a file, so a secret need not sit in
		 * argv, where /proc/PID/cmdline shows it to every local user. */
		size_t len = 0;
		char *text = cf_read_file(eq + 2, 65536, &len, err);
		if (text == NULL) {
			cf_err_wrap(err, "--provider-setting %s", key);
			goto out;
		}
		while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r'))
			text[--len] = '\0';
		v = json_string(text);
		cf_secret_free(text);
	} else if (strcmp(key, "allowed_names") == 0) {
		v = names_list(eq + 1);
	} else {
		v = json_string(eq + 1);
	}
	if (v == NULL) {
		/* jansson refuses invalid UTF-8; do not echo the value. */
		cf_err_set(err, CF_ERR_PERMANENT,
			   "--provider-setting: the value of %s is not valid UTF-8", key);
		goto out;
	}
	if (json_object_set_new(obj, key, v) != 0) {
		v = NULL; /* set_new consumed it */
		cf_err_oom(err, "--provider-setting");
		goto out;
	}
	v = NULL;
	rc = 0;
out:
	json_decref(v);
	return rc;
}

int cf_cli_resolvers_add(cf_dns_servers *l, const char *arg, cf_err *err)
{
	if (cf_dns_servers_parse(l, arg, err) != 0)
		return cf_err_wrap(err, "--resolver");
	return 0;
}

int cf_cli_resolvers_default(cf_dns_servers *l, cf_err *err)
{
	if (l->n > 0)
		return 0;
	if (cf_dns_servers_from_resolv_conf(l, "/etc/resolv.conf", err) != 0)
		return cf_err_wrap(err, "no --resolver given");
	return 0;
}

int cf_cli_parse_long(const char *opt, const char *s, long min, long max, long *out,
		      cf_err *err)
{
	char *end = NULL;
	long v;

	if (s == NULL || s[0] == '\0')
		return cf_err_set(err, CF_ERR_PERMANENT, "%s: missing number", opt);
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return cf_err_set(err, CF_ERR_PERMANENT, "%s: \"%.40s\" is not a number in %ld-%ld",
				  opt, s, min, max);
	*out = v;
	return 0;
}

/* ---- account keys ---- */

cf_key *cf_cli_key_load(const char *opt, const char *path, cf_err *err)
{
	size_t len = 0;
	char *pem = cf_read_file(path, 1 << 20, &len, err);
	cf_key *k;

	if (pem == NULL) {
		cf_err_wrap(err, "%s", opt);
		return NULL;
	}
	k = cf_key_from_pem(pem, len, err);
	cf_secret_free(pem);
	if (k == NULL)
		cf_err_wrap(err, "%s %s", opt, path);
	return k;
}

/* Splits path into its folder ("." when it names none) and its last part. */
static int split_path(const char *opt, const char *path, char *dir, size_t dlen,
		      const char **base, cf_err *err)
{
	const char *slash = strrchr(path, '/');
	size_t n;

	*base = slash ? slash + 1 : path;
	if (**base == '\0')
		return cf_err_set(err, CF_ERR_PERMANENT, "%s %s: not a file name", opt, path);
	n = slash == NULL ? 0 : slash == path ? 1 : (size_t)(slash - path);
	if (n + 1 > dlen)
		return cf_err_set(err, CF_ERR_PERMANENT, "%s %s: path too long", opt, path);
	if (n == 0)
		snprintf(dir, dlen, ".");
	else
		snprintf(dir, dlen, "%.*s", (int)n, path);
	return 0;
}

/* Writes pem to path unless path exists: 0 written, 1 path existed, -1 error. */
static int create_key_file(const char *opt, const char *path, const char *pem, cf_err *err)
{
	char dir[4096], tmp[512], tmppath[4608];
	const char *base;
	int rc = -1, e, dfd;

	if (split_path(opt, path, dir, sizeof(dir), &base, err) != 0)
		return -1;
	if ((size_t)snprintf(tmp, sizeof(tmp), ".%s.new-%ld", base, (long)getpid()) >= sizeof(tmp))
		return cf_err_set(err, CF_ERR_PERMANENT, "%s %s: name too long", opt, path);
	if (cf_write_file_atomic(dir, tmp, pem, strlen(pem), 0600, err) != 0)
		return cf_err_wrap(err, "%s", opt);
	snprintf(tmppath, sizeof(tmppath), "%s/%s", dir, tmp);
	if (link(tmppath, path) == 0) {
		rc = 0;
	} else if ((e = errno) == EEXIST) {
		rc = 1;
	} else if ((e == EPERM || e == ENOTSUP || e == EOPNOTSUPP || e == EXDEV) &&
		   rename(tmppath, path) == 0) {
		rc = 0; /* a file system without hard links: plain rename */
	} else {
		cf_err_set(err, CF_ERR_PERMANENT, "%s: cannot create %s: %s", opt, path,
			   strerror(e));
	}
	unlink(tmppath); /* gone already after the rename */
	if (rc == 0 && (dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		fsync(dfd); /* the new name is durable too */
		close(dfd);
	}
	return rc;
}

cf_key *cf_cli_account_key_load_or_create(const char *opt, const char *path, bool *created,
					  cf_err *err)
{
	cf_key *k = NULL;
	char *pem = NULL;
	int rc;

	if (created)
		*created = false;
	if (path != NULL && access(path, F_OK) == 0)
		return cf_cli_key_load(opt, path, err);
	if (path != NULL && errno != ENOENT) {
		cf_err_set(err, CF_ERR_PERMANENT, "%s: cannot use %s: %s", opt, path, strerror(errno));
		return NULL;
	}
	if ((k = cf_key_generate(CF_KEY_EC256, err)) == NULL)
		return NULL;
	if (path == NULL) {
		if (created)
			*created = true;
		return k;
	}
	if ((pem = cf_key_to_pem(k, err)) == NULL)
		goto fail;
	rc = create_key_file(opt, path, pem, err);
	if (rc < 0)
		goto fail;
	if (rc == 1) {
		/* another process made it first: use that one, as everyone else will */
		cf_key_free(k);
		k = cf_cli_key_load(opt, path, err);
	} else if (created) {
		*created = true;
	}
	cf_secret_free(pem);
	return k;
fail:
	cf_secret_free(pem);
	cf_key_free(k);
	return NULL;
}

int cf_cli_write_secret_file(const char *path, const char *text, cf_err *err)
{
	char dir[4096];
	const char *base;

	if (split_path("key file", path, dir, sizeof(dir), &base, err) != 0)
		return -1;
	return cf_write_file_atomic(dir, base, text, strlen(text), 0600, err);
}

void cf_cli_acme_event_print(const cf_acme_event *ev, void *arg)
{
	const bool *verbose = arg;

	if (verbose == NULL || !*verbose || ev->kind != CF_ACME_EV_HTTP)
		return;
	printf("  http %-10s %-4s %ld %5ld ms %s\n", ev->step, ev->method ? ev->method : "",
	       ev->http_status, ev->duration_ms, ev->url ? ev->url : "");
	fflush(stdout);
}

char *cf_cli_secret_arg(const char *opt, const char *arg, cf_err *err)
{
	size_t len = 0;
	char *text;

	if (arg == NULL || arg[0] == '\0') {
		cf_err_set(err, CF_ERR_PERMANENT, "%s: empty value", opt);
		return NULL;
	}
	if (arg[0] != '@') {
		if ((text = strdup(arg)) == NULL)
			cf_err_oom(err, opt);
		return text;
	}
	if ((text = cf_read_file(arg + 1, 65536, &len, err)) == NULL) {
		cf_err_wrap(err, "%s", opt);
		return NULL;
	}
	while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r'))
		text[--len] = '\0';
	if (len == 0) {
		cf_secret_free(text);
		cf_err_set(err, CF_ERR_PERMANENT, "%s: %s is empty", opt, arg + 1);
		return NULL;
	}
	return text;
}
