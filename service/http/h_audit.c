/*
 * h_audit.c: GET /v1/audit (admin): the audit trail, oldest first, filtered by
 * time (since, RFC 3339), actor (a token's name, "cli", "worker", "db:<user>")
 * and action ("token.create", "certificate.fetch_key", ...), at most limit
 * events. Rows never hold a secret (the writers guarantee it; the tests check
 * the whole database for one).
 *
 * since is checked here, field by field and as a real calendar date, so that a
 * malformed value is a 400 naming it rather than a database error. A '+' of a
 * time zone offset arrives as a space when the client did not percent-encode it
 * (query strings decode '+' as a space), so a space is read as '+' there.
 */
#include "http/http.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/validate.h"
#include "store/audit.h"

#define LIST_DEFAULT 100
#define LIST_MAX 1000

static bool digits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

/* Checks an RFC 3339 date-time (YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM)) and
 * copies it to out with a space in the offset turned back into '+'. */
static bool valid_since(const char *s, char *out, size_t outlen)
{
	struct tm tm = { 0 }, back;
	size_t n = s ? strlen(s) : 0, i = 19;
	time_t t;

	if (n < 20 || n >= outlen || !digits(s, 4) || s[4] != '-' || !digits(s + 5, 2) ||
	    s[7] != '-' || !digits(s + 8, 2) || (s[10] != 'T' && s[10] != 't') ||
	    !digits(s + 11, 2) || s[13] != ':' || !digits(s + 14, 2) || s[16] != ':' ||
	    !digits(s + 17, 2))
		return false;
	if (s[i] == '.') {
		size_t f = ++i;

		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
		if (i == f || i - f > 6)
			return false;
	}
	if (!((i + 1 == n && (s[i] == 'Z' || s[i] == 'z')) ||
	      (i + 6 == n && (s[i] == '+' || s[i] == '-' || s[i] == ' ') && digits(s + i + 1, 2) &&
	       s[i + 3] == ':' && digits(s + i + 4, 2) && atoi(s + i + 1) < 24 &&
	       atoi(s + i + 4) < 60)))
		return false;
	tm.tm_year = atoi(s) - 1900;
	tm.tm_mon = atoi(s + 5) - 1;
	tm.tm_mday = atoi(s + 8);
	tm.tm_hour = atoi(s + 11);
	tm.tm_min = atoi(s + 14);
	tm.tm_sec = atoi(s + 17);
	if (tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 59)
		return false;
	back = tm;
	t = timegm(&back); /* normalises: 30 February comes back as March */
	if (t == (time_t)-1 || back.tm_mday != tm.tm_mday || back.tm_mon != tm.tm_mon)
		return false;
	snprintf(out, outlen, "%s", s);
	if (out[i] == ' ')
		out[i] = '+';
	return true;
}

int cf_h_audit_list(cf_app *app, cf_http_req *req, cf_http_resp *resp)
{
	const char *since = cf_req_query(req, "since"), *actor = cf_req_query(req, "actor"),
		   *action = cf_req_query(req, "action");
	char since_norm[64];
	cf_verrs errs = { 0 };
	cf_err err = { 0 };
	json_t *out = NULL;
	cf_page pg;
	int rc;

	if (since != NULL && !valid_since(since, since_norm, sizeof(since_norm)))
		cf_verrs_add(&errs, "since", "\"%.40s\" is not an RFC 3339 date-time such as "
			     "2025-01-31T12:00:00Z", since);
	if (actor != NULL && (actor[0] == '\0' || strlen(actor) > 200))
		cf_verrs_add(&errs, "actor", "must be 1-200 characters");
	if (action != NULL && (action[0] == '\0' || strlen(action) > 100))
		cf_verrs_add(&errs, "action", "must be 1-100 characters");
	if (cf_page_parse(req, "ti", LIST_DEFAULT, &pg, &errs) != 0 || errs.n > 0) {
		cf_resp_invalid(resp, &errs);
		cf_page_free(&pg);
		return 0;
	}
	rc = cf_audit_page_json(req->db, since ? since_norm : NULL, actor, action, &pg.q, &out,
				&err);
	cf_page_reply(req, resp, &pg, rc, out, &err);
	return 0;
}
