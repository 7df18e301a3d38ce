/*
 * pool.c: the threads of the worker pool: N workers, the NOTIFY listener and the
 * lease keeper; start and graceful stop. See worker.h.
 *
 * A worker loops: claim a job (cf_jobs_claim) and run it to an outcome; when none
 * is runnable, clean a few orphan TXT values, then sleep on the pool's condition
 * variable until a NOTIFY arrives, the next queued job is due, or
 * CERTFLEET_POLL_SECONDS pass. Each worker has its own PostgreSQL connection, and
 * so do the listener and the keeper: no connection is ever shared between threads.
 *
 * The keeper renews, every third of CERTFLEET_LEASE_SECONDS, the lease of each job
 * a worker holds. When a renewal matches no row, the job was claimed by another
 * worker (our lease had expired, e.g. while the database was unreachable): the
 * keeper raises the worker's `lost` flag and the worker drops the job at its next
 * check, without touching it again.
 *
 * Stop: workers see the stop flag between steps and inside long waits, and put
 * their job back in the queue. The keeper keeps renewing until the workers are
 * done. A worker still busy when the grace period ends has its lease expired at
 * once so another replica can take the job without waiting, and is left behind.
 */
#include "worker/worker_int.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

struct cf_workers {
	cf_app *app;
	int n;
	wk_thread *t;
	pthread_t listener, keeper;
	bool listener_on, keeper_on;
	pthread_mutex_t mu;
	pthread_cond_t cv;       /* idle workers sleep here (CLOCK_MONOTONIC) */
	unsigned long wake_gen;  /* bumped by every NOTIFY */
	atomic_bool stop;        /* workers: release the job and exit */
	atomic_bool stop_aux;    /* listener and keeper: exit */
	atomic_llong stop_at_ms; /* when the stop was requested */
	char proc_id[96];
};

bool wk_pool_stopping(const cf_workers *pool)
{
	return atomic_load(&pool->stop);
}

static void wake_all(cf_workers *p)
{
	pthread_mutex_lock(&p->mu);
	p->wake_gen++;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

/* Sleeps up to secs, or until a wake-up or a stop. */
static void idle_wait(cf_workers *p, double secs, atomic_bool *stop)
{
	struct timespec ts;
	unsigned long gen;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += (time_t)secs;
	ts.tv_nsec += (long)((secs - (double)(time_t)secs) * 1e9);
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&p->mu);
	gen = p->wake_gen;
	while (!atomic_load(stop) && p->wake_gen == gen)
		if (pthread_cond_timedwait(&p->cv, &p->mu, &ts) == ETIMEDOUT)
			break;
	pthread_mutex_unlock(&p->mu);
}

PGconn *wk_thread_db(wk_thread *w, cf_err *err)
{
	if (w->db != NULL && !cf_db_lost(w->db))
		return w->db;
	if (w->db != NULL)
		PQfinish(w->db);
	w->db = cf_db_connect(w->app->cfg->database_url, err);
	return w->db;
}

void wk_thread_db_drop(wk_thread *w)
{
	if (w->db != NULL)
		PQfinish(w->db);
	w->db = NULL;
}

void wk_hold(wk_thread *w, const cf_job_ref *ref)
{
	pthread_mutex_lock(&w->mu);
	w->held = *ref;
	w->holding = true;
	atomic_store(&w->lost, false);
	pthread_mutex_unlock(&w->mu);
}

void wk_unhold(wk_thread *w)
{
	pthread_mutex_lock(&w->mu);
	w->holding = false;
	pthread_mutex_unlock(&w->mu);
}

/* Logs a queue error once per minute per thread (the database may be down). */
static void queue_error(wk_thread *w, const cf_err *err, long long *last)
{
	long long now = wk_now_ms();

	if (now - *last < 60000)
		return;
	*last = now;
	cf_log(CF_LOG_WARN, "worker.queue", "%s: %s", w->owner, err->msg);
}

/* After an empty claim: clean orphans, then sleep until the next due job. */
static void worker_idle(wk_thread *w, PGconn *db)
{
	const cf_config *cfg = w->app->cfg;
	cf_err err = {0};
	double due;

	wk_janitor(w);
	due = cf_jobs_next_due(db, cfg->poll_seconds, &err);
	if (due < 0) {
		due = cfg->poll_seconds;
		if (cf_db_lost(db))
			wk_thread_db_drop(w);
	}
	cf_err_clear(&err);
	idle_wait(w->pool, due < 0.05 ? 0.05 : due, &w->pool->stop);
}

static void *worker_main(void *arg)
{
	wk_thread *w = arg;
	cf_workers *p = w->pool;
	long long last_err = -60000;

	while (!atomic_load(&p->stop)) {
		cf_job_claim cl = {0};
		cf_err err = {0};
		PGconn *db = wk_thread_db(w, &err);
		int rc = db ? cf_jobs_claim(db, w->owner, p->app->cfg->lease_seconds, &cl, &err)
			    : -1;

		if (rc == 1) {
			wk_job_run(w, &cl);
		} else if (rc == 0) {
			worker_idle(w, db);
		} else {
			queue_error(w, &err, &last_err);
			if (cf_db_lost(db))
				wk_thread_db_drop(w);
			idle_wait(p, p->app->cfg->poll_seconds, &p->stop);
		}
		cf_err_clear(&err);
	}
	cf_acme_client_free(w->client);
	cf_account_row_free(&w->acct);
	wk_thread_db_drop(w);
	w->client = NULL;
	atomic_store(&w->exited, true);
	return NULL;
}

/* LISTEN on a dedicated connection (re-made after a failure). */
static PGconn *listen_connect(cf_workers *p)
{
	cf_err err = {0};
	PGconn *c = cf_db_connect(p->app->cfg->database_url, &err);

	if (c != NULL && cf_db_run(c, "listen", "LISTEN " CF_JOBS_CHANNEL, 0, NULL, &err)) {
		PQfinish(c);
		c = NULL;
	}
	cf_err_clear(&err);
	return c;
}

static void *listener_main(void *arg)
{
	cf_workers *p = arg;
	PGconn *c = NULL;
	PGnotify *n;

	while (!atomic_load(&p->stop_aux)) {
		struct pollfd pfd = {.events = POLLIN};
		bool got = false;

		if (c == NULL && (c = listen_connect(p)) == NULL) {
			idle_wait(p, 1, &p->stop_aux);
			continue;
		}
		pfd.fd = PQsocket(c);
		if (poll(&pfd, 1, 500) < 0 && errno != EINTR)
			continue;
		if (!PQconsumeInput(c)) {
			PQfinish(c);
			c = NULL;
			got = true; /* notifications may have been missed */
		}
		while (c != NULL && (n = PQnotifies(c)) != NULL) {
			PQfreemem(n);
			got = true;
		}
		if (got)
			wake_all(p);
	}
	if (c != NULL)
		PQfinish(c);
	return NULL;
}

/* Renews the lease of the job thread w holds, if any. */
static void renew_one(cf_workers *p, wk_thread *w, PGconn **c)
{
	cf_job_ref ref;
	cf_err err = {0};
	bool holding;
	int rc;

	pthread_mutex_lock(&w->mu);
	holding = w->holding;
	ref = w->held;
	pthread_mutex_unlock(&w->mu);
	if (!holding || (*c == NULL && (*c = cf_db_connect(p->app->cfg->database_url, &err)) == NULL))
		goto out;
	rc = cf_job_renew(*c, &ref, p->app->cfg->lease_seconds, &err);
	if (rc == 1) {
		pthread_mutex_lock(&w->mu);
		if (w->holding && strcmp(w->held.id, ref.id) == 0 && w->held.attempt == ref.attempt)
			atomic_store(&w->lost, true);
		pthread_mutex_unlock(&w->mu);
		cf_log(CF_LOG_WARN, "worker.lease_lost", "job %s attempt %d was taken over",
		       ref.id, ref.attempt);
	} else if (rc < 0) {
		cf_log(CF_LOG_WARN, "worker.lease", "renewing job %s: %s", ref.id, err.msg);
	}
	if (cf_db_lost(*c)) {
		PQfinish(*c);
		*c = NULL;
	}
out:
	cf_err_clear(&err);
}

static void *keeper_main(void *arg)
{
	cf_workers *p = arg;
	double period = p->app->cfg->lease_seconds / 3.0;
	PGconn *c = NULL;

	while (!atomic_load(&p->stop_aux)) {
		long long until = wk_now_ms() + (long long)(period * 1000);

		while (!atomic_load(&p->stop_aux) && wk_now_ms() < until)
			usleep(100000);
		for (int i = 0; i < p->n && !atomic_load(&p->stop_aux); i++)
			renew_one(p, &p->t[i], &c);
	}
	if (c != NULL)
		PQfinish(c);
	return NULL;
}

static void pool_free(cf_workers *p)
{
	for (int i = 0; i < p->n; i++)
		pthread_mutex_destroy(&p->t[i].mu);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv);
	free(p->t);
	free(p);
}

/* "<host>:<pid>:<random>": tells replicas (and restarts of one) apart. */
static void make_proc_id(cf_workers *p)
{
	char host[64] = "host";
	uint16_t r = 0;

	gethostname(host, sizeof(host) - 1);
	host[sizeof(host) - 1] = '\0';
	cf_random_bytes(&r, sizeof(r));
	snprintf(p->proc_id, sizeof(p->proc_id), "%s:%ld:%04x", host, (long)getpid(), r);
}

static cf_workers *pool_new(cf_app *app)
{
	cf_workers *p = calloc(1, sizeof(*p));
	pthread_condattr_t ca;

	if (p == NULL || (p->t = calloc((size_t)app->cfg->workers, sizeof(*p->t))) == NULL) {
		free(p);
		return NULL;
	}
	p->app = app;
	p->n = app->cfg->workers;
	make_proc_id(p);
	pthread_mutex_init(&p->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&p->cv, &ca);
	pthread_condattr_destroy(&ca);
	for (int i = 0; i < p->n; i++) {
		wk_thread *w = &p->t[i];

		w->pool = p;
		w->app = app;
		w->idx = i;
		snprintf(w->owner, sizeof(w->owner), "%s/w%d", p->proc_id, i);
		pthread_mutex_init(&w->mu, NULL);
		atomic_store(&w->exited, true); /* until its thread runs */
	}
	return p;
}

cf_workers *cf_workers_start(cf_app *app, cf_err *err)
{
	cf_workers *p = pool_new(app);

	if (p == NULL) {
		cf_err_set(err, CF_ERR_PERMANENT, "workers: out of memory");
		return NULL;
	}
	cf_providers_init();
	p->listener_on = pthread_create(&p->listener, NULL, listener_main, p) == 0;
	p->keeper_on = pthread_create(&p->keeper, NULL, keeper_main, p) == 0;
	for (int i = 0; i < p->n && p->listener_on && p->keeper_on; i++) {
		atomic_store(&p->t[i].exited, false);
		p->t[i].started = pthread_create(&p->t[i].th, NULL, worker_main, &p->t[i]) == 0;
		if (!p->t[i].started) {
			atomic_store(&p->t[i].exited, true);
			cf_workers_stop(p, 5);
			cf_err_set(err, CF_ERR_PERMANENT, "workers: cannot start thread %d", i);
			return NULL;
		}
	}
	if (!p->listener_on || !p->keeper_on) {
		cf_workers_stop(p, 5);
		cf_err_set(err, CF_ERR_PERMANENT, "workers: cannot start the listener or keeper");
		return NULL;
	}
	cf_log(CF_LOG_INFO, "workers.started", "%d workers as %s, lease %d s, TXT budget %d",
	       p->n, p->proc_id, app->cfg->lease_seconds, app->cfg->txt_budget);
	return p;
}

void cf_workers_request_stop(cf_workers *p)
{
	if (p == NULL || atomic_exchange(&p->stop, true))
		return;
	atomic_store(&p->stop_at_ms, wk_now_ms());
	wake_all(p);
}

/* A job whose worker did not finish in time: its lease expires now. */
static void abandon(cf_workers *p, wk_thread *w, PGconn **c)
{
	cf_job_change ch = CF_JOB_KEEP;
	cf_job_event ev = {"shutdown", "the process stopped before the step finished; the "
				       "lease expires now so another worker resumes the job", -1,
			   NULL};
	cf_err err = {0};
	cf_job_ref ref;
	bool holding;

	pthread_mutex_lock(&w->mu);
	holding = w->holding;
	ref = w->held;
	pthread_mutex_unlock(&w->mu);
	if (!holding)
		return;
	ch.expire_lease = true;
	ch.notify = true;
	if (*c == NULL)
		*c = cf_db_connect(p->app->cfg->database_url, &err);
	if (*c != NULL && cf_job_write(*c, &ref, &ch, &ev, 1, &err) < 0)
		cf_log(CF_LOG_WARN, "workers.abandon", "job %s: %s", ref.id, err.msg);
	cf_log(CF_LOG_WARN, "workers.abandoned", "%s left job %s running at shutdown", w->owner,
	       ref.id);
	cf_err_clear(&err);
}

static int wait_workers(cf_workers *p, int grace_s)
{
	long long deadline = atomic_load(&p->stop_at_ms) + grace_s * 1000LL;
	int busy;

	for (;;) {
		busy = 0;
		for (int i = 0; i < p->n; i++)
			busy += !atomic_load(&p->t[i].exited);
		if (busy == 0 || wk_now_ms() >= deadline)
			return busy;
		usleep(20000);
	}
}

int cf_workers_stop(cf_workers *p, int grace_s)
{
	PGconn *c = NULL;
	int left = 0;

	if (p == NULL)
		return 0;
	cf_workers_request_stop(p);
	wait_workers(p, grace_s);
	for (int i = 0; i < p->n; i++) {
		if (atomic_load(&p->t[i].exited)) {
			if (p->t[i].started)
				pthread_join(p->t[i].th, NULL);
			continue;
		}
		abandon(p, &p->t[i], &c);
		left++;
	}
	if (c != NULL)
		PQfinish(c);
	atomic_store(&p->stop_aux, true);
	wake_all(p);
	if (p->listener_on)
		pthread_join(p->listener, NULL);
	if (p->keeper_on)
		pthread_join(p->keeper, NULL);
	cf_log(CF_LOG_INFO, "workers.stopped", "%d of %d workers stopped in time", p->n - left,
	       p->n);
	if (left == 0)
		pool_free(p);
	return left;
}
