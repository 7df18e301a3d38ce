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
	char *listen;         /* HOST:PORT or [V6]:PORT, validated */
	int workers;          /* issuance worker threads in serve */
	int http_threads;     /* libmicrohttpd thread pool size */
	long max_body;        /* bytes accepted in a request body */
	int db_pool;          /* PostgreSQL connections for the HTTP side */
	char *log_level;      /* debug | info | warn | error */
	char *migrations_dir; /* folder of NNNN_name.sql files */
	int shutdown_grace;   /* seconds given to in-flight requests on SIGTERM */
} cf_config;

/* Loads the table's defaults, then file (NULL: $CERTFLEET_CONFIG if set), then the
 * environment, and validates everything. Returns 0, or -1 with the message in err.
 * The config owns its strings; release with cf_config_free(). */
int cf_config_load(cf_config *cfg, const char *file, cf_err *err);
void cf_config_free(cf_config *cfg);
/* Prints the table (name, default, help) for `certfleet help config`. */
void cf_config_print_help(FILE *f);

/* Splits "host:port" / "[v6]:port" into host (no brackets) and port. */
int cf_parse_hostport(const char *s, char *host, size_t hostlen, unsigned *port);

#endif
