/*
 * gauges.c: the database side of /metrics; see gauges.h. One statement builds
 * the whole document with json_build_object, so a scrape costs one round trip
 * and sees one snapshot. Every part is bounded by what the fleet holds (states,
 * certificates, live TXT targets), and each uses an index or a small table.
 */
#include "store/gauges.h"

#include "store/db.h"
#include "store/rows.h"

static const char gauges_sql[] =
	"SELECT json_build_object("
	" 'jobs', (SELECT coalesce(json_object_agg(state, n), '{}'::json) FROM"
	"   (SELECT state, count(*) AS n FROM jobs GROUP BY state) s),"
	" 'expiry', (SELECT coalesce(json_object_agg(c.id,"
	"     round(extract(epoch FROM v.not_after - now())::numeric, 3)), '{}'::json)"
	"   FROM certificates c JOIN certificate_versions v"
	"   ON v.certificate_id = c.id AND v.version = c.current_version),"
	" 'txt', (SELECT coalesce(json_object_agg(fqdn, n), '{}'::json) FROM"
	"   (SELECT fqdn, count(*) AS n FROM dns_records"
	"    WHERE state IN ('pending','present') GROUP BY fqdn) t),"
	" 'webhooks', (SELECT coalesce(json_object_agg(state, n), '{}'::json) FROM"
	"   (SELECT state, count(*) AS n FROM webhook_deliveries GROUP BY state) w),"
	" 'at', extract(epoch FROM now()))::text";

int cf_gauges_read(PGconn *c, json_t **out, cf_err *err)
{
	PGresult *r = cf_db_exec(c, "reading the gauges", gauges_sql, 0, NULL, err);
	int rc = -1;

	*out = NULL;
	if (r == NULL)
		return -1;
	if (PQntuples(r) == 1 && (*out = cf_row_json(r, 0, 0)) != NULL)
		rc = 0;
	else
		cf_err_oom(err, "reading the gauges");
	PQclear(r);
	return rc;
}
