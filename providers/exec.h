/*
 * exec.h: the pure parts of the exec provider (providers/exec.c), exported for
 * its unit tests: the environment name of a setting, the bounded tail of a
 * child's output, and the scrubbing of secret values out of that tail. The
 * provider itself is reached through the registry as cf_provider_exec.
 */
#ifndef CERTFLEET_PROVIDERS_EXEC_H
#define CERTFLEET_PROVIDERS_EXEC_H

#include <stdbool.h>
#include <stddef.h>

#include "util/err.h"

#define CF_EXEC_TAIL_MAX 4096

/* The last CF_EXEC_TAIL_MAX bytes written to one of the child's pipes. */
typedef struct cf_exec_tail {
	char buf[CF_EXEC_TAIL_MAX];
	size_t len;     /* bytes held, <= CF_EXEC_TAIL_MAX */
	size_t start;   /* index of the oldest byte */
	size_t dropped; /* bytes that fell off the front */
} cf_exec_tail;

/* "CERTFLEET_SETTING_" + key upper-cased, '-' and '.' as '_'. -1 when key is not
 * [A-Za-z0-9_.-], 1-64 characters, or does not fit in outlen. */
CF_MUST_CHECK int cf_exec_env_name(const char *key, char *out, size_t outlen);

void cf_exec_tail_append(cf_exec_tail *t, const char *p, size_t n);
/* The held bytes in order, NUL-terminated in out (cut to outlen - 1 from the
 * front, so the newest bytes stay); returns the length written. */
size_t cf_exec_tail_get(const cf_exec_tail *t, char *out, size_t outlen);

/* Replaces every occurrence of secret (when 4 bytes or longer) in the
 * NUL-terminated text with "***", in place. */
void cf_exec_scrub(char *text, const char *secret);

/* The operator's rule for commands, process-wide; set once at start-up, before
 * any thread runs a provider. dir: CERTFLEET_EXEC_DIR ("" or NULL: none).
 * required: without a dir, every exec provider is refused (serve: the API and
 * the worker); when not required and no dir is set, the command may be any
 * absolute path (the CLI, run by the operator). Never called: the CLI's
 * default, with the dir from the environment's CERTFLEET_EXEC_DIR. */
void cf_exec_policy_set(const char *dir, bool required);

/* Whether dir is fit to be CERTFLEET_EXEC_DIR: a folder owned by root or the
 * effective user and writable by no one else. 0, or -1 with err saying why
 * (for the operator's log at start-up; API clients get one opaque message). */
CF_MUST_CHECK int cf_exec_dir_check(const char *dir, cf_err *err);

#endif
