/*
 * paging.c: keyset paging, the store side; see paging.h.
 */
#include "store/paging.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/db.h"
#include "store/rows.h"

const char *cf_page_limit_param(const cf_page_q *q, char buf[16])
{
	snprintf(buf, 16, "%d", q->limit + 1);
	return buf;
}

const char *cf_page_after_param(const cf_page_q *q, int i)
{
	return q->after[i] != NULL ? q->after[i] : "";
}

int cf_page_rows(const PGresult *res, int nkeys, cf_page_q *q, json_t *list, cf_err *err)
{
	int n = PQntuples(res), r;

	for (r = 0; r < n && r < q->limit; r++) {
		json_t *item = cf_row_json(res, r, 0);

		if (item == NULL || json_array_append_new(list, item) != 0)
			return cf_err_oom(err, "a page of a list");
	}
	q->more = n > q->limit;
	for (int k = 0; q->more && k < nkeys && k < CF_PAGE_KEYS; k++)
		if (cf_col_dup(res, q->limit - 1, 1 + k, &q->next[k]) != 0)
			return cf_err_oom(err, "a page of a list");
	return 0;
}

void cf_page_q_free(cf_page_q *q)
{
	for (int k = 0; k < CF_PAGE_KEYS; k++) {
		free(q->next[k]);
		q->next[k] = NULL;
	}
}

int cf_page_query(PGconn *conn, const char *what, const char *sql, int nparams,
		  const char *const *params, int nkeys, cf_page_q *q, const char *member,
		  json_t **out, cf_err *err)
{
	PGresult *res = cf_db_exec(conn, what, sql, nparams, params, err);
	json_t *list = NULL;
	int rc = -1;

	*out = NULL;
	if (res == NULL)
		return -1;
	if ((list = json_array()) == NULL) {
		cf_err_oom(err, what);
		goto out;
	}
	if (cf_page_rows(res, nkeys, q, list, err) != 0)
		goto out;
	if ((*out = json_pack("{s:O}", member, list)) == NULL) {
		cf_err_oom(err, what);
		goto out;
	}
	rc = 0;
out:
	json_decref(list);
	PQclear(res);
	return rc;
}
