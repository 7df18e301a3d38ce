/*
 * key_fetch.c: the conditional audit insert of a private-key fetch; see
 * key_fetch.h.
 *
 * One statement, so one snapshot: the verdict is computed from the token, the
 * certificate and its current version as they are when the statement starts,
 * and the INSERT of the audit event (a data-modifying WITH, which always runs)
 * takes its row from that verdict only when it is "granted". The outer SELECT
 * reports the verdict. The names of the verdicts are spelled once, in verdicts[].
 */
#include "store/key_fetch.h"

#include <stdio.h>
#include <string.h>

#include "store/db.h"

static const char *const verdicts[CF_KEY__MAX] = {
	[CF_KEY_GRANTED] = "granted",
	[CF_KEY_TOKEN_UNKNOWN] = "token-unknown",
	[CF_KEY_TOKEN_REVOKED] = "token-revoked",
	[CF_KEY_TOKEN_EXPIRED] = "token-expired",
	[CF_KEY_NOT_LISTED] = "not-listed",
	[CF_KEY_NOT_GRANTED] = "not-granted",
	[CF_KEY_STALE] = "stale",
	[CF_KEY_REVOKED] = "revoked",
};

/* $1 token id, $2 certificate id, $3 version, $4 address, $5 detail, $6 the
 * refused revocation reason. The verdicts' names are the table's. */
static const char SQL[] =
	"WITH v AS ("
	" SELECT t.name AS actor, CASE"
	"  WHEN t.id IS NULL THEN 'token-unknown'"
	"  WHEN t.revoked_at IS NOT NULL THEN 'token-revoked'"
	"  WHEN t.expires_at IS NOT NULL AND t.expires_at <= now() THEN 'token-expired'"
	"  WHEN c.id IS NULL OR NOT (t.role = 'admin' OR"
	"   (t.role = 'host' AND t.name = ANY (c.hosts))) THEN 'not-listed'"
	"  WHEN t.role = 'admin' AND NOT c.admin_keys THEN 'not-granted'"
	"  WHEN cv.version IS DISTINCT FROM $3::int THEN 'stale'"
	"  WHEN cv.revoked_at IS NOT NULL AND cv.revocation_reason = $6::int THEN 'revoked'"
	"  ELSE 'granted' END AS verdict"
	" FROM (VALUES (1)) AS one (x)"
	" LEFT JOIN tokens t ON t.id = $1"
	" LEFT JOIN certificates c ON c.id = $2"
	" LEFT JOIN certificate_versions cv ON cv.certificate_id = c.id"
	"  AND cv.version = c.current_version),"
	" ins AS (INSERT INTO audit_events (actor, action, target, address, detail, token_id)"
	"  SELECT actor, 'certificate.fetch_key', $2, $4, $5::jsonb, $1 FROM v"
	"  WHERE verdict = 'granted' RETURNING 1)"
	" SELECT v.verdict, (SELECT count(*) FROM ins) FROM v";

const char *cf_key_verdict_name(cf_key_verdict v)
{
	return v >= 0 && v < CF_KEY__MAX ? verdicts[v] : "unknown";
}

int cf_key_fetch_record(PGconn *conn, const cf_key_fetch *kf, cf_key_verdict *verdict,
			cf_err *err)
{
	char ver[16], reason[16];
	const char *params[6] = { kf->token_id, kf->certificate_id, ver, kf->address,
				  kf->detail, reason };
	PGresult *res;
	const char *got;
	int rc = -1;

	*verdict = CF_KEY__MAX;
	snprintf(ver, sizeof(ver), "%d", kf->version);
	snprintf(reason, sizeof(reason), "%d", kf->refused_reason);
	res = cf_db_exec(conn, "recording a key fetch", SQL, 6, params, err);
	if (res == NULL)
		return -1;
	if (PQntuples(res) != 1) {
		cf_err_set(err, CF_ERR_PERMANENT, "recording a key fetch: %d rows", PQntuples(res));
		goto out;
	}
	got = PQgetvalue(res, 0, 0);
	for (int i = 0; i < CF_KEY__MAX; i++)
		if (strcmp(got, verdicts[i]) == 0)
			*verdict = (cf_key_verdict)i;
	if (*verdict == CF_KEY__MAX ||
	    (*verdict == CF_KEY_GRANTED) != (strcmp(PQgetvalue(res, 0, 1), "1") == 0)) {
		cf_err_set(err, CF_ERR_PERMANENT, "recording a key fetch: verdict %.40s, %s rows",
			   got, PQgetvalue(res, 0, 1));
		*verdict = CF_KEY__MAX;
		goto out;
	}
	rc = 0;
out:
	PQclear(res);
	return rc;
}
