/*
 * step_kit.h: the toolkit of the steps: the claimed job (wk_job), what a step
 * returns (wk_rc), and the few calls every step makes: check for a stop or a lost
 * lease, record an error, write the job (fenced), and close the step.
 *
 * A step function returns a wk_rc. On WK_NEXT it has closed the step with
 * wk_step_done() (the event that tells what it did); the runner (job.c) then
 * writes that event together with the next step, taken from its step table, in
 * one fenced write. On WK_ERR, j->err holds the error and the runner retries
 * (transient) or fails the job (permanent).
 *
 * Layer: above thread.h, below the steps (worker_int.h) and the runner (job.h).
 */
#ifndef CERTFLEET_WORKER_STEP_KIT_H
#define CERTFLEET_WORKER_STEP_KIT_H

#include <jansson.h>
#include <stdbool.h>

#include "acme/acme.h"
#include "issue/common.h"
#include "providers/provider.h"
#include "store/issuers.h"
#include "store/jobs_worker.h"
#include "store/lifecycle.h"
#include "worker/thread.h"

#define WK_MAX_PROVIDERS 16
#define WK_CHUNK_S 2          /* longest uninterrupted wait inside a step */
#define WK_VALIDATE_S 300     /* validation / finalization deadline per claim */
#define WK_BUDGET_WAIT_S 1.0  /* re-check of a full TXT budget (plus jitter) */
#define WK_PROVIDER_TIMEOUT_MS 10000
#define WK_EVENT_MAX 1600     /* longest event message */
#define WK_NOTES_MAX 16       /* events held for the next write, at most */

typedef enum wk_rc {
	WK_NEXT = 0, /* the step is done (wk_step_done) */
	WK_DONE,     /* the job reached a final state (written) */
	WK_WAIT,     /* the job waits (written), e.g. for the TXT budget */
	WK_ERR,      /* failed: j->err (transient: retry; permanent: fail the job) */
	WK_LOST,     /* the job was taken over: touch nothing more */
	WK_YIELD,    /* the process is stopping: release the job */
} wk_rc;

typedef struct wk_provider {
	char *name;
	const cf_provider_ops *ops;
	json_t *settings; /* unsealed: released with cf_provider_settings_free */
} wk_provider;

/* A finished step's event, written by the runner with the next step. */
typedef struct wk_step_end {
	bool set;
	const char *ev_step;     /* the event's name (static); NULL: the step's */
	char msg[WK_EVENT_MAX];
	long long account_id;    /* > 0: also set jobs.account_id */
} wk_step_end;

/* An event held for the job's next write (wk_note). */
typedef struct wk_held_event {
	char *step;              /* owned */
	char *msg;               /* owned */
	long duration_ms;        /* < 0: none */
	long long at_ms;         /* when it happened (monotonic) */
} wk_held_event;

/* One claimed job, for the duration of the claim. */
typedef struct wk_job {
	wk_thread *w;
	cf_job_claim cl;       /* ref (the fence), certificate id, ... (owned) */
	cf_job_step step;      /* the persisted step */
	json_t *data;          /* the persisted step state */
	cf_job_cert cert;      /* the certificate row */
	cf_issue_name *names;  /* normalised, in the order of cert.domains */
	size_t nnames;
	const char **prov_of;  /* provider name per name (borrowed from cert.provider) */
	cf_alias_spec alias;
	cf_key_type key_type;
	wk_provider provs[WK_MAX_PROVIDERS];
	size_t nprovs;
	cf_acme_order order;   /* when read in this claim */
	cf_issuer iss;         /* the issuer the job orders from (worker/issuer.c) */
	bool iss_loaded;
	char move_to[64];      /* set by issuer.c: the runner moves the job to this issuer */
	char move_why[700];
	double wait_since;     /* issuer.c: the start of the wait the gate ended (0: none),
				* restored when the CA fails the step: the wait goes on */
	char failed_name[256]; /* the name whose validation failed, "" when none */
	bool pause_cert;       /* its failures reached CERTFLEET_VALIDATION_PAUSE_AFTER */
	bool resumed;          /* an earlier attempt may have done this step (or more of
				* it than was saved): true from a claim that resumes
				* until the claim saves a step's end */
	cf_key *cert_key;
	char *cert_key_pem;    /* its PEM when made in this claim (secret, wiped) */
	long long t0;          /* start of the current step, ms */
	wk_step_end end;       /* set by wk_step_done */
	wk_held_event held[WK_NOTES_MAX]; /* events for the next write, in order */
	size_t nheld;
	bool step_unsaved;     /* step moved on without a write: the next one saves it */
	long long unsaved_account_id; /* > 0: the next write sets jobs.account_id */
	cf_err err;
	cf_job_step err_step;  /* the step that failed */
} wk_job;

typedef wk_rc (*wk_step_fn)(wk_job *j);

/* The name of step X (an event named after a step): WK_EV(PRESENT) is "present". */
#define WK_EV(X) cf_job_step_name(CF_STEP_##X)

/* The name of step s of job j: the stored text when it names no step. */
const char *wk_step_name(const wk_job *j, cf_job_step s);
/* Checks the stop flag and the lost flag: WK_NEXT to go on, WK_YIELD or WK_LOST. */
wk_rc wk_check(wk_job *j);
/* Sets j->err (class, message) for the current step; returns WK_ERR. */
wk_rc wk_fail(wk_job *j, cf_err_class cls, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Marks the error already in j->err as belonging to the current step: WK_ERR. */
wk_rc wk_err(wk_job *j);
/* Out of memory in the current step (cf_err_oom: transient): WK_ERR. */
wk_rc wk_oom(wk_job *j);
/* Writes ch (NULL: none; data is always written) with the held events (wk_note)
 * and one event of step ev_step (duration since j->t0 when timed), fenced, as one
 * statement. An unsaved step (step_unsaved) is saved with it unless ch names
 * another. WK_NEXT, WK_LOST or WK_ERR. On WK_NEXT a step change in ch becomes
 * j->step. */
wk_rc wk_write(wk_job *j, cf_job_change *ch, const char *ev_step, bool timed,
	       const char *problem, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
/* Holds an event for the job's next write (wk_write), which records it with its
 * own time and duration: for what needs no write of its own (a value written, a
 * certificate downloaded). The held events are lost only with the process (a
 * crash); when WK_NOTES_MAX are held they are written at once. WK_NEXT, or what
 * that write returns. */
wk_rc wk_note(wk_job *j, const char *ev_step, bool timed, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Drops the held events (the job's end). */
void wk_notes_free(wk_job *j);
/* Closes the current step: remembers its event (ev_step, a static name, or NULL
 * for the step's own name, and the message) for the runner, which writes it with
 * the next step. Returns WK_NEXT. */
wk_rc wk_step_done(wk_job *j, const char *ev_step, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* The thread's database connection (reconnects), or NULL with j->err set. */
PGconn *wk_db(wk_job *j);
/* Records a database error into j->err as transient (retried); drops the
 * thread's connection when it is lost (cf_db_lost). */
wk_rc wk_db_err(wk_job *j);

#endif
