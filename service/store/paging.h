/*
 * paging.h: keyset paging of the API's lists, the store side (paging.c). A list
 * query orders its rows by a sort key of one or two columns that together are
 * unique (a name; a timestamp and an id), asks for limit + 1 rows after the key
 * the previous page ended with, and returns per row the item's JSON and its key.
 * The extra row only tells that more follow. The HTTP side (http/paging.c) turns
 * the key into an opaque cursor and back.
 */
#ifndef CERTFLEET_STORE_PAGING_H
#define CERTFLEET_STORE_PAGING_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>

#include "util/err.h"

#define CF_PAGE_KEYS 2

typedef struct cf_page_q {
	int limit;                       /* rows per page, >= 1 */
	const char *after[CF_PAGE_KEYS]; /* the key the previous page ended with; NULL: first */
	bool more;                       /* out: rows follow this page */
	char *next[CF_PAGE_KEYS];        /* out, when more: this page's last key (owned) */
} cf_page_q;

/* q->limit + 1 as text, for the query's LIMIT parameter (buf of 16 bytes). */
const char *cf_page_limit_param(const cf_page_q *q, char buf[16]);
/* The after key part i as a query parameter: "" on the first page. */
const char *cf_page_after_param(const cf_page_q *q, int i);

/* Rows of res: column 0 the item's JSON text, columns 1..nkeys its sort key.
 * Appends the first q->limit items to list; when res holds more rows, sets
 * q->more and q->next[] to the key of the last appended item. -1 with err when
 * memory runs out. */
CF_MUST_CHECK int cf_page_rows(const PGresult *res, int nkeys, cf_page_q *q, json_t *list,
			       cf_err *err);
/* Runs a page query (params as text; column 0 the item's JSON, then nkeys key
 * columns) and fills *out with {member: [the page's items]} (owned by the
 * caller) and q's more/next. -1 with err (*out NULL) when the query fails or
 * memory runs out. */
CF_MUST_CHECK int cf_page_query(PGconn *conn, const char *what, const char *sql, int nparams,
				const char *const *params, int nkeys, cf_page_q *q,
				const char *member, json_t **out, cf_err *err);
void cf_page_q_free(cf_page_q *q);

#endif
