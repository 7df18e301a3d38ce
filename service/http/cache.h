/*
 * cache.h: the fetch cache of one `serve` process: token rows and, per
 * certificate, its policy (hosts, admin_keys) and current version (PEMs, the key
 * still sealed), so that a host polling its certificate is answered without a
 * database query.
 *
 * Exactness comes from PostgreSQL, with time as the safety net: every write to
 * tokens, certificates or certificate_versions sends NOTIFY certfleet_cache
 * (triggers in migrations/0004_hosts.sql, so no writer can forget it), and a
 * listener thread on a dedicated connection drops the entry each payload names.
 * A load that raced with an invalidation is not kept (a generation counter), and
 * everything is dropped when the listener (re)connects (notifications may have
 * been lost meanwhile).
 *
 * A notification can still be lost without the connection breaking (a write
 * with triggers skipped, session_replication_role = replica, as in a restore;
 * LISTEN through a transaction-pooling PgBouncer). So:
 *  - every entry has a maximum age, CERTFLEET_CACHE_MAX_AGE seconds: an older
 *    entry is read again from the database, and a lost notification heals on
 *    its own;
 *  - the listener sends itself a heartbeat every CERTFLEET_CACHE_HEARTBEAT
 *    seconds (store/listen.h); it counts as listening only while heartbeats
 *    come back, and a missed one counts as offline;
 *  - while it is offline, every lookup asks the database first. Only when the
 *    database does not answer at all does an entry stand in, and only until
 *    the listener has been offline for CERTFLEET_CACHE_OFFLINE_GRACE seconds (a
 *    database outage does not stop fetches at once). What an offline lookup
 *    read is kept as that stand-in, never as a hit: the reconnection drops it.
 * A private-key fetch does not rely on the cache at all: the database decides
 * it when the fetch is recorded (store/key_fetch.h).
 *
 * Thread safety: every function may be called from any thread. Certificate
 * entries are immutable and reference-counted: a request keeps its entry, even
 * one invalidated meanwhile, until cf_cache_cert_release.
 */
#ifndef CERTFLEET_HTTP_CACHE_H
#define CERTFLEET_HTTP_CACHE_H

#include <stdatomic.h>
#include <stdbool.h>

#include "store/certificates.h"
#include "store/db.h"
#include "store/tokens.h"
#include "util/err.h"

#define CF_CACHE_CHANNEL "certfleet_cache"

typedef struct cf_cache cf_cache;

typedef enum cf_cache_kind {
	CF_CACHE_TOKEN = 1, /* id: a token id */
	CF_CACHE_CERT,      /* id: a certificate id */
	CF_CACHE_ALL,       /* everything (id ignored) */
} cf_cache_kind;

/* One certificate as fetches see it (read-only for its users). */
typedef struct cf_cached_cert {
	cf_cert_fetch f;
	atomic_int refs;     /* private */
	long long loaded_ms; /* private: when it was read (monotonic) */
} cf_cached_cert;

typedef struct cf_cache_stats {
	unsigned long hits, loads, invalidations, flushes;
	unsigned long stand_ins; /* entries that answered because the database did not */
	bool listening;
} cf_cache_stats;

/* The cache's settings (see above). */
typedef struct cf_cache_settings {
	int offline_grace_s; /* CERTFLEET_CACHE_OFFLINE_GRACE */
	int max_age_s;       /* CERTFLEET_CACHE_MAX_AGE; 0: every lookup asks the database */
	int heartbeat_s;     /* CERTFLEET_CACHE_HEARTBEAT, > 0 */
} cf_cache_settings;

/* Starts the cache and its listener thread. Loads use connections of pool; the
 * listener opens its own to url. Returns NULL on out-of-memory or when the
 * thread cannot start (err). The database need not be up. */
cf_cache *cf_cache_start(const char *url, cf_db_pool *pool, const cf_cache_settings *set,
			 cf_err *err);
/* Stops the listener and frees everything (no request may use it anymore). */
void cf_cache_stop(cf_cache *c);

/* Checks a bearer token (cf_token_check on the cached row, loaded on a miss, on
 * an entry older than the maximum age, and whenever the listener is offline).
 * Returns 0 with *status (and *who when CF_TOKEN_OK), or -1 when the row had to
 * be loaded, the database failed (err) and no entry may stand in. */
int cf_cache_auth(cf_cache *c, const char *token, cf_principal *who, cf_token_status *status,
		  cf_err *err);

/* true when the use of token_id should be recorded now (at most once a minute
 * per token and process); the caller then runs cf_token_touch. */
bool cf_cache_touch_due(cf_cache *c, const char *token_id);

/* The entry of certificate id (loaded as for tokens; f.exists false when there
 * is no such certificate). Returns 0 with *out, to be released with
 * cf_cache_cert_release, or -1 when the database failed (err) and no entry may
 * stand in. */
int cf_cache_cert(cf_cache *c, const char *id, const cf_cached_cert **out, cf_err *err);
void cf_cache_cert_release(const cf_cached_cert *e);

/* Drops an entry (or everything, CF_CACHE_ALL) now. */
void cf_cache_invalidate(cf_cache *c, cf_cache_kind kind, const char *id);

void cf_cache_stats_get(cf_cache *c, cf_cache_stats *out);

/* The cache's table of absent token ids and per-address budgets (negcache.h;
 * owned by the cache, which forgets what notifications name). */
struct cf_negcache;
struct cf_negcache *cf_cache_negative(cf_cache *c);
/* true when token id's row is in the cache and usable now (no load). */
bool cf_cache_token_cached(cf_cache *c, const char *id);

#endif
