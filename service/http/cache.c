/*
 * cache.c: the fetch cache and its NOTIFY listener; see cache.h for what it
 * guarantees.
 *
 * Three string-keyed hash maps under one mutex: token rows by token id,
 * certificate entries by certificate id, and the time each token's use was last
 * recorded. Token ids the database does not have go to the negative cache
 * (negcache.h, bounded on its own), never into the token map, so a flood of
 * made-up ids neither reaches the database per request nor evicts real rows. Every operation under the mutex is a hash look-up or a
 * pointer swap; loads from the database happen outside it.
 *
 * The race that matters: a request misses, reads the database, and meanwhile a
 * change commits and its NOTIFY is processed; inserting what the request read
 * would keep the old state forever. So every invalidation bumps `gen`, a load
 * remembers gen before it reads, and its result is kept only if gen has not
 * moved (the request still uses what it read: that was the state when it asked).
 * PostgreSQL delivers a notification only once its transaction is visible, so a
 * read that starts after an invalidation sees the change.
 *
 * Every entry carries the monotonic time it was read. A lookup answers from an
 * entry only while the listener is up (heartbeats coming back) and the entry is
 * younger than the maximum age; otherwise it reads the database, and the entry
 * it read replaces the old one (gen permitting). When that read fails, the old
 * entry stands in if the listener is up or went offline at most the grace ago;
 * after a failed read of an offline lookup, the next ones skip the database for
 * DB_RETRY_MS (a database that does not answer would otherwise cost every fetch
 * a connection attempt).
 */
#include "http/cache.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http/negcache.h"
#include "log.h"
#include "store/listen.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/waiter.h"

#define MAP_MAX_ENTRIES 200000 /* a map that grows beyond this is emptied */
#define TOUCH_INTERVAL_S 60
#define DB_RETRY_MS 1000     /* offline: how long a failed read spares the database */

/* ---- a small chained hash map of string keys ---- */

typedef struct node {
	struct node *next;
	char *key;
	void *val;
} node;

typedef struct map {
	node **b;
	size_t nb, n;
	void (*free_val)(void *);
} map;

static uint64_t hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL; /* FNV-1a */

	while (*s)
		h = (h ^ (uint8_t)*s++) * 1099511628211ULL;
	return h;
}

static int map_init(map *m, void (*free_val)(void *))
{
	m->nb = 256;
	m->n = 0;
	m->free_val = free_val;
	m->b = calloc(m->nb, sizeof(node *));
	return m->b ? 0 : -1;
}

static void *map_get(const map *m, const char *key)
{
	for (node *n = m->b[hash(key) % m->nb]; n != NULL; n = n->next)
		if (strcmp(n->key, key) == 0)
			return n->val;
	return NULL;
}

static void node_free(const map *m, node *n)
{
	m->free_val(n->val);
	free(n->key);
	free(n);
}

static void map_clear(map *m)
{
	for (size_t i = 0; i < m->nb; i++) {
		while (m->b[i] != NULL) {
			node *n = m->b[i];

			m->b[i] = n->next;
			node_free(m, n);
		}
	}
	m->n = 0;
}

static bool map_del(map *m, const char *key)
{
	for (node **p = &m->b[hash(key) % m->nb]; *p != NULL; p = &(*p)->next) {
		if (strcmp((*p)->key, key) == 0) {
			node *n = *p;

			*p = n->next;
			node_free(m, n);
			m->n--;
			return true;
		}
	}
	return false;
}

/* Doubles the bucket array (best effort: on failure the map stays as it is). */
static void map_grow(map *m)
{
	size_t nb = m->nb * 2;
	node **b = calloc(nb, sizeof(node *));

	if (b == NULL)
		return;
	for (size_t i = 0; i < m->nb; i++) {
		while (m->b[i] != NULL) {
			node *n = m->b[i];

			m->b[i] = n->next;
			n->next = b[hash(n->key) % nb];
			b[hash(n->key) % nb] = n;
		}
	}
	free(m->b);
	m->b = b;
	m->nb = nb;
}

/* Adds key -> val (key must not be there). Takes val; frees it on failure. */
static void map_put(map *m, const char *key, void *val)
{
	node *n = malloc(sizeof(*n));

	if (n == NULL || (n->key = strdup(key)) == NULL) {
		free(n);
		m->free_val(val);
		return;
	}
	if (m->n >= MAP_MAX_ENTRIES)
		map_clear(m);
	else if (m->n >= 2 * m->nb)
		map_grow(m);
	n->val = val;
	n->next = m->b[hash(key) % m->nb];
	m->b[hash(key) % m->nb] = n;
	m->n++;
}

static void map_free(map *m)
{
	if (m->b != NULL)
		map_clear(m);
	free(m->b);
	m->b = NULL;
}

/* ---- values ---- */

typedef struct token_entry {
	bool exists;
	cf_token_row row;
	long long loaded_ms; /* when it was read (monotonic) */
} token_entry;

static void token_entry_free(void *p)
{
	if (p != NULL)
		cf_wipe(p, sizeof(token_entry));
	free(p);
}

void cf_cache_cert_release(const cf_cached_cert *ce)
{
	cf_cached_cert *e = (cf_cached_cert *)ce;

	if (e == NULL || atomic_fetch_sub(&e->refs, 1) != 1)
		return;
	cf_cert_fetch_free(&e->f);
	free(e);
}

static void cert_entry_free(void *p)
{
	cf_cache_cert_release(p);
}

static void plain_free(void *p)
{
	free(p);
}

/* Puts key -> val, replacing (and freeing) what key held. Takes val. */
static void map_set(map *m, const char *key, void *val)
{
	map_del(m, key);
	map_put(m, key, val);
}

/* ---- the cache ---- */

struct cf_cache {
	pthread_mutex_t mu;
	map tokens, certs, touched;
	uint64_t gen;          /* bumped by every invalidation */
	bool listening;        /* the listener's heartbeats come back */
	long long offline_since; /* monotonic ms, when !listening */
	long long db_failed_at;  /* monotonic ms of the last failed read, 0: none */
	cf_cache_settings set;
	cf_cache_stats st;
	char *url;
	cf_db_pool *pool;
	pthread_t thread;
	cf_waiter stop;        /* the listener's stop */
	cf_negcache *neg;      /* absent token ids (negcache.h), owned */
};

/* Whole seconds on the monotonic clock. */
static time_t mono_now(void)
{
	return (time_t)(cf_clock_mono_ms() / 1000);
}

/* May an entry read at loaded_ms answer without the database? (caller holds mu) */
static bool fresh(const cf_cache *c, long long loaded_ms, long long now)
{
	return c->listening && now - loaded_ms < 1000LL * c->set.max_age_s;
}

/* May an entry stand in for a database that did not answer? (caller holds mu) */
static bool may_stand_in(const cf_cache *c, long long now)
{
	return c->listening || now - c->offline_since <= 1000LL * c->set.offline_grace_s;
}

/* Should a lookup skip the database and use its stand-in? Offline, right after
 * a failed read, when a stand-in may answer. (caller holds mu) */
static bool skip_db(const cf_cache *c, long long now)
{
	return !c->listening && c->db_failed_at != 0 && now - c->db_failed_at < DB_RETRY_MS &&
	       may_stand_in(c, now);
}

/* Records the outcome of a read of the database. */
static void db_answered(cf_cache *c, bool ok)
{
	pthread_mutex_lock(&c->mu);
	c->db_failed_at = ok ? 0 : cf_clock_mono_ms();
	pthread_mutex_unlock(&c->mu);
}

/* After a failed read: may the entry that was there stand in? Counts it. */
static bool stand_in(cf_cache *c, bool have, const char *what, const char *id)
{
	bool ok;

	pthread_mutex_lock(&c->mu);
	ok = have && may_stand_in(c, cf_clock_mono_ms());
	if (ok)
		c->st.stand_ins++;
	pthread_mutex_unlock(&c->mu);
	if (ok)
		cf_log(CF_LOG_DEBUG, "cache.stand_in", "%s %s: the database did not answer", what,
		       id);
	return ok;
}

/* Drops one entry or all (caller holds mu). */
static void drop(cf_cache *c, cf_cache_kind kind, const char *id)
{
	c->gen++;
	if (kind != CF_CACHE_CERT)
		cf_negcache_forget(c->neg, kind == CF_CACHE_ALL ? NULL : id);
	if (kind == CF_CACHE_ALL) {
		map_clear(&c->tokens);
		map_clear(&c->certs);
		c->st.flushes++;
		return;
	}
	map_del(kind == CF_CACHE_TOKEN ? &c->tokens : &c->certs, id);
	c->st.invalidations++;
}

void cf_cache_invalidate(cf_cache *c, cf_cache_kind kind, const char *id)
{
	pthread_mutex_lock(&c->mu);
	drop(c, kind, id);
	pthread_mutex_unlock(&c->mu);
	cf_log(CF_LOG_DEBUG, "cache.invalidate", "%s %s (local write)",
	       kind == CF_CACHE_TOKEN ? "token" : kind == CF_CACHE_CERT ? "certificate" : "all",
	       kind == CF_CACHE_ALL ? "-" : id);
}

void cf_cache_stats_get(cf_cache *c, cf_cache_stats *out)
{
	pthread_mutex_lock(&c->mu);
	*out = c->st;
	out->listening = c->listening;
	pthread_mutex_unlock(&c->mu);
}

/* ---- tokens ---- */

/* Reads token id from the database into *e. */
static int load_token(cf_cache *c, const char *id, token_entry *e, cf_err *err)
{
	PGconn *db = cf_db_acquire(c->pool, err);
	int rc;

	memset(e, 0, sizeof(*e));
	if (db == NULL)
		return -1;
	e->loaded_ms = cf_clock_mono_ms();
	rc = cf_token_lookup(db, id, &e->row, &e->exists, err);
	cf_db_release(c->pool, db, cf_db_lost(db));
	return rc;
}

/* Keeps e as the entry of id unless an invalidation came meanwhile: a row in
 * the token map, an absent id in the negative cache (only while listening, from
 * before the read to now: it has no age, so it must be exact) and out of the
 * map. */
static void keep_token(cf_cache *c, const char *id, const token_entry *e, uint64_t gen,
		       bool listening)
{
	token_entry *keep;

	pthread_mutex_lock(&c->mu);
	c->st.loads++;
	if (c->gen == gen && !e->exists) {
		map_del(&c->tokens, id);
		if (listening && c->listening)
			cf_negcache_add(c->neg, id, cf_negcache_gen(c->neg));
	} else if (c->gen == gen && (keep = malloc(sizeof(*keep))) != NULL) {
		*keep = *e;
		map_set(&c->tokens, id, keep);
	}
	pthread_mutex_unlock(&c->mu);
}

int cf_cache_auth(cf_cache *c, const char *token, cf_principal *who, cf_token_status *status,
		  cf_err *err)
{
	char id[CF_TOKEN_ID_LEN + 1];
	const char *secret;
	token_entry e = { 0 }, got = { 0 }, *hit;
	bool have = false, use = false, skip = false, listening;
	long long now = cf_clock_mono_ms();
	uint64_t gen;
	int rc = -1;

	if (cf_token_split(token, id, &secret) != 0) {
		cf_token_check(NULL, token, time(NULL), who, status);
		return 0;
	}
	pthread_mutex_lock(&c->mu);
	if ((hit = map_get(&c->tokens, id)) != NULL) {
		e = *hit;
		have = true;
		use = fresh(c, hit->loaded_ms, now);
		skip = !use && skip_db(c, now);
		if (use)
			c->st.hits++;
	}
	gen = c->gen;
	listening = c->listening;
	pthread_mutex_unlock(&c->mu);
	if (hit == NULL && cf_negcache_has(c->neg, id)) {
		e.exists = false; /* known absent: no load */
	} else if (!use && !skip) {
		if (load_token(c, id, &got, err) == 0) {
			db_answered(c, true);
			keep_token(c, id, &got, gen, listening);
			e = got;
			cf_log(CF_LOG_DEBUG, "cache.load", "token %s (%s)", id,
			       e.exists ? "found" : "no such token");
		} else {
			db_answered(c, false);
			if (!stand_in(c, have, "token", id))
				goto out;
			cf_err_clear(err);
		}
	} else if (skip && !stand_in(c, have, "token", id)) {
		cf_err_set(err, CF_ERR_TRANSIENT, "the database did not answer");
		goto out;
	}
	cf_token_check(e.exists ? &e.row : NULL, token, time(NULL), who, status);
	rc = 0;
out:
	cf_wipe(&e, sizeof(e));
	cf_wipe(&got, sizeof(got));
	return rc;
}

bool cf_cache_touch_due(cf_cache *c, const char *token_id)
{
	time_t now = mono_now(), *last;
	bool due = false;

	pthread_mutex_lock(&c->mu);
	last = map_get(&c->touched, token_id);
	if (last == NULL) {
		if ((last = malloc(sizeof(*last))) != NULL) {
			*last = now;
			map_put(&c->touched, token_id, last);
		}
		due = true;
	} else if (now - *last >= TOUCH_INTERVAL_S) {
		*last = now;
		due = true;
	}
	pthread_mutex_unlock(&c->mu);
	return due;
}

/* ---- certificates ---- */

static cf_cached_cert *load_cert(cf_cache *c, const char *id, cf_err *err)
{
	cf_cached_cert *e = calloc(1, sizeof(*e));
	PGconn *db;
	int rc;

	if (e == NULL) {
		cf_err_oom(err, NULL);
		return NULL;
	}
	if ((db = cf_db_acquire(c->pool, err)) == NULL) {
		free(e);
		return NULL;
	}
	e->loaded_ms = cf_clock_mono_ms();
	rc = cf_cert_fetch_load(db, id, &e->f, err);
	cf_db_release(c->pool, db, cf_db_lost(db));
	if (rc != 0) {
		free(e);
		return NULL;
	}
	atomic_init(&e->refs, 1);
	return e;
}

/* Keeps e (a new load) as the entry of id unless an invalidation came meanwhile. */
static void keep_cert(cf_cache *c, const char *id, cf_cached_cert *e, uint64_t gen)
{
	pthread_mutex_lock(&c->mu);
	c->st.loads++;
	if (c->gen == gen) {
		atomic_fetch_add(&e->refs, 1); /* the map's reference */
		map_set(&c->certs, id, e);
	}
	pthread_mutex_unlock(&c->mu);
}

int cf_cache_cert(cf_cache *c, const char *id, const cf_cached_cert **out, cf_err *err)
{
	cf_cached_cert *e = NULL, *got;
	bool use = false, skip = false;
	long long now = cf_clock_mono_ms();
	uint64_t gen;

	*out = NULL;
	pthread_mutex_lock(&c->mu);
	if ((e = map_get(&c->certs, id)) != NULL) {
		atomic_fetch_add(&e->refs, 1);
		use = fresh(c, e->loaded_ms, now);
		skip = !use && skip_db(c, now);
		if (use)
			c->st.hits++;
	}
	gen = c->gen;
	pthread_mutex_unlock(&c->mu);
	if (use)
		goto done;
	if (skip) {
		if (stand_in(c, true, "certificate", id))
			goto done;
		cf_err_set(err, CF_ERR_TRANSIENT, "the database did not answer");
		goto fail;
	}
	if ((got = load_cert(c, id, err)) == NULL) {
		db_answered(c, false);
		if (stand_in(c, e != NULL, "certificate", id)) {
			cf_err_clear(err);
			goto done;
		}
		goto fail;
	}
	db_answered(c, true);
	keep_cert(c, id, got, gen);
	cf_cache_cert_release(e);
	e = got;
	cf_log(CF_LOG_DEBUG, "cache.load", "certificate %s (%s, version %d)", id,
	       e->f.exists ? "found" : "no such certificate", e->f.version);
done:
	*out = e;
	return 0;
fail:
	cf_cache_cert_release(e);
	return -1;
}

/* ---- the listener ---- */

/* Applies one payload: "token:<id>", "certificate:<id>" or "flush". */
static void on_notify(const char *payload, void *arg)
{
	cf_cache *c = arg;
	cf_cache_kind kind = CF_CACHE_ALL;
	const char *id = "";

	if (strncmp(payload, "token:", 6) == 0) {
		kind = CF_CACHE_TOKEN;
		id = payload + 6;
	} else if (strncmp(payload, "certificate:", 12) == 0) {
		kind = CF_CACHE_CERT;
		id = payload + 12;
	} /* "flush", and anything unknown: everything */
	pthread_mutex_lock(&c->mu);
	drop(c, kind, id);
	pthread_mutex_unlock(&c->mu);
	cf_log(CF_LOG_DEBUG, "cache.invalidate", "%.200s (notify)", payload);
}

static void set_listening(cf_cache *c, bool on)
{
	pthread_mutex_lock(&c->mu);
	if (on) /* notifications may have been missed; stand-ins are no hits */
		drop(c, CF_CACHE_ALL, NULL);
	else    /* the entries stay, as stand-ins */
		c->offline_since = cf_clock_mono_ms();
	c->listening = on;
	pthread_mutex_unlock(&c->mu);
	if (on)
		cf_log(CF_LOG_INFO, "cache.listening", "LISTEN " CF_CACHE_CHANNEL
		       " (heartbeat every %d s)", c->set.heartbeat_s);
	else
		cf_log(CF_LOG_WARN, "cache.offline",
		       "the cache's LISTEN connection is down or missed a heartbeat: every "
		       "fetch asks the database; entries stand in for it for %d seconds "
		       "when it does not answer", c->set.offline_grace_s);
}

static void on_connect(void *arg)
{
	set_listening(arg, true);
}

static void on_disconnect(void *arg)
{
	set_listening(arg, false);
}

/* The listener thread: store/listen.c's loop, with keepalives and a user timeout
 * so that a peer that vanished without closing the connection is noticed within
 * seconds (the entries would otherwise be trusted without a listener). */
static void *listener_main(void *arg)
{
	cf_cache *c = arg;
	cf_listen l = { .url = c->url, .channel = CF_CACHE_CHANNEL,
			.app_name = "certfleet-cache", .heartbeat_s = c->set.heartbeat_s,
			.on_connect = on_connect,
			.on_notify = on_notify, .on_disconnect = on_disconnect, .arg = c };

	cf_listen_run(&l, &c->stop);
	return NULL;
}

cf_cache *cf_cache_start(const char *url, cf_db_pool *pool, const cf_cache_settings *set,
			 cf_err *err)
{
	cf_cache *c = calloc(1, sizeof(*c));

	if (c == NULL)
		goto oom;
	if (map_init(&c->tokens, token_entry_free) != 0 ||
	    map_init(&c->certs, cert_entry_free) != 0 ||
	    map_init(&c->touched, plain_free) != 0 || (c->url = strdup(url)) == NULL ||
	    (c->neg = cf_negcache_new()) == NULL)
		goto oom;
	if (cf_waiter_init(&c->stop) != 0)
		goto oom;
	pthread_mutex_init(&c->mu, NULL);
	c->pool = pool;
	c->set = *set;
	c->offline_since = cf_clock_mono_ms();
	if (pthread_create(&c->thread, NULL, listener_main, c) != 0) {
		cf_err_set(err, CF_ERR_PERMANENT, "cannot start the cache listener thread");
		pthread_mutex_destroy(&c->mu);
		cf_waiter_destroy(&c->stop);
		goto fail;
	}
	return c;
oom:
	cf_err_oom(err, NULL);
fail:
	if (c != NULL) {
		map_free(&c->tokens);
		map_free(&c->certs);
		map_free(&c->touched);
		cf_negcache_free(c->neg);
		free(c->url);
		free(c);
	}
	return NULL;
}

void cf_cache_stop(cf_cache *c)
{
	if (c == NULL)
		return;
	cf_waiter_stop(&c->stop);
	pthread_join(c->thread, NULL);
	cf_waiter_destroy(&c->stop);
	map_free(&c->tokens);
	map_free(&c->certs);
	map_free(&c->touched);
	cf_negcache_free(c->neg);
	pthread_mutex_destroy(&c->mu);
	free(c->url);
	free(c);
}

/* ---- for the gate in front of authentication (api.c) ---- */

cf_negcache *cf_cache_negative(cf_cache *c)
{
	return c->neg;
}

bool cf_cache_token_cached(cf_cache *c, const char *id)
{
	bool hit;

	token_entry *e;

	pthread_mutex_lock(&c->mu);
	hit = (e = map_get(&c->tokens, id)) != NULL && fresh(c, e->loaded_ms, cf_clock_mono_ms());
	pthread_mutex_unlock(&c->mu);
	return hit;
}
