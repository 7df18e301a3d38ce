/*
 * health.c: /healthz (the process is alive and serving) and /readyz (the database
 * answers and carries the schema this binary expects). /readyz asks the database
 * on every call, through the pool, so a database that went away and came back is
 * seen at once, without a restart.
 */
#include "http/http.h"

#include "store/migrate.h"

int cf_h_healthz(cf_app *app, cf_http_req *req, cf_http_resp *resp)
{
	return cf_resp_json(resp, 200, json_pack("{s:s}", "status", "alive"));
}

int cf_h_readyz(cf_app *app, cf_http_req *req, cf_http_resp *resp)
{
	cf_err err = {0};
	PGconn *c;
	int v;

	c = cf_db_acquire(app->pool, &err);
	if (c == NULL) {
		cf_resp_problem(resp, 503, "not-ready", "Not ready", "%s", err.msg);
		goto out;
	}
	v = cf_migrate_current(c, &err);
	cf_db_release(app->pool, c, cf_db_lost(c));
	if (v < 0) {
		cf_resp_problem(resp, 503, "not-ready", "Not ready", "%s", err.msg);
		goto out;
	}
	if (v < app->schema_expected) {
		cf_resp_problem(resp, 503, "not-ready", "Not ready",
				"database schema is at version %d, this binary needs %d: run "
				"certfleet migrate",
				v, app->schema_expected);
		goto out;
	}
	cf_resp_json(resp, 200, json_pack("{s:s, s:s, s:i}", "status", "ready", "database", "ok",
					  "schema_version", v));
out:
	cf_err_clear(&err);
	return 0;
}
