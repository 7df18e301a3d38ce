/*
 * certificates.c: the certificates table; see certificates.h.
 *
 * The normalised definition travels to PostgreSQL as one jsonb parameter and is
 * taken apart there (arrays with WITH ORDINALITY, so the order of the names is
 * kept), and representations are assembled by json_build_object with timestamps
 * formatted in UTC. No SQL text is ever built from input.
 */
#include "store/certificates.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/db.h"
#include "store/lifecycle.h"
#include "store/paging.h"
#include "store/rows.h"

/* text[] from a JSON array member of the jsonb parameter $1, in order. */
#define ARRAY_OF(member)                                                                   \
	"ARRAY(SELECT e FROM jsonb_array_elements_text($1::jsonb -> '" member "') "        \
	"WITH ORDINALITY AS t(e, i) ORDER BY i)"

/* The dns_alias member as a column value: SQL NULL for json null. */
#define ALIAS_OF "NULLIF($1::jsonb -> 'dns_alias', 'null'::jsonb)"

/* The admin_keys member (false when absent). */
#define ADMIN_KEYS_OF "COALESCE(($1::jsonb -> 'admin_keys')::boolean, false)"

/* The renew_fraction member (absent: the default of 0001_core, 2/3). */
#define RENEW_FRACTION_OF "COALESCE(($1::jsonb ->> 'renew_fraction')::real, 0.6667)"

/* The issuers member (absent: the issuer "default") and the profile (or NULL). */
#define ISSUERS_OF                                                                         \
	"COALESCE(NULLIF(" ARRAY_OF("issuers") ", '{}'), '{default}')"
#define PROFILE_OF "$1::jsonb ->> 'profile'"

static int doc_exec(PGconn *conn, const char *what, const char *sql, const json_t *doc, cf_err *err)
{
	char *text = json_dumps(doc, JSON_COMPACT);
	const char *params[1] = { text };
	PGresult *res;
	int rc = -1;

	if (text == NULL)
		return cf_err_oom(err, NULL);
	res = cf_db_exec(conn, what, sql, 1, params, err);
	if (res != NULL)
		rc = PQntuples(res) == 1 ? 1 : 0;
	PQclear(res);
	free(text);
	return rc;
}

int cf_cert_insert(PGconn *conn, const json_t *doc, cf_err *err)
{
	return doc_exec(conn, "creating a certificate",
			"INSERT INTO certificates (id, domains, dns_alias, provider, key_type, "
			"hosts, admin_keys, renew_fraction, issuers, profile) SELECT $1::jsonb ->> 'id', "
			ARRAY_OF("domains") ", " ALIAS_OF ", $1::jsonb -> 'provider', "
			"$1::jsonb ->> 'key_type', " ARRAY_OF("hosts") ", " ADMIN_KEYS_OF ", "
			RENEW_FRACTION_OF ", " ISSUERS_OF ", " PROFILE_OF " ON CONFLICT (id) DO NOTHING RETURNING id",
			doc, err);
}

int cf_cert_update(PGconn *conn, const json_t *doc, cf_err *err)
{
	return doc_exec(conn, "updating a certificate",
			"UPDATE certificates SET domains = " ARRAY_OF("domains") ", dns_alias = "
			ALIAS_OF ", provider = $1::jsonb -> 'provider', key_type = $1::jsonb ->> "
			"'key_type', hosts = " ARRAY_OF("hosts") ", admin_keys = " ADMIN_KEYS_OF
			", renew_fraction = " RENEW_FRACTION_OF ", issuers = " ISSUERS_OF ", "
			"profile = " PROFILE_OF ", updated_at = now() "
			"WHERE id = $1::jsonb ->> 'id' RETURNING id",
			doc, err);
}

/* Runs a one-parameter query whose single column is JSON text; *out is the
 * parsed value of the first row, or NULL when there is none. */
static int json_query(PGconn *conn, const char *what, const char *sql, const char *param,
		      json_t **out, cf_err *err)
{
	const char *params[1] = { param };
	PGresult *res;
	int rc = 0;

	*out = NULL;
	res = cf_db_exec(conn, what, sql, param ? 1 : 0, param ? params : NULL, err);
	if (res == NULL)
		return -1;
	if (PQntuples(res) > 0 && (*out = cf_row_json(res, 0, 0)) == NULL)
		rc = cf_err_oom(err, what);
	PQclear(res);
	return rc;
}

int cf_cert_get_doc_locked(PGconn *conn, const char *id, json_t **doc, cf_err *err)
{
	return json_query(conn, "reading a certificate",
			  "SELECT json_build_object('id', id, 'domains', to_json(domains), "
			  "'dns_alias', dns_alias, 'provider', provider, 'key_type', key_type, "
			  "'hosts', to_json(hosts), 'admin_keys', admin_keys, "
			  "'renew_fraction', renew_fraction, 'issuers', to_json(issuers), "
			  "'profile', profile)::text "
			  "FROM certificates WHERE id = $1 "
			  "FOR NO KEY UPDATE",
			  id, doc, err);
}

#define CERT_JSON                                                                          \
	"json_build_object('id', c.id, 'domains', to_json(c.domains), 'dns_alias', "       \
	"c.dns_alias, 'provider', c.provider, 'key_type', c.key_type, 'hosts', "           \
	"to_json(c.hosts), 'admin_keys', c.admin_keys, 'renew_fraction', "                \
	"c.renew_fraction, 'issuers', to_json(c.issuers), 'profile', c.profile, "          \
	"'status', c.status, "                                                             \
	"'current_version', (SELECT json_strip_nulls("                                     \
	"json_build_object('version', v.version, 'serial', v.serial, 'not_before', "       \
	CF_SQL_TS("v.not_before") ", 'not_after', " CF_SQL_TS("v.not_after") ", "          \
	"'revoked_at', " CF_SQL_TS("v.revoked_at") ", 'revocation_reason', "               \
	"v.revocation_reason)) "                                                           \
	"FROM certificate_versions v WHERE v.certificate_id = c.id AND v.version = "       \
	"c.current_version), 'created_at', " CF_SQL_TS("c.created_at") ", 'updated_at', "  \
	CF_SQL_TS("c.updated_at") ")"

int cf_cert_get_json(PGconn *conn, const char *id, json_t **out, cf_err *err)
{
	return json_query(conn, "reading a certificate",
			  "SELECT " CERT_JSON "::text FROM certificates c WHERE c.id = $1", id,
			  out, err);
}

int cf_cert_exists(PGconn *conn, const char *id, cf_err *err)
{
	const char *params[1] = { id };
	PGresult *res;
	int rc;

	res = cf_db_exec(conn, "finding a certificate", "SELECT 1 FROM certificates WHERE id = $1",
			 1, params, err);
	if (res == NULL)
		return -1;
	rc = PQntuples(res) == 1 ? 1 : 0;
	PQclear(res);
	return rc;
}

/* Locks the active job of certificate id, if any. A worker's claim (SKIP LOCKED)
 * then passes it by, and a job claimed first is seen as running. Returns 1 busy
 * (running or waiting: busy_job/busy_state set), 0 not busy, -1 on error. */
static int lock_active_job(PGconn *conn, const char *id, char busy_job[CF_JOB_ID_LEN + 1],
			   char busy_state[16], cf_err *err)
{
	const char *params[1] = { id };
	PGresult *res;
	int rc = 0;

	res = cf_db_exec(conn, "locking a certificate's active job",
			 "SELECT id, state FROM jobs WHERE certificate_id = $1 AND state IN "
			 CF_SQL_JOB_ACTIVE " FOR UPDATE",
			 1, params, err);
	if (res == NULL)
		return -1;
	if (PQntuples(res) > 0 && cf_job_state_parse(PQgetvalue(res, 0, 1)) != CF_JOB_QUEUED) {
		snprintf(busy_job, CF_JOB_ID_LEN + 1, "%s", PQgetvalue(res, 0, 0));
		snprintf(busy_state, 16, "%s", PQgetvalue(res, 0, 1));
		rc = 1;
	}
	PQclear(res);
	return rc;
}

int cf_cert_delete(PGconn *conn, const char *id, char busy_job[CF_JOB_ID_LEN + 1],
		   char busy_state[16], cf_err *err)
{
	const char *params[1] = { id };
	PGresult *res = NULL;
	int r;

	busy_job[0] = busy_state[0] = '\0';
	/* Locks in the workers' order, job before certificate (a worker finishing a
	 * job updates the job, then locks the certificate), so the two cannot
	 * deadlock. Once the certificate is locked no job can be added (its foreign
	 * key needs a lock on the row), and a second look catches one added before. */
	if ((r = lock_active_job(conn, id, busy_job, busy_state, err)) != 0)
		return r < 0 ? -1 : 2;
	res = cf_db_exec(conn, "locking a certificate",
			 "SELECT 1 FROM certificates WHERE id = $1 FOR UPDATE", 1, params, err);
	if (res == NULL)
		return -1;
	r = PQntuples(res);
	PQclear(res);
	if (r == 0)
		return 0;
	if ((r = lock_active_job(conn, id, busy_job, busy_state, err)) != 0)
		return r < 0 ? -1 : 2;
	return cf_db_run(conn, "deleting a certificate", "DELETE FROM certificates WHERE id = $1",
			 1, params, err) == 0 ? 1 : -1;
}

/* ---- what a fetch needs ---- */

void cf_cert_fetch_free(cf_cert_fetch *f)
{
	if (f == NULL)
		return;
	for (size_t i = 0; i < f->nhosts; i++)
		free(f->hosts[i]);
	free(f->hosts);
	free(f->cert_pem);
	free(f->chain_pem);
	if (f->key_sealed != NULL)
		PQfreemem(f->key_sealed);
	memset(f, 0, sizeof(*f));
}

/* hosts from the JSON array text of column c. */
static int fetch_hosts(const PGresult *res, int c, cf_cert_fetch *f)
{
	json_t *arr = cf_row_json(res, 0, c), *v;
	size_t i;
	int rc = -1;

	if (!json_is_array(arr))
		goto out;
	f->hosts = calloc(json_array_size(arr) + 1, sizeof(char *));
	if (f->hosts == NULL)
		goto out;
	json_array_foreach(arr, i, v) {
		if (!json_is_string(v) || (f->hosts[i] = strdup(json_string_value(v))) == NULL)
			goto out;
		f->nhosts++;
	}
	rc = 0;
out:
	json_decref(arr);
	return rc;
}

/* The version columns (from 2 on) of a row whose current version exists. */
static int fetch_version(const PGresult *res, cf_cert_fetch *f)
{
	size_t len = 0;

	f->version = (int)cf_col_int(res, 0, 2, 0);
	cf_col_copy(f->etag, sizeof(f->etag), res, 0, 3);
	cf_col_copy(f->serial, sizeof(f->serial), res, 0, 4);
	cf_col_copy(f->not_before, sizeof(f->not_before), res, 0, 5);
	cf_col_copy(f->not_after, sizeof(f->not_after), res, 0, 6);
	if (cf_col_dup(res, 0, 7, &f->cert_pem) != 0 || cf_col_dup(res, 0, 8, &f->chain_pem) != 0)
		return -1;
	f->key_sealed = PQunescapeBytea((const unsigned char *)PQgetvalue(res, 0, 9), &len);
	f->key_sealed_len = len;
	cf_col_copy(f->revoked_at, sizeof(f->revoked_at), res, 0, 10);
	f->revocation_reason = (int)cf_col_int(res, 0, 11, -1);
	return f->cert_pem && f->chain_pem && f->key_sealed ? 0 : -1;
}

int cf_cert_fetch_load(PGconn *conn, const char *id, cf_cert_fetch *f, cf_err *err)
{
	const char *params[1] = { id };
	PGresult *res;
	int rc = -1;

	memset(f, 0, sizeof(*f));
	f->revocation_reason = -1;
	res = cf_db_exec(conn, "reading a certificate for a fetch",
			 "SELECT to_json(c.hosts)::text, c.admin_keys, v.version, v.etag, "
			 "v.serial, " CF_SQL_TS("v.not_before") ", " CF_SQL_TS("v.not_after")
			 ", v.cert_pem, v.chain_pem, v.key_sealed, " CF_SQL_TS("v.revoked_at")
			 ", v.revocation_reason FROM certificates c "
			 "LEFT JOIN certificate_versions v ON v.certificate_id = c.id "
			 "AND v.version = c.current_version WHERE c.id = $1",
			 1, params, err);
	if (res == NULL)
		return -1;
	if (PQntuples(res) == 0) {
		rc = 0;
		goto out;
	}
	f->exists = true;
	f->admin_keys = cf_col_bool(res, 0, 1);
	if (fetch_hosts(res, 0, f) != 0 ||
	    (!PQgetisnull(res, 0, 2) && fetch_version(res, f) != 0)) {
		cf_err_oom(err, NULL);
		cf_err_wrap(err, "reading certificate %s", id);
		goto out;
	}
	rc = 0;
out:
	PQclear(res);
	if (rc != 0)
		cf_cert_fetch_free(f);
	return rc;
}

int cf_cert_status(PGconn *conn, const char *id, char status[16], cf_err *err)
{
	const char *params[1] = { id };
	PGresult *res;
	int rc = 0;

	status[0] = '\0';
	res = cf_db_exec(conn, "reading a certificate's status",
			 "SELECT status FROM certificates WHERE id = $1", 1, params, err);
	if (res == NULL)
		return -1;
	if (PQntuples(res) == 1) {
		snprintf(status, 16, "%s", PQgetvalue(res, 0, 0));
		rc = 1;
	}
	PQclear(res);
	return rc;
}

int cf_cert_resume(PGconn *conn, const char *id, cf_err *err)
{
	const char *params[1] = { id };
	PGresult *res;
	int rc;

	res = cf_db_exec(conn, "resuming a certificate",
			 "UPDATE certificates SET status = CASE WHEN current_version IS NULL "
			 "THEN 'pending' ELSE 'valid' END, validation_failures = 0, "
			 "updated_at = now() WHERE id = $1 AND status = 'paused' RETURNING id",
			 1, params, err);
	if (res == NULL)
		return -1;
	rc = PQntuples(res) == 1 ? 1 : 0;
	PQclear(res);
	return rc;
}

int cf_cert_page_json(PGconn *conn, long within_s, cf_page_q *q, json_t **out, cf_err *err)
{
	char lim[16], secs[24];
	const char *p[4] = { cf_page_after_param(q, 0), cf_page_after_param(q, 1),
			     cf_page_limit_param(q, lim), secs };
	const char *all[2] = { p[0], p[2] };

	snprintf(secs, sizeof(secs), "%ld", within_s);
	if (within_s < 0)
		return cf_page_query(conn, "listing certificates",
				  "SELECT " CERT_JSON "::text, c.id FROM certificates c "
				  "WHERE $1 = '' OR c.id > $1 ORDER BY c.id LIMIT $2::int",
				  2, all, 1, q, "certificates", out, err);
	return cf_page_query(conn, "listing expiring certificates",
			  "SELECT " CERT_JSON "::text, v.not_after::text, c.id FROM certificates c"
			  " JOIN certificate_versions v ON v.certificate_id = c.id"
			  " AND v.version = c.current_version"
			  " WHERE v.not_after <= now() + make_interval(secs => $4::float8)"
			  " AND ($1 = '' OR (v.not_after, c.id) > (NULLIF($1, '')::timestamptz, $2))"
			  " ORDER BY v.not_after, c.id LIMIT $3::int",
			  4, p, 2, q, "certificates", out, err);
}
