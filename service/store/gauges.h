/*
 * gauges.h: what GET /metrics reads from the database at scrape time, in one
 * round trip: jobs by state, seconds until the current version of each
 * certificate expires, the live TXT values per target FQDN (dns_records in state
 * pending or present: what the TXT budget counts), and the webhook deliveries by
 * state. These are facts of the whole fleet (every replica sees the same), unlike
 * the per-process counters of metrics.h.
 */
#ifndef CERTFLEET_STORE_GAUGES_H
#define CERTFLEET_STORE_GAUGES_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>

#include "util/err.h"

/* *out = {"jobs": {state: n}, "expiry": {certificate: seconds}, "txt": {fqdn: n},
 *         "webhooks": {state: n}, "at": epoch seconds}; the caller owns it. */
CF_MUST_CHECK int cf_gauges_read(PGconn *c, json_t **out, cf_err *err);

#endif
