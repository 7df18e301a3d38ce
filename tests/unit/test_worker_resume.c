/*
 * test_worker_resume.c: what a worker does with a job it claims again, for every
 * persisted step and every status of the job's ACME order (worker/resume.h, the
 * rule that worker/job.c applies after reading the order).
 *
 * The cases are a table, one line per (persisted step, order status, saved key):
 *   step     the persisted jobs.step
 *   status   the order's status as the CA reports it ("*": any)
 *   key      "key": jobs.data holds the sealed certificate key, "-": it does not,
 *            "*": either
 *   action   noread   the order is not read: the persisted step runs as it is
 *            run      the order is read and the job continues at `at`
 *            reorder  a new order is made (once per job; then step order)
 *            fail     the job fails (permanent)
 *   at       the step run next (run, noread)
 * The test checks that the lines cover every combination exactly once, so a new
 * step or status cannot go unstated.
 *
 * Not in the table, because it happens before the decision (job.c): a job whose
 * data has no targets yet starts at preflight whatever its step; a job without an
 * order URL never reads an order; an order that cannot be read is retried later
 * (a transient error) or replaced by a new order (a permanent one).
 *
 * Noted while writing this table (behaviour kept as it was):
 *  - statuses outside the five of an order in RFC 8555 (deactivated, expired,
 *    revoked, unknown) make a new order, with the message "the order is past
 *    finalization but its key is gone", which is not why (the message predates
 *    them);
 *  - ready/processing/valid at step download are left to download, which reads
 *    the order again; a download step is only persisted once the order was valid,
 *    and an order does not go back, so a ready or processing order there would
 *    fail the job ("order ... has no certificate") rather than finalize again.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "acme/acme.h"
#include "store/lifecycle.h"
#include "worker/resume.h"

static const char *const cases[] = {
	/* step      status      key  action   at */
	"preflight  *           *    noread   preflight",
	"account    *           *    noread   account",
	"order      *           *    noread   order",

	"present    pending     *    run      present",
	"propagate  pending     *    run      propagate",
	"respond    pending     *    run      respond",
	"validate   pending     *    run      validate",
	"cleanup    pending     *    run      respond",
	"finalize   pending     *    run      respond",
	"download   pending     *    run      respond",

	"present    ready       *    run      cleanup",
	"propagate  ready       *    run      cleanup",
	"respond    ready       *    run      cleanup",
	"validate   ready       *    run      cleanup",
	"cleanup    ready       *    run      cleanup",
	"finalize   ready       *    run      finalize",
	"download   ready       *    run      download",

	"present    processing  key  run      finalize",
	"propagate  processing  key  run      finalize",
	"respond    processing  key  run      finalize",
	"validate   processing  key  run      finalize",
	"cleanup    processing  key  run      finalize",
	"finalize   processing  key  run      finalize",
	"download   processing  key  run      download",
	"present    processing  -    reorder  -",
	"propagate  processing  -    reorder  -",
	"respond    processing  -    reorder  -",
	"validate   processing  -    reorder  -",
	"cleanup    processing  -    reorder  -",
	"finalize   processing  -    reorder  -",
	"download   processing  -    reorder  -",

	"present    valid       key  run      finalize",
	"propagate  valid       key  run      finalize",
	"respond    valid       key  run      finalize",
	"validate   valid       key  run      finalize",
	"cleanup    valid       key  run      finalize",
	"finalize   valid       key  run      finalize",
	"download   valid       key  run      download",
	"present    valid       -    reorder  -",
	"propagate  valid       -    reorder  -",
	"respond    valid       -    reorder  -",
	"validate   valid       -    reorder  -",
	"cleanup    valid       -    reorder  -",
	"finalize   valid       -    reorder  -",
	"download   valid       -    reorder  -",

	"present    invalid     *    fail     -",
	"propagate  invalid     *    fail     -",
	"respond    invalid     *    fail     -",
	"validate   invalid     *    fail     -",
	"cleanup    invalid     *    fail     -",
	"finalize   invalid     *    fail     -",
	"download   invalid     *    fail     -",
};
#define NCASES (sizeof(cases) / sizeof(cases[0]))

/* The five statuses an order has (RFC 8555 section 7.1.6). */
static const cf_acme_status statuses[] = { CF_ACME_PENDING, CF_ACME_READY,
					   CF_ACME_PROCESSING, CF_ACME_VALID,
					   CF_ACME_INVALID };
#define NSTATUSES (sizeof(statuses) / sizeof(statuses[0]))

typedef struct row {
	char step[16], status[16], key[8], action[16], at[16];
} row;

static void parse_row(const char *line, row *r)
{
	int n = sscanf(line, "%15s %15s %7s %15s %15s", r->step, r->status, r->key, r->action,
		       r->at);

	if (n != 5)
		fail_msg("malformed case \"%s\"", line);
}

static bool row_matches(const row *r, cf_job_step step, cf_acme_status st, bool key)
{
	return cf_job_step_parse(r->step) == (int)step &&
	       (strcmp(r->status, "*") == 0 || cf_acme_status_parse(r->status) == st) &&
	       (strcmp(r->key, "*") == 0 || strcmp(r->key, key ? "key" : "-") == 0);
}

/* What the worker does, in the table's words. */
static void decide(cf_job_step step, cf_acme_status st, bool key, char action[16],
		   char at[16])
{
	wk_resume r;

	if (!wk_resume_reads_order(step, true)) {
		snprintf(action, 16, "noread");
		snprintf(at, 16, "%s", cf_job_step_name(step));
		return;
	}
	r = wk_resume_decide(step, st, key);
	snprintf(action, 16, "%s", r.action == WK_RESUME_RUN ? "run"
				   : r.action == WK_RESUME_REORDER ? "reorder" : "fail");
	snprintf(at, 16, "%s", r.action == WK_RESUME_RUN ? cf_job_step_name(r.step) : "-");
}

static void test_table_is_well_formed(void **state)
{
	(void)state;
	for (size_t i = 0; i < NCASES; i++) {
		row r;

		parse_row(cases[i], &r);
		if (cf_job_step_parse(r.step) < 0)
			fail_msg("case %zu: unknown step %s", i, r.step);
		if (strcmp(r.status, "*") != 0 && cf_acme_status_parse(r.status) == CF_ACME_UNKNOWN)
			fail_msg("case %zu: unknown status %s", i, r.status);
		if (strcmp(r.at, "-") != 0 && cf_job_step_parse(r.at) < 0)
			fail_msg("case %zu: unknown step %s", i, r.at);
	}
}

/* Every (issuance step, status, key) is stated exactly once, and the decision
 * is the one stated. */
static void test_every_step_and_status(void **state)
{
	size_t checked = 0;

	(void)state;
	for (int s = CF_STEP_PREFLIGHT; s <= CF_STEP_DOWNLOAD; s++)
		for (size_t k = 0; k < NSTATUSES; k++)
			for (int key = 0; key <= 1; key++) {
				const row *hit = NULL;
				row r, rr;
				char action[16], at[16];

				for (size_t i = 0; i < NCASES; i++) {
					parse_row(cases[i], &r);
					if (!row_matches(&r, (cf_job_step)s, statuses[k], key))
						continue;
					if (hit != NULL)
						fail_msg("step %s, %s, key %d: stated twice",
							 cf_job_step_name((cf_job_step)s),
							 cf_acme_status_name(statuses[k]), key);
					rr = r;
					hit = &rr;
				}
				if (hit == NULL)
					fail_msg("step %s, order %s, key %d: not stated",
						 cf_job_step_name((cf_job_step)s),
						 cf_acme_status_name(statuses[k]), key);
				decide((cf_job_step)s, statuses[k], key, action, at);
				if (strcmp(action, hit->action) != 0 || strcmp(at, hit->at) != 0)
					fail_msg("step %s, order %s, key %d: the worker does "
						 "%s %s, the table says %s %s",
						 cf_job_step_name((cf_job_step)s),
						 cf_acme_status_name(statuses[k]), key, action, at,
						 hit->action, hit->at);
				checked++;
			}
	assert_int_equal(checked, 10 * NSTATUSES * 2);
}

/* Without an order URL nothing is read, whatever the step. */
static void test_no_order_no_read(void **state)
{
	(void)state;
	for (int s = 0; s < CF_STEP__MAX; s++)
		assert_false(wk_resume_reads_order((cf_job_step)s, false));
	/* a revocation never resumes an order */
	assert_false(wk_resume_reads_order(CF_STEP_REVOKE, true));
}

/* The statuses an order does not have make a new order (see the note above). */
static void test_other_statuses_reorder(void **state)
{
	const cf_acme_status other[] = { CF_ACME_UNKNOWN, CF_ACME_DEACTIVATED, CF_ACME_EXPIRED,
					 CF_ACME_REVOKED };

	(void)state;
	for (int s = CF_STEP_PRESENT; s <= CF_STEP_DOWNLOAD; s++)
		for (size_t k = 0; k < sizeof(other) / sizeof(other[0]); k++) {
			assert_int_equal(wk_resume_decide((cf_job_step)s, other[k], true).action,
					 WK_RESUME_REORDER);
			assert_int_equal(wk_resume_decide((cf_job_step)s, other[k], false).action,
					 WK_RESUME_REORDER);
		}
}

/* The lifecycle's string tables: every value has a name that parses back. */
static void test_lifecycle_names(void **state)
{
	(void)state;
	for (int s = 0; s < CF_JOB_STATE__MAX; s++)
		assert_int_equal(cf_job_state_parse(cf_job_state_name((cf_job_state)s)), s);
	for (int k = 0; k < CF_JOB_KIND__MAX; k++)
		assert_int_equal(cf_job_kind_parse(cf_job_kind_name((cf_job_kind)k)), k);
	for (int s = 0; s < CF_STEP__MAX; s++)
		assert_int_equal(cf_job_step_parse(cf_job_step_name((cf_job_step)s)), s);
	assert_int_equal(cf_job_state_parse("nope"), -1);
	assert_int_equal(cf_job_step_parse(NULL), -1);
	assert_true(cf_job_state_active(CF_JOB_WAITING));
	assert_false(cf_job_state_active(CF_JOB_ISSUED));
	assert_string_equal(CF_SQL_JOB_ACTIVE, "('queued','running','waiting')");
	assert_string_equal(cf_job_state_list(), "queued, running, waiting, issued, failed, done");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table_is_well_formed),
		cmocka_unit_test(test_every_step_and_status),
		cmocka_unit_test(test_no_order_no_read),
		cmocka_unit_test(test_other_statuses_reorder),
		cmocka_unit_test(test_lifecycle_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
