/*
 * serve.c: `certfleet serve [--config FILE]`: the long-running service: the HTTP
 * API and the issuance workers (worker/; none when CERTFLEET_WORKERS=0 or no CA is
 * configured); with the workers, the renewal scheduler (one active across all
 * replicas) and the webhook sender (worker/fleet.h).
 *
 * Signals: SIGTERM and SIGINT are blocked in every thread and taken by the main
 * thread with sigwait(), which then asks the workers to stop, stops the HTTP
 * server (running requests finish), gives the workers what is left of
 * CERTFLEET_SHUTDOWN_GRACE to finish or release their jobs, and exits 0. SIGPIPE
 * is ignored (a client that hangs up is not fatal).
 */
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "app.h"
#include "cmd/cmd.h"
#include "http/http.h"
#include "log.h"
#include "providers/exec.h"
#include "issue/directory.h"
#include "crypto/crypto.h"
#include "store/audit.h"
#include "store/issuers.h"
#include "store/migrate.h"
#include "store/tokens.h"
#include "util/buf.h"
#include "util/files.h"
#include "worker/fleet.h"
#include "worker/worker.h"

static int expected_schema(const char *dir, cf_err *err)
{
	cf_migration *m = NULL;
	size_t n = 0;
	int v;

	if (cf_migrations_list(dir, &m, &n, err) != 0)
		return -1;
	v = n ? m[n - 1].version : 0;
	cf_migrations_free(m, n);
	return v;
}

/* CERTFLEET_RESOLVERS (comma-separated) or /etc/resolv.conf; CERTFLEET_PROPAGATION. */
static int load_dns_settings(const cf_config *cfg, cf_app *app, cf_err *err)
{
	char *list, *tok, *save = NULL;
	int rc = 0;

	cf_propagation_parse(cfg->propagation, &app->propagation);
	if (cfg->resolvers[0] == '\0')
		return cf_dns_servers_from_resolv_conf(&app->resolvers, "/etc/resolv.conf", err) == 0
			       ? 0
			       : cf_err_wrap(err, "CERTFLEET_RESOLVERS is empty and /etc/resolv.conf");
	if ((list = strdup(cfg->resolvers)) == NULL)
		return -1;
	for (tok = strtok_r(list, ", ", &save); tok && rc == 0; tok = strtok_r(NULL, ", ", &save))
		if (cf_dns_servers_add(&app->resolvers, tok, err) != 0)
			rc = cf_err_wrap(err, "CERTFLEET_RESOLVERS");
	free(list);
	return rc;
}

/* CERTFLEET_ACME_DIRECTORY (+ _CA_FILE, _EMAIL) as the issuer "default", created
 * or updated now, so setups from before issuers keep working. A database not yet
 * migrated is only a warning (the workers see the issuer missing later). */
static int default_issuer(cf_app *app, cf_err *err)
{
	const cf_config *cfg = app->cfg;
	char *pem = NULL;
	PGconn *db = NULL;
	int rc = -1;

	if (cfg->acme_directory[0] == '\0')
		return 0;
	if (cfg->acme_ca_file[0] &&
	    (pem = cf_read_file(cfg->acme_ca_file, 262144, NULL, err)) == NULL)
		return cf_err_wrap(err, "CERTFLEET_ACME_CA_FILE");
	if ((db = cf_db_acquire(app->pool, err)) == NULL)
		goto out;
	if (cf_issuer_upsert_default(db, cfg->acme_directory, pem, cfg->acme_email, err) != 0) {
		cf_log(CF_LOG_WARN, "serve.default_issuer", "the issuer \"default\" could not be "
		       "written (is the database migrated?): %s", err->msg);
		cf_err_clear(err);
	}
	rc = 0;
out:
	if (db != NULL)
		cf_db_release(app->pool, db, cf_db_lost(db));
	free(pem);
	return rc;
}

/* Refuses a session URL (cf_config_session_url) that goes through a pooler in
 * transaction or statement mode (store/pooler.c): LISTEN notifications would be
 * lost and session advisory locks held by nobody, silently. A database that cannot
 * be reached now stops nothing (serve waits for it as always): that is logged. */
static int check_sessions(const cf_config *cfg, cf_err *err)
{
	const char *url = cf_config_session_url(cfg);
	bool direct = url != cfg->database_url;
	cf_err probe = {0};
	int kept = cf_db_sessions_kept(url, &probe);

	if (kept < 0)
		cf_log(CF_LOG_WARN, "serve.sessions_unchecked",
		       "could not check that %s keeps sessions (no transaction pooler): %s",
		       direct ? "CERTFLEET_DATABASE_DIRECT_URL" : "CERTFLEET_DATABASE_URL",
		       probe.msg);
	if (kept != 0)
		return 0;
	if (direct)
		return cf_err_set(err, CF_ERR_PERMANENT,
				  "CERTFLEET_DATABASE_DIRECT_URL goes through a connection pooler "
				  "in transaction (or statement) mode: it must reach PostgreSQL "
				  "directly, or through a pooler in session mode");
	return cf_err_set(err, CF_ERR_PERMANENT,
			  "CERTFLEET_DATABASE_URL goes through a connection pooler in "
			  "transaction (or statement) mode, which loses LISTEN notifications "
			  "and session advisory locks: set CERTFLEET_DATABASE_DIRECT_URL to a "
			  "direct connection to PostgreSQL (the pooled URL then serves "
			  "everything else), or set the pooler to session mode "
			  "(PgBouncer: pool_mode = session)");
}

extern char **environ;

/* Removes name from the environment and wipes its value where it lies: the
 * initial environment is what /proc/PID/environ shows, and unsetenv() alone
 * would leave the bytes there. The config already holds its own copy. */
static void scrub_env(const char *name)
{
	size_t n = strlen(name);

	for (char **e = environ; e != NULL && *e != NULL; e++)
		if (strncmp(*e, name, n) == 0 && (*e)[n] == '=')
			cf_wipe(*e + n + 1, strlen(*e + n + 1));
	unsetenv(name);
}

/* The exec providers' rule: serve runs only programs directly inside
 * CERTFLEET_EXEC_DIR, and none without it. A folder that fails the rule is
 * reported here, with its reason, for the operator; API clients get one opaque
 * message (providers/exec.c). */
static void exec_policy(const cf_config *cfg)
{
	cf_err e = { 0 };

	cf_exec_policy_set(cfg->exec_dir, true);
	if (cfg->exec_dir[0] != '\0' && cf_exec_dir_check(cfg->exec_dir, &e) != 0)
		cf_log(CF_LOG_WARN, "serve.exec_dir", "%s: no exec provider can run", e.msg);
	cf_err_clear(&e);
}

int cmd_serve(int argc, char **argv)
{
	cf_config cfg = {0};
	cf_err err = {0};
	cf_app app = {0};
	cf_http_server *http = NULL;
	cf_workers *workers = NULL;
	cf_scheduler *sched = NULL;
	cf_webhooks *hooks = NULL;
	const char *file = NULL;
	cf_log_level lvl;
	sigset_t set;
	int sig = 0, rc = 1, left;

	/* no core dumps and no ptrace by other processes of the same user: the
	 * memory holds the master key and, while in use, private keys (the core
	 * limit too: with fs.suid_dumpable=2 a non-dumpable process still dumps) */
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	setrlimit(RLIMIT_CORE, &(struct rlimit){ 0, 0 });
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
			file = argv[++i];
		} else {
			fprintf(stderr, "usage: certfleet serve [--config FILE]\n");
			return 2;
		}
	}
	if (cf_config_load(&cfg, file, &err) != 0)
		goto out;
	scrub_env("CERTFLEET_MASTER_KEY");
	scrub_env("CERTFLEET_WEBHOOK_SECRET");
	cf_log_level_parse(cfg.log_level, &lvl);
	cf_log_set_level(lvl);
	exec_policy(&cfg);
	app.cfg = &cfg;
	app.directory_profiles = cf_issue_directory_profiles;
	if ((app.schema_expected = expected_schema(cfg.migrations_dir, &err)) < 0)
		goto out;
	if (cf_config_master_key(&cfg, app.master_key, &err) != 0)
		goto out;
	cf_wipe(cfg.master_key, strlen(cfg.master_key)); /* only app.master_key from now on */
	if (load_dns_settings(&cfg, &app, &err) != 0)
		goto out;
	if (cf_tokens_init(app.master_key) != 0 ||
	    cf_derive_key(app.master_key, CF_IDEM_KEY_INFO, app.idem_key) != 0) {
		cf_err_set(&err, CF_ERR_PERMANENT, "deriving keys from the master key failed");
		goto out;
	}
	if ((app.pool = cf_db_pool_new(cfg.database_url, cfg.db_pool)) == NULL) {
		cf_err_oom(&err, NULL);
		goto out;
	}
	cf_db_pool_set_acquire_timeout(app.pool, cfg.db_acquire_timeout_ms);
	if (check_sessions(&cfg, &err) != 0)
		goto out;
	if (default_issuer(&app, &err) != 0)
		goto out;
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL); /* inherited by every thread started below */
	if ((http = cf_http_start(&app, &err)) == NULL)
		goto out;
	cf_log(CF_LOG_INFO, "serve.started", "listening on %s with %d HTTP threads",
	       cfg.listen, cfg.http_threads);
	if (cfg.workers > 0 && cfg.acme_directory[0] == '\0')
		cf_log(CF_LOG_WARN, "serve.no_workers",
		       "CERTFLEET_ACME_DIRECTORY is not set: no issuance workers run");
	else if (cfg.workers > 0 && (workers = cf_workers_start(&app, &err)) == NULL)
		goto out;
	if (workers != NULL && ((hooks = cf_webhooks_start(&app, &err)) == NULL && err.msg[0]))
		goto out;
	if (workers != NULL && ((sched = cf_scheduler_start(&app, &err)) == NULL && err.msg[0]))
		goto out;
	while (sigwait(&set, &sig) != 0)
		;
	cf_log(CF_LOG_INFO, "serve.stopping", "signal %d: stopping", sig);
	cf_workers_request_stop(workers); /* the grace period starts now */
	rc = 0;
out:
	if (rc != 0)
		fprintf(stderr, "certfleet serve: %s\n", err.msg);
	cf_http_stop(http);
	cf_scheduler_stop(sched);
	cf_webhooks_stop(hooks);
	if ((left = cf_workers_stop(workers, cfg.shutdown_grace)) > 0) {
		/* their jobs were released; they still use the app: do not free it */
		cf_log(CF_LOG_WARN, "serve.stopped", "%d workers left behind", left);
		fflush(NULL);
		_exit(rc);
	}
	if ((left = cf_h_aliases_running()) > 0) {
		/* alias checks past their answer's deadline, still waiting on DNS: they
		 * use only what they own, but exit's handlers would tear down the
		 * libraries under them */
		cf_wipe(app.master_key, sizeof(app.master_key));
		cf_log(CF_LOG_WARN, "serve.stopped", "%d alias checks left behind", left);
		fflush(NULL);
		_exit(rc);
	}
	cf_db_pool_free(app.pool);
	if (rc == 0)
		cf_log(CF_LOG_INFO, "serve.stopped", "stopped cleanly");
	cf_wipe(app.master_key, sizeof(app.master_key));
	cf_wipe(app.idem_key, sizeof(app.idem_key));
	cf_tokens_done();
	cf_config_free(&cfg);
	cf_err_clear(&err);
	return rc;
}
