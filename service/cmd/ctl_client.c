/*
 * ctl_client.c: how `certfleet ctl` talks to a server, and reads its own command
 * line (see ctl.h).
 *
 * Every request goes through the shared HTTP client (util/http_client.h), so it
 * has the timeouts, the scheme rule (https://, or http:// to loopback unless
 * --allow-http) and the error mapper of every outgoing request of certfleet. The
 * token travels as a bearer header built by cf_http_header_bearer(), whose
 * copies are wiped. An answer that is not 2xx is an RFC 9457 problem document:
 * its detail, the field it names and every listed error are printed, and its
 * status becomes the exit code (404 -> 3, 401/403 -> 4, 409 -> 5, else 1).
 *
 * Lists: the list routes may page their answers (a "next" cursor, null on the
 * last page). ctl_list() follows the cursors and returns one array; an answer
 * without "next" is taken as the whole list. A cursor that comes back unchanged
 * stops the walk with an error rather than looping.
 */
#include "cmd/ctl.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/http_client.h"

#define MAX_BODY (16 * 1024 * 1024)
#define PAGE_MAX 1000 /* the largest `limit` the list routes take */

/* ---- arguments ---- */

/* Whether spec lists name; *takes_value tells whether it is "--name=". */
static bool spec_has(const char *spec, const char *name, size_t nlen, bool *takes_value)
{
	const char *p = spec;

	while (p != NULL && *p != '\0') {
		size_t w = strcspn(p, " ");

		if (w == nlen + 1 && p[nlen] == '=' && strncmp(p, name, nlen) == 0) {
			*takes_value = true;
			return true;
		}
		if (w == nlen && strncmp(p, name, nlen) == 0) {
			*takes_value = false;
			return true;
		}
		p += w;
		p += strspn(p, " ");
	}
	return false;
}

int ctl_args_parse(int argc, char **argv, const char *spec, ctl_args *a, cf_err *err)
{
	memset(a, 0, sizeof(*a));
	a->pos = calloc((size_t)argc + 1, sizeof(*a->pos));
	a->opt = calloc((size_t)argc + 1, sizeof(*a->opt));
	if (a->pos == NULL || a->opt == NULL)
		return cf_err_oom(err, NULL);
	for (int i = 0; i < argc; i++) {
		const char *w = argv[i], *eq;
		size_t nlen;
		bool takes = false;

		if (w[0] != '-' || strcmp(w, "-") == 0) {
			a->pos[a->npos++] = w;
			continue;
		}
		eq = strchr(w, '=');
		nlen = eq != NULL ? (size_t)(eq - w) : strlen(w);
		if (!spec_has(spec, w, nlen, &takes))
			return cf_err_set(err, CF_ERR_PERMANENT, "unknown option %.*s", (int)nlen, w);
		a->opt[a->nopt].name = w;
		if (takes && eq != NULL) {
			a->opt[a->nopt].val = eq + 1;
		} else if (takes) {
			if (i + 1 >= argc)
				return cf_err_set(err, CF_ERR_PERMANENT, "%s needs a value", w);
			a->opt[a->nopt].val = argv[++i];
		} else if (eq != NULL) {
			return cf_err_set(err, CF_ERR_PERMANENT, "%.*s takes no value", (int)nlen, w);
		}
		a->nopt++;
	}
	return 0;
}

void ctl_args_free(ctl_args *a)
{
	free(a->pos);
	free(a->opt);
	memset(a, 0, sizeof(*a));
}

/* An option's name as given ("--x" or "--x=v") equals name? */
bool ctl_opt_is(const ctl_opt *o, const char *name)
{
	size_t n = strlen(name);

	return strncmp(o->name, name, n) == 0 && (o->name[n] == '\0' || o->name[n] == '=');
}

const char *ctl_arg(const ctl_args *a, const char *name)
{
	const char *v = NULL;

	for (size_t i = 0; i < a->nopt; i++)
		if (ctl_opt_is(&a->opt[i], name))
			v = a->opt[i].val;
	return v;
}

bool ctl_flag(const ctl_args *a, const char *name)
{
	for (size_t i = 0; i < a->nopt; i++)
		if (ctl_opt_is(&a->opt[i], name))
			return true;
	return false;
}

int ctl_limit(const ctl *c, const ctl_args *a, long *limit)
{
	const char *s = ctl_arg(a, "--limit");
	char *end = NULL;

	*limit = 0;
	if (s == NULL)
		return CTL_OK;
	*limit = strtol(s, &end, 10);
	if (*s == '\0' || *end != '\0' || *limit < 1)
		return ctl_errorf(c, CTL_USAGE, "--limit: \"%s\" is not a number from 1 up", s);
	return CTL_OK;
}

int ctl_errorf(const ctl *c, int code, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "certfleet ctl%s%s: ", c->what[0] ? " " : "", c->what);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return code;
}

/* ---- URLs ---- */

const char *ctl_seg(const char *s, char *out, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t j = 0;

	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		bool plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			     (*p >= '0' && *p <= '9') || strchr("-._~", *p) != NULL;

		if (j + (plain ? 1 : 3) >= n)
			return NULL;
		if (plain) {
			out[j++] = (char)*p;
		} else {
			out[j++] = '%';
			out[j++] = hex[*p >> 4];
			out[j++] = hex[*p & 15];
		}
	}
	if (j >= n)
		return NULL;
	out[j] = '\0';
	return out;
}

int ctl_query_add(cf_buf *q, const char *key, const char *value)
{
	char enc[1024];

	if (ctl_seg(value, enc, sizeof(enc)) == NULL)
		return -1;
	return cf_buf_printf(q, "%s%s=%s", q->len ? "&" : "", key, enc);
}

/* ---- one exchange ---- */

int ctl_exchange(ctl *c, const char *method, const char *path, const json_t *body,
		 long *status, json_t **doc)
{
	cf_outreq req = {
		.method = method,
		.ca_file = c->ca_file,
		.user_agent = "certfleet-ctl/" CERTFLEET_VERSION,
		.connect_timeout_ms = 10 * 1000,
		.timeout_ms = 120 * 1000,
		.flags = (c->allow_http ? CF_HTTP_PLAIN_ANY : 0) | CF_HTTP_SECRET_BODY,
		.who = NULL,
	};
	struct curl_slist *h = NULL;
	cf_buf url = { 0 }, ans = { .max = MAX_BODY };
	char *text = NULL;
	cf_err err = { 0 };
	int rc = CTL_ERROR;

	*doc = NULL;
	*status = 0;
	if (cf_buf_printf(&url, "%s%s", c->server, path) != 0 ||
	    cf_http_header_bearer(&h, c->token) != 0 ||
	    cf_http_header_add(&h, "Accept", "application/json, application/problem+json") != 0) {
		ctl_errorf(c, CTL_ERROR, "out of memory");
		goto out;
	}
	if (body != NULL) {
		if ((text = json_dumps(body, JSON_COMPACT)) == NULL ||
		    cf_http_header_add(&h, "Content-Type",
				       strcmp(method, "PATCH") == 0 ? "application/merge-patch+json"
								    : "application/json") != 0) {
			ctl_errorf(c, CTL_ERROR, "out of memory");
			goto out;
		}
		req.body = text;
	}
	req.url = (const char *)url.data;
	req.headers = h;
	if (cf_http_perform(c->curl, &req, &ans, status, NULL, &err) != 0) {
		ctl_errorf(c, CTL_ERROR, "%s", err.msg);
		goto out;
	}
	if (ans.len > 0)
		*doc = json_loadb((const char *)ans.data, ans.len, 0, NULL);
	rc = CTL_OK;
out:
	if (text != NULL) {
		cf_wipe(text, strlen(text)); /* a provider's settings may hold a secret */
		free(text);
	}
	cf_http_headers_free(h);
	cf_buf_free(&url);
	cf_buf_free_secret(&ans); /* a new token's answer holds its secret */
	cf_err_clear(&err);
	return rc;
}

/* The last segment of a problem type URI ("not-found"), or NULL. */
static const char *type_slug(const json_t *doc)
{
	const char *t = json_string_value(json_object_get(doc, "type"));

	return t != NULL && strrchr(t, '/') != NULL ? strrchr(t, '/') + 1 : t;
}

static int status_code(long status)
{
	switch (status) {
	case 401:
	case 403:
		return CTL_DENIED;
	case 404:
		return CTL_NOT_FOUND;
	case 409:
		return CTL_CONFLICT;
	default:
		return CTL_ERROR;
	}
}

int ctl_fail(ctl *c, long status, const json_t *doc)
{
	const char *detail = json_string_value(json_object_get(doc, "detail"));
	const char *field = json_string_value(json_object_get(doc, "field"));
	const char *slug = type_slug(doc);
	const json_t *errors = json_object_get(doc, "errors"), *job = json_object_get(doc, "job");
	const json_t *certs = json_object_get(doc, "certificates"), *v;
	size_t i;

	ctl_errorf(c, status_code(status), "%s (%ld%s%s)", detail ? detail : "the server refused",
		   status, slug ? " " : "", slug ? slug : "");
	if (field != NULL)
		fprintf(stderr, "  field: %s\n", field);
	if (json_array_size(errors) > 1)
		json_array_foreach(errors, i, v)
			fprintf(stderr, "  - %s\n", json_string_value(json_object_get(v, "detail")));
	if (json_is_string(json_object_get(job, "id")))
		fprintf(stderr, "  job: %s%s%s%s\n", json_string_value(json_object_get(job, "id")),
			json_is_string(json_object_get(job, "state")) ? " (" : "",
			json_is_string(json_object_get(job, "state"))
				? json_string_value(json_object_get(job, "state")) : "",
			json_is_string(json_object_get(job, "state")) ? ")" : "");
	if (json_array_size(certs) > 0) {
		fprintf(stderr, "  certificates:");
		json_array_foreach(certs, i, v)
			fprintf(stderr, "%s %s", i ? "," : "", json_string_value(v));
		fputc('\n', stderr);
	}
	return status_code(status);
}

int ctl_call(ctl *c, const char *method, const char *path, const json_t *body, json_t **doc)
{
	long status = 0;
	int rc = ctl_exchange(c, method, path, body, &status, doc);

	if (rc != CTL_OK)
		return rc;
	if (status >= 200 && status < 300)
		return CTL_OK;
	rc = ctl_fail(c, status, *doc);
	json_decref(*doc);
	*doc = NULL;
	return rc;
}

/* ---- lists ---- */

int ctl_list(ctl *c, const char *path, const char *query, const char *member, long limit,
	     json_t **items)
{
	cf_buf url = { 0 };
	char *cursor = NULL;
	json_t *doc = NULL;
	int rc = CTL_ERROR;

	if ((*items = json_array()) == NULL)
		return ctl_errorf(c, CTL_ERROR, "out of memory");
	for (;;) {
		long left = limit > 0 ? limit - (long)json_array_size(*items) : 0;
		const char *next;
		json_t *page;

		cf_buf_reset(&url);
		if (cf_buf_printf(&url, "%s?%s", path, query ? query : "") != 0 ||
		    (limit > 0 && cf_buf_printf(&url, "%slimit=%ld", url.data[url.len - 1] == '?'
			     ? "" : "&", left < PAGE_MAX ? left : PAGE_MAX) != 0) ||
		    (cursor != NULL && cf_buf_printf(&url, "%scursor=%s",
			     url.data[url.len - 1] == '?' ? "" : "&", cursor) != 0)) {
			ctl_errorf(c, CTL_ERROR, "out of memory");
			goto out;
		}
		if (url.data[url.len - 1] == '?')
			url.data[--url.len] = '\0';
		if ((rc = ctl_call(c, "GET", (const char *)url.data, NULL, &doc)) != CTL_OK)
			goto out;
		rc = CTL_ERROR;
		page = json_object_get(doc, member);
		if (!json_is_array(page)) {
			ctl_errorf(c, CTL_ERROR, "the answer of GET %s has no \"%s\" list", path, member);
			goto out;
		}
		json_array_extend(*items, page);
		next = json_string_value(json_object_get(doc, "next"));
		if (next == NULL || (limit > 0 && (long)json_array_size(*items) >= limit))
			break;
		if (cursor != NULL && strcmp(cursor, next) == 0) {
			ctl_errorf(c, CTL_ERROR, "GET %s: the server gave the same cursor twice", path);
			goto out;
		}
		free(cursor);
		if ((cursor = malloc(3 * strlen(next) + 1)) == NULL ||
		    ctl_seg(next, cursor, 3 * strlen(next) + 1) == NULL) {
			ctl_errorf(c, CTL_ERROR, "out of memory");
			goto out;
		}
		json_decref(doc);
		doc = NULL;
	}
	while (limit > 0 && (long)json_array_size(*items) > limit)
		json_array_remove(*items, json_array_size(*items) - 1);
	rc = CTL_OK;
out:
	json_decref(doc);
	free(cursor);
	cf_buf_free(&url);
	if (rc != CTL_OK) {
		json_decref(*items);
		*items = NULL;
	}
	return rc;
}
