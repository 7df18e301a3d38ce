/*
 * cli_util.h: small pieces shared by the subcommands: provider settings given as
 * repeated `--provider-setting KEY=VALUE`, resolver lists given as repeated
 * `--resolver HOST[:PORT]` (or comma-separated), numeric options (`certfleet dns`,
 * `certfleet issue`), and the ACME account key file and secret arguments
 * (`certfleet issue`, `account`, `revoke`).
 * Error messages name the option and key but never echo a setting's value, since
 * a value may be a credential.
 */
#ifndef CERTFLEET_CMD_CLI_UTIL_H
#define CERTFLEET_CMD_CLI_UTIL_H

#include <jansson.h>
#include <stdbool.h>

#include "acme/acme.h"
#include "crypto/crypto.h"
#include "dns/dns.h"
#include "util/err.h"

/* Adds KEY=VALUE to obj as a JSON string (obj is the caller's; the value is
 * copied). KEY is [A-Za-z0-9_.-]+; VALUE may be empty and may contain '='. A key
 * given twice is an error. */
int cf_cli_settings_add(json_t *obj, const char *kv, cf_err *err);
/* Adds the servers of one --resolver argument ("1.2.3.4", "1.2.3.4:53,[::1]"). */
int cf_cli_resolvers_add(cf_dns_servers *l, const char *arg, cf_err *err);
/* When l is still empty, fills it from /etc/resolv.conf (the documented fallback
 * when no resolver is configured). */
int cf_cli_resolvers_default(cf_dns_servers *l, cf_err *err);
/* Parses a whole decimal number in [min, max]; the error names opt. */
int cf_cli_parse_long(const char *opt, const char *s, long min, long max, long *out,
		      cf_err *err);

/* The ACME account key of a command. path names an existing PEM key file: it is
 * loaded (any key type crypto.h reads). path names no file: a P-256 key is made
 * and saved there with mode 0600 (written in full and fsync'ed before it appears;
 * never over a file that another process created meanwhile: that one is loaded
 * instead). path NULL: a fresh key that is not saved. *created (may be NULL) tells
 * whether the key was made here. The caller owns the key (cf_key_free()); the PEM
 * text read or written is wiped. Errors name opt (e.g. "--account-key") and path. */
cf_key *cf_cli_account_key_load_or_create(const char *opt, const char *path, bool *created,
					  cf_err *err);
/* Loads the PEM key in path, which must exist (a key that only makes sense when
 * the CA already knows it: a certificate's key, the account key of a revocation).
 * Errors name opt and path. The caller owns the key; the PEM text read is wiped. */
cf_key *cf_cli_key_load(const char *opt, const char *path, cf_err *err);
/* Replaces path atomically with text, mode 0600 (cf_write_file_atomic() in the
 * folder of path): a key file never seen half-written or readable by others. */
int cf_cli_write_secret_file(const char *path, const char *text, cf_err *err);
/* An on_event hook for the ACME commands' --verbose: prints every HTTP exchange
 * ("  http STEP METHOD STATUS MS URL") to stdout when *(bool *)arg is true.
 * URLs and statuses only: nothing signed or secret is in an event. */
void cf_cli_acme_event_print(const cf_acme_event *ev, void *arg);
/* A secret given on the command line: "@FILE" reads it from FILE (trailing newlines
 * dropped; at most 64 KiB), so it need not sit in argv where every local user sees
 * it; anything else is the value itself. Returns a malloc'd copy to release with
 * cf_secret_free(), or NULL with err naming opt (never the value). */
char *cf_cli_secret_arg(const char *opt, const char *arg, cf_err *err);

#endif
