/*
 * cli_util.c: parsing helpers for subcommands that configure DNS providers and
 * resolvers on the command line; see cli_util.h. Settings become a JSON object of
 * strings, exactly the shape a provider's validate() expects from the database,
 * so the command line and the API share one validation path.
 */
#include "cmd/cli_util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "util/files.h"

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
		cf_err_set(err, CF_ERR_TRANSIENT, "--provider-setting: out of memory");
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
