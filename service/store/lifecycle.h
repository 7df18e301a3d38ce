/*
 * lifecycle.h: the job lifecycle, spelled once: the states, kinds and steps of a
 * job as enums, each with one string table, and the SQL text built from them.
 * store/, worker/ and http/ name a state, kind or step through these only; a
 * string literal naming one appears here and nowhere else.
 *
 * States: a job is active while queued, running or waiting (at most one active
 * job per certificate: the partial unique index jobs_one_active, whose predicate
 * is CF_SQL_JOB_ACTIVE); then issued or failed (issuance kinds) or done (revoke).
 * Kinds: issue (the API), renew (the scheduler), revoke (the API).
 * Steps, in the order an issuance runs them (the worker's step table in
 * worker/job.c says which function runs each and what comes next):
 *   preflight -> account -> order -> present -> propagate -> respond -> validate
 *   -> cleanup -> finalize -> download;  a revocation has the one step revoke.
 *
 * The lists are X-macros: X(ENUM_SUFFIX, "name"), SEP between entries. Enums,
 * name tables and SQL lists are all expanded from them.
 */
#ifndef CERTFLEET_STORE_LIFECYCLE_H
#define CERTFLEET_STORE_LIFECYCLE_H

#include <stdbool.h>

/* ---- the names (used by the lists below and in SQL text) ---- */
#define CF_JOB_S_QUEUED "queued"
#define CF_JOB_S_RUNNING "running"
#define CF_JOB_S_WAITING "waiting"
#define CF_JOB_S_ISSUED "issued"
#define CF_JOB_S_FAILED "failed"
#define CF_JOB_S_DONE "done"

#define CF_JOB_K_ISSUE "issue"
#define CF_JOB_K_RENEW "renew"
#define CF_JOB_K_REVOKE "revoke"

/* ---- the lists ---- */
#define CF_JOB_STATES_ACTIVE(X, SEP) \
	X(QUEUED, CF_JOB_S_QUEUED) SEP X(RUNNING, CF_JOB_S_RUNNING) SEP X(WAITING, CF_JOB_S_WAITING)
#define CF_JOB_STATES_FINAL(X, SEP) \
	X(ISSUED, CF_JOB_S_ISSUED) SEP X(FAILED, CF_JOB_S_FAILED) SEP X(DONE, CF_JOB_S_DONE)
#define CF_JOB_KINDS(X, SEP) \
	X(ISSUE, CF_JOB_K_ISSUE) SEP X(RENEW, CF_JOB_K_RENEW) SEP X(REVOKE, CF_JOB_K_REVOKE)
#define CF_JOB_STEPS(X, SEP)                                                              \
	X(PREFLIGHT, "preflight") SEP X(ACCOUNT, "account") SEP X(ORDER, "order") SEP      \
	X(PRESENT, "present") SEP X(PROPAGATE, "propagate") SEP X(RESPOND, "respond") SEP  \
	X(VALIDATE, "validate") SEP X(CLEANUP, "cleanup") SEP X(FINALIZE, "finalize") SEP  \
	X(DOWNLOAD, "download") SEP X(REVOKE, "revoke")

#define CF_LC_ENUM_STATE_(e, s) CF_JOB_##e,
#define CF_LC_ENUM_KIND_(e, s) CF_JOB_KIND_##e,
#define CF_LC_ENUM_STEP_(e, s) CF_STEP_##e,

typedef enum cf_job_state {
	CF_JOB_STATES_ACTIVE(CF_LC_ENUM_STATE_, )
	CF_JOB_STATES_FINAL(CF_LC_ENUM_STATE_, )
	CF_JOB_STATE__MAX
} cf_job_state;

typedef enum cf_job_kind {
	CF_JOB_KINDS(CF_LC_ENUM_KIND_, )
	CF_JOB_KIND__MAX
} cf_job_kind;

typedef enum cf_job_step {
	CF_JOB_STEPS(CF_LC_ENUM_STEP_, )
	CF_STEP__MAX
} cf_job_step;

/* ---- SQL text ---- */
/* A string as an SQL literal: CF_SQL_LIT(CF_JOB_S_RUNNING) is "'running'". */
#define CF_SQL_LIT(s) "'" s "'"
#define CF_LC_SQL_ITEM_(e, s) CF_SQL_LIT(s)
/* The active states as an SQL list, "('queued','running','waiting')": the
 * predicate of jobs_one_active, so ON CONFLICT can name that index. */
#define CF_SQL_JOB_ACTIVE "(" CF_JOB_STATES_ACTIVE(CF_LC_SQL_ITEM_, ",") ")"
/* The states a claim takes when due (queued, waiting) as an SQL list. */
#define CF_SQL_JOB_DUE "(" CF_SQL_LIT(CF_JOB_S_QUEUED) "," CF_SQL_LIT(CF_JOB_S_WAITING) ")"
#define CF_SQL_JOB_RUNNING CF_SQL_LIT(CF_JOB_S_RUNNING)

/* The channel whose NOTIFY (payload: the job id) wakes the workers. */
#define CF_JOBS_CHANNEL "certfleet_jobs"

/* ---- the string tables ---- */
/* The name of a value ("?" when out of range). */
const char *cf_job_state_name(cf_job_state s);
const char *cf_job_kind_name(cf_job_kind k);
const char *cf_job_step_name(cf_job_step s);
/* The value of a name, or -1 when it names none (NULL too). */
int cf_job_state_parse(const char *name);
int cf_job_kind_parse(const char *name);
int cf_job_step_parse(const char *name);
/* queued, running or waiting. */
bool cf_job_state_active(cf_job_state s);
/* The state names joined by ", " in table order ("queued, running, ..."), for
 * messages. */
const char *cf_job_state_list(void);

#endif
