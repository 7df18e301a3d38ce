/*
 * dns_records.h: every TXT value certfleet writes, in PostgreSQL, recorded BEFORE
 * the provider is called, so it is cleaned up even after a crash, and counted per
 * target FQDN for the TXT budget across all workers and replicas.
 *
 * Row states: pending (recorded, the provider may or may not have it), present
 * (the provider confirmed it), removed (cleaned), failed (never written, or given
 * up on). pending and present are "live" and count against the budget.
 *
 * Writes on behalf of a running job are fenced like job state: they happen only
 * while (job id, attempt) still holds the job, in the same transaction as the
 * check. Functions return -1 with err on database errors (cf_db_lost(c) tells
 * whether the connection is gone).
 */
#ifndef CERTFLEET_STORE_DNS_RECORDS_H
#define CERTFLEET_STORE_DNS_RECORDS_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

#include "dns/dns.h"
#include "store/jobs_worker.h"
#include "util/err.h"

typedef struct cf_txt_value {
	const char *provider;
	const char *fqdn;  /* normalised target */
	const char *value;
	int max_live;      /* the provider type's max_values_per_name (0: no limit of its
			    * own); only cf_txt_reserve reads it */
} cf_txt_value;

/* The target that would go over the budget. */
typedef struct cf_txt_over {
	char fqdn[CF_NAME_MAX + 1];
	long live;  /* values live there now */
	long need;  /* new values this job wants there */
	long limit; /* the budget, or the provider's smaller max_live there */
} cf_txt_over;

/* Records the job's values as pending, all or none, if every target stays within
 * its limit: the budget, or a value's max_live when that is smaller (acme-dns keeps
 * two values per name), counting live values + this job's new ones. Values the job
 * already holds live are not counted twice. Race-free across replicas: a
 * transaction-level advisory lock per target FQDN (hashtext, taken in a fixed
 * order) covers the count and the insert. Returns 0 recorded, 1 over the limit
 * (over filled), 2 job lost, -1 on error. */
CF_MUST_CHECK int cf_txt_reserve(PGconn *c, const cf_job_ref *job, const cf_txt_value *v, size_t n,
		   int budget, cf_txt_over *over, cf_err *err);

/* Sets the state (present, removed, failed; NULL keeps it) and the last error (may
 * be NULL; an error also counts an attempt) of one of the job's values, fenced.
 * Returns 0, 1 when the job is lost, -1 on error. */
CF_MUST_CHECK int cf_txt_set_state(PGconn *c, const cf_job_ref *job, const cf_txt_value *v,
		     const char *state, const char *error, cf_err *err);

typedef struct cf_txt_row {
	long long id;
	char *provider, *fqdn, *value;
} cf_txt_row;

/* The live values of a job. *rows is owned by the caller (cf_txt_rows_free). */
CF_MUST_CHECK int cf_txt_live_of_job(PGconn *c, const char *job_id, cf_txt_row **rows, size_t *n, cf_err *err);
void cf_txt_rows_free(cf_txt_row *rows, size_t n);

/* Serialises the provider calls that change the TXT values at one target FQDN,
 * across workers and replicas: a session-level advisory lock
 * (CF_TXT_WRITE_LOCK_CLASS, hashtext(fqdn)) on c, taken at once when free (one
 * statement), else waited for at most wait_ms (lock_timeout, in a transaction of
 * its own). Providers that read, modify and write a whole rrset (powerdns,
 * route53) would otherwise drop each other's values. Returns 0 held (until
 * cf_txt_write_unlock, or until c is closed), 1 not within wait_ms (nothing
 * held), -1 on error (nothing held). c is never left inside a transaction. */
CF_MUST_CHECK int cf_txt_write_lock(PGconn *c, const char *fqdn, long wait_ms, cf_err *err);
/* Releases cf_txt_write_lock's lock of fqdn. On an error close c (which releases
 * it): a lock left held would block every other writer of fqdn. */
CF_MUST_CHECK int cf_txt_write_unlock(PGconn *c, const char *fqdn, cf_err *err);

/* Orphans: live values whose job is finished or deleted (a cleanup that failed, a
 * job deleted mid-way). Takes one that is due (attempts < max_attempts, and its
 * next_attempt_at passed; oldest try first) and counts the try. Returns 1 with out
 * filled, 0 when none, -1 on error. */
CF_MUST_CHECK int cf_txt_orphan_take(PGconn *c, int max_attempts, cf_txt_row *out, cf_err *err);
/* Records the outcome of cleaning an orphan: removed, or the error (counted in
 * janitor_failures, the next try due after backoff_s * 2^(failures before), at most
 * an hour; failed once it reached max_attempts). When the value's job still exists,
 * the outcome is also an event ("janitor") of that job, in the same statement. */
CF_MUST_CHECK int cf_txt_orphan_done(PGconn *c, long long id, const char *error, int max_attempts,
		       double backoff_s, cf_err *err);

#endif
