/*
 * h_jobs.c: /v1/jobs: issuance jobs as the workers leave them: state, step,
 * attempt, the timeline of events, and the final problem (the CA's problem
 * document verbatim) when a job failed. Read only: jobs are queued through
 * /v1/certificates and changed only by workers.
 */
#include "http/http.h"

#include <errno.h>
#include <stdlib.h>

#include "api/validate.h"
#include "store/jobs.h"
#include "store/rows.h"

#define LIST_DEFAULT 100
#define LIST_MAX 1000

int cf_h_jobs_list(cf_app *app, cf_http_req *req, cf_http_resp *resp)
{
	const char *cert = cf_req_query(req, "certificate");
	const char *state = cf_req_query(req, "state");
	cf_verrs errs = { 0 };
	cf_err err = { 0 };
	json_t *out = NULL;
	cf_page pg;
	int rc;

	if (cert != NULL && !cf_valid_slug(cert))
		cf_verrs_add(&errs, "certificate", "\"%.80s\" is not a certificate id (a slug)",
			     cert);
	if (state != NULL && cf_job_state_parse(state) < 0)
		cf_verrs_add(&errs, "state", "\"%.40s\" is not a job state (%s)", state,
			     cf_job_state_list());
	if (cf_page_parse(req, "ts", LIST_DEFAULT, &pg, &errs) != 0 || errs.n > 0) {
		cf_resp_invalid(resp, &errs);
		cf_page_free(&pg);
		return 0;
	}
	rc = cf_jobs_page_json(req->db, cert, state, &pg.q, &out, &err);
	cf_page_reply(req, resp, &pg, rc, out, &err);
	return 0;
}

int cf_h_job_get(cf_app *app, cf_http_req *req, cf_http_resp *resp)
{
	const char *id = req->params[0];
	json_t *out = NULL;
	cf_err err = { 0 };

	if (!cf_is_uuid(id))
		cf_resp_problem(resp, 404, "not-found", NULL, "no job \"%.80s\" (a job id is a UUID)",
				id);
	else if (cf_job_get_json(req->db, id, true, &out, &err) != 0)
		cf_resp_store_error(req, resp, &err);
	else if (out == NULL)
		cf_resp_problem(resp, 404, "not-found", NULL, "no job %s", id);
	else
		cf_resp_json(resp, 200, out);
	cf_err_clear(&err);
	return 0;
}
