/*
 * app.h: the state of one `certfleet serve` process, shared by the HTTP threads,
 * the issuance workers (worker/worker.h) and the fleet threads (worker/fleet.h:
 * the renewal scheduler, the webhook sender). Created in cmd/serve.c, read-only
 * after start-up except through the thread-safe objects it points to (the
 * database pool).
 */
#ifndef CERTFLEET_APP_H
#define CERTFLEET_APP_H

#include <stdint.h>

#include "config.h"
#include "dns/dns.h"
#include "store/db.h"

typedef struct cf_app {
	const cf_config *cfg;
	cf_db_pool *pool;
	int schema_expected; /* the highest migration version this binary ships */
	uint8_t master_key[32]; /* seals secrets at rest; wiped at exit */
	uint8_t idem_key[32];   /* keys Idempotency-Key fingerprints (derived); wiped at exit */
	cf_dns_servers resolvers; /* CERTFLEET_RESOLVERS, or /etc/resolv.conf */
	cf_propagation propagation;
	/* the profiles a CA's directory offers (issue/directory.c; NULL in a process
	 * without it): for the API's check of a certificate's profile */
	int (*directory_profiles)(const char *url, const char *ca_pem, char **out,
				  cf_err *err);
} cf_app;

#endif
