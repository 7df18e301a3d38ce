/*
 * negcache.c: absent token ids and per-address lookup budgets; see negcache.h.
 *
 * Both tables are set-associative arrays allocated once: a key's hash picks a
 * set of WAYS slots, a look-up compares those slots only, and an insertion takes
 * a free or expired slot of the set, else its oldest. Memory stays fixed whatever
 * a client sends, and no insertion can touch another set.
 */
#include "http/negcache.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/tokens.h"
#include "util/clock.h"

#define WAYS 4
#define ID_SETS 4096   /* 16,384 absent ids */
#define IP_SETS 1024   /* 4,096 client addresses */

typedef struct id_slot {
	char id[CF_TOKEN_ID_LEN + 1]; /* "" = free */
	long long added_ms;
} id_slot;

typedef struct ip_slot {
	char ip[64];      /* "" = free */
	double tokens;    /* lookups left */
	long long at_ms;  /* when tokens was last brought up to date */
} ip_slot;

struct cf_negcache {
	pthread_mutex_t mu;
	uint64_t gen; /* bumped by every forget */
	id_slot *ids; /* ID_SETS * WAYS */
	ip_slot *ips; /* IP_SETS * WAYS */
	cf_negcache_stats st;
};

static uint64_t hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL; /* FNV-1a */

	while (*s)
		h = (h ^ (uint8_t)*s++) * 1099511628211ULL;
	return h;
}

cf_negcache *cf_negcache_new(void)
{
	cf_negcache *n = calloc(1, sizeof(*n));

	if (n == NULL)
		return NULL;
	pthread_mutex_init(&n->mu, NULL);
	n->ids = calloc((size_t)ID_SETS * WAYS, sizeof(*n->ids));
	n->ips = calloc((size_t)IP_SETS * WAYS, sizeof(*n->ips));
	if (n->ids == NULL || n->ips == NULL) {
		cf_negcache_free(n);
		return NULL;
	}
	return n;
}

void cf_negcache_free(cf_negcache *n)
{
	if (n == NULL)
		return;
	pthread_mutex_destroy(&n->mu);
	free(n->ids);
	free(n->ips);
	free(n);
}

/* The slot holding id, live at now, or NULL (caller holds mu). */
static id_slot *id_find(cf_negcache *n, const char *id, long long now)
{
	id_slot *set = &n->ids[(hash(id) % ID_SETS) * WAYS];

	for (int i = 0; i < WAYS; i++)
		if (set[i].id[0] && strcmp(set[i].id, id) == 0 &&
		    now - set[i].added_ms < CF_NEGCACHE_TTL_S * 1000LL)
			return &set[i];
	return NULL;
}

bool cf_negcache_has(cf_negcache *n, const char *id)
{
	bool has;

	pthread_mutex_lock(&n->mu);
	has = id_find(n, id, cf_clock_mono_ms()) != NULL;
	if (has)
		n->st.hits++;
	pthread_mutex_unlock(&n->mu);
	return has;
}

uint64_t cf_negcache_gen(cf_negcache *n)
{
	uint64_t g;

	pthread_mutex_lock(&n->mu);
	g = n->gen;
	pthread_mutex_unlock(&n->mu);
	return g;
}

void cf_negcache_add(cf_negcache *n, const char *id, uint64_t gen)
{
	long long now = cf_clock_mono_ms();
	id_slot *set, *victim;

	if (strlen(id) != CF_TOKEN_ID_LEN)
		return;
	pthread_mutex_lock(&n->mu);
	if (n->gen != gen || id_find(n, id, now) != NULL)
		goto out;
	set = &n->ids[(hash(id) % ID_SETS) * WAYS];
	victim = &set[0];
	for (int i = 0; i < WAYS; i++) {
		if (set[i].id[0] == '\0' || now - set[i].added_ms >= CF_NEGCACHE_TTL_S * 1000LL) {
			victim = &set[i];
			break;
		}
		if (set[i].added_ms < victim->added_ms)
			victim = &set[i];
	}
	memcpy(victim->id, id, CF_TOKEN_ID_LEN + 1);
	victim->added_ms = now;
	n->st.added++;
out:
	pthread_mutex_unlock(&n->mu);
}

void cf_negcache_forget(cf_negcache *n, const char *id)
{
	id_slot *s;

	pthread_mutex_lock(&n->mu);
	n->gen++;
	if (id == NULL)
		memset(n->ids, 0, (size_t)ID_SETS * WAYS * sizeof(*n->ids));
	else if ((s = id_find(n, id, cf_clock_mono_ms())) != NULL)
		memset(s, 0, sizeof(*s));
	pthread_mutex_unlock(&n->mu);
}

/* The bucket of ip, brought up to date at now; a new one (full) when ip has
 * none (caller holds mu). */
static ip_slot *ip_bucket(cf_negcache *n, const char *ip, long long now)
{
	ip_slot *set = &n->ips[(hash(ip) % IP_SETS) * WAYS], *s = NULL, *victim = NULL;

	for (int i = 0; i < WAYS && s == NULL; i++)
		if (set[i].ip[0] && strcmp(set[i].ip, ip) == 0)
			s = &set[i];
	if (s == NULL) { /* a free slot, else the one used longest ago */
		for (int i = 0; i < WAYS; i++) {
			if (set[i].ip[0] == '\0') {
				victim = &set[i];
				break;
			}
			if (victim == NULL || set[i].at_ms < victim->at_ms)
				victim = &set[i];
		}
		s = victim;
		snprintf(s->ip, sizeof(s->ip), "%s", ip);
		s->tokens = CF_NEGCACHE_BURST;
		s->at_ms = now;
		return s;
	}
	s->tokens += (double)(now - s->at_ms) * CF_NEGCACHE_RATE / 1000.0;
	if (s->tokens > CF_NEGCACHE_BURST)
		s->tokens = CF_NEGCACHE_BURST;
	s->at_ms = now;
	return s;
}

/* The budget's key of a client address: an IPv6 address counts by its /64 (one
 * host usually holds a whole /64), an IPv4 address by itself. */
static void budget_key(const char *ip, char out[64])
{
	struct in6_addr a;

	if (inet_pton(AF_INET6, ip, &a) == 1) {
		memset(a.s6_addr + 8, 0, 8);
		if (inet_ntop(AF_INET6, &a, out, 64) != NULL)
			return;
	}
	snprintf(out, 64, "%s", ip);
}

bool cf_negcache_take(cf_negcache *n, const char *ip)
{
	char key[64];
	ip_slot *s;
	bool ok;

	budget_key(ip, key);
	pthread_mutex_lock(&n->mu);
	s = ip_bucket(n, key, cf_clock_mono_ms());
	ok = s->tokens >= 1.0;
	if (ok)
		s->tokens -= 1.0;
	else
		n->st.refused++;
	pthread_mutex_unlock(&n->mu);
	return ok;
}

void cf_negcache_refund(cf_negcache *n, const char *ip)
{
	char key[64];
	ip_slot *s;

	budget_key(ip, key);
	pthread_mutex_lock(&n->mu);
	s = ip_bucket(n, key, cf_clock_mono_ms());
	s->tokens = s->tokens + 1.0 > CF_NEGCACHE_BURST ? CF_NEGCACHE_BURST : s->tokens + 1.0;
	pthread_mutex_unlock(&n->mu);
}

void cf_negcache_stats_get(cf_negcache *n, cf_negcache_stats *out)
{
	pthread_mutex_lock(&n->mu);
	*out = n->st;
	pthread_mutex_unlock(&n->mu);
}
