/*
 * rows.h: small helpers shared by the store files that read query results: into
 * the JSON of the API (RFC 3339 timestamps formatted by the database, JSON-typed
 * columns parsed with jansson, nullable columns), into C values (text copied into
 * a fixed buffer or an owned string, integers, floats, booleans, each with its
 * rule for SQL NULL), and the syntax of a job id. Columns are taken by index, as
 * the queries list them; PQfnumber gives the index of a named column.
 */
#ifndef CERTFLEET_STORE_ROWS_H
#define CERTFLEET_STORE_ROWS_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

#include "util/err.h"

/* An SQL expression giving column col as RFC 3339 UTC with milliseconds,
 * e.g. "2025-01-31T12:00:00.000Z", whatever the session's TimeZone. */
#define CF_SQL_TS(col) "to_char((" col ") AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

/* Column c of row r as a new JSON value: the parsed text of a json/jsonb column,
 * or json null when the column is SQL NULL. NULL only when the text does not parse
 * (which a json column cannot produce) or memory runs out. */
json_t *cf_row_json(const PGresult *res, int r, int c);
/* Column c of row r as a new JSON string, or json null for SQL NULL. */
json_t *cf_row_str(const PGresult *res, int r, int c);
/* Column c of row r as a new JSON integer, or json null for SQL NULL. */
json_t *cf_row_int(const PGresult *res, int r, int c);
/* Column c of row r as a JSON boolean ("t"/"f"). */
json_t *cf_row_bool(const PGresult *res, int r, int c);

/* Column c of row r copied into dst (len bytes, truncated, always terminated);
 * "" for SQL NULL. */
void cf_col_copy(char *dst, size_t len, const PGresult *res, int r, int c);
/* Column c of row r as a new string in *out, owned by the caller (free()); *out
 * is NULL for SQL NULL. Returns 0, or -1 when memory runs out (*out NULL). */
CF_MUST_CHECK int cf_col_dup(const PGresult *res, int r, int c, char **out);
/* Column c of row r as an integer (int, bigint, epoch seconds); dflt for SQL NULL. */
long long cf_col_int(const PGresult *res, int r, int c, long long dflt);
/* Column c of row r as a float8; dflt for SQL NULL. */
double cf_col_double(const PGresult *res, int r, int c, double dflt);
/* Column c of row r as a boolean: true for "t", false for "f" and SQL NULL. */
bool cf_col_bool(const PGresult *res, int r, int c);

/* Sets key in obj to value (stolen) unless value is json null, which is dropped:
 * for the optional members of a representation. Returns 0 / -1. */
CF_MUST_CHECK int cf_json_set_optional(json_t *obj, const char *key, json_t *value);

/* items[0..n) as the text of an SQL array literal, {"a",NULL,"b"}: every item
 * double-quoted with " and \ escaped, a NULL item as NULL; the literal travels as
 * one parameter (cast to text[], int[], jsonb[]...). Caller frees; NULL on OOM. */
char *cf_sql_array(const char *const *items, size_t n);

/* true when s is a UUID in its canonical text form (8-4-4-4-12 hex digits), the
 * only form a job id takes; checked before it reaches a uuid-typed parameter, so a
 * bad id is a 404 rather than a database error. */
bool cf_is_uuid(const char *s);

#endif
