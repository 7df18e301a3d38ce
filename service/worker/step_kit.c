/*
 * step_kit.c: the steps' toolkit; see step_kit.h.
 *
 * wk_write() is the worker's only way to change a job: it calls cf_job_write(),
 * which updates the row fenced by (id, attempt) and records the event in the same
 * transaction. When it reports the job lost (another worker claimed it after our
 * lease expired), the job is dropped at once: no provider, CA or database call is
 * made for it any more.
 */
#include "worker/step_kit.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "log.h"
#include "store/db.h"
#include "util/clock.h"

const char *wk_step_name(const wk_job *j, cf_job_step s)
{
	return s < CF_STEP__MAX ? cf_job_step_name(s) : j->cl.step_name;
}

wk_rc wk_check(wk_job *j)
{
	if (atomic_load(&j->w->lost))
		return WK_LOST;
	if (wk_thread_stopping(j->w))
		return WK_YIELD;
	return WK_NEXT;
}

wk_rc wk_err(wk_job *j)
{
	j->err_step = j->step;
	if (j->err.cls == CF_ERR_NONE)
		j->err.cls = CF_ERR_TRANSIENT;
	return WK_ERR;
}

wk_rc wk_fail(wk_job *j, cf_err_class cls, const char *fmt, ...)
{
	char msg[sizeof(j->err.msg)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	cf_err_set(&j->err, cls, "%s", msg);
	return wk_err(j);
}

PGconn *wk_db(wk_job *j)
{
	return wk_thread_db(j->w, &j->err);
}

wk_rc wk_db_err(wk_job *j)
{
	if (cf_db_lost(j->w->db))
		wk_thread_db_drop(j->w);
	j->err.cls = CF_ERR_TRANSIENT; /* a database error is never the job's fault */
	return wk_err(j);
}

static wk_rc write_v(wk_job *j, cf_job_change *ch, const char *ev_step, bool timed,
		     const char *problem, const char *fmt, va_list ap)
{
	char msg[WK_EVENT_MAX];
	cf_job_change c = ch ? *ch : CF_JOB_KEEP;
	cf_job_event ev = {ev_step, msg, timed ? (long)(cf_clock_mono_ms() - j->t0) : -1,
			   problem};
	char *data = json_dumps(j->data, JSON_COMPACT);
	cf_err e = {0};
	PGconn *db;
	int rc = -1;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	c.data = data;
	if (data != NULL && (db = wk_thread_db(j->w, &e)) != NULL)
		rc = cf_job_write(db, &j->cl.ref, &c, &ev, 1, &e);
	free(data);
	cf_log(CF_LOG_DEBUG, "job.event", "%s: %s", ev_step, msg);
	if (rc == 0) {
		if (c.step < CF_STEP__MAX)
			j->step = c.step;
		return WK_NEXT;
	}
	if (rc == 1) {
		atomic_store(&j->w->lost, true);
		cf_log(CF_LOG_WARN, "job.lost", "attempt %d no longer holds the job",
		       j->cl.ref.attempt);
		return WK_LOST;
	}
	cf_err_clear(&j->err);
	if (data != NULL)
		cf_err_set(&j->err, CF_ERR_TRANSIENT, "%s", e.msg);
	else
		cf_err_oom(&j->err, NULL);
	cf_err_clear(&e);
	return wk_db_err(j);
}

wk_rc wk_write(wk_job *j, cf_job_change *ch, const char *ev_step, bool timed,
	       const char *problem, const char *fmt, ...)
{
	va_list ap;
	wk_rc rc;

	va_start(ap, fmt);
	rc = write_v(j, ch, ev_step, timed, problem, fmt, ap);
	va_end(ap);
	return rc;
}

wk_rc wk_step_done(wk_job *j, const char *ev_step, const char *fmt, ...)
{
	va_list ap;

	j->end.set = true;
	j->end.ev_step = ev_step;
	va_start(ap, fmt);
	vsnprintf(j->end.msg, sizeof(j->end.msg), fmt, ap);
	va_end(ap);
	return WK_NEXT;
}
