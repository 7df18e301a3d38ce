/*
 * ctl_job.c: `certfleet ctl job list|get|watch`: the issuance and revocation jobs
 * the workers run, with their timelines.
 *
 * watch follows one job until it ends. The API has no event stream: a job's
 * GET /v1/jobs/{id} carries its whole timeline (events are only ever appended),
 * so watch polls it, from every 200 ms backing off to every second, and prints
 * each event once, as it appears, in the layout of the demo's timeline
 * (time, step, duration, message, and the CA's problem when there is one). A
 * progress line on stderr says where the job is (step n of the issuance's steps,
 * state, attempt, time watched): rewritten in place on a terminal, printed when
 * it changes otherwise. The end decides the exit code: issued or done 0, failed
 * CTL_FAILED with the job's problem printed. Lost answers (a restarting server,
 * a 503) are retried for a while before watch gives up.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cmd/ctl.h"
#include "store/lifecycle.h"
#include "util/clock.h"

#define POLL_FIRST_S 0.2
#define POLL_MAX_S 1.0
#define LOST_MAX 30 /* answers in a row that may be missing before watch gives up */

static const ctl_col list_cols[] = {
	{ "ID", "id", CTL_STR },
	{ "CERTIFICATE", "certificate", CTL_STR },
	{ "KIND", "kind", CTL_STR },
	{ "STATE", "state", CTL_STR },
	{ "STEP", "step", CTL_STR },
	{ "ATTEMPT", "attempt", CTL_STR },
	{ "CREATED", "created_at", CTL_TIME },
	{ "UPDATED", "updated_at", CTL_TIME },
};

static const ctl_col get_cols[] = {
	{ "id", "id", CTL_STR },
	{ "certificate", "certificate", CTL_STR },
	{ "kind", "kind", CTL_STR },
	{ "state", "state", CTL_STR },
	{ "step", "step", CTL_STR },
	{ "attempt", "attempt", CTL_STR },
	{ "created_at", "created_at", CTL_TIME },
	{ "updated_at", "updated_at", CTL_TIME },
	{ "problem", "problem", CTL_STR },
};

static const ctl_col event_cols[] = {
	{ "AT", "at", CTL_TIME },
	{ "ATTEMPT", "attempt", CTL_STR },
	{ "STEP", "step", CTL_STR },
	{ "MS", "duration_ms", CTL_STR },
	{ "MESSAGE", "message", CTL_STR },
	{ "PROBLEM", "problem", CTL_STR },
};

#define NCOLS(a) (sizeof(a) / sizeof((a)[0]))

static const char *job_path(char *out, size_t n, const char *id)
{
	char seg[256];

	snprintf(out, n, "/v1/jobs/%s", ctl_seg(id, seg, sizeof(seg)) ? seg : "-");
	return out;
}

static int job_list(ctl *c, const ctl_args *a)
{
	const char *cert = ctl_arg(a, "--certificate"), *state = ctl_arg(a, "--state");
	cf_buf q = { 0 };
	json_t *items = NULL;
	long limit = 0;
	int rc = ctl_limit(c, a, &limit);

	if (rc != CTL_OK)
		goto out;
	if ((cert != NULL && ctl_query_add(&q, "certificate", cert) != 0) ||
	    (state != NULL && ctl_query_add(&q, "state", state) != 0)) {
		rc = ctl_errorf(c, CTL_ERROR, "out of memory");
		goto out;
	}
	if ((rc = ctl_list(c, "/v1/jobs", (const char *)q.data, "jobs", limit, &items)) != CTL_OK)
		goto out;
	if (c->json) {
		json_t *doc = json_pack("{s:O}", "jobs", items);

		ctl_json(doc);
		json_decref(doc);
	} else {
		ctl_table(list_cols, NCOLS(list_cols), items);
	}
out:
	json_decref(items);
	cf_buf_free(&q);
	return rc;
}

static int job_get(ctl *c, const ctl_args *a)
{
	char path[300];
	json_t *doc = NULL;
	int rc = ctl_call(c, "GET", job_path(path, sizeof(path), a->pos[0]), NULL, &doc);

	if (rc == CTL_OK && c->json) {
		ctl_json(doc);
	} else if (rc == CTL_OK) {
		ctl_fields(get_cols, NCOLS(get_cols), doc);
		printf("\n");
		ctl_table(event_cols, NCOLS(event_cols), json_object_get(doc, "events"));
	}
	json_decref(doc);
	return rc;
}

/* ---- watch ---- */

typedef struct watch {
	const char *id;
	size_t printed;     /* events printed so far */
	char progress[256]; /* the last progress line */
	bool tty;           /* stderr is a terminal: the progress line is rewritten */
	bool shown;         /* a progress line is on the terminal now */
	int lost;           /* answers missing in a row */
	double start;
} watch;

static void progress_clear(watch *w)
{
	if (w->tty && w->shown)
		fprintf(stderr, "\r\033[K");
	w->shown = false;
}

/* One event, as the demo prints a timeline. */
static void print_event(const json_t *e)
{
	const char *at = json_string_value(json_object_get(e, "at"));
	const json_t *ms = json_object_get(e, "duration_ms"), *p = json_object_get(e, "problem");
	char dur[32] = "";
	char *ptext;

	if (json_is_integer(ms))
		snprintf(dur, sizeof(dur), "%lld ms", (long long)json_integer_value(ms));
	printf("  %-12.12s  %-16s %9s  %s\n", at != NULL && strlen(at) > 11 ? at + 11 : "?",
	       json_string_value(json_object_get(e, "step")), dur,
	       json_string_value(json_object_get(e, "message")));
	if (json_is_object(p) && (ptext = json_dumps(p, JSON_COMPACT)) != NULL) {
		printf("  %-12s  problem: %s\n", "", ptext);
		free(ptext);
	}
}

/* "step 4/10 present, running, attempt 1, 3.2 s" */
static void progress(watch *w, const json_t *job)
{
	const char *step = json_string_value(json_object_get(job, "step"));
	const char *state = json_string_value(json_object_get(job, "state"));
	int s = cf_job_step_parse(step);
	char line[256];

	if (s == CF_STEP_REVOKE)
		snprintf(line, sizeof(line), "step 1/1 revoke");
	else if (s >= 0)
		snprintf(line, sizeof(line), "step %d/%d %s", s + 1, (int)CF_STEP_REVOKE, step);
	else
		snprintf(line, sizeof(line), "step %s", step ? step : "-");
	snprintf(line + strlen(line), sizeof(line) - strlen(line), ", %s, attempt %lld",
		 state ? state : "?", (long long)json_integer_value(json_object_get(job, "attempt")));
	if (w->tty) {
		fprintf(stderr, "\r\033[Kjob %.8s: %s, %.1f s", w->id, line,
			cf_clock_mono_s() - w->start);
		w->shown = true;
	} else if (strcmp(line, w->progress) != 0) {
		fprintf(stderr, "job %.8s: %s\n", w->id, line);
	}
	snprintf(w->progress, sizeof(w->progress), "%s", line);
	fflush(stderr);
}

/* The end of a job: a summary line and the exit code. */
static int finish(ctl *c, watch *w, const json_t *job, const char *state)
{
	const json_t *p = json_object_get(job, "problem");
	const char *detail = json_string_value(json_object_get(p, "detail"));
	bool failed = cf_job_state_parse(state) == CF_JOB_FAILED;

	progress_clear(w);
	if (c->json) {
		ctl_json(job);
	} else {
		printf("job %s %s after %.1f s\n", w->id, state, cf_clock_mono_s() - w->start);
		if (failed)
			printf("problem: %s (%s)\n", detail ? detail : "-",
			       json_string_value(json_object_get(p, "type"))
				       ? json_string_value(json_object_get(p, "type")) : "no type");
	}
	if (failed)
		ctl_errorf(c, CTL_FAILED, "job %s failed%s%s", w->id, detail ? ": " : "",
			   detail ? detail : "");
	return failed ? CTL_FAILED : CTL_OK;
}

static void nap(double s)
{
	struct timespec ts = { (time_t)s, (long)((s - (double)(time_t)s) * 1e9) };

	while (nanosleep(&ts, &ts) != 0)
		;
}

/* One look at the job: prints the events that are new and the progress line.
 * *done when the watch ends, with the exit code returned; otherwise CTL_OK. */
static int look(ctl *c, watch *w, const char *path, double timeout_s, bool *done)
{
	json_t *doc = NULL, *events;
	const char *state;
	long status = 0;
	int rc = ctl_exchange(c, "GET", path, NULL, &status, &doc), s;

	*done = false;
	if (rc != CTL_OK || status >= 500) { /* no answer, or a 503 while serve restarts */
		rc = CTL_OK;
		if (++w->lost >= LOST_MAX) {
			*done = true;
			progress_clear(w);
			rc = ctl_errorf(c, CTL_ERROR, "job %s: no answer from the server %d times "
					"in a row; giving up", w->id, w->lost);
		}
		goto out;
	}
	w->lost = 0;
	if (status != 200) {
		*done = true;
		progress_clear(w);
		rc = ctl_fail(c, status, doc);
		goto out;
	}
	events = json_object_get(doc, "events");
	for (; w->printed < json_array_size(events); w->printed++)
		if (!c->json) {
			progress_clear(w);
			print_event(json_array_get(events, w->printed));
		}
	fflush(stdout);
	state = json_string_value(json_object_get(doc, "state"));
	s = cf_job_state_parse(state);
	if (s >= 0 && !cf_job_state_active((cf_job_state)s)) {
		*done = true;
		rc = finish(c, w, doc, state);
		goto out;
	}
	progress(w, doc);
	if (timeout_s > 0 && cf_clock_mono_s() - w->start > timeout_s) {
		*done = true;
		progress_clear(w);
		rc = ctl_errorf(c, CTL_ERROR, "job %s: still %s after %.1f s (--timeout)", w->id,
				state ? state : "?", timeout_s);
	}
out:
	json_decref(doc);
	return rc;
}

int ctl_job_watch(ctl *c, const char *id, double timeout_s)
{
	watch w = { .id = id, .tty = isatty(STDERR_FILENO) == 1, .start = cf_clock_mono_s() };
	double interval = POLL_FIRST_S;
	char path[300];
	bool done = false;
	int rc;

	job_path(path, sizeof(path), id);
	while ((rc = look(c, &w, path, timeout_s, &done)), !done) {
		nap(w.lost > 0 ? POLL_MAX_S : interval);
		interval = interval * 1.5 > POLL_MAX_S ? POLL_MAX_S : interval * 1.5;
	}
	return rc;
}

static int job_watch(ctl *c, const ctl_args *a)
{
	const char *t = ctl_arg(a, "--timeout");
	char *end = NULL;
	double timeout = 0;

	if (t != NULL) {
		timeout = strtod(t, &end);
		if (*t == '\0' || *end != '\0' || timeout <= 0)
			return ctl_errorf(c, CTL_USAGE, "--timeout: \"%s\" is not a number of seconds",
					  t);
	}
	return ctl_job_watch(c, a->pos[0], timeout);
}

const ctl_verb ctl_job_verbs[] = {
	{ "job", "list", job_list, "--certificate= --state= --limit=", 0, 0,
	  "[--certificate ID] [--state STATE] [--limit N]", "list jobs, newest first" },
	{ "job", "get", job_get, "", 1, 1, "ID", "show a job and its timeline" },
	{ "job", "watch", job_watch, "--timeout=", 1, 1, "ID [--timeout SECONDS]",
	  "follow a job's events live until it ends (exit 6 when it fails)" },
};
const size_t ctl_job_nverbs = sizeof(ctl_job_verbs) / sizeof(ctl_job_verbs[0]);
