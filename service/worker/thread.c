/*
 * thread.c: what a worker thread owns: its connection (opened on first use and
 * again after it broke) and the record of the job it holds, which the lease
 * keeper reads under the thread's mutex. See thread.h.
 */
#include "worker/thread.h"

#include <stdlib.h>
#include <unistd.h>

#include "store/db.h"

PGconn *wk_thread_db(wk_thread *w, cf_err *err)
{
	if (w->db != NULL && !cf_db_lost(w->db))
		return w->db;
	if (w->db != NULL)
		PQfinish(w->db);
	w->db = cf_db_connect(cf_config_session_url(w->app->cfg), err); /* holds session locks */
	return w->db;
}

void wk_thread_db_drop(wk_thread *w)
{
	if (w->db != NULL)
		PQfinish(w->db);
	w->db = NULL;
}

void wk_thread_acme_drop(wk_thread *w)
{
	cf_acme_client_free(w->client);
	w->client = NULL;
	cf_account_row_free(&w->acct);
	if (w->ca_path != NULL)
		unlink(w->ca_path);
	free(w->ca_path);
	w->ca_path = NULL;
	w->issuer[0] = '\0';
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

bool wk_held(wk_thread *w, cf_job_ref *ref)
{
	bool holding;

	pthread_mutex_lock(&w->mu);
	holding = w->holding;
	*ref = w->held;
	pthread_mutex_unlock(&w->mu);
	return holding;
}

bool wk_thread_stopping(const wk_thread *w)
{
	return cf_waiter_stopped(w->stop);
}
