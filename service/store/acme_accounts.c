/*
 * acme_accounts.c: finding or creating the sealed ACME account of (directory,
 * email); see acme_accounts.h. Sealed blobs travel as binary bytea parameters and
 * come back in bytea's hex text form, decoded with PQunescapeBytea.
 */
#include "store/acme_accounts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/db.h"
#include "store/rows.h"

/* "acme_accounts:<directory>:<email>", malloc'd. */
static char *account_aad(const char *directory, const char *email)
{
	size_t n = strlen(directory) + strlen(email) + 32;
	char *aad = malloc(n);

	if (aad != NULL)
		snprintf(aad, n, "acme_accounts:%s:%s", directory, email);
	return aad;
}

/* Reads the row: 1 found (out filled), 0 none, -1 error. */
static int read_row(PGconn *c, const uint8_t mk[32], const char *dir, const char *email,
		    const char *aad, cf_account_row *out, cf_err *err)
{
	const char *p[2] = {dir, email};
	unsigned char *blob = NULL;
	size_t len = 0;
	cf_buf pem = {0};
	PGresult *r;
	int rc = -1;

	r = cf_db_exec(c, "read ACME account",
		       "SELECT id, key_sealed, account_url FROM acme_accounts"
		       " WHERE directory_url = $1 AND email = $2",
		       2, p, err);
	if (r == NULL)
		return -1;
	if (PQntuples(r) == 0) {
		rc = 0;
		goto out;
	}
	out->id = atoll(PQgetvalue(r, 0, 0));
	blob = PQunescapeBytea((const unsigned char *)PQgetvalue(r, 0, 1), &len);
	if (blob == NULL || cf_unseal(mk, aad, blob, len, &pem, err) != 0) {
		cf_err_set(err, CF_ERR_PERMANENT,
			   "ACME account %lld of %s: its key does not open with this master key",
			   out->id, dir);
		goto out;
	}
	if ((out->key = cf_key_from_pem((const char *)pem.data, pem.len, err)) == NULL)
		goto out;
	if (cf_col_dup(r, 0, 2, &out->url) != 0) {
		cf_err_oom(err, NULL);
		goto out;
	}
	rc = 1;
out:
	cf_buf_free_secret(&pem);
	PQfreemem(blob);
	PQclear(r);
	return rc;
}

/* Inserts a new sealed key unless a row exists (then nothing happens). */
static int insert_new(PGconn *c, const uint8_t mk[32], const char *dir, const char *email,
		      const char *aad, cf_err *err)
{
	cf_key *key = NULL;
	char *pem = NULL;
	cf_buf sealed = {0};
	int rc = -1;

	if ((key = cf_key_generate(CF_KEY_EC256, err)) == NULL ||
	    (pem = cf_key_to_pem(key, err)) == NULL ||
	    cf_seal(mk, aad, pem, strlen(pem), &sealed, err) != 0)
		goto out;
	{
		const char *p[3] = {dir, email, (const char *)sealed.data};
		const int lens[3] = {0, 0, (int)sealed.len}, fmts[3] = {0, 0, 1};
		PGresult *r = cf_db_execb(c, "create ACME account",
					  "INSERT INTO acme_accounts (directory_url, email,"
					  " key_type, key_sealed) VALUES ($1, $2, 'ec256', $3)"
					  " ON CONFLICT (directory_url, email) DO NOTHING",
					  3, p, lens, fmts, err);
		if (r == NULL)
			goto out;
		PQclear(r);
	}
	rc = 0;
out:
	cf_buf_free(&sealed);
	cf_secret_free(pem);
	cf_key_free(key);
	return rc;
}

int cf_accounts_get_or_create(PGconn *c, const uint8_t master_key[32], const char *directory,
			      const char *email, cf_account_row *out, cf_err *err)
{
	char *aad = account_aad(directory, email);
	int rc = -1, found;

	memset(out, 0, sizeof(*out));
	if (aad == NULL) {
		cf_err_oom(err, NULL);
		return -1;
	}
	found = read_row(c, master_key, directory, email, aad, out, err);
	if (found == 0 && insert_new(c, master_key, directory, email, aad, err) == 0)
		found = read_row(c, master_key, directory, email, aad, out, err);
	if (found == 1)
		rc = 0;
	else if (found == 0)
		cf_err_set(err, CF_ERR_TRANSIENT, "ACME account of %s: row vanished", directory);
	if (rc != 0)
		cf_account_row_free(out);
	free(aad);
	return rc;
}

int cf_accounts_set_url(PGconn *c, long long id, const char *url, cf_err *err)
{
	char sid[24];
	const char *p[2] = {sid, url};

	snprintf(sid, sizeof(sid), "%lld", id);
	return cf_db_run(c, "store ACME account URL",
			 "UPDATE acme_accounts SET account_url = $2 WHERE id = $1", 2, p, err);
}

/* The first key of the registration locks of accounts ("CFAC"). */
#define CF_ACCOUNT_LOCK_CLASS "1128677699"

int cf_accounts_lock(PGconn *c, long long id, long wait_ms, char **url, cf_err *err)
{
	char sid[24], ms[32];
	const char *p[1] = {ms}, *q[1] = {sid};
	const char *state;
	PGresult *r;
	int rc = -1;

	*url = NULL;
	snprintf(sid, sizeof(sid), "%lld", id);
	snprintf(ms, sizeof(ms), "%ldms", wait_ms > 0 ? wait_ms : 1);
	if (cf_db_run(c, "lock timeout", "SELECT set_config('lock_timeout', $1, true)", 1, p,
		      err) != 0)
		return -1;
	/* libpq directly: a lock timeout (55P03) is an answer here, not a failure */
	r = PQexecParams(c, "SELECT pg_advisory_xact_lock(" CF_ACCOUNT_LOCK_CLASS
			 ", hashtext($1))", 1, NULL, q, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
		if (state != NULL && strcmp(state, "55P03") == 0)
			rc = 1;
		else
			cf_err_set(err, CF_ERR_TRANSIENT, "lock ACME account %s: %s", sid,
				   PQerrorMessage(c));
		goto out;
	}
	PQclear(r);
	/* a statement of its own: its snapshot sees what the previous holder committed */
	if ((r = cf_db_exec(c, "read ACME account URL",
			    "SELECT account_url FROM acme_accounts WHERE id = $1::bigint", 1, q,
			    err)) == NULL)
		return -1;
	rc = 0;
	if (PQntuples(r) == 1 && !PQgetisnull(r, 0, 0) &&
	    (*url = strdup(PQgetvalue(r, 0, 0))) == NULL)
		rc = cf_err_oom(err, "ACME account URL");
out:
	PQclear(r);
	return rc;
}

void cf_account_row_free(cf_account_row *r)
{
	cf_key_free(r->key);
	free(r->url);
	memset(r, 0, sizeof(*r));
}
