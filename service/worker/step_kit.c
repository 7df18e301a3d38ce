/*
 * step_kit.c: the steps' toolkit; see step_kit.h.
 *
 * wk_write() is the worker's only way to change a job: it calls cf_job_write(),
 * which updates the row fenced by (id, attempt) and records the event in the same
 * statement, with the events held since the last write (wk_note) and the step the
 * runner moved to without a write (step_unsaved). When it reports the job lost
 * (another worker claimed it after our lease expired), the job is dropped at once:
 * no provider, CA or database call is made for it any more.
 *
 * A write whose connection is lost (the primary died or was switched over) is
 * tried again on a new connection, every WK_WRITE_RETRY_MS for up to half a lease,
 * while the job is held and the process runs: libpq then finds the new primary
 * (target_session_attrs=read-write), and the job goes on (or to its backoff) as
 * soon as the database answers, instead of being left running until its lease
 * runs out and another worker claims it. The write is fenced, so a retry after a
 * COMMIT whose answer was lost can only repeat the same change and its events.
 */
#include "worker/step_kit.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

wk_rc wk_oom(wk_job *j)
{
	cf_err_oom(&j->err, NULL);
	return wk_err(j);
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

void wk_notes_free(wk_job *j)
{
	for (size_t i = 0; i < j->nheld; i++) {
		free(j->held[i].step);
		free(j->held[i].msg);
	}
	memset(j->held, 0, sizeof(j->held));
	j->nheld = 0;
}

/* The held events, then own (when not NULL), as one array for cf_job_write. */
static cf_job_event *events_of(const wk_job *j, const cf_job_event *own, size_t *n)
{
	long long now = cf_clock_mono_ms();
	cf_job_event *ev = calloc(j->nheld + 1, sizeof(*ev));

	*n = 0;
	if (ev == NULL)
		return NULL;
	for (size_t i = 0; i < j->nheld; i++)
		ev[(*n)++] = (cf_job_event){j->held[i].step, j->held[i].msg,
					    j->held[i].duration_ms, NULL, now - j->held[i].at_ms};
	if (own != NULL)
		ev[(*n)++] = *own;
	return ev;
}

/* The fenced write of c with the held events and own (may be NULL). */
#define WK_WRITE_RETRY_MS 200

/* Whether a failed write may be tried again: its connection is gone (or could not
 * be made), the job is still ours, the process runs, and until has not passed. */
static bool write_again(const wk_job *j, long long until)
{
	struct timespec pause = {0, WK_WRITE_RETRY_MS * 1000000L};

	if ((j->w->db != NULL && !cf_db_lost(j->w->db)) || atomic_load(&j->w->lost) ||
	    wk_thread_stopping(j->w) || cf_clock_mono_ms() + WK_WRITE_RETRY_MS >= until)
		return false;
	nanosleep(&pause, NULL);
	return true;
}

static wk_rc write_events(wk_job *j, cf_job_change *c, const cf_job_event *own)
{
	char *data = json_dumps(j->data, JSON_COMPACT);
	size_t nev = 0;
	cf_job_event *ev = events_of(j, own, &nev);
	cf_err e = {0};
	PGconn *db;
	int rc = -1;
	long long until = cf_clock_mono_ms() + j->w->app->cfg->lease_seconds * 500LL;

	c->data = data;
	if (c->step >= CF_STEP__MAX && j->step_unsaved)
		c->step = j->step;
	if (c->account_id <= 0)
		c->account_id = j->unsaved_account_id;
	while (data != NULL && ev != NULL) {
		if ((db = wk_thread_db(j->w, &e)) != NULL)
			rc = cf_job_write(db, &j->cl.ref, c, ev, nev, &e);
		if (rc >= 0 || !write_again(j, until))
			break;
		cf_log(CF_LOG_DEBUG, "job.write_retry", "job %s: %s", j->cl.ref.id, e.msg);
		cf_err_clear(&e);
	}
	free(ev);
	free(data);
	if (rc == 0) {
		wk_notes_free(j);
		j->step_unsaved = false;
		j->unsaved_account_id = 0;
		if (c->step < CF_STEP__MAX)
			j->step = c->step;
		return WK_NEXT;
	}
	if (rc == 1) {
		wk_notes_free(j);
		atomic_store(&j->w->lost, true);
		cf_log(CF_LOG_WARN, "job.lost", "attempt %d no longer holds the job",
		       j->cl.ref.attempt);
		return WK_LOST;
	}
	/* a refused statement would refuse them again; a connection that is lost (or
	 * could not be made) keeps them for the next write */
	if (j->w->db != NULL && !cf_db_lost(j->w->db))
		wk_notes_free(j);
	cf_err_clear(&j->err);
	if (data != NULL && ev != NULL)
		cf_err_set(&j->err, CF_ERR_TRANSIENT, "%s", e.msg);
	else
		cf_err_oom(&j->err, NULL);
	cf_err_clear(&e);
	return wk_db_err(j);
}

__attribute__((format(printf, 6, 0)))
static wk_rc write_v(wk_job *j, cf_job_change *ch, const char *ev_step, bool timed,
		     const char *problem, const char *fmt, va_list ap)
{
	char msg[WK_EVENT_MAX];
	cf_job_change c = ch ? *ch : CF_JOB_KEEP;
	cf_job_event ev = {ev_step, msg, timed ? (long)(cf_clock_mono_ms() - j->t0) : -1,
			   problem, 0};

	vsnprintf(msg, sizeof(msg), fmt, ap);
	cf_log(CF_LOG_DEBUG, "job.event", "%s: %s", ev_step, msg);
	return write_events(j, &c, &ev);
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

wk_rc wk_note(wk_job *j, const char *ev_step, bool timed, const char *fmt, ...)
{
	char msg[WK_EVENT_MAX];
	wk_held_event *h;
	cf_job_change c = CF_JOB_KEEP;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	cf_log(CF_LOG_DEBUG, "job.event", "%s: %s (held)", ev_step, msg);
	if (j->nheld == WK_NOTES_MAX) {
		wk_rc rc = write_events(j, &c, NULL);

		if (rc != WK_NEXT)
			return rc;
	}
	h = &j->held[j->nheld];
	h->at_ms = cf_clock_mono_ms();
	h->duration_ms = timed ? (long)(h->at_ms - j->t0) : -1;
	h->step = strdup(ev_step);
	h->msg = strdup(msg);
	if (h->step == NULL || h->msg == NULL) {
		free(h->step);
		free(h->msg);
		memset(h, 0, sizeof(*h));
		cf_err_oom(&j->err, NULL);
		return wk_err(j);
	}
	j->nheld++;
	return WK_NEXT;
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
