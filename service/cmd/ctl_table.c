/*
 * ctl_table.c: what `certfleet ctl` prints (see ctl.h): tables with a header line
 * and columns padded to their widest cell, "field: value" blocks for one object,
 * and JSON for scripts (-o json).
 *
 * A column names a member by a dotted path and a format (a list joined, a
 * timestamp shortened to seconds, the days left until a timestamp...), so each
 * verb describes its table as data and one printer does the rest. Cells never
 * hold a newline or a tab (a server's message may): they are replaced by a
 * blank, so that a table stays one line per row for grep and awk.
 */
#include "cmd/ctl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/clock.h"

#define LIST_SHOWN 3 /* items of a list shown in a table cell before "+N" */

json_t *ctl_path(const json_t *o, const char *path)
{
	char key[128];
	const char *p = path;

	while (o != NULL && *p != '\0') {
		size_t n = strcspn(p, ".");

		if (n >= sizeof(key))
			return NULL;
		memcpy(key, p, n);
		key[n] = '\0';
		o = json_object_get(o, key);
		p += n;
		p += *p == '.';
	}
	return (json_t *)o;
}

long long ctl_time_parse(const char *s)
{
	struct tm tm = { 0 };
	int used = 0;

	if (s == NULL || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon,
				&tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &used) != 6 ||
	    used != 19)
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return (long long)timegm(&tm);
}

/* A scalar as text (strings as they are), anything else as compact JSON. */
static void scalar(cf_buf *b, const json_t *v)
{
	char *s;

	if (v == NULL || json_is_null(v)) {
		cf_buf_append_str(b, "-");
	} else if (json_is_string(v)) {
		cf_buf_append_str(b, json_string_value(v));
	} else if ((s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY |
					  JSON_REAL_PRECISION(10))) != NULL) {
		cf_buf_append_str(b, s);
		free(s);
	}
}

/* A list (at most max items, then "+N"; max 0: all), or a map as k=v. */
static void list(cf_buf *b, const json_t *v, size_t max)
{
	const json_t *item;
	const char *key;
	size_t i, n = 0;

	if (json_is_array(v)) {
		if (json_array_size(v) == 0)
			cf_buf_append_str(b, "-");
		json_array_foreach(v, i, item) {
			if (max > 0 && i == max) {
				cf_buf_printf(b, " +%zu", json_array_size(v) - max);
				break;
			}
			if (i > 0)
				cf_buf_append_str(b, ", ");
			scalar(b, item);
		}
	} else if (json_is_object(v)) {
		json_object_foreach((json_t *)v, key, item) {
			if (max > 0 && n == max) {
				cf_buf_printf(b, " +%zu", json_object_size(v) - max);
				break;
			}
			cf_buf_printf(b, "%s%s=", n++ ? ", " : "", key);
			scalar(b, item);
		}
	} else {
		scalar(b, v);
	}
}

char *ctl_cell(const json_t *row, const ctl_col *col)
{
	const json_t *v = ctl_path(row, col->path);
	long long t = ctl_time_parse(json_string_value(v));
	cf_buf b = { 0 };

	switch (col->fmt) {
	case CTL_LIST:
		list(&b, v, LIST_SHOWN);
		break;
	case CTL_ALL:
		list(&b, v, 0);
		break;
	case CTL_TIME:
		if (t < 0)
			scalar(&b, v);
		else
			cf_buf_printf(&b, "%.10s %.8s", json_string_value(v), json_string_value(v) + 11);
		break;
	case CTL_DAYS:
		if (t < 0)
			scalar(&b, v);
		else {
			double d = ((double)t - cf_clock_real_s()) / 86400.0;

			cf_buf_printf(&b, "%lld", (long long)(d < 0 ? d - 0.999999 : d));
		}
		break;
	case CTL_BOOL:
		cf_buf_append_str(&b, json_is_true(v) ? "yes" : json_is_false(v) ? "no" : "-");
		break;
	case CTL_STR:
	default:
		scalar(&b, v);
	}
	if (b.data == NULL && cf_buf_append_str(&b, "") != 0)
		return NULL;
	for (size_t i = 0; i < b.len; i++)
		if (b.data[i] == '\n' || b.data[i] == '\t' || b.data[i] == '\r')
			b.data[i] = ' ';
	return cf_buf_steal(&b);
}

/* Display width of UTF-8 text: code points, not bytes. */
static int width(const char *s)
{
	int w = 0;

	for (; *s; s++)
		w += ((unsigned char)*s & 0xC0) != 0x80;
	return w;
}

void ctl_table(const ctl_col *cols, size_t ncols, const json_t *rows)
{
	size_t nrows = json_array_size(rows);
	char **cells = calloc((nrows + 1) * ncols, sizeof(char *));
	int *w = calloc(ncols, sizeof(int));

	if (cells == NULL || w == NULL) {
		fprintf(stderr, "certfleet ctl: out of memory\n");
		goto out;
	}
	for (size_t c = 0; c < ncols; c++) {
		w[c] = width(cols[c].head);
		for (size_t r = 0; r < nrows; r++) {
			char *s = ctl_cell(json_array_get(rows, r), &cols[c]);

			cells[r * ncols + c] = s;
			if (s != NULL && width(s) > w[c])
				w[c] = width(s);
		}
	}
	for (size_t r = 0; r <= nrows; r++)
		for (size_t c = 0; c < ncols; c++) {
			const char *s = r == 0 ? cols[c].head : cells[(r - 1) * ncols + c];

			if (s == NULL)
				s = "?";
			if (c + 1 == ncols)
				printf("%s\n", s);
			else
				printf("%s%*s", s, w[c] - width(s) + 2, "");
		}
out:
	for (size_t i = 0; cells != NULL && i < nrows * ncols; i++)
		free(cells[i]);
	free(cells);
	free(w);
}

void ctl_table_generic(const json_t *rows)
{
	const json_t *first = json_array_get(rows, 0), *v;
	size_t n = json_object_size(first), i = 0;
	ctl_col *cols = calloc(n + 1, sizeof(*cols));
	char *heads = calloc(n + 1, 128);
	const char *key;

	if (cols == NULL || heads == NULL) {
		fprintf(stderr, "certfleet ctl: out of memory\n");
		goto out;
	}
	json_object_foreach((json_t *)first, key, v) {
		char *h = heads + 128 * i;

		snprintf(h, 128, "%s", key);
		for (char *p = h; *p; p++)
			*p = *p == '_' ? ' ' : (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
		cols[i].head = h;
		cols[i].path = key;
		cols[i].fmt = ctl_time_parse(json_string_value(v)) >= 0 ? CTL_TIME : CTL_LIST;
		i++;
	}
	if (n > 0)
		ctl_table(cols, n, rows);
out:
	free(cols);
	free(heads);
}

void ctl_fields(const ctl_col *cols, size_t ncols, const json_t *obj)
{
	int w = 0;

	for (size_t c = 0; c < ncols; c++)
		w = width(cols[c].head) > w ? width(cols[c].head) : w;
	for (size_t c = 0; c < ncols; c++) {
		char *s = ctl_cell(obj, &cols[c]);

		printf("%s:%*s%s\n", cols[c].head, w - width(cols[c].head) + 2, "", s ? s : "?");
		free(s);
	}
}

void ctl_json(const json_t *doc)
{
	json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_ENCODE_ANY);
	printf("\n");
}
