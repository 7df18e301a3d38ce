/*
 * lifecycle.c: the string tables of the job lifecycle, expanded from the lists
 * in lifecycle.h, and the look-ups both ways.
 */
#include "store/lifecycle.h"

#include <stddef.h>
#include <string.h>

#define NAME_(e, s) s,

static const char *const state_names[CF_JOB_STATE__MAX] = {
	CF_JOB_STATES_ACTIVE(NAME_, ) CF_JOB_STATES_FINAL(NAME_, )
};
static const char *const kind_names[CF_JOB_KIND__MAX] = { CF_JOB_KINDS(NAME_, ) };
static const char *const step_names[CF_STEP__MAX] = { CF_JOB_STEPS(NAME_, ) };

#define ITEM_(e, s) s
static const char state_list[] =
	CF_JOB_STATES_ACTIVE(ITEM_, ", ") ", " CF_JOB_STATES_FINAL(ITEM_, ", ");

static const char *name_of(const char *const *t, int n, int v)
{
	return v >= 0 && v < n ? t[v] : "?";
}

static int parse(const char *const *t, int n, const char *name)
{
	for (int i = 0; name != NULL && i < n; i++)
		if (strcmp(t[i], name) == 0)
			return i;
	return -1;
}

const char *cf_job_state_name(cf_job_state s)
{
	return name_of(state_names, CF_JOB_STATE__MAX, (int)s);
}

const char *cf_job_kind_name(cf_job_kind k)
{
	return name_of(kind_names, CF_JOB_KIND__MAX, (int)k);
}

const char *cf_job_step_name(cf_job_step s)
{
	return name_of(step_names, CF_STEP__MAX, (int)s);
}

int cf_job_state_parse(const char *name)
{
	return parse(state_names, CF_JOB_STATE__MAX, name);
}

int cf_job_kind_parse(const char *name)
{
	return parse(kind_names, CF_JOB_KIND__MAX, name);
}

int cf_job_step_parse(const char *name)
{
	return parse(step_names, CF_STEP__MAX, name);
}

#define ONE_(e, s) +1
enum { NACTIVE = 0 CF_JOB_STATES_ACTIVE(ONE_, ) }; /* the active states come first */

bool cf_job_state_active(cf_job_state s)
{
	return (int)s < NACTIVE;
}

const char *cf_job_state_list(void)
{
	return state_list;
}
