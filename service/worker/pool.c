/*
 * pool.c: the threads of the worker pool: N workers, the NOTIFY listener and the
 * lease keeper; start and graceful stop. See worker.h. What one worker thread
 * owns (its connection, the job it holds) is in thread.c, and running a claimed
 * job in job.c.
 *
 * A worker loops: claim a job (cf_jobs_claim) and run it to an outcome; when none
 * is runnable, clean a few orphan TXT values, then sleep on the pool's waiter
 * until a NOTIFY arrives, the next queued job is due, or CERTFLEET_POLL_SECONDS
 * pass. The listener is store/listen.c's loop: a NOTIFY, or a lost LISTEN
 * connection (notifications may have been missed), wakes the idle workers. Each
 * worker has its own PostgreSQL connection, and so do the listener and the keeper:
 * no connection is ever shared between threads.
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
#include "worker/job.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "log.h"
#include "providers/provider.h"
#include "store/db.h"
#include "store/listen.h"
#include "util/clock.h"
#include "util/waiter.h"
#include "worker/worker_int.h"

struct cf_workers {
	cf_app *app;
	int n;
	wk_thread *t;
	pthread_t listener, keeper;
	bool listener_on, keeper_on;
	cf_waiter work;          /* idle workers sleep here; stopped: release and exit */
	cf_waiter aux;           /* the listener and the keeper; stopped: exit */
	atomic_llong stop_at_ms; /* when the stop was requested */
	char proc_id[96];
};

/* Logs a queue error once per minute per thread (the database may be down). */
static void queue_error(wk_thread *w, const cf_err *err, long long *last)
{
	long long now = cf_clock_mono_ms();

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
	cf_waiter_wait(&w->pool->work, due < 0.05 ? 0.05 : due);
}

static void *worker_main(void *arg)
{
	wk_thread *w = arg;
	cf_workers *p = w->pool;
	long long last_err = -60000;

	while (!cf_waiter_stopped(&p->work)) {
		cf_job_claim cl = {0};
		cf_err err = {0};
		PGconn *db = wk_thread_db(w, &err);
		int rc = db ? cf_jobs_claim(db, w->owner, p->app->cfg->lease_seconds, &cl, &err)
			    : -1;

		if (rc == 1) {
			if (cl.more) /* another idle worker takes the next */
				cf_waiter_wake_one(&p->work);
			wk_job_run(w, &cl);
		} else if (rc == 0) {
			worker_idle(w, db);
		} else {
			queue_error(w, &err, &last_err);
			if (cf_db_lost(db))
				wk_thread_db_drop(w);
			cf_waiter_wait(&p->work, p->app->cfg->poll_seconds);
		}
		cf_err_clear(&err);
	}
	wk_thread_acme_drop(w);
	wk_thread_db_drop(w);
	atomic_store(&w->exited, true);
	return NULL;
}

/* A NOTIFY on the jobs channel (one job is runnable): one idle worker looks; a
 * worker that claims a job while more are runnable wakes the next (worker_main),
 * so a burst of jobs spreads over the idle workers without each NOTIFY waking all
 * of them. A (re)connection or a lost connection of the listener (notifications
 * may have been missed): all the idle workers look. */
static void on_notify(const char *payload, void *arg)
{
	(void)payload;
	cf_waiter_wake_one(arg);
}

static void on_change(void *arg)
{
	cf_waiter_wake(arg);
}

static void *listener_main(void *arg)
{
	cf_workers *p = arg;
	cf_listen l = {.url = cf_config_session_url(p->app->cfg), .channel = CF_JOBS_CHANNEL,
		       .app_name = "certfleet-workers", .on_connect = on_change,
		       .on_notify = on_notify, .on_disconnect = on_change, .arg = &p->work};

	cf_listen_run(&l, &p->aux);
	return NULL;
}

/* Renews the lease of the job thread w holds, if any. */
static void renew_one(cf_workers *p, wk_thread *w, PGconn **c)
{
	cf_job_ref ref;
	cf_err err = {0};
	int rc;

	if (!wk_held(w, &ref) ||
	    (*c == NULL && (*c = cf_db_connect(p->app->cfg->database_url, &err)) == NULL))
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

	while (!cf_waiter_wait(&p->aux, period))
		for (int i = 0; i < p->n && !cf_waiter_stopped(&p->aux); i++)
			renew_one(p, &p->t[i], &c);
	if (c != NULL)
		PQfinish(c);
	return NULL;
}

static void pool_free(cf_workers *p)
{
	for (int i = 0; i < p->n; i++)
		pthread_mutex_destroy(&p->t[i].mu);
	cf_waiter_destroy(&p->work);
	cf_waiter_destroy(&p->aux);
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
	if (cf_random_bytes(&r, sizeof(r)) != 0)
		r = 0; /* best effort: host and pid already tell processes apart */
	snprintf(p->proc_id, sizeof(p->proc_id), "%s:%ld:%04x", host, (long)getpid(), r);
}

static cf_workers *pool_new(cf_app *app)
{
	cf_workers *p = calloc(1, sizeof(*p));

	if (p == NULL || (p->t = calloc((size_t)app->cfg->workers, sizeof(*p->t))) == NULL) {
		free(p);
		return NULL;
	}
	if (cf_waiter_init(&p->work) != 0) {
		free(p->t);
		free(p);
		return NULL;
	}
	if (cf_waiter_init(&p->aux) != 0) {
		cf_waiter_destroy(&p->work);
		free(p->t);
		free(p);
		return NULL;
	}
	p->app = app;
	p->n = app->cfg->workers;
	make_proc_id(p);
	for (int i = 0; i < p->n; i++) {
		wk_thread *w = &p->t[i];

		w->pool = p;
		w->app = app;
		w->stop = &p->work;
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
		cf_err_oom(err, "workers");
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
	if (p == NULL || cf_waiter_stopped(&p->work))
		return;
	atomic_store(&p->stop_at_ms, cf_clock_mono_ms());
	cf_waiter_stop(&p->work);
}

/* A job whose worker did not finish in time: its lease expires now. */
static void abandon(cf_workers *p, wk_thread *w, PGconn **c)
{
	cf_job_change ch = CF_JOB_KEEP;
	cf_job_event ev = {"shutdown", "the process stopped before the step finished; the "
				       "lease expires now so another worker resumes the job", -1,
			   NULL, 0};
	cf_err err = {0};
	cf_job_ref ref;

	if (!wk_held(w, &ref))
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
		if (busy == 0 || cf_clock_mono_ms() >= deadline)
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
	cf_waiter_stop(&p->aux);
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
