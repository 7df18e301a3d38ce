/*
 * webhooks.c: recording webhook events and the senders' queue; see webhooks.h.
 *
 * The URL list travels as one text parameter and is split by the database
 * (string_to_array), so enqueueing one event is one statement whatever the
 * number of URLs, and no SQL text is built from configuration. The body is
 * assembled by jsonb_build_object: its text form (payload::text) is what is sent
 * and signed at every attempt.
 */
#include "store/webhooks.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/db.h"
#include "store/rows.h"

static const char enqueue_sql[] =
	"WITH e AS (SELECT gen_random_uuid() AS id, now() AS at)"
	" INSERT INTO webhook_deliveries (event_id, event, certificate_id, payload, url)"
	" SELECT e.id, $2, $3, jsonb_build_object('id', e.id, 'event', $2::text, 'at', "
	CF_SQL_TS("e.at") ", 'certificate', $3::text) || coalesce($4::jsonb, '{}'::jsonb),"
	" btrim(u) FROM e, unnest(string_to_array($1, ',')) AS u WHERE btrim(u) <> ''";

int cf_webhook_enqueue(PGconn *c, const char *urls, const char *event,
		       const char *certificate_id, const char *data, cf_err *err)
{
	const char *p[4] = {urls, event, certificate_id, data};
	PGresult *r;
	int n;

	if (urls == NULL || strspn(urls, " ,\t") == strlen(urls))
		return 0;
	if ((r = cf_db_exec(c, "recording a webhook event", enqueue_sql, 4, p, err)) ==
	    NULL)
		return -1;
	n = atoi(PQcmdTuples(r));
	PQclear(r);
	return n;
}

static const char claim_sql[] =
	"WITH c AS (SELECT id FROM webhook_deliveries"
	"  WHERE state = 'pending' AND next_attempt_at <= now()"
	"  ORDER BY next_attempt_at, id LIMIT 1 FOR UPDATE SKIP LOCKED)"
	" UPDATE webhook_deliveries d SET attempts = d.attempts + 1,"
	"  next_attempt_at = now() + make_interval(secs => $1::int)"
	" FROM c WHERE d.id = c.id"
	" RETURNING d.id, d.attempts, d.event, d.event_id, d.url, d.payload::text,"
	" COALESCE(d.alert_event, 0)";

int cf_webhook_claim(PGconn *c, int lease_s, cf_webhook_delivery *out, cf_err *err)
{
	char lease[16];
	const char *p[1] = {lease};
	PGresult *r;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	snprintf(lease, sizeof(lease), "%d", lease_s);
	if ((r = cf_db_exec(c, "claiming a webhook delivery", claim_sql, 1, p, err)) ==
	    NULL)
		return -1;
	if (PQntuples(r) == 0) {
		rc = 0;
		goto out;
	}
	out->id = cf_col_int(r, 0, 0, 0);
	out->attempts = (int)cf_col_int(r, 0, 1, 0);
	cf_col_copy(out->event, sizeof(out->event), r, 0, 2);
	cf_col_copy(out->event_id, sizeof(out->event_id), r, 0, 3);
	if (cf_col_dup(r, 0, 4, &out->url) != 0 || cf_col_dup(r, 0, 5, &out->body) != 0 ||
	    out->url == NULL || out->body == NULL) {
		cf_webhook_delivery_free(out);
		cf_err_oom(err, "claiming a webhook delivery");
		goto out;
	}
	out->alert_event = cf_col_int(r, 0, 6, 0);
	rc = 1;
out:
	PQclear(r);
	return rc;
}

void cf_webhook_delivery_free(cf_webhook_delivery *d)
{
	free(d->url);
	free(d->body);
	memset(d, 0, sizeof(*d));
}

static const char finish_sql[] =
	"UPDATE webhook_deliveries SET last_status = nullif($3::int, 0), last_error = $4,"
	" state = CASE WHEN $5::bool THEN 'delivered' WHEN $6::bool THEN 'failed'"
	"   ELSE 'pending' END,"
	" delivered_at = CASE WHEN $5::bool THEN now() END,"
	" next_attempt_at = now() + make_interval(secs => $7::float8)"
	" WHERE id = $1 AND attempts = $2 AND state = 'pending'";

int cf_webhook_finish(PGconn *c, const cf_webhook_delivery *d, int status, const char *error,
		      bool delivered, bool give_up, double retry_s, cf_err *err)
{
	char id[24], att[16], st[16], retry[32];
	const char *p[7] = {id, att, st, error, delivered ? "true" : "false",
			    give_up ? "true" : "false", retry};
	PGresult *r;
	int rc;

	snprintf(id, sizeof(id), "%lld", d->id);
	snprintf(att, sizeof(att), "%d", d->attempts);
	snprintf(st, sizeof(st), "%d", status);
	snprintf(retry, sizeof(retry), "%.3f", retry_s < 0 ? 0 : retry_s);
	if ((r = cf_db_exec(c, "recording a webhook attempt", finish_sql, 7, p, err)) ==
	    NULL)
		return -1;
	rc = strcmp(PQcmdTuples(r), "1") == 0 ? 0 : 1;
	PQclear(r);
	return rc;
}

double cf_webhook_next_due(PGconn *c, double max_s, cf_err *err)
{
	char max[32];
	const char *p[1] = {max};
	PGresult *r;
	double v;

	snprintf(max, sizeof(max), "%.3f", max_s);
	r = cf_db_exec(c, "next webhook delivery",
		       "SELECT least($1::float8, greatest(0, coalesce(extract(epoch FROM"
		       " min(next_attempt_at) - now()), $1::float8)))::float8"
		       " FROM webhook_deliveries WHERE state = 'pending'",
		       1, p, err);
	if (r == NULL)
		return -1;
	v = cf_col_double(r, 0, 0, max_s);
	PQclear(r);
	return v;
}
