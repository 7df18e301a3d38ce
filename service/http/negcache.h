/*
 * negcache.h: the token ids known not to exist, and how many more unknown ids
 * each client address may have looked up.
 *
 * A bearer token names its row by a public id ("cf_<id>_<secret>"). Without
 * this unit, every made-up id costs a database query, and a flood of them could
 * push real rows out of the fetch cache. Here:
 *
 *  - an id the database did not have is remembered (a bounded table: 16,384 ids
 *    in 4-way sets, each for at most CF_NEGCACHE_TTL_S seconds; a new id pushes
 *    out only the oldest absent id of its set, never a real token's row, which
 *    live in cache.c's own map);
 *  - each client address has a budget of lookups of ids that are in neither
 *    cache (a token bucket: CF_NEGCACHE_BURST at once, CF_NEGCACHE_RATE per
 *    second); a lookup that finds the row is refunded, so hosts with real
 *    tokens never run out, while a flood of fresh fake ids from one address
 *    reaches the database at most CF_NEGCACHE_RATE times a second (an IPv6
 *    address counts by its /64, which one host usually holds whole). The address
 *    table is bounded the same way (4,096 addresses; a forgotten address
 *    starts again with a full bucket).
 *
 * Exactness: the fetch cache (cache.c) drops an id here whenever a change to
 * token id is notified (and everything on a flush or a listener reconnect), and
 * an addition is kept only when no such drop happened since the caller read
 * cf_negcache_gen before its lookup (the same rule as cache.c's loads). Token
 * ids are drawn at random by the service, so an id refused here could only
 * become real by a new token drawing it while this replica did not hear about
 * it, and even then for at most CF_NEGCACHE_TTL_S seconds.
 *
 * Thread safety: every function may be called from any thread (one mutex; every
 * operation under it is a few comparisons).
 */
#ifndef CERTFLEET_HTTP_NEGCACHE_H
#define CERTFLEET_HTTP_NEGCACHE_H

#include <stdbool.h>
#include <stdint.h>

#define CF_NEGCACHE_TTL_S 60
#define CF_NEGCACHE_BURST 100
#define CF_NEGCACHE_RATE 20

typedef struct cf_negcache cf_negcache;

typedef struct cf_negcache_stats {
	unsigned long long hits;    /* requests answered 401 from the table */
	unsigned long long added;   /* ids the database did not have */
	unsigned long long refused; /* requests refused 429: the address's budget was spent */
} cf_negcache_stats;

/* NULL on out-of-memory. */
cf_negcache *cf_negcache_new(void);
void cf_negcache_free(cf_negcache *n);

/* true when id is known not to exist. */
bool cf_negcache_has(cf_negcache *n, const char *id);
/* The generation to read before a lookup and give to cf_negcache_add. */
uint64_t cf_negcache_gen(cf_negcache *n);
/* Remembers that id does not exist, unless something was forgotten since gen. */
void cf_negcache_add(cf_negcache *n, const char *id, uint64_t gen);
/* Forgets id (NULL: every id). */
void cf_negcache_forget(cf_negcache *n, const char *id);

/* Takes one lookup from the budget of client address ip. false when it is spent
 * (the caller answers 429 and looks nothing up). */
bool cf_negcache_take(cf_negcache *n, const char *ip);
/* Gives back the lookup taken for ip (the id existed). */
void cf_negcache_refund(cf_negcache *n, const char *ip);

void cf_negcache_stats_get(cf_negcache *n, cf_negcache_stats *out);

#endif
