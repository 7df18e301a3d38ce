/*
 * rows.h: small helpers shared by the store files that turn query results into
 * the JSON of the API: RFC 3339 timestamps formatted by the database, JSON-typed
 * columns parsed with jansson, nullable columns, and the syntax of a job id.
 */
#ifndef CERTFLEET_STORE_ROWS_H
#define CERTFLEET_STORE_ROWS_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>

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

/* Sets key in obj to value (stolen) unless value is json null, which is dropped:
 * for the optional members of a representation. Returns 0 / -1. */
int cf_json_set_optional(json_t *obj, const char *key, json_t *value);

/* true when s is a UUID in its canonical text form (8-4-4-4-12 hex digits), the
 * only form a job id takes; checked before it reaches a uuid-typed parameter, so a
 * bad id is a 404 rather than a database error. */
bool cf_is_uuid(const char *s);

#endif
