/*
 * retry_after.c: the Retry-After header (RFC 9110 section 10.2.3) and the capped
 * backoffs used when a server sends none (acme_post()'s in-line retries start at
 * 250 ms, polls at the client's poll_initial_ms; both double up to 5 s). A pure
 * parser, so that polling and acme_post() agree on one reading of the header and
 * the tests can pin it down: delta-seconds, or an HTTP-date in the preferred IMF-fixdate form
 * ("Sun, 06 Nov 1994 08:49:37 GMT") or the two obsolete forms recipients must
 * still accept (RFC 850 "Sunday, 06-Nov-94 08:49:37 GMT" and asctime
 * "Sun Nov  6 08:49:37 1994"). Dates are converted with our own civil-day
 * arithmetic, so neither the locale nor the TZ variable matters.
 */
#include "acme/acme_int.h"

#include <string.h>

static const char *const months[12] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
				       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
static const char *const wdays[7] = {"Monday", "Tuesday", "Wednesday", "Thursday",
				     "Friday", "Saturday", "Sunday"};

typedef struct date_parts {
	int year, mon, day, hour, min, sec; /* mon 1..12 */
} date_parts;

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar. */
static long long days_from_civil(long long y, int m, int d)
{
	long long era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static int days_in_month(int y, int m)
{
	static const int dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return m == 2 && leap ? 29 : dim[m - 1];
}

/* Reads exactly n digits. */
static int digits(const char **p, int n, int *out)
{
	int v = 0, i;

	for (i = 0; i < n; i++) {
		if ((*p)[i] < '0' || (*p)[i] > '9')
			return -1;
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	*out = v;
	return 0;
}

static int lit(const char **p, const char *s)
{
	size_t n = strlen(s);

	if (strncmp(*p, s, n) != 0)
		return -1;
	*p += n;
	return 0;
}

static int month(const char **p, int *out)
{
	int i;

	for (i = 0; i < 12; i++) {
		if (strncmp(*p, months[i], 3) == 0) {
			*p += 3;
			*out = i + 1;
			return 0;
		}
	}
	return -1;
}

/* A day name: the 3-letter form (full = false) or the whole word. */
static int wday(const char **p, bool full)
{
	int i;

	for (i = 0; i < 7; i++) {
		size_t n = full ? strlen(wdays[i]) : 3;

		if (strncmp(*p, wdays[i], n) == 0) {
			*p += n;
			return 0;
		}
	}
	return -1;
}

static int hms(const char **p, date_parts *d)
{
	if (digits(p, 2, &d->hour) || lit(p, ":") || digits(p, 2, &d->min) || lit(p, ":") ||
	    digits(p, 2, &d->sec))
		return -1;
	return 0;
}

/* "Sun, 06 Nov 1994 08:49:37 GMT" */
static int parse_imf(const char *p, date_parts *d)
{
	if (wday(&p, false) || lit(&p, ", ") || digits(&p, 2, &d->day) || lit(&p, " ") ||
	    month(&p, &d->mon) || lit(&p, " ") || digits(&p, 4, &d->year) || lit(&p, " ") ||
	    hms(&p, d) || lit(&p, " GMT"))
		return -1;
	return *p == '\0' ? 0 : -1;
}

/* "Sunday, 06-Nov-94 08:49:37 GMT"; two-digit years below 70 are 20xx. */
static int parse_rfc850(const char *p, date_parts *d)
{
	if (wday(&p, true) || lit(&p, ", ") || digits(&p, 2, &d->day) || lit(&p, "-") ||
	    month(&p, &d->mon) || lit(&p, "-") || digits(&p, 2, &d->year) || lit(&p, " ") ||
	    hms(&p, d) || lit(&p, " GMT"))
		return -1;
	d->year += d->year < 70 ? 2000 : 1900;
	return *p == '\0' ? 0 : -1;
}

/* "Sun Nov  6 08:49:37 1994" (day padded with a space) */
static int parse_asctime(const char *p, date_parts *d)
{
	if (wday(&p, false) || lit(&p, " ") || month(&p, &d->mon) || lit(&p, " "))
		return -1;
	if (*p == ' ') {
		p++;
		if (digits(&p, 1, &d->day))
			return -1;
	} else if (digits(&p, 2, &d->day)) {
		return -1;
	}
	if (lit(&p, " ") || hms(&p, d) || lit(&p, " ") || digits(&p, 4, &d->year))
		return -1;
	return *p == '\0' ? 0 : -1;
}

static int parse_date(const char *s, time_t *out)
{
	date_parts d = {0};

	if (parse_imf(s, &d) && parse_rfc850(s, &d) && parse_asctime(s, &d))
		return -1;
	if (d.mon < 1 || d.mon > 12 || d.day < 1 || d.day > days_in_month(d.year, d.mon) ||
	    d.hour > 23 || d.min > 59 || d.sec > 60)
		return -1;
	*out = (time_t)(days_from_civil(d.year, d.mon, d.day) * 86400LL + d.hour * 3600LL +
			d.min * 60LL + d.sec);
	return 0;
}

/* delta-seconds: 1*DIGIT, capped (no overflow however long). */
static int parse_delta(const char *s, long *out_ms)
{
	long long secs = 0;
	const long long cap = CF_RETRY_AFTER_MAX_MS / 1000;

	if (*s == '\0')
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		if (secs <= cap)
			secs = secs * 10 + (*s - '0');
	}
	*out_ms = secs > cap ? CF_RETRY_AFTER_MAX_MS : (long)(secs * 1000);
	return 0;
}

int cf_retry_after_parse(const char *value, time_t now, long *out_ms)
{
	char buf[64];
	size_t n;
	time_t when;
	long long diff;

	if (value == NULL)
		return -1;
	while (*value == ' ' || *value == '\t')
		value++;
	n = strlen(value);
	while (n > 0 && (value[n - 1] == ' ' || value[n - 1] == '\t' || value[n - 1] == '\r' ||
			 value[n - 1] == '\n'))
		n--;
	if (n == 0 || n >= sizeof(buf))
		return -1;
	memcpy(buf, value, n);
	buf[n] = '\0';
	if (buf[0] >= '0' && buf[0] <= '9')
		return parse_delta(buf, out_ms);
	if (parse_date(buf, &when) != 0)
		return -1;
	diff = (long long)when - (long long)now;
	if (diff <= 0)
		*out_ms = 0;
	else if (diff >= CF_RETRY_AFTER_MAX_MS / 1000)
		*out_ms = CF_RETRY_AFTER_MAX_MS;
	else
		*out_ms = (long)(diff * 1000);
	return 0;
}

long cf_acme_backoff_from_ms(long initial_ms, int attempt)
{
	long wait = initial_ms < 1 ? 1 : initial_ms;

	/* doubling by steps, so no shift can overflow whatever attempt is */
	for (; attempt > 0 && wait < CF_ACME_BACKOFF_MAX_MS; attempt--)
		wait *= 2;
	return wait < CF_ACME_BACKOFF_MAX_MS ? wait : CF_ACME_BACKOFF_MAX_MS;
}

long cf_acme_backoff_ms(int attempt)
{
	return cf_acme_backoff_from_ms(250, attempt);
}
