/*
 * renewals.h: the renewal scheduler's view of PostgreSQL (migration 0006):
 * which certificates need its attention, its persisted plan per certificate
 * (renewal_plans), the renewal jobs it queues, and the expiring_soon mark.
 *
 * A certificate needs attention when its current version is valid and not
 * revoked, and it has no plan for that version (or the plan's fraction is stale),
 * or the plan is due (renew_at passed) and no job of the certificate is active
 * (queued, running, waiting), or ARI may be asked again (its Retry-After
 * passed), or it expires within the expiring_soon horizon and that was not yet
 * announced. Everything else is skipped by the query, so a pass over a large
 * fleet reads only the few rows that matter.
 *
 * Every function runs on the caller's connection (the scheduler's own, which
 * holds its advisory lock); -1 with err on database errors (cf_db_lost(c)
 * tells whether the connection is gone).
 */
#ifndef CERTFLEET_STORE_RENEWALS_H
#define CERTFLEET_STORE_RENEWALS_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "util/err.h"

/* The advisory lock key of the scheduler (one holder across all replicas). */
#define CF_SCHEDULER_LOCK_KEY "7346285031446282001"

typedef struct cf_renew_plan {
	bool exists;
	int version;            /* the version the plan is for */
	char source[12];        /* fraction | ari */
	double fraction;
	time_t renew_at;
	char ari_cert_id[200];  /* "" when none */
	time_t window_start, window_end; /* 0 when none */
	char explanation_url[512];
	time_t ari_next_fetch;  /* 0 when none */
	char ari_error[300];
} cf_renew_plan;

typedef struct cf_renew_cand {
	char id[72];
	int version;
	char *cert_pem;         /* owned: the current version's leaf */
	char serial[128];
	time_t not_before, not_after;
	double fraction;        /* certificates.renew_fraction */
	cf_renew_plan plan;     /* the stored plan (exists false when none) */
	int failures;           /* failed renewals since the version was stored */
	time_t last_failure;    /* when the last of them finished, 0 when none */
	bool active_job;        /* a job of the certificate is queued/running/waiting */
	bool expiring_notified;
	time_t db_now;          /* the database's now() when the candidates were read */
} cf_renew_cand;

/* Up to limit certificates that need attention (see above), soonest expiry
 * first; expiring_soon_s is the expiring_soon horizon. *out is owned by the
 * caller (cf_renew_cands_free). */
CF_MUST_CHECK int cf_renew_candidates(PGconn *c, int expiring_soon_s, int limit, cf_renew_cand **out,
			size_t *n, cf_err *err);
void cf_renew_cands_free(cf_renew_cand *v, size_t n);

/* Inserts or replaces the plan of certificate id. */
CF_MUST_CHECK int cf_renew_plan_save(PGconn *c, const char *id, const cf_renew_plan *p, cf_err *err);

/* Queues a renewal job (kind renew, data a JSON object text) with a first event
 * (step "schedule", message), and notifies the workers. Returns 1 with job_id set,
 * 0 when the certificate has an active job already (nothing written), -1. */
CF_MUST_CHECK int cf_renew_enqueue(PGconn *c, const char *id, const char *data, const char *message,
		     char job_id[40], cf_err *err);

/* Marks version as announced expiring_soon. Returns 1 when this call marked it,
 * 0 when it was marked already, -1. */
CF_MUST_CHECK int cf_renew_mark_expiring(PGconn *c, const char *id, int version, cf_err *err);

#endif
