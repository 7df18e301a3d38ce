/*
 * alerts.c: alert rules and firing alerts; see alerts.h.
 *
 * Firing is one statement per cause: a CTE inserts the alert_events rows (ON
 * CONFLICT DO NOTHING: the unique (rule, kind, subject, day) is the
 * de-duplication, decided by PostgreSQL across jobs and replicas) and the outer
 * INSERT gives each inserted row its webhook_deliveries row. The rule filters
 * are SQL too (RULE_MATCHES), so a rule is matched the same way wherever it fires.
 */
#include "store/alerts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "store/db.h"
#include "store/rows.h"

static const char *const kind_names[CF_ALERT__MAX] = {
	[CF_ALERT_ISSUANCE_FAILED] = "issuance_failed",
	[CF_ALERT_EXPIRING] = "expiring",
	[CF_ALERT_ISSUER_PAUSED] = "issuer_paused",
	[CF_ALERT_ROLLOUT_PAUSED] = "rollout_paused",
	[CF_ALERT_DIGEST] = "digest",
};

const char *cf_alert_kind_name(cf_alert_kind k)
{
	return (unsigned)k < CF_ALERT__MAX ? kind_names[k] : NULL;
}

cf_alert_kind cf_alert_kind_parse(const char *name)
{
	for (int k = 0; name != NULL && k < CF_ALERT__MAX; k++)
		if (strcmp(name, kind_names[k]) == 0)
			return (cf_alert_kind)k;
	return CF_ALERT__MAX;
}

int cf_alert_aad(const char *name, char out[CF_ALERT_AAD_MAX])
{
	int n = snprintf(out, CF_ALERT_AAD_MAX, "alert_rules:%s:channel", name);

	return n > 0 && n < CF_ALERT_AAD_MAX ? 0 : -1;
}

/* ---- rules ---- */

/* The row's columns from the doc ($1). */
#define DOC_COLS                                                                           \
	"$1::jsonb ->> 'name', $1::jsonb #>> '{channel,type}', "                           \
	"($1::jsonb -> 'channel') - 'type', "                                              \
	"ARRAY(SELECT jsonb_array_elements_text($1::jsonb -> 'events')), "                  \
	"ARRAY(SELECT jsonb_array_elements_text(COALESCE($1::jsonb #> "                    \
	"'{filters,certificate_ids}', '[]'::jsonb))), "                                     \
	"$1::jsonb #>> '{filters,name_suffix}', $1::jsonb #>> '{filters,issuer}', "        \
	"COALESCE(($1::jsonb ->> 'expiring_within_days')::int, 14), "                      \
	"COALESCE(($1::jsonb ->> 'digest_hour')::int, 8), "                                \
	"COALESCE(($1::jsonb ->> 'enabled')::boolean, true)"

#define COLS_LIST                                                                          \
	"name, channel_type, channel, events, certificate_ids, name_suffix, issuer, "      \
	"expiring_within_days, digest_hour, enabled"

#define DOC_JSON                                                                           \
	"jsonb_build_object('name', r.name, 'channel', jsonb_build_object('type', "        \
	"r.channel_type) || r.channel, 'events', to_jsonb(r.events), 'filters', "          \
	"jsonb_build_object('certificate_ids', to_jsonb(r.certificate_ids), "              \
	"'name_suffix', r.name_suffix, 'issuer', r.issuer), 'expiring_within_days', "      \
	"r.expiring_within_days, 'digest_hour', r.digest_hour, 'enabled', r.enabled)"

/* The secrets that are set, as "<key>_set": true members of the channel. */
#define SECRETS_SET                                                                        \
	"CASE WHEN r.channel_sealed IS NULL THEN '{}'::jsonb "                             \
	"WHEN r.channel_type = 'email' THEN '{\"password_set\": true}'::jsonb "            \
	"WHEN r.channel_type = 'webhook' THEN '{\"secret_set\": true}'::jsonb "            \
	"ELSE '{\"url_set\": true}'::jsonb END"

#define REPR_JSON                                                                          \
	"(" DOC_JSON " || jsonb_build_object('id', r.id, 'channel', jsonb_build_object("   \
	"'type', r.channel_type) || r.channel || " SECRETS_SET ", 'deliveries', (SELECT "  \
	"jsonb_build_object('pending', count(*) FILTER (WHERE d.state = 'pending'), "      \
	"'delivered', count(*) FILTER (WHERE d.state = 'delivered'), 'failed', count(*) "  \
	"FILTER (WHERE d.state = 'failed'), 'last_error', (array_agg(d.last_error ORDER "  \
	"BY d.id DESC) FILTER (WHERE d.last_error IS NOT NULL))[1], 'last_at', "           \
	"max(" CF_SQL_TS("d.created_at") ")) FROM alert_events e JOIN webhook_deliveries " \
	"d ON d.alert_event = e.id WHERE e.rule_id = r.id), 'created_at', "                \
	CF_SQL_TS("r.created_at") ", 'updated_at', " CF_SQL_TS("r.updated_at") "))"

static int doc_exec(PGconn *c, const char *what, const char *sql, const char *id,
		    const json_t *doc, const cf_buf *sealed, PGresult **out, cf_err *err)
{
	char *text = json_dumps(doc, JSON_COMPACT);
	const char *p[3] = {text, sealed && sealed->len ? (const char *)sealed->data : NULL, id};
	const int lens[3] = {0, sealed ? (int)sealed->len : 0, 0}, fmts[3] = {0, 1, 0};

	if (text == NULL)
		return cf_err_oom(err, NULL);
	*out = cf_db_execb(c, what, sql, id ? 3 : 2, p, lens, fmts, err);
	free(text);
	return *out == NULL ? -1 : 0;
}

int cf_alert_rule_insert(PGconn *c, const json_t *doc, const cf_buf *sealed, char id[40],
			 cf_err *err)
{
	PGresult *r = NULL;
	int rc;

	id[0] = '\0';
	if (doc_exec(c, "creating an alert rule",
		     "INSERT INTO alert_rules (" COLS_LIST ", channel_sealed) SELECT " DOC_COLS
		     ", $2::bytea ON CONFLICT (name) DO NOTHING RETURNING id",
		     NULL, doc, sealed, &r, err) != 0)
		return -1;
	rc = PQntuples(r) == 1;
	if (rc)
		cf_col_copy(id, 40, r, 0, 0);
	PQclear(r);
	return rc;
}

int cf_alert_rule_update(PGconn *c, const char *id, const json_t *doc, const cf_buf *sealed,
			 cf_err *err)
{
	PGresult *r = NULL;
	int rc;

	if (doc_exec(c, "updating an alert rule",
		     "UPDATE alert_rules SET (" COLS_LIST ") = (SELECT " DOC_COLS "), "
		     "channel_sealed = COALESCE($2::bytea, channel_sealed), updated_at = now() "
		     "WHERE id = $3::uuid RETURNING id",
		     id, doc, sealed, &r, err) != 0)
		return -1;
	rc = PQntuples(r) == 1;
	PQclear(r);
	return rc;
}

/* Whether s is a UUID in text form (ids from a URL are checked before SQL). */
static bool is_uuid(const char *s)
{
	size_t n = strlen(s);

	if (n != 36)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((i == 8 || i == 13 || i == 18 || i == 23) ? s[i] != '-'
							       : strchr("0123456789abcdefABCDEF", s[i]) ==
									 NULL)
			return false;
	return true;
}

int cf_alert_rule_get_locked(PGconn *c, const char *id, json_t **doc, cf_buf *sealed,
			     cf_err *err)
{
	const char *p[1] = {id};
	unsigned char *blob = NULL;
	size_t len = 0;
	PGresult *r;
	int rc = -1;

	*doc = NULL;
	if (!is_uuid(id))
		return 0;
	r = cf_db_exec(c, "reading an alert rule",
		       "SELECT " DOC_JSON "::text, r.channel_sealed FROM alert_rules r "
		       "WHERE r.id = $1::uuid FOR NO KEY UPDATE", 1, p, err);
	if (r == NULL)
		return -1;
	if (PQntuples(r) == 0) {
		rc = 0;
		goto out;
	}
	if ((*doc = cf_row_json(r, 0, 0)) == NULL) {
		cf_err_oom(err, NULL);
		goto out;
	}
	if (sealed != NULL && !PQgetisnull(r, 0, 1)) {
		blob = PQunescapeBytea((const unsigned char *)PQgetvalue(r, 0, 1), &len);
		if (blob == NULL || cf_buf_append(sealed, blob, len) != 0) {
			cf_err_oom(err, NULL);
			goto out;
		}
	}
	rc = 0;
out:
	PQfreemem(blob);
	PQclear(r);
	return rc;
}

static int json_query(PGconn *c, const char *what, const char *sql, const char *param,
		      json_t **out, cf_err *err)
{
	const char *p[1] = {param};
	PGresult *r;
	int rc = 0;

	*out = NULL;
	if ((r = cf_db_exec(c, what, sql, param ? 1 : 0, param ? p : NULL, err)) == NULL)
		return -1;
	if (PQntuples(r) > 0 && !PQgetisnull(r, 0, 0) && (*out = cf_row_json(r, 0, 0)) == NULL)
		rc = cf_err_oom(err, what);
	PQclear(r);
	return rc;
}

int cf_alert_rule_get_json(PGconn *c, const char *id, json_t **out, cf_err *err)
{
	*out = NULL;
	if (!is_uuid(id))
		return 0;
	return json_query(c, "reading an alert rule",
			  "SELECT " REPR_JSON "::text FROM alert_rules r WHERE r.id = $1::uuid",
			  id, out, err);
}

int cf_alert_rule_list_json(PGconn *c, json_t **out, cf_err *err)
{
	return json_query(c, "listing alert rules",
			  "SELECT jsonb_build_object('alerts', COALESCE(jsonb_agg(" REPR_JSON
			  " ORDER BY r.name), '[]'::jsonb))::text FROM alert_rules r",
			  NULL, out, err);
}

int cf_alert_rule_delete(PGconn *c, const char *id, cf_err *err)
{
	const char *p[1] = {id};
	PGresult *r;
	int rc;

	if (!is_uuid(id))
		return 0;
	if ((r = cf_db_exec(c, "deleting an alert rule",
			    "DELETE FROM alert_rules WHERE id = $1::uuid RETURNING id", 1, p,
			    err)) == NULL)
		return -1;
	rc = PQntuples(r) == 1;
	PQclear(r);
	return rc;
}

/* ---- firing ---- */

#define TODAY "(now() AT TIME ZONE 'UTC')::date"

/* Rule r's filters match certificate c (columns id, domains, issuers). */
#define RULE_MATCHES                                                                       \
	"(cardinality(r.certificate_ids) = 0 OR c.id = ANY(r.certificate_ids)) AND "       \
	"(r.name_suffix IS NULL OR EXISTS (SELECT 1 FROM unnest(c.domains) dn WHERE "      \
	"lower(dn) = lower(r.name_suffix) OR right(lower(dn), length(r.name_suffix) + 1) " \
	"= '.' || lower(r.name_suffix))) AND (r.issuer IS NULL OR r.issuer = "             \
	"ANY(c.issuers))"

/* The destination for logs and the deliveries table: never a secret (a Slack or
 * Teams URL is one). */
#define DESTINATION                                                                        \
	"CASE r.channel_type WHEN 'email' THEN 'mailto:' || COALESCE((SELECT "             \
	"string_agg(t, ',') FROM jsonb_array_elements_text(r.channel -> 'to') t), '') "    \
	"WHEN 'webhook' THEN r.channel ->> 'url' ELSE r.channel_type || ':' || r.name END"

/* The deliveries of the events the CTE "fired" (id, rule_id, kind, subject,
 * payload) inserted: one each, the body {"id", "event": "alert", "alert": kind,
 * "rule", "at"} || the event's payload. */
#define DELIVER                                                                            \
	" INSERT INTO webhook_deliveries (event_id, event, certificate_id, payload, url, "  \
	"alert_event) SELECT e.u, 'alert', CASE WHEN e.kind IN ('issuance_failed', "        \
	"'expiring') THEN e.subject END, jsonb_build_object('id', e.u, 'event', 'alert', "  \
	"'alert', e.kind, 'rule', r.name, 'at', " CF_SQL_TS("now()") ") || e.payload, "     \
	DESTINATION ", e.id FROM (SELECT gen_random_uuid() AS u, f.* FROM fired f) e "      \
	"JOIN alert_rules r ON r.id = e.rule_id"

static int fire(PGconn *c, const char *what, const char *sql, int n, const char *const *p,
		cf_err *err)
{
	PGresult *r = cf_db_exec(c, what, sql, n, p, err);
	int fired;

	if (r == NULL)
		return -1;
	fired = atoi(PQcmdTuples(r));
	PQclear(r);
	return fired;
}

int cf_alert_job_failed(PGconn *c, const char *job_id, const char *cert_id, cf_err *err)
{
	const char *p[2] = {job_id, cert_id};

	return fire(c, "firing issuance_failed alerts",
		    "WITH fired AS (INSERT INTO alert_events (rule_id, kind, subject, day, "
		    "payload) SELECT r.id, 'issuance_failed', c.id, " TODAY ", "
		    "jsonb_build_object('certificate', c.id, 'names', to_jsonb(c.domains), "
		    "'job', j.id, 'job_kind', j.kind, 'attempt', j.attempt, 'problem', "
		    "j.problem) FROM alert_rules r, certificates c, jobs j WHERE c.id = $2 AND "
		    "j.id = $1::uuid AND r.enabled AND 'issuance_failed' = ANY(r.events) AND "
		    RULE_MATCHES " ON CONFLICT DO NOTHING RETURNING id, rule_id, kind, subject, "
		    "payload)" DELIVER,
		    2, p, err);
}

int cf_alert_issuer_paused(PGconn *c, const char *name, double until_s, const char *reason,
			   cf_err *err)
{
	char until[32];
	const char *p[3] = {name, until, reason};

	snprintf(until, sizeof(until), "%.3f", until_s);
	return fire(c, "firing issuer_paused alerts",
		    "WITH fired AS (INSERT INTO alert_events (rule_id, kind, subject, day, "
		    "payload) SELECT r.id, 'issuer_paused', $1, " TODAY ", jsonb_build_object("
		    "'issuer', $1::text, 'reason', $3::text, 'paused_until', "
		    CF_SQL_TS("now() + make_interval(secs => $2::float8)") ") FROM alert_rules r "
		    "WHERE r.enabled AND 'issuer_paused' = ANY(r.events) AND (r.issuer IS NULL "
		    "OR r.issuer = $1) ON CONFLICT DO NOTHING RETURNING id, rule_id, kind, "
		    "subject, payload)" DELIVER,
		    3, p, err);
}

/* The latest job of certificate c, for "why did the renewal not happen". */
#define LAST_JOB                                                                           \
	"(SELECT jsonb_build_object('id', j.id, 'kind', j.kind, 'state', j.state, "        \
	"'problem', j.problem, 'at', " CF_SQL_TS("j.created_at") ") FROM jobs j WHERE "    \
	"j.certificate_id = c.id ORDER BY j.created_at DESC LIMIT 1)"

#define DAYS_LEFT "floor(extract(epoch FROM v.not_after - now()) / 86400)::int"

static const char expiring_sql[] =
	"WITH fired AS (INSERT INTO alert_events (rule_id, kind, subject, day, payload) "
	"SELECT r.id, 'expiring', c.id, " TODAY ", jsonb_build_object('certificate', c.id, "
	"'names', to_jsonb(c.domains), 'version', v.version, 'not_after', "
	CF_SQL_TS("v.not_after") ", 'days_left', " DAYS_LEFT ", 'last_job', " LAST_JOB ") "
	"FROM alert_rules r JOIN certificates c ON " RULE_MATCHES " JOIN "
	"certificate_versions v ON v.certificate_id = c.id AND v.version = c.current_version "
	"WHERE r.enabled AND 'expiring' = ANY(r.events) AND v.revoked_at IS NULL AND "
	"c.status <> 'revoked' AND v.not_after < now() + make_interval(days => "
	"r.expiring_within_days) ON CONFLICT DO NOTHING RETURNING id, rule_id, kind, subject, "
	"payload)" DELIVER;

/* What a rule's digest lists: its certificates that failed or are paused, or
 * whose current version ends within its expiring_within_days; and the issuers
 * paused now. */
static const char digest_sql[] =
	"WITH fired AS (INSERT INTO alert_events (rule_id, kind, subject, day, payload) "
	"SELECT r.id, 'digest', '', " TODAY ", jsonb_build_object('day', " TODAY "::text, "
	"'at_risk', (SELECT COALESCE(jsonb_agg(jsonb_build_object('certificate', c.id, "
	"'names', to_jsonb(c.domains), 'status', c.status, 'not_after', "
	CF_SQL_TS("v.not_after") ", 'days_left', " DAYS_LEFT ", 'last_job', " LAST_JOB ") "
	"ORDER BY v.not_after NULLS FIRST, c.id), '[]'::jsonb) FROM certificates c LEFT JOIN "
	"certificate_versions v ON v.certificate_id = c.id AND v.version = c.current_version "
	"WHERE " RULE_MATCHES " AND c.status <> 'revoked' AND (c.status IN ('failed', "
	"'paused') OR v.not_after < now() + make_interval(days => r.expiring_within_days))), "
	"'paused_issuers', (SELECT COALESCE(jsonb_agg(jsonb_build_object('issuer', i.name, "
	"'reason', i.pause_reason, 'paused_until', " CF_SQL_TS("i.paused_until") ") ORDER BY "
	"i.name), '[]'::jsonb) FROM issuers i WHERE i.paused_until > now() AND (r.issuer IS "
	"NULL OR r.issuer = i.name))) FROM alert_rules r WHERE r.enabled AND 'digest' = "
	"ANY(r.events) AND extract(hour FROM now() AT TIME ZONE 'UTC') >= r.digest_hour "
	"ON CONFLICT DO NOTHING RETURNING id, rule_id, kind, subject, payload)" DELIVER;

int cf_alert_sweep(PGconn *c, cf_err *err)
{
	int a, b;

	if ((a = fire(c, "firing expiring alerts", expiring_sql, 0, NULL, err)) < 0 ||
	    (b = fire(c, "firing digests", digest_sql, 0, NULL, err)) < 0)
		return -1;
	return a + b;
}

/* ---- the sender ---- */

int cf_alert_channel_load(PGconn *c, const uint8_t key[32], long long alert_event,
			  cf_alert_channel *out, cf_err *err)
{
	char idtext[24], aad[CF_ALERT_AAD_MAX];
	const char *p[1] = {idtext};
	unsigned char *blob = NULL;
	cf_buf plain = {0};
	json_t *secrets = NULL;
	size_t len = 0;
	PGresult *r;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	snprintf(idtext, sizeof(idtext), "%lld", alert_event);
	r = cf_db_exec(c, "loading an alert's channel",
		       "SELECT r.name, r.channel_type, r.channel::text, r.channel_sealed FROM "
		       "alert_events e JOIN alert_rules r ON r.id = e.rule_id WHERE e.id = $1",
		       1, p, err);
	if (r == NULL)
		return -1;
	if (PQntuples(r) == 0) {
		rc = 0;
		goto out;
	}
	cf_col_copy(out->rule, sizeof(out->rule), r, 0, 0);
	cf_col_copy(out->type, sizeof(out->type), r, 0, 1);
	if ((out->settings = cf_row_json(r, 0, 2)) == NULL) {
		cf_err_oom(err, NULL);
		goto out;
	}
	if (!PQgetisnull(r, 0, 3)) {
		if (cf_alert_aad(out->rule, aad) != 0 ||
		    (blob = PQunescapeBytea((const unsigned char *)PQgetvalue(r, 0, 3), &len)) ==
			    NULL) {
			cf_err_set(err, CF_ERR_PERMANENT, "alert rule %s: bad sealed channel",
				   out->rule);
			goto out;
		}
		if (cf_unseal(key, aad, blob, len, &plain, err) != 0) {
			cf_err_wrap(err, "alert rule %s: the sealed channel secrets do not open",
				    out->rule);
			err->cls = CF_ERR_PERMANENT;
			goto out;
		}
		if ((secrets = json_loadb((const char *)plain.data, plain.len, 0, NULL)) == NULL ||
		    json_object_update(out->settings, secrets) != 0) {
			cf_err_set(err, CF_ERR_PERMANENT, "alert rule %s: sealed channel is not "
				   "a JSON object", out->rule);
			goto out;
		}
	}
	rc = 1;
out:
	if (rc != 1)
		cf_alert_channel_free(out);
	/* the secrets' strings are shared with out->settings (json_object_update
	 * takes references): cf_alert_channel_free wipes them */
	json_decref(secrets);
	cf_buf_free_secret(&plain);
	PQfreemem(blob);
	PQclear(r);
	return rc;
}

void cf_alert_channel_free(cf_alert_channel *ch)
{
	const char *k;
	json_t *v;

	if (ch->settings != NULL) {
		json_object_foreach(ch->settings, k, v)
			if (json_is_string(v))
				cf_wipe((void *)json_string_value(v), json_string_length(v));
		json_decref(ch->settings);
	}
	memset(ch, 0, sizeof(*ch));
}
