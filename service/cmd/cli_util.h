/*
 * cli_util.h: small pieces shared by the subcommands that talk to DNS providers
 * (`certfleet dns`, `certfleet issue`): provider settings given as repeated
 * `--provider-setting KEY=VALUE`, resolver lists given as repeated
 * `--resolver HOST[:PORT]` (or comma-separated), and numeric options.
 * Error messages name the option and key but never echo a setting's value, since
 * a value may be a credential.
 */
#ifndef CERTFLEET_CMD_CLI_UTIL_H
#define CERTFLEET_CMD_CLI_UTIL_H

#include <jansson.h>

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

#endif
