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
#include "util/clock.h"

static bool already_revoked(const cf_err *e)
{
	return e->problem != NULL && strstr(e->problem, "alreadyRevoked") != NULL;
}

/* The issuer that issued the version (revokeCert goes to its CA), into
 * data.issuer; versions from before issuers keep the issuer "default". */
static wk_rc version_issuer(wk_job *j, PGconn *db, int version)
{
	char ver[16];
	const char *p[2] = {j->cl.certificate_id, ver};
	PGresult *r;

	snprintf(ver, sizeof(ver), "%d", version);
	r = cf_db_exec(db, "a version's issuer",
		       "SELECT issuer FROM certificate_versions WHERE certificate_id = $1 AND "
		       "version = $2::int AND issuer IS NOT NULL",
		       2, p, &j->err);
	if (r == NULL)
		return wk_db_err(j);
	if (PQntuples(r) == 1)
		json_object_set_new(j->data, "issuer", json_string(PQgetvalue(r, 0, 0)));
	PQclear(r);
	return WK_NEXT;
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

	ch.state = CF_JOB_DONE;
	ch.finished = true;
	ch.hook = cf_revoked_hook;
	ch.hook_arg = rv;
	rc = wk_write(j, &ch, WK_EV(REVOKE), true, NULL, "version %d revoked%s, reason %d%s",
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

	j->step = CF_STEP_REVOKE;
	j->t0 = cf_clock_mono_ms();
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
	else if ((rc = version_issuer(j, db, rv.version)) != WK_NEXT ||
		 (rc = revoke_at_ca(j, pem, rv.reason, &note)) != WK_NEXT)
		goto out;
	rc = finish(j, &rv, note);
out:
	free(pem);
	return rc;
}
