/*
 * cert_issued.c: storing an issued certificate version, or marking a certificate
 * failed, inside a job's final transaction; see cert_issued.h.
 *
 * The version number is part of the sealed key's AAD, so it is fixed before the
 * key is sealed: the certificate row is locked (FOR UPDATE) first, which
 * serialises two jobs of one certificate (an API-side reissue racing a renewal),
 * then max(version) + 1 is read under that lock.
 */
#include "store/cert_issued.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "store/db.h"
#include "util/buf.h"

/* The leaf's fields (parsed here unless the caller read them with the chain) and
 * the ETag over leaf || chain (the full chain as it is served). */
static int describe(cf_issued *in, cf_err *err)
{
	cf_cert_info own = {0};
	const cf_cert_info *info = in->info;
	cf_buf full = {0};
	uint8_t sum[32];
	char *hex = in->etag;

	if (info == NULL && cf_cert_info_from_pem(in->leaf_pem, strlen(in->leaf_pem), &own,
						  err) != 0)
		return -1;
	if (info == NULL)
		info = &own;
	snprintf(in->serial, sizeof(in->serial), "%s", info->serial);
	snprintf(in->issuer_cn, sizeof(in->issuer_cn), "%s", info->issuer_cn);
	in->not_before = info->not_before;
	in->not_after = info->not_after;
	if (cf_buf_append_str(&full, in->leaf_pem) != 0 ||
	    cf_buf_append_str(&full, in->chain_pem) != 0) {
		cf_cert_info_free(&own);
		cf_buf_free(&full);
		return cf_err_oom(err, NULL);
	}
	cf_sha256(full.data, full.len, sum);
	*hex++ = '"';
	for (int i = 0; i < 32; i++, hex += 2)
		snprintf(hex, 3, "%02x", sum[i]);
	snprintf(hex, 2, "\"");
	cf_buf_free(&full);
	cf_cert_info_free(&own);
	return 0;
}

/* Locks the certificate and returns its next version number (> 0), or -1: one
 * statement, the lock (FOR UPDATE of the certificate row) taken before the
 * max(version) under it is read. */
static int next_version(PGconn *c, const char *cert_id, cf_err *err)
{
	const char *p[1] = {cert_id};
	PGresult *r;
	int v = -1;

	r = cf_db_execp(c, "next version",
			"SELECT coalesce((SELECT max(v.version) FROM certificate_versions v"
			" WHERE v.certificate_id = c.id), 0) + 1"
			" FROM certificates c WHERE c.id = $1 FOR UPDATE OF c",
			1, p, err);
	if (r == NULL)
		return -1;
	if (PQntuples(r) != 1)
		cf_err_set(err, CF_ERR_PERMANENT, "certificate %s no longer exists", cert_id);
	else
		v = atoi(PQgetvalue(r, 0, 0));
	PQclear(r);
	return v;
}

/* The version, (with an issuer) the duplicate_sets unit of its name set, and the
 * certificate's pointer to the version, one statement. */
static const char insert_sql[] =
	"WITH u AS (INSERT INTO issuer_usage (issuer, limit_name, key, job_id)"
	" SELECT name, 'duplicate_sets', $14::text, $10::uuid FROM issuers"
	" WHERE name = $12::text AND $14::text IS NOT NULL),"
	" i AS (INSERT INTO certificate_versions (certificate_id, version, serial, not_before,"
	" not_after, cert_pem, chain_pem, key_sealed, etag, job_id, issuer_cn, issuer, profile)"
	" VALUES ($1, $2, $3, to_timestamp($4::float8), to_timestamp($5::float8), $6, $7,"
	" $8, $9, $10, nullif($11, ''), $12, $13) RETURNING certificate_id, version)"
	" UPDATE certificates c SET status = 'valid', current_version = i.version,"
	" validation_failures = 0, updated_at = now() FROM i WHERE c.id = i.certificate_id";

static int insert_version(PGconn *c, const cf_job_ref *job, const cf_issued *in,
			  const cf_buf *sealed, cf_err *err)
{
	char ver[16], nb[32], na[32];
	const char *p[14] = {in->certificate_id, ver, in->serial, nb, na, in->leaf_pem,
			     in->chain_pem, (const char *)sealed->data, in->etag, job->id,
			     in->issuer_cn, in->issuer, in->profile, in->name_set};
	int lens[14] = {0}, fmts[14] = {0};
	PGresult *r;

	snprintf(ver, sizeof(ver), "%d", in->version);
	snprintf(nb, sizeof(nb), "%lld", (long long)in->not_before);
	snprintf(na, sizeof(na), "%lld", (long long)in->not_after);
	lens[7] = (int)sealed->len;
	fmts[7] = 1;
	r = cf_db_execbp(c, "store certificate version", insert_sql, 14, p, lens, fmts, err);
	if (r == NULL)
		return -1;
	PQclear(r);
	return 0;
}

int cf_issued_version_hook(PGconn *c, const cf_job_ref *job, void *arg, cf_err *err)
{
	cf_issued *in = arg;
	cf_buf sealed = {0};
	char aad[160];
	int rc = -1;

	if (describe(in, err) != 0)
		goto out;
	if ((in->version = next_version(c, in->certificate_id, err)) < 0)
		goto out;
	snprintf(aad, sizeof(aad), "certificate_versions:%s:%d", in->certificate_id, in->version);
	if (cf_seal(in->master_key, aad, in->key_pem, strlen(in->key_pem), &sealed, err) != 0 ||
	    insert_version(c, job, in, &sealed, err) != 0)
		goto out;
	rc = 0;
out:
	cf_buf_free(&sealed);
	return rc;
}

int cf_issued_failed_hook(PGconn *c, const cf_job_ref *job, void *arg, cf_err *err)
{
	const char *p[1] = {arg};

	return cf_db_run(c, "mark certificate failed",
			 "UPDATE certificates SET status = 'failed', updated_at = now()"
			 " WHERE id = $1 AND current_version IS NULL",
			 1, p, err);
}
