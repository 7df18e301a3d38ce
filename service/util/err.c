/*
 * err.c: formatting of cf_err messages; see err.h for the contract.
 */
#include "util/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cf_err_set(cf_err *e, cf_err_class cls, const char *fmt, ...)
{
	va_list ap;

	if (e == NULL)
		return -1;
	e->cls = cls;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	return -1;
}

int cf_err_wrap(cf_err *e, const char *fmt, ...)
{
	char prefix[512];
	char old[sizeof(e->msg)];
	va_list ap;

	if (e == NULL)
		return -1;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	memcpy(old, e->msg, sizeof(old));
	snprintf(e->msg, sizeof(e->msg), "%s: %s", prefix, old);
	if (e->cls == CF_ERR_NONE)
		e->cls = CF_ERR_PERMANENT;
	return -1;
}

int cf_err_oom(cf_err *e, const char *what)
{
	if (what == NULL)
		return cf_err_set(e, CF_ERR_TRANSIENT, "out of memory");
	return cf_err_set(e, CF_ERR_TRANSIENT, "%s: out of memory", what);
}

void cf_err_set_problem(cf_err *e, const char *json_text)
{
	if (e == NULL)
		return;
	free(e->problem);
	e->problem = json_text ? strdup(json_text) : NULL;
}

void cf_err_clear(cf_err *e)
{
	if (e == NULL)
		return;
	free(e->problem);
	memset(e, 0, sizeof(*e));
}
