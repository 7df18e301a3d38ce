/*
 * ctl.h: the pieces shared by the files of `certfleet ctl`, the admin command line
 * over the HTTP API (a client of a remote `serve`, never of the database):
 *
 *   ctl_cmd.c     the entry point: global options, the token file, the resource
 *                 and verb tables, usage and exit codes
 *   ctl_client.c  requests through the shared HTTP client (util/http_client.h),
 *                 problem+json errors mapped to exit codes, lists that follow the
 *                 "next" cursor of paged answers, command-line option parsing
 *   ctl_table.c   output: tables, "field: value" blocks, JSON
 *   ctl_cert.c    `cert ...`          ctl_job.c     `job ...` (watch included)
 *   ctl_admin.c   `alias check`, `provider ...`, `issuer ...`, `token ...`, `audit`
 *
 * Exit codes (documented in the README; scripts test them): see enum ctl_exit.
 * Every verb returns one of them. Errors go to stderr, results to stdout.
 */
#ifndef CERTFLEET_CMD_CTL_H
#define CERTFLEET_CMD_CTL_H

#include <curl/curl.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "util/buf.h"
#include "util/err.h"

enum ctl_exit {
	CTL_OK = 0,
	CTL_ERROR = 1,     /* any other failure: network, 400, 5xx, a bad answer */
	CTL_USAGE = 2,     /* the command line is wrong */
	CTL_NOT_FOUND = 3, /* 404: no such certificate, job, provider... */
	CTL_DENIED = 4,    /* 401 (token missing, unknown, expired, revoked) or 403 */
	CTL_CONFLICT = 5,  /* 409: exists already, a job is active, still in use */
	CTL_FAILED = 6,    /* the outcome is bad: a watched job failed, an alias is not ok */
};

/* The connection to one server, for one run. */
typedef struct ctl {
	char *server;         /* base URL without a trailing '/' (owned) */
	char *token;          /* the bearer token (owned, secret: cf_secret_free) */
	const char *ca_file;  /* PEM bundle for https://, or NULL for the system's */
	bool allow_http;      /* plain http:// to a non-loopback host */
	bool json;            /* -o json */
	char what[64];        /* "cert create": the prefix of error messages */
	CURL *curl;           /* one handle, reused (connection reuse while watching) */
} ctl;

/* ---- command-line arguments of one verb (ctl_client.c) ---- */

typedef struct ctl_opt {
	const char *name; /* "--reason" */
	const char *val;  /* NULL for a flag */
} ctl_opt;

typedef struct ctl_args {
	const char **pos; /* positional arguments, in order */
	size_t npos;
	ctl_opt *opt;     /* options, in order */
	size_t nopt;
} ctl_args;

/* Parses argv (the words after the verb) against spec, a space-separated list of
 * the verb's options: "--name=" takes a value (given as "--name V" or
 * "--name=V"), "--name" is a flag. Anything else starting with '-' (but "-"
 * alone) is an error naming it. The arrays point into argv; ctl_args_free() frees
 * them. -1 with err on a bad command line. */
int ctl_args_parse(int argc, char **argv, const char *spec, ctl_args *a, cf_err *err);
void ctl_args_free(ctl_args *a);
/* The value of the last occurrence of option name, or NULL. */
const char *ctl_arg(const ctl_args *a, const char *name);
/* Whether option (flag) name was given. */
bool ctl_flag(const ctl_args *a, const char *name);
/* Whether option o is name (given as "name" or "name=..."), to walk repeated
 * options in order. */
bool ctl_opt_is(const ctl_opt *o, const char *name);

/* ---- requests (ctl_client.c) ---- */

/* Percent-encodes s as one path segment or query value into out (size n);
 * returns out, or NULL when it does not fit. */
const char *ctl_seg(const char *s, char *out, size_t n);
/* Appends "&key=value" (or the first "key=value") to a query, value encoded.
 * -1 when memory runs out. */
CF_MUST_CHECK int ctl_query_add(cf_buf *q, const char *key, const char *value);

/* One exchange: METHOD server+path (path starts with '/', may hold a query), body
 * sent as JSON when not NULL (as a merge patch for PATCH). On an answer, 0 with
 * *status and *doc (the parsed JSON body, NULL when empty or not JSON; the
 * caller's). On no answer, prints the error and returns CTL_ERROR. */
int ctl_exchange(ctl *c, const char *method, const char *path, const json_t *body,
		 long *status, json_t **doc);
/* Prints the error of a non-2xx answer (the problem's detail, the field it names,
 * every listed error, the active job or the certificates of a 409) and returns its
 * exit code. */
int ctl_fail(ctl *c, long status, const json_t *doc);
/* ctl_exchange, then a 2xx is CTL_OK with *doc (NULL for 204; the caller's), and
 * anything else is ctl_fail's code (*doc NULL). */
int ctl_call(ctl *c, const char *method, const char *path, const json_t *body, json_t **doc);
/* A list route: GET path?query, then, while the answer carries a "next" cursor,
 * the next page (the same query plus cursor=NEXT), each page's array member
 * appended to *items (the caller's), until no next or limit items (limit <= 0:
 * the whole list). An answer without "next" is the whole list. Exit code. */
int ctl_list(ctl *c, const char *path, const char *query, const char *member, long limit,
	     json_t **items);
/* The --limit option: *limit 0 when absent; CTL_USAGE (printed) when it is not
 * a whole number from 1 up. */
int ctl_limit(const ctl *c, const ctl_args *a, long *limit);
/* Prints a message about the run itself (not the server's) and returns code. */
int ctl_errorf(const ctl *c, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* A flag that takes one value for every name or NAME=VALUE per name (--dns-alias,
 * --provider, ctl_cert.c): sets doc's member field to the string, or to the map
 * of the NAME=VALUE occurrences; nothing when the flag is absent. Exit code
 * (CTL_USAGE, printed, when both forms are mixed). */
int ctl_spec_flag(ctl *c, const ctl_args *a, const char *flag, const char *field, json_t *doc);

/* ---- output (ctl_table.c) ---- */

typedef enum ctl_fmt {
	CTL_STR,   /* a string as it is, any other value as compact JSON, null "-" */
	CTL_LIST,  /* an array joined with ", " (at most 3, then "+N"), a map as k=v */
	CTL_ALL,   /* like CTL_LIST, every item */
	CTL_TIME,  /* an RFC 3339 timestamp as "YYYY-MM-DD HH:MM:SS" (UTC) */
	CTL_DAYS,  /* the whole days from now until a timestamp (negative: past) */
	CTL_BOOL,  /* yes / no */
} ctl_fmt;

typedef struct ctl_col {
	const char *head; /* "NOT AFTER" */
	const char *path; /* "current_version.not_after": members joined by '.' */
	ctl_fmt fmt;
} ctl_col;

/* The member at a dotted path, or NULL. */
json_t *ctl_path(const json_t *o, const char *path);
/* The text of one cell (malloc'd, the caller frees; NULL when out of memory). */
char *ctl_cell(const json_t *row, const ctl_col *col);
/* Prints rows (an array of objects) as a table with a header line, columns
 * padded to their widest cell. */
void ctl_table(const ctl_col *cols, size_t ncols, const json_t *rows);
/* Prints an array of objects as a table whose columns are the members of the
 * first object (for answers whose shape this client does not know). */
void ctl_table_generic(const json_t *rows);
/* Prints one object as "HEAD:  value" lines (head in lower case). */
void ctl_fields(const ctl_col *cols, size_t ncols, const json_t *obj);
/* Prints a document as indented JSON, with a final newline. */
void ctl_json(const json_t *doc);
/* Seconds since the epoch of an RFC 3339 UTC timestamp; -1 when it is not one. */
long long ctl_time_parse(const char *s);

/* ---- the verbs ---- */

typedef int (*ctl_verb_fn)(ctl *c, const ctl_args *a);

typedef struct ctl_verb {
	const char *resource; /* "cert" */
	const char *verb;     /* "list"; NULL: the resource has no verb (audit) */
	ctl_verb_fn fn;
	const char *spec;     /* its options, for ctl_args_parse */
	int min_pos, max_pos; /* positional arguments allowed (-1: no maximum) */
	const char *usage;    /* "ID [--reason R] [--replace] [--watch]" */
	const char *help;     /* one line */
} ctl_verb;

extern const ctl_verb ctl_cert_verbs[];
extern const size_t ctl_cert_nverbs;
extern const ctl_verb ctl_job_verbs[];
extern const size_t ctl_job_nverbs;
extern const ctl_verb ctl_admin_verbs[];
extern const size_t ctl_admin_nverbs;

/* Follows job id until it ends (ctl_job.c); prints its events as they come and a
 * progress line on stderr. CTL_OK when it ends issued or done, CTL_FAILED when it
 * fails, another code when it cannot be followed. timeout_s <= 0: no limit. */
int ctl_job_watch(ctl *c, const char *id, double timeout_s);

#endif
