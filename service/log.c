/*
 * log.c: JSON-lines logging with a per-thread context; see log.h.
 *
 * jansson does the string escaping, so a message can hold any bytes a peer sent
 * without breaking the line format; bytes that are not UTF-8 (which jansson
 * would refuse, losing the line) are replaced with '?' first (util/utf8.h). One fputs per line under stdio's own lock
 * keeps lines from different threads whole.
 */
#include "log.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/utf8.h"

static cf_log_level min_level = CF_LOG_INFO;
static _Thread_local char ctx_request[64];
static _Thread_local char ctx_job[64];

static const char *level_names[] = {"debug", "info", "warn", "error"};

int cf_log_level_parse(const char *s, cf_log_level *out)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (strcmp(s, level_names[i]) == 0) {
			*out = (cf_log_level)i;
			return 0;
		}
	}
	return -1;
}

void cf_log_set_level(cf_log_level level)
{
	min_level = level;
}

void cf_log_set_request(const char *request_id)
{
	snprintf(ctx_request, sizeof(ctx_request), "%s", request_id ? request_id : "");
}

void cf_log_set_job(const char *job_id)
{
	snprintf(ctx_job, sizeof(ctx_job), "%s", job_id ? job_id : "");
}

void cf_log(cf_log_level level, const char *event, const char *fmt, ...)
{
	char msg[2048], ts[40];
	struct timespec now;
	struct tm tm;
	json_t *o = NULL;
	char *line = NULL;
	va_list ap;

	if (level < min_level)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	cf_utf8_scrub(msg); /* peer bytes, or a character cut at the end: jansson refuses */
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	snprintf(ts, sizeof(ts), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		 now.tv_nsec / 1000000);
	o = json_pack("{s:s, s:s, s:s, s:s}", "ts", ts, "level", level_names[level], "event",
		      event, "msg", msg);
	if (o == NULL)
		goto out;
	if (ctx_request[0])
		json_object_set_new(o, "request_id", json_string(ctx_request));
	if (ctx_job[0])
		json_object_set_new(o, "job_id", json_string(ctx_job));
	line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (line == NULL)
		goto out;
	flockfile(stderr);
	fputs(line, stderr);
	fputc('\n', stderr);
	funlockfile(stderr);
out:
	free(line);
	json_decref(o);
}
