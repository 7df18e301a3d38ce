/*
 * paging.c: `limit` and `cursor` of the list routes (GET /v1/certificates,
 * /v1/jobs, /v1/audit, /v1/tokens, /v1/providers, /v1/issuers,
 * /v1/certificates/{id}/versions).
 *
 * Lists are pages in a fixed order, each at most `limit` items (1 to
 * CF_PAGE_MAX; CF_PAGE_DEFAULT when absent). An answer that has more after it
 * says so with "next": a cursor, and a Link header
 * <...?cursor=...>; rel="next" that repeats the request's other query
 * parameters; the last page has neither (so a list that fits in one page is
 * answered exactly as before paging existed). The cursor is opaque to clients: base64url of a JSON array of the
 * sort key of the page's last item (store/paging.h), which the next query
 * resumes after (keyset paging: no offset, stable under inserts). A cursor is
 * only a position: whatever it says, the query and its filters decide what is
 * listed.
 */
#include "http/http.h"

#include <errno.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/validate.h"
#include "util/b64.h"
#include "util/buf.h"

/* Is s a key part of this kind: 's' any text, 'i' an integer, 't' a timestamp as
 * PostgreSQL prints it? A forged cursor is refused here, not by a failed cast. */
static bool key_ok(char kind, const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 256)
		return false;
	if (kind == 'i')
		return n <= 18 && strspn(s, "0123456789") == n;
	if (kind == 't')
		return n >= 10 && n <= 40 && s[0] >= '0' && s[0] <= '9' &&
		       strspn(s, "0123456789-:. +") == n;
	return true;
}

int cf_page_parse(const cf_http_req *req, const char *kinds, int def_limit, cf_page *p,
		  cf_verrs *errs)
{
	int nkeys = (int)strlen(kinds);

	const char *lim = cf_req_query(req, "limit"), *cur = cf_req_query(req, "cursor");
	uint8_t *raw = NULL;
	size_t n = 0;
	char *end;
	long v;

	memset(p, 0, sizeof(*p));
	p->q.limit = def_limit;
	if (lim != NULL) {
		errno = 0;
		v = strtol(lim, &end, 10);
		if (errno != 0 || lim[0] == '\0' || *end != '\0' || v < 1 || v > CF_PAGE_MAX)
			cf_verrs_add(errs, "limit", "must be a number from 1 to %d", CF_PAGE_MAX);
		else
			p->q.limit = (int)v;
	}
	if (cur != NULL) {
		raw = strlen(cur) <= 1024 ? cf_b64url_decode(cur, &n) : NULL;
		p->cursor = raw ? json_loadb((const char *)raw, n, JSON_REJECT_DUPLICATES, NULL)
				: NULL;
		free(raw);
		if (!json_is_array(p->cursor) || json_array_size(p->cursor) != (size_t)nkeys) {
			cf_verrs_add(errs, "cursor", "not a cursor of this list (use the \"next\" "
				     "of the previous page as it is)");
		} else {
			for (int k = 0; k < nkeys && k < CF_PAGE_KEYS; k++) {
				const char *s = json_string_value(json_array_get(p->cursor, (size_t)k));

				if (s == NULL || !key_ok(kinds[k], s)) {
					cf_verrs_add(errs, "cursor", "not a cursor of this list");
					break;
				}
				p->q.after[k] = s;
			}
		}
	}
	return errs->n > 0;
}

/* Appends s percent-encoded (RFC 3986 unreserved characters kept). */
static int append_escaped(cf_buf *b, const char *s)
{
	char hex[4];

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '.' || c == '_' || c == '~') {
			if (cf_buf_append(b, s, 1) != 0)
				return -1;
		} else {
			snprintf(hex, sizeof(hex), "%%%02X", c);
			if (cf_buf_append_str(b, hex) != 0)
				return -1;
		}
	}
	return 0;
}

static enum MHD_Result add_arg(void *cls, enum MHD_ValueKind kind, const char *key,
			       const char *value)
{
	cf_buf *b = cls;

	if (strcmp(key, "cursor") == 0)
		return MHD_YES;
	if (cf_buf_append_str(b, "&") != 0 || append_escaped(b, key) != 0 ||
	    (value != NULL && (cf_buf_append_str(b, "=") != 0 || append_escaped(b, value) != 0)))
		return MHD_NO;
	return MHD_YES;
}

int cf_page_answer(cf_http_req *req, cf_http_resp *resp, cf_page *p, json_t *obj)
{
	json_t *key = NULL;
	char *text = NULL, *cursor = NULL;
	cf_buf link = { 0 };
	int rc = -1;

	if (!p->q.more)
		return 0; /* the last page: no "next" (a list that fits is as it always was) */
	if ((key = json_array()) == NULL)
		goto out;
	for (int k = 0; k < CF_PAGE_KEYS && p->q.next[k] != NULL; k++)
		json_array_append_new(key, json_string(p->q.next[k]));
	if ((text = json_dumps(key, JSON_COMPACT)) == NULL ||
	    (cursor = cf_b64url_encode(text, strlen(text))) == NULL ||
	    json_object_set_new(obj, "next", json_string(cursor)) != 0)
		goto out;
	if (cf_buf_append_str(&link, "<") != 0 || cf_buf_append_str(&link, req->path) != 0 ||
	    cf_buf_append_str(&link, "?cursor=") != 0 || cf_buf_append_str(&link, cursor) != 0)
		goto out;
	if (req->conn != NULL)
		MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND, add_arg, &link);
	if (cf_buf_append_str(&link, ">; rel=\"next\"") != 0 || cf_buf_append(&link, "", 1) != 0)
		goto out;
	rc = cf_resp_header(resp, "Link", (const char *)link.data);
out:
	cf_buf_free(&link);
	free(cursor);
	free(text);
	json_decref(key);
	return rc;
}

void cf_page_reply(cf_http_req *req, cf_http_resp *resp, cf_page *p, int rc, json_t *out,
		   cf_err *err)
{
	if (rc != 0)
		cf_resp_store_error(req, resp, err);
	else if (cf_page_answer(req, resp, p, out) != 0)
		cf_resp_problem(resp, 500, "internal", NULL, "out of memory");
	else
		cf_resp_json(resp, 200, json_incref(out));
	json_decref(out);
	cf_page_free(p);
	cf_err_clear(err);
}

void cf_page_free(cf_page *p)
{
	cf_page_q_free(&p->q);
	json_decref(p->cursor);
	memset(p, 0, sizeof(*p));
}
