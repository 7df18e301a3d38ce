/*
 * config.h: the settings of certfleet, defined in ONE table (config.c).
 *
 * Every setting has a name (also its environment variable), a kind that says how it
 * is validated, a default or "required", and a line of help. Values come from an
 * optional file of NAME=VALUE lines (CERTFLEET_CONFIG or --config) and from the
 * environment, which wins over the file. A missing required value or a malformed
 * one is an error whose message starts with the setting's name.
 */
#ifndef CERTFLEET_CONFIG_H
#define CERTFLEET_CONFIG_H

#include <stdbool.h>
#include <stdio.h>

#include "util/err.h"

typedef struct cf_config {
	char *database_url;   /* libpq URL or conninfo */
	/* CERTFLEET_DATABASE_DIRECT_URL: the connections that keep session state
	 * (LISTEN, session advisory locks) when database_url goes through a pooler
	 * in transaction mode; "" = database_url. See cf_config_session_url. */
	char *database_direct_url;
	char *listen;         /* HOST:PORT or [V6]:PORT, validated */
	int workers;          /* issuance worker threads in serve */
	int http_threads;     /* libmicrohttpd thread pool size */
	long max_body;        /* bytes accepted in a request body */
	int db_pool;          /* PostgreSQL connections for the HTTP side */
	char *log_level;      /* debug | info | warn | error */
	char *migrations_dir; /* folder of NNNN_name.sql files */
	int shutdown_grace;   /* seconds given to in-flight requests on SIGTERM */
	/* secrets at rest */
	char *master_key;      /* base64 of 32 bytes, or "" (then the file) */
	char *master_key_file; /* file holding base64 of 32 bytes (or 32 raw bytes), or "" */
	/* the CA and DNS, used by workers */
	char *acme_directory;  /* "" = no CA configured (workers refuse to start) */
	char *acme_ca_file;    /* trust for the CA's TLS, "" = system store */
	char *acme_email;      /* account contact, "" = none */
	char *resolvers;       /* comma-separated HOST[:PORT], "" = /etc/resolv.conf */
	char *propagation;     /* authoritative | resolvers | none */
	int propagation_timeout; /* seconds */
	/* the queue */
	int txt_budget;        /* live TXT values per target FQDN, across replicas */
	int lease_seconds;     /* a claimed job's lease; renewed while it runs */
	int poll_seconds;      /* queue polling fallback when no NOTIFY arrives */
	int max_names;         /* names per certificate */
	int retry_max_seconds; /* cap of the retry backoff */
	int max_attempts;      /* transient failures before a job fails */
	int fallback_after;    /* s a new certificate waits for its issuer before the next */
	int validation_pause_after; /* failed validations in a row: certificate paused */
	int issuer_backoff_max;     /* cap of an issuer's pause after 5xx/connection failures */
	/* fleet operations: renewal scheduler, metrics, webhooks */
	int renew_interval;    /* seconds between scheduler passes; 0 = no scheduler here */
	int renew_backoff;     /* first wait after a failed renewal, doubling */
	int renew_batch;       /* candidates per scheduler pass, at most */
	int expiring_soon;     /* seconds before not_after that announce expiring_soon */
	char *metrics_auth;    /* none | admin: who may read /metrics */
	int metrics_cache;     /* seconds the database gauges of /metrics are kept */
	char *webhook_urls;    /* comma-separated http(s) URLs, "" = no webhooks */
	char *webhook_secret;  /* HMAC key of the signatures, or "" (then the file) */
	char *webhook_secret_file;
	int alert_interval;    /* seconds between the alerts' periodic passes */
	/* hosts: TLS, who may receive keys over plain HTTP, the fetch cache */
	char *tls_cert;        /* PEM file of the API's certificate (+ chain), "" = plain HTTP */
	char *tls_key;         /* PEM file of its private key, "" = plain HTTP */
	char *local_addresses; /* comma-separated ranges that count as local (validated) */
	bool allow_plain_keys; /* send private keys over plain HTTP to anyone */
	int cache_offline_grace; /* seconds cache entries stand in for an unanswering database */
	int cache_max_age;     /* seconds a fetch cache entry answers without the database */
	int cache_heartbeat;   /* seconds between the cache listener's heartbeats */
	int max_connections;     /* open HTTP connections at once */
	int max_connections_per_ip; /* open HTTP connections at once from one address */
	int request_timeout;     /* s a request (or an idle keep-alive) may take, absolute */
	int db_acquire_timeout_ms; /* ms an HTTP request waits for a pool connection */
	bool metrics_detail;     /* /metrics labels series with certificate ids */
	char *exec_dir;        /* CERTFLEET_EXEC_DIR: exec providers' programs, "" = none */
	int alias_check_timeout; /* seconds POST /v1/aliases/check may take in all */
} cf_config;

#include <stdint.h>
/* The master key from CERTFLEET_MASTER_KEY or CERTFLEET_MASTER_KEY_FILE. Fails,
 * naming the setting, when neither is set or the value is not 32 bytes. */
/* The URL for connections that keep session state (listeners, workers' and the
 * scheduler's own connections, migrate): database_direct_url when set, else
 * database_url. */
const char *cf_config_session_url(const cf_config *cfg);

int cf_config_master_key(const cf_config *cfg, uint8_t out[32], cf_err *err);

/* Loads the table's defaults, then file (NULL: $CERTFLEET_CONFIG if set), then the
 * environment, and validates everything. Returns 0, or -1 with the message in err.
 * The config owns its strings; release with cf_config_free(). */
int cf_config_load(cf_config *cfg, const char *file, cf_err *err);
void cf_config_free(cf_config *cfg);
/* Prints the table for `certfleet help config`: one line per setting with its name,
 * help, and "(required)" or "(default: VALUE)" (nothing for an empty default, which
 * the help text explains when it matters). */
void cf_config_print_help(FILE *f);

/* Splits "host:port" / "[v6]:port" into host (no brackets) and port. */
int cf_parse_hostport(const char *s, char *host, size_t hostlen, unsigned *port);

#endif
