/*
 * app.h: the state of one `certfleet serve` process, shared by the HTTP threads
 * and (later) the workers. Created in cmd/serve.c, read-only after start-up except
 * through the thread-safe objects it points to (the database pool).
 */
#ifndef CERTFLEET_APP_H
#define CERTFLEET_APP_H

#include "config.h"
#include "store/db.h"

typedef struct cf_app {
	const cf_config *cfg;
	cf_db_pool *pool;
	int schema_expected; /* the highest migration version this binary ships */
} cf_app;

#endif
