/*
 * problem.c: ACME problem documents (RFC 8555 section 6.7, RFC 7807) turned into a
 * cf_err. The document itself is kept verbatim (cf_err_set_problem) so the job's
 * events show exactly what the CA said; the message is a one-line summary of type,
 * detail and every subproblem's identifier, type and detail. The class decides
 * whether a worker retries: rate limits, server errors, exhausted badNonce retries
 * and any 5xx / 429 are transient; everything the CA rejected on the merits
 * (unauthorized, rejectedIdentifier, malformed, caa, dns, ...) is permanent.
 * CA text is sanitised to printable ASCII before it enters a message.
 */
#include "acme/acme_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const transient_types[] = {"rateLimited", "serverInternal", "badNonce"};

static const char *short_type(const char *type)
{
	size_t n = strlen(ACME_URN_PREFIX);

	if (type == NULL || *type == '\0')
		return "about:blank";
	return strncmp(type, ACME_URN_PREFIX, n) == 0 && type[n] ? type + n : type;
}

/* Appends s with non-printable bytes as '?', at most max bytes of it. */
static void append_clean(cf_buf *b, const char *s, size_t max)
{
	size_t i;
	char ch;

	for (i = 0; s[i] && i < max; i++) {
		ch = (unsigned char)s[i] >= 0x20 && (unsigned char)s[i] < 0x7f ? s[i] : '?';
		if (cf_buf_append(b, &ch, 1) != 0)
			return;
	}
	if (s[i])
		cf_buf_append_str(b, "...");
}

cf_err_class cf_acme_problem_class(const char *type, long http_status)
{
	const char *t = short_type(type);
	size_t i;

	if (type != NULL && strncmp(type, ACME_URN_PREFIX, strlen(ACME_URN_PREFIX)) == 0)
		for (i = 0; i < sizeof(transient_types) / sizeof(transient_types[0]); i++)
			if (strcmp(t, transient_types[i]) == 0)
				return CF_ERR_TRANSIENT;
	if (http_status >= 500 || http_status == 429)
		return CF_ERR_TRANSIENT;
	return CF_ERR_PERMANENT;
}

static const char *str_or(const json_t *s)
{
	return json_is_string(s) ? json_string_value(s) : "?";
}

/* "<type>: <detail>" of one problem or subproblem object. */
static void summarize_one(cf_buf *b, const json_t *p)
{
	const char *detail = json_string_value(json_object_get(p, "detail"));

	append_clean(b, short_type(json_string_value(json_object_get(p, "type"))), 100);
	if (detail && *detail) {
		cf_buf_append_str(b, ": ");
		append_clean(b, detail, 300);
	}
}

static void summarize_subproblems(cf_buf *b, const json_t *p)
{
	const json_t *subs = json_object_get(p, "subproblems"), *sp, *id;
	size_t i;

	if (!json_is_array(subs) || json_array_size(subs) == 0)
		return;
	cf_buf_append_str(b, " [subproblems: ");
	json_array_foreach(subs, i, sp) {
		if (i)
			cf_buf_append_str(b, "; ");
		id = json_object_get(sp, "identifier");
		if (json_is_object(id)) {
			append_clean(b, str_or(json_object_get(id, "type")), 16);
			cf_buf_append_str(b, ":");
			append_clean(b, str_or(json_object_get(id, "value")), 255);
			cf_buf_append_str(b, " ");
		}
		summarize_one(b, sp);
	}
	cf_buf_append_str(b, "]");
}

int cf_acme_problem_json_set_err(cf_err *err, cf_err_class cls, const char *what,
				 const json_t *problem)
{
	cf_buf b = {0};
	char *text = NULL;

	if (err == NULL)
		return -1;
	b.max = sizeof(err->msg) - 1;
	summarize_one(&b, problem);
	summarize_subproblems(&b, problem);
	cf_err_set(err, cls, "%s: %s", what, b.data ? (char *)b.data : "");
	text = json_dumps(problem, JSON_COMPACT);
	cf_err_set_problem(err, text);
	free(text);
	cf_buf_free(&b);
	return -1;
}

/* A short printable excerpt of a body that is not a problem document. */
static int set_plain(cf_err *err, const char *what, long status, const char *body, size_t len)
{
	cf_buf b = {0};

	b.max = 200;
	if (body && len)
		append_clean(&b, body, len < 120 ? len : 120);
	cf_err_set(err, cf_acme_problem_class(NULL, status), "%s: HTTP %ld%s%s", what, status,
		   b.len ? ": " : "", b.len ? (char *)b.data : "");
	cf_buf_free(&b);
	return -1;
}

int cf_acme_problem_set_err(cf_err *err, const char *what, long http_status,
			    const char *body, size_t len)
{
	json_t *p = NULL;
	cf_buf b = {0};
	char *verbatim = NULL;

	if (err == NULL)
		return -1;
	if (body != NULL && len > 0)
		p = json_loadb(body, len, 0, NULL);
	if (!json_is_object(p)) {
		json_decref(p);
		return set_plain(err, what, http_status, body, len);
	}
	b.max = sizeof(err->msg) - 1;
	summarize_one(&b, p);
	summarize_subproblems(&b, p);
	cf_err_set(err,
		   cf_acme_problem_class(json_string_value(json_object_get(p, "type")),
					 http_status),
		   "%s: HTTP %ld: %s", what, http_status, b.data ? (char *)b.data : "");
	cf_buf_free(&b);
	verbatim = strndup(body, len); /* the bytes as received */
	cf_err_set_problem(err, verbatim);
	free(verbatim);
	json_decref(p);
	return -1;
}

const char *cf_acme_problem_type(const char *body, size_t len, char *out, size_t outlen)
{
	json_t *p;
	const char *t;

	if (body == NULL || len == 0 || outlen == 0)
		return NULL;
	p = json_loadb(body, len, 0, NULL);
	t = json_string_value(json_object_get(p, "type"));
	if (t)
		snprintf(out, outlen, "%s", t);
	json_decref(p);
	return t ? out : NULL;
}
