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
	const char *limit_s = cf_req_query(req, "limit");
	cf_verrs errs = { 0 };
	cf_err err = { 0 };
	json_t *out = NULL;
	long limit = LIST_DEFAULT;
	char *end = NULL;

	if (cert != NULL && !cf_valid_slug(cert))
		cf_verrs_add(&errs, "certificate", "\"%.80s\" is not a certificate id (a slug)",
			     cert);
	if (state != NULL && !cf_job_state_valid(state))
		cf_verrs_add(&errs, "state", "\"%.40s\" is not a job state (queued, running, "
			     "waiting, issued, failed, done)", state);
	if (limit_s != NULL) {
		errno = 0;
		limit = strtol(limit_s, &end, 10);
		if (errno != 0 || limit_s[0] == '\0' || *end != '\0' || limit < 1 ||
		    limit > LIST_MAX)
			cf_verrs_add(&errs, "limit", "must be a number from 1 to %d", LIST_MAX);
	}
	if (errs.n > 0)
		cf_resp_invalid(resp, &errs);
	else if (cf_jobs_list_json(req->db, cert, state, (int)limit, &out, &err) != 0)
		cf_resp_store_error(req, resp, &err);
	else
		cf_resp_json(resp, 200, out);
	cf_err_clear(&err);
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
