/*
 * log.h: structured logs, one JSON object per line on stderr.
 *
 * Every line carries a timestamp, a level, an event name and a message, plus the
 * context of the calling thread (request id, job id) when one is set, so a line can
 * be traced back to the request or job that caused it. Never pass a secret (token,
 * key, credential) to these functions: they write what they are given.
 */
#ifndef CERTFLEET_LOG_H
#define CERTFLEET_LOG_H

typedef enum cf_log_level {
	CF_LOG_DEBUG = 0,
	CF_LOG_INFO,
	CF_LOG_WARN,
	CF_LOG_ERROR,
} cf_log_level;

/* Parses "debug" | "info" | "warn" | "error". Returns -1 on anything else. */
int cf_log_level_parse(const char *s, cf_log_level *out);
void cf_log_set_level(cf_log_level level);
/* Sets or clears (NULL) the calling thread's context; the strings are copied. */
void cf_log_set_request(const char *request_id);
void cf_log_set_job(const char *job_id);

void cf_log(cf_log_level level, const char *event, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
