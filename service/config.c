/*
 * config.c: the settings table and its loader; see config.h.
 *
 * Adding a setting means adding one row to `settings[]` and one field to
 * cf_config: the loader, the validation, the error messages and the help text all
 * come from the row.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <libpq-fe.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "log.h"
#include "util/b64.h"
#include "util/buf.h"
#include "util/cidr.h"
#include "util/files.h"


typedef enum kind {
	K_STRING,
	K_OPTSTRING, /* may be empty */
	K_PROPAGATION,
	K_PGURL,
	K_LISTEN,
	K_INT,  /* stored as int */
	K_LONG, /* stored as long */
	K_LOGLEVEL,
	K_METRICS_AUTH,
	K_BOOL,  /* true | false, stored as bool */
	K_CIDRS, /* comma-separated address ranges (util/cidr.h), stored as text */
} kind;

typedef struct setting {
	const char *name;
	kind kind;
	const char *def; /* NULL = required */
	size_t offset;
	long min, max; /* K_INT bounds */
	const char *help;
} setting;

#define OFF(f) offsetof(cf_config, f)

static const setting settings[] = {
	{"CERTFLEET_DATABASE_URL", K_PGURL, NULL, OFF(database_url), 0, 0,
	 "PostgreSQL URL or conninfo, e.g. postgresql://certfleet@db/certfleet"},
	{"CERTFLEET_DATABASE_DIRECT_URL", K_PGURL, "", OFF(database_direct_url), 0, 0,
	 "a direct PostgreSQL URL for LISTEN and session locks, when the database URL "
	 "goes through PgBouncer in transaction mode (empty: the database URL)"},
	{"CERTFLEET_LISTEN", K_LISTEN, "127.0.0.1:8080", OFF(listen), 0, 0,
	 "address and port of the HTTP API (HOST:PORT or [V6]:PORT)"},
	{"CERTFLEET_WORKERS", K_INT, "4", OFF(workers), 0, 256,
	 "issuance worker threads per process (0 = API only)"},
	{"CERTFLEET_HTTP_THREADS", K_INT, "2", OFF(http_threads), 1, 64,
	 "HTTP threads (libmicrohttpd thread pool)"},
	{"CERTFLEET_MAX_BODY", K_LONG, "1048576", OFF(max_body), 1024, 64L * 1024 * 1024,
	 "largest accepted request body, bytes"},
	{"CERTFLEET_DB_POOL", K_INT, "4", OFF(db_pool), 1, 256,
	 "PostgreSQL connections shared by the HTTP threads"},
	{"CERTFLEET_LOG_LEVEL", K_LOGLEVEL, "info", OFF(log_level), 0, 0,
	 "debug | info | warn | error"},
	/* the install path; a development build falls back to the source tree's
	 * migrations/ while nothing is installed there (default_value) */
	{"CERTFLEET_MIGRATIONS_DIR", K_STRING, CERTFLEET_MIGRATIONS_DIR, OFF(migrations_dir), 0,
	 0, "folder holding the NNNN_name.sql migrations"},
	{"CERTFLEET_SHUTDOWN_GRACE", K_INT, "10", OFF(shutdown_grace), 0, 3600,
	 "seconds given to running requests and jobs on SIGTERM"},
	{"CERTFLEET_MASTER_KEY", K_OPTSTRING, "", OFF(master_key), 0, 0,
	 "base64 of the 32-byte key that seals secrets at rest (or use _FILE)"},
	{"CERTFLEET_MASTER_KEY_FILE", K_OPTSTRING, "", OFF(master_key_file), 0, 0,
	 "file holding the master key (base64 of 32 bytes, or 32 raw bytes)"},
	{"CERTFLEET_ACME_DIRECTORY", K_OPTSTRING, "", OFF(acme_directory), 0, 0,
	 "the ACME CA's directory URL (https://...); needed by workers"},
	{"CERTFLEET_ACME_CA_FILE", K_OPTSTRING, "", OFF(acme_ca_file), 0, 0,
	 "PEM bundle trusted for the CA's own TLS (default: the system store)"},
	{"CERTFLEET_ACME_EMAIL", K_OPTSTRING, "", OFF(acme_email), 0, 0,
	 "contact address of the ACME account"},
	{"CERTFLEET_RESOLVERS", K_OPTSTRING, "", OFF(resolvers), 0, 0,
	 "comma-separated HOST[:PORT] resolvers for CNAME and zone look-ups "
	 "(default: /etc/resolv.conf)"},
	{"CERTFLEET_PROPAGATION", K_PROPAGATION, "authoritative", OFF(propagation), 0, 0,
	 "authoritative | resolvers | none: when a TXT value counts as published"},
	{"CERTFLEET_PROPAGATION_TIMEOUT", K_INT, "120", OFF(propagation_timeout), 1, 3600,
	 "seconds to wait for a TXT value to be served"},
	{"CERTFLEET_TXT_BUDGET", K_INT, "40", OFF(txt_budget), 1, 60,
	 "live TXT values allowed at one target FQDN across all replicas"},
	{"CERTFLEET_LEASE_SECONDS", K_INT, "30", OFF(lease_seconds), 5, 3600,
	 "lease of a claimed job; a worker renews it while the job runs"},
	{"CERTFLEET_POLL_SECONDS", K_INT, "5", OFF(poll_seconds), 1, 3600,
	 "queue polling interval when no NOTIFY wakes the workers"},
	{"CERTFLEET_MAX_NAMES", K_INT, "100", OFF(max_names), 1, 100,
	 "names allowed in one certificate"},
	{"CERTFLEET_RETRY_MAX_SECONDS", K_INT, "300", OFF(retry_max_seconds), 1, 86400,
	 "cap of the exponential backoff between retries of a job"},
	{"CERTFLEET_MAX_ATTEMPTS", K_INT, "20", OFF(max_attempts), 1, 1000,
	 "transient failures after which a job fails"},
	{"CERTFLEET_FALLBACK_AFTER", K_INT, "900", OFF(fallback_after), 0, 31536000,
	 "seconds a new certificate waits for a paused or exhausted issuer before its next"},
	{"CERTFLEET_VALIDATION_PAUSE_AFTER", K_INT, "5", OFF(validation_pause_after), 1, 10000,
	 "consecutive failed validations after which a certificate is paused"},
	{"CERTFLEET_ISSUER_BACKOFF_MAX", K_INT, "300", OFF(issuer_backoff_max), 1, 86400,
	 "cap of an issuer's pause after 503s, 5xx or connection failures, seconds"},
	{"CERTFLEET_RENEW_INTERVAL", K_INT, "60", OFF(renew_interval), 0, 86400,
	 "seconds between renewal scheduler passes (one replica schedules at a time; "
	 "0 = never in this process)"},
	{"CERTFLEET_RENEW_BACKOFF", K_INT, "600", OFF(renew_backoff), 1, 86400,
	 "seconds before retrying a failed renewal; doubles per failure, at most a day"},
	{"CERTFLEET_RENEW_BATCH", K_INT, "500", OFF(renew_batch), 1, 100000,
	 "certificates a renewal scheduler pass looks at, at most (soonest expiry first)"},
	{"CERTFLEET_EXPIRING_SOON", K_INT, "604800", OFF(expiring_soon), 0, 315360000,
	 "seconds before expiry when the expiring_soon webhook fires (once per version)"},
	{"CERTFLEET_METRICS_AUTH", K_METRICS_AUTH, "auto", OFF(metrics_auth), 0, 0,
	 "auto | none | admin: whether GET /metrics needs an admin token (auto: unless "
	 "the listen address is loopback)"},
	{"CERTFLEET_METRICS_CACHE", K_INT, "5", OFF(metrics_cache), 0, 3600,
	 "seconds the database-derived gauges of /metrics are cached"},
	{"CERTFLEET_WEBHOOK_URLS", K_OPTSTRING, "", OFF(webhook_urls), 0, 0,
	 "comma-separated http(s) URLs that receive the events issued, failed, "
	 "expiring_soon and revoked"},
	{"CERTFLEET_WEBHOOK_SECRET", K_OPTSTRING, "", OFF(webhook_secret), 0, 0,
	 "HMAC-SHA256 key that signs every webhook (or use _FILE)"},
	{"CERTFLEET_WEBHOOK_SECRET_FILE", K_OPTSTRING, "", OFF(webhook_secret_file), 0, 0,
	 "file holding the webhook HMAC key"},
	{"CERTFLEET_ALERT_INTERVAL", K_INT, "60", OFF(alert_interval), 1, 3600,
	 "seconds between the alert rules' passes (expiring certificates, daily digests)"},
	{"CERTFLEET_TLS_CERT", K_OPTSTRING, "", OFF(tls_cert), 0, 0,
	 "PEM file of the API's TLS certificate (and chain): serve speaks HTTPS "
	 "(with CERTFLEET_TLS_KEY)"},
	{"CERTFLEET_TLS_KEY", K_OPTSTRING, "", OFF(tls_key), 0, 0,
	 "PEM file of the private key of CERTFLEET_TLS_CERT"},
	{"CERTFLEET_LOCAL_ADDRESSES", K_CIDRS, "127.0.0.0/8,::1", OFF(local_addresses), 0, 0,
	 "client addresses/ranges that may receive private keys over plain HTTP"},
	{"CERTFLEET_ALLOW_PLAIN_KEYS", K_BOOL, "false", OFF(allow_plain_keys), 0, 0,
	 "true: send private keys over plain HTTP to any client (behind a TLS proxy)"},
	{"CERTFLEET_CACHE_OFFLINE_GRACE", K_INT, "60", OFF(cache_offline_grace), 0, 86400,
	 "seconds the fetch cache's entries stand in for a database that does not answer, "
	 "counted from when its LISTEN connection went down"},
	{"CERTFLEET_CACHE_MAX_AGE", K_INT, "60", OFF(cache_max_age), 0, 86400,
	 "seconds a fetch cache entry answers before it is read again from the database "
	 "(0 = every fetch reads it)"},
	{"CERTFLEET_CACHE_HEARTBEAT", K_INT, "5", OFF(cache_heartbeat), 1, 3600,
	 "seconds between the fetch cache listener's heartbeats; one not back within "
	 "this time counts as offline"},
	{"CERTFLEET_MAX_CONNECTIONS", K_INT, "1000", OFF(max_connections), 1, 100000,
	 "HTTP connections open at once; further ones wait in the listen backlog"},
	{"CERTFLEET_MAX_CONNECTIONS_PER_IP", K_INT, "32", OFF(max_connections_per_ip), 1, 100000,
	 "HTTP connections open at once from one client address; more are closed"},
	{"CERTFLEET_REQUEST_TIMEOUT", K_INT, "10", OFF(request_timeout), 1, 3600,
	 "seconds from a connection's start (or its previous answer) to its request's "
	 "answer: a client sending slowly is cut then, whatever it still sends"},
	{"CERTFLEET_DB_ACQUIRE_TIMEOUT_MS", K_INT, "2000", OFF(db_acquire_timeout_ms), 1, 600000,
	 "milliseconds an HTTP request waits for a free pool connection before a 503"},
	{"CERTFLEET_METRICS_DETAIL", K_BOOL, "false", OFF(metrics_detail), 0, 0,
	 "true: /metrics shows each certificate's expiry, labelled with its id"},
	{"CERTFLEET_EXEC_DIR", K_OPTSTRING, "", OFF(exec_dir), 0, 0,
	 "folder of the programs exec providers may run (owned by root or the service's "
	 "user, writable by no one else); unset: no exec provider in serve"},
	{"CERTFLEET_ALIAS_CHECK_TIMEOUT", K_INT, "20", OFF(alias_check_timeout), 1, 120,
	 "seconds POST /v1/aliases/check may take in all (504 beyond)"},
};

#define NSETTINGS (sizeof(settings) / sizeof(settings[0]))

int cf_parse_hostport(const char *s, char *host, size_t hostlen, unsigned *port)
{
	const char *colon, *h = s;
	size_t hl;
	char *end;
	long p;

	if (s[0] == '[') {
		const char *rb = strchr(s, ']');
		if (rb == NULL || rb[1] != ':')
			return -1;
		h = s + 1;
		hl = (size_t)(rb - h);
		colon = rb + 1;
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL || memchr(s, ':', (size_t)(colon - s)) != NULL)
			return -1;
		hl = (size_t)(colon - s);
	}
	if (hl == 0 || hl >= hostlen)
		return -1;
	errno = 0;
	p = strtol(colon + 1, &end, 10);
	if (errno || *end != '\0' || colon[1] == '\0' || p < 1 || p > 65535)
		return -1;
	memcpy(host, h, hl);
	host[hl] = '\0';
	*port = (unsigned)p;
	return 0;
}

static int check_value(const setting *st, const char *v, cf_err *err)
{
	char host[256], *end, *pqerr = NULL;
	unsigned port;
	long n;
	cf_log_level lvl;
	PQconninfoOption *opts;
	cf_cidr_list cidrs;

	switch (st->kind) {
	case K_OPTSTRING:
		return 0;
	case K_PROPAGATION:
		if (strcmp(v, "authoritative") && strcmp(v, "resolvers") && strcmp(v, "none"))
			return cf_err_set(err, CF_ERR_PERMANENT,
					  "%s: expected authoritative, resolvers or none, got '%s'",
					  st->name, v);
		return 0;
	case K_STRING:
		if (v[0] == '\0')
			return cf_err_set(err, CF_ERR_PERMANENT, "%s: must not be empty",
					  st->name);
		return 0;
	case K_PGURL:
		opts = PQconninfoParse(v, &pqerr);
		if (opts == NULL || (v[0] == '\0' && st->def == NULL)) {
			cf_err_set(err, CF_ERR_PERMANENT,
				   "%s: not a PostgreSQL URL or conninfo (%s)", st->name,
				   pqerr ? pqerr : "empty");
			PQfreemem(pqerr);
			PQconninfoFree(opts); /* "" parses: its options must go too */
			return -1;
		}
		PQconninfoFree(opts);
		return 0;
	case K_LISTEN:
		if (cf_parse_hostport(v, host, sizeof(host), &port) != 0)
			return cf_err_set(err, CF_ERR_PERMANENT,
					  "%s: expected HOST:PORT or [V6]:PORT with a port "
					  "1-65535, got '%s'",
					  st->name, v);
		return 0;
	case K_INT:
	case K_LONG:
		errno = 0;
		n = strtol(v, &end, 10);
		if (errno || *end != '\0' || v[0] == '\0' || n < st->min || n > st->max)
			return cf_err_set(err, CF_ERR_PERMANENT,
					  "%s: expected an integer from %ld to %ld, got '%s'",
					  st->name, st->min, st->max, v);
		return 0;
	case K_METRICS_AUTH:
		if (strcmp(v, "none") && strcmp(v, "admin") && strcmp(v, "auto"))
			return cf_err_set(err, CF_ERR_PERMANENT,
					  "%s: expected auto, none or admin, got '%s'", st->name, v);
		return 0;
	case K_BOOL:
		if (strcmp(v, "true") != 0 && strcmp(v, "false") != 0)
			return cf_err_set(err, CF_ERR_PERMANENT, "%s: expected true or false, got '%s'",
					  st->name, v);
		return 0;
	case K_CIDRS:
		if (cf_cidr_list_parse(v, &cidrs, err) != 0)
			return cf_err_wrap(err, "%s", st->name);
		return 0;
	case K_LOGLEVEL:
		if (cf_log_level_parse(v, &lvl) != 0)
			return cf_err_set(err, CF_ERR_PERMANENT,
					  "%s: expected debug, info, warn or error, got '%s'",
					  st->name, v);
		return 0;
	}
	return -1;
}

static void store_value(cf_config *cfg, const setting *st, const char *v)
{
	char *base = (char *)cfg + st->offset;

	if (st->kind == K_INT) {
		*(int *)(void *)base = (int)strtol(v, NULL, 10);
		return;
	}
	if (st->kind == K_LONG) {
		*(long *)(void *)base = strtol(v, NULL, 10);
		return;
	}
	if (st->kind == K_BOOL) {
		*(bool *)(void *)base = strcmp(v, "true") == 0;
		return;
	}
	free(*(char **)(void *)base);
	*(char **)(void *)base = strdup(v);
}

/* A setting's default: the table's, except for the migrations folder of a
 * development build (CMake's CERTFLEET_DEV_MIGRATIONS defines
 * CERTFLEET_DEV_MIGRATIONS_DIR, the source tree's migrations/), which uses the
 * source tree while the install path does not exist. Installed builds and the
 * container image have no fallback. */
static const char *default_value(const setting *st)
{
#ifdef CERTFLEET_DEV_MIGRATIONS_DIR
	struct stat sb;

	if (st->offset == OFF(migrations_dir) && stat(st->def, &sb) != 0)
		return CERTFLEET_DEV_MIGRATIONS_DIR;
#endif
	return st->def;
}

static const setting *find_setting(const char *name)
{
	for (size_t i = 0; i < NSETTINGS; i++)
		if (strcmp(settings[i].name, name) == 0)
			return &settings[i];
	return NULL;
}

/* Reads NAME=VALUE lines into vals[] (one slot per setting, malloc'd strings). */
static int read_file(const char *path, char **vals, cf_err *err)
{
	FILE *f = fopen(path, "r");
	char line[4096];
	int lineno = 0, rc = -1;

	if (f == NULL)
		return cf_err_set(err, CF_ERR_PERMANENT, "CERTFLEET_CONFIG: cannot open %s: %s",
				  path, strerror(errno));
	while (fgets(line, sizeof(line), f) != NULL) {
		char *p = line, *eq, *e;
		const setting *st;

		lineno++;
		while (isspace((unsigned char)*p))
			p++;
		e = p + strlen(p);
		while (e > p && isspace((unsigned char)e[-1]))
			*--e = '\0';
		if (*p == '\0' || *p == '#')
			continue;
		eq = strchr(p, '=');
		if (eq == NULL) {
			cf_err_set(err, CF_ERR_PERMANENT, "%s:%d: expected NAME=VALUE", path,
				   lineno);
			goto out;
		}
		*eq = '\0';
		st = find_setting(p);
		if (st == NULL) {
			cf_err_set(err, CF_ERR_PERMANENT, "%s:%d: unknown setting %s", path,
				   lineno, p);
			goto out;
		}
		free(vals[st - settings]);
		vals[st - settings] = strdup(eq + 1);
	}
	rc = 0;
out:
	fclose(f);
	return rc;
}

int cf_config_load(cf_config *cfg, const char *file, cf_err *err)
{
	char *vals[NSETTINGS] = {0};
	int rc = -1;
	size_t i;

	memset(cfg, 0, sizeof(*cfg));
	if (file == NULL)
		file = getenv("CERTFLEET_CONFIG");
	if (file != NULL && file[0] != '\0' && read_file(file, vals, err) != 0)
		goto out;
	for (i = 0; i < NSETTINGS; i++) {
		const setting *st = &settings[i];
		const char *v = getenv(st->name);

		if (v == NULL)
			v = vals[i];
		if (v == NULL)
			v = default_value(st);
		if (v == NULL) {
			cf_err_set(err, CF_ERR_PERMANENT,
				   "%s: required setting is missing (%s)", st->name, st->help);
			goto out;
		}
		if (check_value(st, v, err) != 0)
			goto out;
		store_value(cfg, st, v);
	}
	rc = 0;
out:
	for (i = 0; i < NSETTINGS; i++)
		free(vals[i]);
	if (rc != 0)
		cf_config_free(cfg);
	return rc;
}

void cf_config_free(cf_config *cfg)
{
	for (size_t i = 0; i < NSETTINGS; i++) {
		if (settings[i].kind != K_INT && settings[i].kind != K_LONG &&
		    settings[i].kind != K_BOOL) {
			char **p = (char **)(void *)((char *)cfg + settings[i].offset);
			/* some settings are secrets (master key, webhook secret): wipe all */
			if (*p != NULL)
				cf_wipe(*p, strlen(*p));
			free(*p);
			*p = NULL;
		}
	}
}

/* One line per setting: name, help, then "(required)" or "(default: VALUE)". An
 * empty default prints no suffix: what empty means is the help text's to say
 * (e.g. "(default: the system store)"), so nothing is said twice. */
void cf_config_print_help(FILE *f)
{
	for (size_t i = 0; i < NSETTINGS; i++) {
		const char *def = default_value(&settings[i]);

		fprintf(f, "  %-26s %s", settings[i].name, settings[i].help);
		if (def == NULL)
			fputs(" (required)", f);
		else if (def[0] != '\0')
			fprintf(f, " (default: %s)", def);
		fputc('\n', f);
	}
}

const char *cf_config_session_url(const cf_config *cfg)
{
	if (cfg->database_direct_url != NULL && cfg->database_direct_url[0] != '\0')
		return cfg->database_direct_url;
	return cfg->database_url;
}

int cf_config_master_key(const cf_config *cfg, uint8_t out[32], cf_err *err)
{
	const char *name = "CERTFLEET_MASTER_KEY";
	char *text = NULL, *trim;
	uint8_t *raw = NULL;
	size_t len = 0, n = 0;
	int rc = -1;

	if (cfg->master_key[0] != '\0') {
		text = strdup(cfg->master_key);
	} else if (cfg->master_key_file[0] != '\0') {
		name = "CERTFLEET_MASTER_KEY_FILE";
		text = cf_read_file(cfg->master_key_file, 4096, &len, err);
		if (text == NULL)
			return cf_err_wrap(err, "%s", name);
		if (len == 32) { /* 32 raw bytes */
			memcpy(out, text, 32);
			rc = 0;
			goto out;
		}
	} else {
		return cf_err_set(err, CF_ERR_PERMANENT,
				  "CERTFLEET_MASTER_KEY: no master key: set CERTFLEET_MASTER_KEY "
				  "(base64 of 32 random bytes, e.g. `openssl rand -base64 32`) or "
				  "CERTFLEET_MASTER_KEY_FILE");
	}
	if (text == NULL)
		goto out;
	trim = text + strspn(text, " \t\r\n");
	trim[strcspn(trim, " \t\r\n")] = '\0';
	raw = cf_b64_decode(trim, &n);
	if (raw == NULL || n != 32) {
		cf_err_set(err, CF_ERR_PERMANENT, "%s: must be base64 of exactly 32 bytes", name);
		goto out;
	}
	memcpy(out, raw, 32);
	rc = 0;
out:
	if (raw) {
		cf_wipe(raw, n);
		free(raw);
	}
	if (text) {
		cf_wipe(text, strlen(text));
		free(text);
	}
	return rc;
}
