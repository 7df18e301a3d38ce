/*
 * rows.c: turning columns of query results into JSON values for the API
 * representations and into C values for the store's structs; see rows.h. Text
 * results only (what cf_db_exec returns): json/jsonb columns arrive as JSON text,
 * integers as decimal text, booleans as "t"/"f", timestamps already formatted by
 * CF_SQL_TS in the query.
 */
#include "store/rows.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"

json_t *cf_row_json(const PGresult *res, int r, int c)
{
	json_error_t e;

	if (PQgetisnull(res, r, c))
		return json_null();
	return json_loads(PQgetvalue(res, r, c), JSON_DECODE_ANY, &e);
}

json_t *cf_row_str(const PGresult *res, int r, int c)
{
	if (PQgetisnull(res, r, c))
		return json_null();
	return json_string(PQgetvalue(res, r, c));
}

json_t *cf_row_int(const PGresult *res, int r, int c)
{
	if (PQgetisnull(res, r, c))
		return json_null();
	return json_integer(strtoll(PQgetvalue(res, r, c), NULL, 10));
}

json_t *cf_row_bool(const PGresult *res, int r, int c)
{
	return json_boolean(cf_col_bool(res, r, c));
}

void cf_col_copy(char *dst, size_t len, const PGresult *res, int r, int c)
{
	snprintf(dst, len, "%s", PQgetisnull(res, r, c) ? "" : PQgetvalue(res, r, c));
}

int cf_col_dup(const PGresult *res, int r, int c, char **out)
{
	*out = NULL;
	if (PQgetisnull(res, r, c))
		return 0;
	*out = strdup(PQgetvalue(res, r, c));
	return *out != NULL ? 0 : -1;
}

long long cf_col_int(const PGresult *res, int r, int c, long long dflt)
{
	if (PQgetisnull(res, r, c))
		return dflt;
	return strtoll(PQgetvalue(res, r, c), NULL, 10);
}

double cf_col_double(const PGresult *res, int r, int c, double dflt)
{
	if (PQgetisnull(res, r, c))
		return dflt;
	return strtod(PQgetvalue(res, r, c), NULL);
}

bool cf_col_bool(const PGresult *res, int r, int c)
{
	return !PQgetisnull(res, r, c) && PQgetvalue(res, r, c)[0] == 't';
}

int cf_json_set_optional(json_t *obj, const char *key, json_t *value)
{
	if (value == NULL)
		return -1;
	if (json_is_null(value)) {
		json_decref(value);
		return 0;
	}
	return json_object_set_new(obj, key, value);
}

char *cf_sql_array(const char *const *items, size_t n)
{
	cf_buf b = {0};
	int bad = cf_buf_append_str(&b, "{");

	for (size_t i = 0; i < n && !bad; i++) {
		const char *s = items[i];

		if (i > 0)
			bad |= cf_buf_append_str(&b, ",");
		if (s == NULL) {
			bad |= cf_buf_append_str(&b, "NULL");
			continue;
		}
		bad |= cf_buf_append_str(&b, "\"");
		for (size_t k; *s && !bad; s += k) {
			k = strcspn(s, "\"\\");
			bad |= cf_buf_append(&b, s, k);
			if (s[k] != '\0') {
				bad |= cf_buf_append(&b, "\\", 1);
				bad |= cf_buf_append(&b, s + k, 1);
				k++;
			}
		}
		bad |= cf_buf_append_str(&b, "\"");
	}
	bad |= cf_buf_append_str(&b, "}");
	if (bad) {
		cf_buf_free(&b);
		return NULL;
	}
	return cf_buf_steal(&b);
}

static int is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

bool cf_is_uuid(const char *s)
{
	static const int dash_at[] = { 8, 13, 18, 23 };
	size_t i, d = 0;

	if (s == NULL || strlen(s) != 36)
		return false;
	for (i = 0; i < 36; i++) {
		if (d < 4 && (int)i == dash_at[d]) {
			if (s[i] != '-')
				return false;
			d++;
		} else if (!is_hex(s[i])) {
			return false;
		}
	}
	return true;
}
