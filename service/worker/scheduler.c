/*
 * scheduler.c: the renewal scheduler (fleet.h): one thread per serve process,
 * one active scheduler across all replicas.
 *
 * Leadership: the thread keeps a PostgreSQL connection of its own and asks for
 * pg_try_advisory_lock(CF_SCHEDULER_LOCK_KEY) on it. The holder runs a pass every
 * CERTFLEET_RENEW_INTERVAL seconds, on that same connection; the others ask again
 * at the same interval. A session lock ends with its session, so a replica that
 * dies or loses its connection hands over within one interval, with nothing to
 * clean up; and no pass ever runs without the lock held.
 *
 * A pass reads the certificates that need attention (store/renewals.h) and for
 * each one:
 *  1. plans: the plan (renewal_plans) is kept per version. Without ARI, renew_at =
 *     not_before + renew_fraction x lifetime - jitter (at most 1/2 for a
 *     short-lived certificate, a lifetime of 7 days or less), the jitter drawn once, up
 *     to 1/50 of the lifetime. Where the CA's directory has renewalInfo (RFC
 *     9773), the suggested window of the version's certID is fetched when the
 *     plan is new or its Retry-After has passed (clamped to [interval, 1 day]; 6
 *     hours when the CA sends none); a new window gets a new uniformly random
 *     renew_at inside it, an unchanged window keeps its time. Should ARI fail
 *     before any window is known, the fraction plan stands and ARI is asked again
 *     later;
 *  2. renews: when renew_at has passed, no job of the certificate is active and
 *     the backoff after failed renewals (CERTFLEET_RENEW_BACKOFF doubling per
 *     failure, at most a day, counted from the jobs table) has passed, it queues
 *     an ordinary job of kind 'renew' with data {"replaces": certID} at an ARI
 *     CA, and a first timeline event saying why now;
 *  3. announces expiring_soon once per version within CERTFLEET_EXPIRING_SOON.
 * The unique index on active jobs makes a second renewal of one certificate
 * impossible even if two schedulers ever ran at once.
 *
 * Time: every "now" of a pass is the database's (time.h has none of it): the
 * candidates query returns now(), and the pass advances it with the monotonic
 * clock (db_now), so a replica whose own clock is off neither renews early nor
 * late, and Retry-After and backoff are counted on the same clock as the
 * timestamps they are compared with.
 *
 * The ARI look-ups use an ACME client of the thread's own with a throwaway key:
 * renewalInfo is a plain GET that is never signed.
 */
#include "worker/fleet.h"

#include <pthread.h>
#include <stdatomic.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "acme/acme.h"
#include "crypto/crypto.h"
#include "log.h"
#include "metrics.h"
#include "store/renewals.h"
#include "store/webhooks.h"
#include "util/clock.h"
#include "util/waiter.h"

#define ARI_DEFAULT_RETRY_S 21600 /* 6 hours when the CA sends no Retry-After */
#define ARI_MAX_RETRY_S 86400
#define ARI_ERROR_RETRY_S 3600
#define BACKOFF_MAX_S 86400

struct cf_scheduler {
	cf_app *app;
	pthread_t th;
	cf_waiter waiter; /* the sleep between passes, and the stop */
	PGconn *db;       /* holds the advisory lock while leader */
	bool leader;
	cf_key *key;      /* throwaway: the ACME client needs one, ARI never signs */
	cf_acme_client *acme;
	int ari;          /* this pass: 1 offered, 0 not, -1 unknown (CA unreachable) */
	time_t db_epoch;  /* this pass: the database's now() at its candidates query */
	long long db_mono_ms; /* the monotonic clock then */
};

/* The database's clock, now: the pass's now() plus the monotonic time since. */
static time_t db_now(const cf_scheduler *s)
{
	return s->db_epoch + (time_t)((cf_clock_mono_ms() - s->db_mono_ms) / 1000);
}

static double uniform01(void)
{
	uint32_t r = 0;

	if (cf_random_bytes(&r, sizeof(r)) != 0)
		r = 0; /* jitter is best effort: without random bytes, none */
	return r / 4294967296.0;
}

static void iso(time_t t, char out[32])
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* ---- planning ---- */

/* Short-lived certificates (about 6 days, Let's Encrypt's "shortlived" profile)
 * renew at half their lifetime, not later: a failed renewal then still has days
 * to be retried or to fall back to another issuer. */
#define SHORT_LIVED_S (7 * 86400.0)
#define SHORT_LIVED_FRACTION 0.5

static void plan_fraction(const cf_renew_cand *k, cf_renew_plan *p)
{
	double life = difftime(k->not_after, k->not_before), f = k->fraction;

	if (life < 0)
		life = 0;
	if (life <= SHORT_LIVED_S && f > SHORT_LIVED_FRACTION)
		f = SHORT_LIVED_FRACTION;
	snprintf(p->source, sizeof(p->source), "fraction");
	p->fraction = k->fraction; /* the certificate's setting, so a pass does not re-plan */
	p->renew_at = k->not_before + (time_t)llround(f * life - uniform01() * life / 50);
	p->window_start = p->window_end = 0;
	p->explanation_url[0] = '\0';
}

static time_t clamp_retry(const cf_scheduler *s, long retry_ms, long dflt_s)
{
	long sec = retry_ms > 0 ? (retry_ms + 999) / 1000 : dflt_s;
	long lo = s->app->cfg->renew_interval;

	if (sec < lo)
		sec = lo;
	if (sec > ARI_MAX_RETRY_S)
		sec = ARI_MAX_RETRY_S;
	return db_now(s) + sec;
}

/* Asks the CA for the window of k's version and updates p. */
static void plan_ari(cf_scheduler *s, const cf_renew_cand *k, cf_renew_plan *p)
{
	cf_acme_renewal_info ri = {0};
	cf_err err = {0};
	char *id = NULL;

	if (p->ari_cert_id[0] == '\0') {
		if ((id = cf_cert_ari_id(k->cert_pem, strlen(k->cert_pem), &err)) == NULL ||
		    strlen(id) >= sizeof(p->ari_cert_id)) {
			snprintf(p->ari_error, sizeof(p->ari_error), "%s",
				 id ? "certID too long" : err.msg);
			p->ari_next_fetch = db_now(s) + ARI_MAX_RETRY_S;
			goto out;
		}
		snprintf(p->ari_cert_id, sizeof(p->ari_cert_id), "%s", id);
	}
	if (cf_acme_renewal_info_get(s->acme, p->ari_cert_id, &ri, &err) != 0) {
		snprintf(p->ari_error, sizeof(p->ari_error), "%s", err.msg);
		p->ari_next_fetch = clamp_retry(s, ri.retry_after_ms, ARI_ERROR_RETRY_S);
		cf_log(CF_LOG_WARN, "scheduler.ari", "certificate %s version %d: %s", k->id,
		       k->version, err.msg);
		goto out;
	}
	p->ari_error[0] = '\0';
	p->ari_next_fetch = clamp_retry(s, ri.retry_after_ms, ARI_DEFAULT_RETRY_S);
	if (strcmp(p->source, "ari") != 0 || p->window_start != ri.start ||
	    p->window_end != ri.end) {
		snprintf(p->source, sizeof(p->source), "ari");
		p->window_start = ri.start;
		p->window_end = ri.end;
		p->renew_at = ri.start + (time_t)floor(uniform01() * difftime(ri.end, ri.start));
		snprintf(p->explanation_url, sizeof(p->explanation_url), "%s",
			 ri.explanation_url ? ri.explanation_url : "");
	}
out:
	free(id);
	cf_acme_renewal_info_free(&ri);
	cf_err_clear(&err);
}

/* The plan for k's current version; true when it changed (to be saved). */
static bool plan(cf_scheduler *s, const cf_renew_cand *k, cf_renew_plan *p)
{
	time_t now = db_now(s);
	bool fresh = !p->exists || p->version != k->version;
	cf_renew_plan before = *p;

	if (fresh) {
		memset(p, 0, sizeof(*p));
		p->exists = true;
		p->version = k->version;
		plan_fraction(k, p); /* until (unless) ARI says otherwise */
	} else if (strcmp(p->source, "fraction") == 0 && p->fraction != k->fraction &&
		   fabs(p->fraction - k->fraction) > 1e-6) {
		plan_fraction(k, p);
	}
	if (s->ari == 1 && (fresh || p->ari_next_fetch == 0 || p->ari_next_fetch <= now))
		plan_ari(s, k, p);
	return memcmp(&before, p, sizeof(before)) != 0;
}

/* ---- acting ---- */

/* 0 when a failed renewal's backoff still runs (until *until). */
static bool backoff_over(const cf_scheduler *s, const cf_renew_cand *k, time_t *until)
{
	double wait = s->app->cfg->renew_backoff;

	if (k->failures == 0)
		return true;
	for (int i = 1; i < k->failures && wait < BACKOFF_MAX_S; i++)
		wait *= 2;
	if (wait > BACKOFF_MAX_S)
		wait = BACKOFF_MAX_S;
	*until = k->last_failure + (time_t)wait;
	return db_now(s) >= *until;
}

static void renew(cf_scheduler *s, const cf_renew_cand *k, const cf_renew_plan *p)
{
	char at[32], na[32], ws[32], we[32], why[400], msg[700], job[40];
	json_t *data = json_pack("{s:i, s:s}", "for_version", k->version, "planned", p->source);
	char *text = NULL;
	cf_err err = {0};
	int rc;

	iso(p->renew_at, at);
	iso(k->not_after, na);
	if (strcmp(p->source, "ari") == 0) {
		iso(p->window_start, ws);
		iso(p->window_end, we);
		snprintf(why, sizeof(why), "inside the CA's ARI window %s .. %s", ws, we);
	} else {
		snprintf(why, sizeof(why), "at %.4g of its lifetime, with jitter", p->fraction);
	}
	if (s->ari == 1 && p->ari_cert_id[0] != '\0')
		json_object_set_new(data, "replaces", json_string(p->ari_cert_id));
	snprintf(msg, sizeof(msg), "renewal of version %d (not after %s) due at %s, %s%s%s%s",
		 k->version, na, at, why, k->failures ? "; after failed renewals" : "",
		 s->ari == 1 && p->ari_cert_id[0] ? "; replaces " : "",
		 s->ari == 1 ? p->ari_cert_id : "");
	if (data == NULL || (text = json_dumps(data, JSON_COMPACT)) == NULL) {
		cf_log(CF_LOG_WARN, "scheduler.renew", "%s: out of memory", k->id);
		goto out;
	}
	rc = cf_renew_enqueue(s->db, k->id, text, msg, job, &err);
	if (rc == 1) {
		cf_log_set_job(job);
		cf_log(CF_LOG_INFO, "scheduler.renew", "certificate %s: %s", k->id, msg);
		cf_log_set_job(NULL);
	} else if (rc < 0) {
		cf_log(CF_LOG_WARN, "scheduler.renew", "certificate %s: %s", k->id, err.msg);
	}
out:
	if (cf_db_lost(s->db))
		s->leader = false; /* the connection (and the lock) is gone */
	json_decref(data);
	free(text);
	cf_err_clear(&err);
}

/* expiring_soon, once per version, in one transaction with its mark. */
static void announce_expiring(cf_scheduler *s, const cf_renew_cand *k)
{
	char na[32], data[160];
	cf_err err = {0};
	int rc = -1;

	iso(k->not_after, na);
	snprintf(data, sizeof(data), "{\"version\":%d,\"serial\":\"%.64s\",\"not_after\":\"%s\"}",
		 k->version, k->serial, na);
	if (cf_db_begin(s->db, &err) != 0)
		goto out;
	if ((rc = cf_renew_mark_expiring(s->db, k->id, k->version, &err)) == 1 &&
	    cf_webhook_enqueue(s->db, s->app->cfg->webhook_urls, "expiring_soon", k->id, data,
			       &err) < 0)
		rc = -1;
	if (rc >= 0 && cf_db_commit(s->db, &err) == 0) {
		if (rc == 1)
			cf_log(CF_LOG_WARN, "scheduler.expiring_soon",
			       "certificate %s version %d expires at %s", k->id, k->version, na);
		goto out;
	}
	cf_db_rollback(s->db);
	cf_log(CF_LOG_WARN, "scheduler.expiring_soon", "certificate %s: %s", k->id, err.msg);
out:
	if (cf_db_lost(s->db))
		s->leader = false;
	cf_err_clear(&err);
}

static void handle(cf_scheduler *s, cf_renew_cand *k)
{
	cf_renew_plan *p = &k->plan;
	cf_err err = {0};
	time_t until = 0;

	if (plan(s, k, p) && cf_renew_plan_save(s->db, k->id, p, &err) != 0) {
		cf_log(CF_LOG_WARN, "scheduler.plan", "certificate %s: %s", k->id, err.msg);
		if (cf_db_lost(s->db))
			s->leader = false;
		cf_err_clear(&err);
		return;
	}
	if (!k->active_job && p->renew_at <= db_now(s) && backoff_over(s, k, &until))
		renew(s, k, p);
	if (s->leader && !k->expiring_notified &&
	    difftime(k->not_after, db_now(s)) <= s->app->cfg->expiring_soon)
		announce_expiring(s, k);
}

/* Whether the CA offers ARI; the client is made on first use and remade after
 * the CA could not be reached (so a fixed CA is seen again). */
static void check_ari(cf_scheduler *s)
{
	const cf_config *cfg = s->app->cfg;
	cf_acme_options o = {.directory_url = cfg->acme_directory, .connect_timeout_ms = 5000,
			     .timeout_ms = 10000, .max_inline_wait_ms = -1};
	cf_err err = {0};

	o.ca_file = cfg->acme_ca_file[0] ? cfg->acme_ca_file : NULL;
	if (s->key == NULL)
		s->key = cf_key_generate(CF_KEY_EC256, &err);
	if (s->acme == NULL && s->key != NULL)
		s->acme = cf_acme_client_new(&o, s->key, &err);
	s->ari = s->acme ? cf_acme_ari_offered(s->acme, &err) : -1;
	if (s->ari < 0) {
		cf_log(CF_LOG_WARN, "scheduler.directory", "%s", err.msg);
		cf_acme_client_free(s->acme);
		s->acme = NULL;
	}
	cf_err_clear(&err);
}

static void pass(cf_scheduler *s)
{
	cf_renew_cand *k = NULL;
	cf_err err = {0};
	size_t n = 0;

	check_ari(s);
	if (cf_renew_candidates(s->db, s->app->cfg->expiring_soon, s->app->cfg->renew_batch,
				&k, &n, &err) != 0) {
		cf_log(CF_LOG_WARN, "scheduler.pass", "%s", err.msg);
		if (cf_db_lost(s->db))
			s->leader = false;
	}
	if (n > 0) {
		s->db_epoch = k[0].db_now;
		s->db_mono_ms = cf_clock_mono_ms();
	}
	for (size_t i = 0; i < n && s->leader && !cf_waiter_stopped(&s->waiter); i++)
		handle(s, &k[i]);
	cf_renew_cands_free(k, n);
	cf_err_clear(&err);
}

/* ---- leadership and the thread ---- */

static void lead(cf_scheduler *s)
{
	cf_err err = {0};
	PGresult *r;

	if (s->db != NULL && (!s->leader || cf_db_lost(s->db))) {
		if (cf_db_lost(s->db)) {
			PQfinish(s->db);
			s->db = NULL;
		}
		s->leader = false;
	}
	if (s->db == NULL &&
	    (s->db = cf_db_connect(cf_config_session_url(s->app->cfg), &err)) == NULL)
		goto out;
	if (!s->leader) {
		r = cf_db_exec(s->db, "scheduler lock",
			       "SELECT pg_try_advisory_lock(" CF_SCHEDULER_LOCK_KEY ")", 0, NULL,
			       &err);
		s->leader = r != NULL && strcmp(PQgetvalue(r, 0, 0), "t") == 0;
		PQclear(r);
		if (s->leader)
			cf_log(CF_LOG_INFO, "scheduler.leader", "this process runs the renewal "
			       "scheduler (every %d s)", s->app->cfg->renew_interval);
	}
out:
	cf_metrics_scheduler_leader(s->leader);
	cf_err_clear(&err);
}

static void *scheduler_main(void *arg)
{
	cf_scheduler *s = arg;

	while (!cf_waiter_stopped(&s->waiter)) {
		lead(s);
		if (s->leader)
			pass(s);
		if (!s->leader && cf_db_lost(s->db)) {
			PQfinish(s->db);
			s->db = NULL;
		}
		cf_metrics_scheduler_leader(s->leader);
		cf_waiter_wait(&s->waiter, s->app->cfg->renew_interval);
	}
	return NULL;
}

cf_scheduler *cf_scheduler_start(cf_app *app, cf_err *err)
{
	cf_scheduler *s;

	if (app->cfg->renew_interval <= 0 || app->cfg->acme_directory[0] == '\0')
		return NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		cf_err_oom(err, "scheduler");
		return NULL;
	}
	s->app = app;
	s->ari = -1;
	if (cf_waiter_init(&s->waiter) != 0) {
		cf_err_set(err, CF_ERR_PERMANENT, "scheduler: cannot make its waiter");
		free(s);
		return NULL;
	}
	if (pthread_create(&s->th, NULL, scheduler_main, s) != 0) {
		cf_err_set(err, CF_ERR_PERMANENT, "scheduler: cannot start its thread");
		cf_waiter_destroy(&s->waiter);
		free(s);
		return NULL;
	}
	return s;
}

void cf_scheduler_stop(cf_scheduler *s)
{
	if (s == NULL)
		return;
	cf_waiter_stop(&s->waiter);
	pthread_join(s->th, NULL);
	if (s->db != NULL)
		PQfinish(s->db); /* releases the lock */
	cf_metrics_scheduler_leader(false);
	cf_acme_client_free(s->acme);
	cf_key_free(s->key);
	cf_waiter_destroy(&s->waiter);
	free(s);
}
