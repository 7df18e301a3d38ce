/*
 * resume.c: the resume rule of an issuance job; see resume.h. No I/O: job.c
 * reads the order and applies the decision.
 */
#include "worker/resume.h"

bool wk_resume_reads_order(cf_job_step persisted, bool has_order)
{
	return has_order && persisted >= CF_STEP_PRESENT && persisted <= CF_STEP_DOWNLOAD;
}

wk_resume wk_resume_decide(cf_job_step persisted, cf_acme_status status, bool has_key)
{
	wk_resume r = { WK_RESUME_RUN, persisted };

	switch (status) {
	case CF_ACME_PENDING:
		if (persisted > CF_STEP_VALIDATE)
			r.step = CF_STEP_RESPOND;
		break;
	case CF_ACME_READY:
		if (persisted < CF_STEP_CLEANUP)
			r.step = CF_STEP_CLEANUP;
		break;
	case CF_ACME_PROCESSING:
	case CF_ACME_VALID:
		if (!has_key)
			r.action = WK_RESUME_REORDER;
		else if (persisted < CF_STEP_FINALIZE)
			r.step = CF_STEP_FINALIZE;
		break;
	case CF_ACME_INVALID:
		r.action = WK_RESUME_FAIL;
		break;
	default:
		r.action = WK_RESUME_REORDER;
		break;
	}
	return r;
}
