/*
 * versions.c: listing certificate versions and revoking them; see versions.h.
 *
 * The revocation job's data is built by jsonb_build_object from typed
 * parameters; the worker reads it back with jansson. The hook's statements all
 * key on (certificate_id, version), so a version that is not the current one is
 * marked revoked without touching the certificate's status.
 */
#include "store/versions.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/db.h"
#include "store/jobs.h"
#include "store/paging.h"
#include "store/rows.h"
#include "store/webhooks.h"

#define VERSION_JSON                                                                       \
	"json_build_object('version', v.version, 'serial', v.serial, 'not_before', "      \
	CF_SQL_TS("v.not_before") ", 'not_after', " CF_SQL_TS("v.not_after") ", "         \
	"'issuer_cn', v.issuer_cn, 'issuer', v.issuer, 'profile', v.profile, 'created_at', " CF_SQL_TS("v.created_at") ", "         \
	"'revoked_at', " CF_SQL_TS("v.revoked_at") ", 'revocation_reason', "              \
	"v.revocation_reason, 'current', v.version IS NOT DISTINCT FROM c.current_version)"

int cf_version_state(PGconn *c, const char *cert_id, int version, bool *revoked, cf_err *err)
{
	char ver[16];
	const char *p[2] = {cert_id, ver};
	PGresult *r;
	int rc;

	snprintf(ver, sizeof(ver), "%d", version);
	r = cf_db_exec(c, "reading a version",
		       "SELECT revoked_at IS NOT NULL FROM certificate_versions"
		       " WHERE certificate_id = $1 AND version = $2::int",
		       2, p, err);
	if (r == NULL)
		return -1;
	rc = PQntuples(r) == 1;
	*revoked = rc && strcmp(PQgetvalue(r, 0, 0), "t") == 0;
	PQclear(r);
	return rc;
}

int cf_revoke_enqueue(PGconn *c, const char *cert_id, int version, int reason, bool replace,
		      char job_id[40], cf_err *err)
{
	char data[96];
	cf_job_new nj = { .certificate_id = cert_id, .kind = CF_JOB_KIND_REVOKE,
			  .step = CF_STEP_REVOKE, .data = data };
	int rc;

	snprintf(data, sizeof(data), "{\"version\": %d, \"reason\": %d, \"replace\": %s}",
		 version, reason, replace ? "true" : "false");
	if ((rc = cf_job_insert(c, &nj, job_id, err)) != 0)
		return rc;
	return cf_job_active_id(c, cert_id, job_id, err) < 0 ? -1 : 0;
}

char *cf_version_pem(PGconn *c, const char *cert_id, int version, bool *revoked, cf_err *err)
{
	char ver[16];
	const char *p[2] = {cert_id, ver};
	PGresult *r;
	char *pem = NULL;

	snprintf(ver, sizeof(ver), "%d", version);
	r = cf_db_exec(c, "reading a version",
		       "SELECT cert_pem, revoked_at IS NOT NULL FROM certificate_versions"
		       " WHERE certificate_id = $1 AND version = $2::int",
		       2, p, err);
	if (r == NULL)
		return NULL;
	if (PQntuples(r) != 1)
		cf_err_set(err, CF_ERR_PERMANENT, "certificate %s has no version %d", cert_id,
			   version);
	else if ((pem = strdup(PQgetvalue(r, 0, 0))) == NULL)
		cf_err_oom(err, NULL);
	else
		*revoked = strcmp(PQgetvalue(r, 0, 1), "t") == 0;
	PQclear(r);
	return pem;
}

/* The replacement issuance, queued in the revocation's transaction. */
static int queue_replacement(PGconn *c, cf_revoked *rv, const cf_job_ref *job, cf_err *err)
{
	char data[96], msg[160];
	cf_job_new nj = { .certificate_id = rv->certificate_id, .kind = CF_JOB_KIND_ISSUE,
			  .step = CF_STEP_PREFLIGHT, .data = data, .event = msg };

	snprintf(data, sizeof(data), "{\"replacing_revoked\": \"%s\"}", job->id);
	snprintf(msg, sizeof(msg), "queued to replace version %d, revoked by job %s", rv->version,
		 job->id);
	/* 0: another job is active: it issues anyway */
	return cf_job_insert(c, &nj, rv->replacement, err) < 0 ? -1 : 0;
}

int cf_revoked_hook(PGconn *c, const cf_job_ref *job, void *arg, cf_err *err)
{
	cf_revoked *rv = arg;
	char ver[16], rsn[16], data[200];
	const char *p[3] = {rv->certificate_id, ver, rsn};

	snprintf(ver, sizeof(ver), "%d", rv->version);
	snprintf(rsn, sizeof(rsn), "%d", rv->reason);
	if (cf_db_run(c, "marking the version revoked",
		      "UPDATE certificate_versions SET revoked_at = coalesce(revoked_at, now()),"
		      " revocation_reason = CASE WHEN $3::int >= 0 THEN $3::int END"
		      " WHERE certificate_id = $1 AND version = $2::int",
		      3, p, err) != 0 ||
	    cf_db_run(c, "marking the certificate revoked",
		      "UPDATE certificates SET status = 'revoked', updated_at = now()"
		      " WHERE id = $1 AND current_version = $2::int",
		      2, p, err) != 0)
		return -1;
	if (rv->replace && queue_replacement(c, rv, job, err) != 0)
		return -1;
	snprintf(data, sizeof(data), "{\"version\":%d,\"reason\":%d,\"job\":\"%s\"}", rv->version,
		 rv->reason, job->id);
	return cf_webhook_enqueue(c, rv->webhook_urls, "revoked", rv->certificate_id, data,
				  err) < 0 ? -1 : 0;
}

int cf_versions_page_json(PGconn *c, const char *cert_id, cf_page_q *q, json_t **out,
			  cf_err *err)
{
	char lim[16];
	const char *p[3] = { cert_id, cf_page_after_param(q, 0), cf_page_limit_param(q, lim) };
	PGresult *r = cf_db_exec(c, "finding a certificate",
				 "SELECT 1 FROM certificates WHERE id = $1", 1, p, err);
	json_t *list, *o, *v, *tmp;
	const char *k;
	size_t i;

	*out = NULL;
	if (r == NULL)
		return -1;
	i = (size_t)PQntuples(r);
	PQclear(r);
	if (i == 0)
		return 0;
	if (cf_page_query(c, "listing versions",
		       "SELECT json_strip_nulls(" VERSION_JSON ")::text, v.version::text "
		       "FROM certificate_versions v JOIN certificates c ON c.id = v.certificate_id "
		       "WHERE v.certificate_id = $1 AND ($2 = '' OR v.version < NULLIF($2, '')::int) "
		       "ORDER BY v.version DESC LIMIT $3::int",
		       3, p, 1, q, "versions", out, err) != 0)
		return -1;
	list = json_object_get(*out, "versions");
	json_array_foreach(list, i, o)
		json_object_foreach_safe(o, tmp, k, v)
			if (json_is_null(v))
				json_object_del(o, k);
	return 0;
}
