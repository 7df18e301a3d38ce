/*
 * revoke.c: running a revocation job (kind 'revoke', queued by
 * POST /v1/certificates/{id}/versions/{version}/revoke): the version's
 * certificate is revoked at the CA with revokeCert (RFC 8555 section 7.6), signed
 * by the account key (the account that ordered it), and the job ends in state
 * 'done' with cf_revoked_hook in the same fenced transaction: the version's
 * revoked_at and reason, the certificate's status, the optional replacement
 * issuance and the "revoked" webhook event.
 *
 * A claim that resumes after a crash may find the certificate revoked already:
 * by the database (the hook committed: nothing to do but finish) or by the CA
 * (alreadyRevoked: the earlier attempt's request went through), and both end the
 * job as a success. Errors go through job.c like an issuance step's: transient
 * ones are retried with backoff, permanent ones fail the job.
 */
#include "worker/worker_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "store/versions.h"

static bool already_revoked(const cf_err *e)
{
	return e->problem != NULL && strstr(e->problem, "alreadyRevoked") != NULL;
}

/* Asks the CA; *note says what happened when it is not a plain success. */
static wk_rc revoke_at_ca(wk_job *j, const char *pem, int reason, const char **note)
{
	wk_rc rc;

	if ((rc = wk_account_ensure(j)) != WK_NEXT)
		return rc;
	if (cf_acme_cert_revoke(j->w->client, pem, strlen(pem), reason, NULL, &j->err) == 0)
		return WK_NEXT;
	if (!already_revoked(&j->err))
		return wk_err(j);
	cf_err_clear(&j->err);
	*note = " (the CA had revoked it already)";
	return WK_NEXT;
}

static wk_rc finish(wk_job *j, cf_revoked *rv, const char *note)
{
	cf_job_change ch = CF_JOB_KEEP;
	wk_rc rc;

	ch.state = "done";
	ch.finished = true;
	ch.hook = cf_revoked_hook;
	ch.hook_arg = rv;
	rc = wk_write(j, &ch, "revoke", true, NULL, "version %d revoked%s, reason %d%s",
		      rv->version, note, rv->reason, rv->replace ? "; a replacement issuance is queued" : "");
	if (rc != WK_NEXT)
		return rc;
	cf_log(CF_LOG_INFO, "job.revoked", "certificate %s version %d revoked%s%s%s",
	       rv->certificate_id, rv->version, note,
	       rv->replacement[0] ? "; replacement job " : "", rv->replacement);
	return WK_DONE;
}

wk_rc wk_revoke_run(wk_job *j)
{
	cf_revoked rv = {.certificate_id = j->cl.certificate_id,
			 .webhook_urls = j->w->app->cfg->webhook_urls};
	const char *note = "";
	const json_t *v;
	bool revoked = false;
	char *pem = NULL;
	PGconn *db;
	wk_rc rc;

	snprintf(j->step, sizeof(j->step), "revoke");
	j->t0 = wk_now_ms();
	if ((j->data = json_loads(j->cl.data, 0, NULL)) == NULL)
		j->data = json_object();
	v = json_object_get(j->data, "version");
	rv.version = (int)json_integer_value(v);
	rv.reason = json_is_integer(json_object_get(j->data, "reason"))
			    ? (int)json_integer_value(json_object_get(j->data, "reason"))
			    : CF_ACME_REASON_NONE;
	rv.replace = json_is_true(json_object_get(j->data, "replace"));
	if (!json_is_integer(v) || rv.version < 1)
		return wk_fail(j, CF_ERR_PERMANENT, "the job names no version to revoke");
	if ((rc = wk_check(j)) != WK_NEXT)
		return rc;
	if ((db = wk_db(j)) == NULL)
		return wk_db_err(j);
	if ((pem = cf_version_pem(db, rv.certificate_id, rv.version, &revoked, &j->err)) == NULL)
		return j->err.cls == CF_ERR_PERMANENT && !cf_db_lost(db) ? wk_err(j) : wk_db_err(j);
	if (revoked)
		note = " (it was marked revoked already)";
	else if ((rc = revoke_at_ca(j, pem, rv.reason, &note)) != WK_NEXT)
		goto out;
	rc = finish(j, &rv, note);
out:
	free(pem);
	return rc;
}
