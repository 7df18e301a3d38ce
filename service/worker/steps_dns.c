/*
 * steps_dns.c: the DNS side of a job: writing the TXT values (within the TXT
 * budget), waiting until they are served, and removing them.
 *
 * Present: all values of the job are recorded in dns_records as 'pending' in one
 * fenced transaction that checks the budget of every target (all or none, so two
 * jobs cannot each hold part of what they need and wait for each other); then each
 * value goes to its provider and becomes 'present'. A value the provider refused
 * (a permanent error: it was not written) becomes 'failed'; after a transient
 * error it stays 'pending', since it may have been written, and cleanup removes it.
 *
 * Cleanup works from the dns_records rows of the job, not from memory, so it also
 * removes values that an earlier, crashed attempt wrote.
 *
 * A target's limit is the TXT budget, or the provider type's max_values_per_name
 * when smaller (acme-dns keeps two values per name), enforced in the same
 * reservation across replicas. Every provider call that changes a target (present,
 * cleanup, the janitor's cleanup) runs under that target's write lock, a PostgreSQL
 * session-level advisory lock taken on the thread's connection (cf_txt_write_lock):
 * writers of one name never overlap, on any replica, so providers that read, modify
 * and write a whole rrset (powerdns, route53) cannot drop each other's values. The
 * lock is waited for in chunks, so a stopping process or a lost job lets go. A
 * provider whose each write changes one record atomically at the server (rfc2136:
 * ops.atomic_writes) is called without it.
 *
 * A provider with batch operations (ops.present_many, ops.cleanup_many: route53,
 * gcloud, azure) gets all of the job's values for it in one call, which makes one
 * change per zone and waits for it once, instead of one change and one wait per
 * value. The write locks of all of the batch's targets are held around that call,
 * taken in sorted order so that two batches never wait for each other in a cycle
 * (two names whose lock keys collide could still; the bounded wait breaks that).
 *
 * The janitor removes orphan values (live, but their job ended or is gone) with
 * retries after a doubling backoff; each outcome is an event of the value's job
 * (store/dns_records.c) and each failure counts in cf_metrics_janitor_failures().
 * Provider credentials are unsealed once per claim (cf_provider_settings_load) and
 * wiped when it ends. The same pass purges Idempotency-Key records older than 24
 * hours (cf_idem_purge): they no longer replay, and would otherwise pile up.
 */
#include "worker/worker_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "metrics.h"
#include "store/audit.h"
#include "store/dns_records.h"
#include "store/providers.h"
#include "providers/scope.h"
#include "util/clock.h"

#define WK_TXT_LOCK_CHUNK_MS 1000
#define WK_TXT_LOCK_WAIT_S 60


/* Takes the write lock of fqdn on w's connection, waiting in chunks; gives up when
 * the process stops, the job is lost (for a job) or WK_TXT_LOCK_WAIT_S pass. 0
 * held, -1 not (err, transient). The connection may have been replaced: callers
 * get it again afterwards rather than keep a pointer across this call. A provider
 * whose writes are atomic (ops->atomic_writes) needs no lock: 0 at once. */
static int write_lock(wk_thread *w, const cf_provider_ops *ops, const char *fqdn, bool job,
		      cf_err *err)
{
	long long deadline = cf_clock_mono_ms() + WK_TXT_LOCK_WAIT_S * 1000LL;
	PGconn *db;
	int rc;

	if (ops->atomic_writes)
		return 0;

	do {
		if ((db = wk_thread_db(w, err)) == NULL)
			return -1;
		if ((rc = cf_txt_write_lock(db, fqdn, WK_TXT_LOCK_CHUNK_MS, err)) <= 0)
			return rc;
		if (wk_thread_stopping(w) || (job && atomic_load(&w->lost)))
			return cf_err_set(err, CF_ERR_TRANSIENT,
					  "stopped waiting for the write lock of %s", fqdn);
	} while (cf_clock_mono_ms() < deadline);
	return cf_err_set(err, CF_ERR_TRANSIENT, "the TXT values at %s were being changed by "
			  "another worker for %d s", fqdn, WK_TXT_LOCK_WAIT_S);
}

/* Releases write_lock's lock of fqdn (a lost connection released it already; a
 * failed release drops the connection, which releases it). */
static void write_unlock(wk_thread *w, const cf_provider_ops *ops, const char *fqdn)
{
	cf_err e = {0};

	if (!ops->atomic_writes && w->db != NULL && cf_txt_write_unlock(w->db, fqdn, &e) != 0) {
		cf_log(CF_LOG_WARN, "txt.unlock", "%s", e.msg);
		wk_thread_db_drop(w);
	}
	cf_err_clear(&e);
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The distinct fqdns of recs[0..n), sorted, into names (room for n). */
static size_t distinct_names(const cf_provider_rec *recs, size_t n, const char **names)
{
	size_t i, k = 0;

	for (i = 0; i < n; i++)
		names[i] = recs[i].fqdn;
	qsort(names, n, sizeof(*names), name_cmp);
	for (i = 0; i < n; i++)
		if (k == 0 || strcmp(names[k - 1], names[i]) != 0)
			names[k++] = names[i];
	return k;
}

/* Releases the write locks of names[0..k), the last taken first. */
static void write_unlock_all(wk_thread *w, const cf_provider_ops *ops, const char **names,
			     size_t k)
{
	while (k-- > 0)
		write_unlock(w, ops, names[k]);
}

/* Takes the write locks of names[0..k) (sorted, distinct) in order; on failure
 * none stays held. */
static int write_lock_all(wk_thread *w, const cf_provider_ops *ops, const char **names,
			  size_t k, bool job, cf_err *err)
{
	for (size_t i = 0; i < k; i++)
		if (write_lock(w, ops, names[i], job, err) != 0) {
			write_unlock_all(w, ops, names, i);
			return -1;
		}
	return 0;
}

const wk_provider *wk_provider_get(wk_job *j, const char *name, cf_err *err)
{
	wk_provider *p;
	char *type = NULL;
	json_t *settings = NULL;
	PGconn *db;

	for (size_t i = 0; i < j->nprovs; i++)
		if (strcmp(j->provs[i].name, name) == 0)
			return &j->provs[i];
	if (j->nprovs == WK_MAX_PROVIDERS) {
		cf_err_set(err, CF_ERR_PERMANENT, "more than %d DNS providers in one job",
			   WK_MAX_PROVIDERS);
		return NULL;
	}
	if ((db = wk_thread_db(j->w, err)) == NULL)
		return NULL;
	if (cf_provider_settings_load(db, j->w->app->master_key, name, &type, &settings, err) != 0) {
		if (cf_db_lost(db))
			wk_thread_db_drop(j->w);
		return NULL;
	}
	p = &j->provs[j->nprovs];
	p->ops = cf_provider_find(type);
	p->name = strdup(name);
	p->settings = settings;
	free(type);
	if (p->ops == NULL || p->name == NULL) {
		if (p->ops != NULL)
			cf_err_oom(err, NULL);
		else
			cf_err_set(err, CF_ERR_PERMANENT, "provider %s: unknown type", name);
		free(p->name);
		cf_provider_settings_free(p->settings);
		memset(p, 0, sizeof(*p));
		return NULL;
	}
	return &j->provs[j->nprovs++];
}

static cf_provider_ctx provider_ctx(const wk_job *j, const wk_provider *p)
{
	cf_provider_ctx ctx = {.settings = p->settings, .resolvers = &j->w->app->resolvers,
			       .timeout_ms = WK_PROVIDER_TIMEOUT_MS};
	return ctx;
}

/* The job's values from data.challenges (strings borrowed from j->data). */
static size_t values_of(const wk_job *j, cf_txt_value **out)
{
	const json_t *a = json_object_get(j->data, "challenges"), *e;
	size_t i, n = json_array_size(a);

	*out = NULL;
	if (n == 0 || (*out = calloc(n, sizeof(**out))) == NULL)
		return 0;
	json_array_foreach(a, i, e) {
		(*out)[i].provider = json_string_value(json_object_get(e, "provider"));
		(*out)[i].fqdn = json_string_value(json_object_get(e, "fqdn"));
		(*out)[i].value = json_string_value(json_object_get(e, "value"));
		if (!(*out)[i].provider || !(*out)[i].fqdn || !(*out)[i].value) {
			free(*out);
			*out = NULL;
			return 0;
		}
	}
	return n;
}

/* A job that needs more values at one target than the budget can never run. */
static wk_rc budget_possible(wk_job *j, const cf_txt_value *v, size_t n)
{
	int budget = j->w->app->cfg->txt_budget;

	for (size_t i = 0; i < n; i++) {
		int need = 0;

		for (size_t k = 0; k < n; k++)
			need += strcmp(v[i].fqdn, v[k].fqdn) == 0;
		if (need > budget)
			return wk_fail(j, CF_ERR_PERMANENT, "%d TXT values are needed at %s, more "
				       "than CERTFLEET_TXT_BUDGET (%d)", need, v[i].fqdn, budget);
		if (v[i].max_live > 0 && need > v[i].max_live)
			return wk_fail(j, CF_ERR_PERMANENT, "%d TXT values are needed at %s at once, "
				       "but DNS provider %s keeps at most %d values per name: give "
				       "some of the names a target of their own", need, v[i].fqdn,
				       v[i].provider, v[i].max_live);
	}
	return WK_NEXT;
}

static wk_rc reserve(wk_job *j, const cf_txt_value *v, size_t n)
{
	cf_job_change ch = CF_JOB_KEEP;
	cf_txt_over over = {0};
	int budget = j->w->app->cfg->txt_budget, rc;
	uint8_t r = 0;
	PGconn *db = wk_db(j);

	if (db == NULL)
		return wk_db_err(j);
	rc = cf_txt_reserve(db, &j->cl.ref, v, n, budget, &over, &j->err);
	if (rc < 0)
		return wk_db_err(j);
	if (rc == 2)
		return WK_LOST;
	if (rc == 0)
		return WK_NEXT;
	if (cf_random_bytes(&r, 1) != 0)
		r = 0; /* jitter is best effort: without random bytes, none */
	ch.state = CF_JOB_WAITING;
	ch.run_after_s = WK_BUDGET_WAIT_S + r / 255.0;
	rc = wk_write(j, &ch, WK_EV(PRESENT), false, NULL,
		      "waiting for TXT budget at %s (%ld live, budget %ld%s); %ld more needed",
		      over.fqdn, over.live, over.limit, over.limit < budget ? ", the most its DNS "
		      "provider keeps at one name" : "", over.need);
	return rc == WK_NEXT ? WK_WAIT : (wk_rc)rc;
}

/* Writes one value through its provider and records the outcome. */
static wk_rc present_one(wk_job *j, const cf_txt_value *v)
{
	const wk_provider *p = wk_provider_get(j, v->provider, &j->err);
	cf_provider_ctx ctx;
	long long t = cf_clock_mono_ms();
	PGconn *db;
	int st;

	if (p == NULL)
		return wk_err(j);
	ctx = provider_ctx(j, p);
	if (write_lock(j->w, p->ops, v->fqdn, true, &j->err) != 0)
		return wk_check(j) != WK_NEXT ? wk_check(j) : wk_err(j);
	/* allowed_names is enforced here again, before every write: a job's target is
	 * known from DNS ("auto") only now */
	if (cf_provider_present(p->ops, v->provider, &ctx, v->fqdn, v->value, &j->err) != 0) {
		cf_metrics_dns_error(v->provider);
		cf_err_wrap(&j->err, "present TXT at %s (%s)", v->fqdn, v->provider);
	}
	write_unlock(j->w, p->ops, v->fqdn);
	if ((db = wk_db(j)) == NULL)
		return wk_db_err(j);
	st = cf_txt_set_state(db, &j->cl.ref, v,
			      j->err.cls == CF_ERR_NONE ? "present"
			      : j->err.cls == CF_ERR_PERMANENT ? "failed" : NULL,
			      j->err.cls == CF_ERR_NONE ? NULL : j->err.msg, &j->err);
	if (st == 1)
		return WK_LOST;
	if (st < 0 || j->err.cls != CF_ERR_NONE)
		return st < 0 ? wk_db_err(j) : wk_err(j);
	/* written with the step's end, which follows at once */
	return wk_note(j, WK_EV(PRESENT), false, "%s TXT \"%s\" via %s (%lld ms)", v->fqdn,
		       v->value, v->provider, cf_clock_mono_ms() - t);
}

/* Writes the values v[idx[0..k)], all of provider p, in one call of its
 * present_many (under the write locks of all their targets), and records each
 * outcome as present_one does. */
static wk_rc present_batch(wk_job *j, const wk_provider *p, const cf_txt_value *v,
			   const size_t *idx, size_t k)
{
	cf_provider_rec *recs = calloc(k, sizeof(*recs));
	const char **names = calloc(k, sizeof(*names));
	long long t = cf_clock_mono_ms();
	cf_provider_ctx ctx = provider_ctx(j, p);
	size_t i, nn;
	PGconn *db;
	wk_rc rc = WK_NEXT;
	int st;

	if (recs == NULL || names == NULL) {
		rc = wk_oom(j);
		goto out;
	}
	for (i = 0; i < k; i++)
		recs[i] = (cf_provider_rec){.fqdn = v[idx[i]].fqdn, .value = v[idx[i]].value};
	nn = distinct_names(recs, k, names);
	if (write_lock_all(j->w, p->ops, names, nn, true, &j->err) != 0) {
		rc = wk_check(j) != WK_NEXT ? wk_check(j) : wk_err(j);
		goto out;
	}
	if (cf_provider_present_many(p->ops, p->name, &ctx, recs, k, &j->err) != 0) {
		cf_metrics_dns_error(p->name);
		cf_err_wrap(&j->err, "present %zu TXT values (%s)", k, p->name);
	}
	write_unlock_all(j->w, p->ops, names, nn);
	for (i = 0; i < k && rc == WK_NEXT; i++) {
		const cf_txt_value *x = &v[idx[i]];

		if ((db = wk_db(j)) == NULL) {
			rc = wk_db_err(j);
			break;
		}
		st = cf_txt_set_state(db, &j->cl.ref, x,
				      recs[i].done ? "present"
				      : j->err.cls == CF_ERR_PERMANENT ? "failed" : NULL,
				      recs[i].done ? NULL : j->err.msg, &j->err);
		if (st == 1)
			rc = WK_LOST;
		else if (st < 0)
			rc = wk_db_err(j);
		else if (recs[i].done)
			rc = wk_note(j, WK_EV(PRESENT), false, "%s TXT \"%s\" via %s (%lld ms, "
				     "one batch of %zu)", x->fqdn, x->value, x->provider,
				     cf_clock_mono_ms() - t, k);
	}
	if (rc == WK_NEXT && j->err.cls != CF_ERR_NONE)
		rc = wk_err(j);
out:
	free(names);
	free(recs);
	return rc;
}

wk_rc wk_st_present(wk_job *j)
{
	cf_txt_value *v = NULL;
	size_t n = values_of(j, &v);
	size_t *idx = calloc(n ? n : 1, sizeof(*idx));
	bool *handled = calloc(n ? n : 1, sizeof(*handled));
	wk_rc rc = WK_NEXT;

	if (idx == NULL || handled == NULL) {
		rc = wk_oom(j);
		goto out;
	}

	if (n == 0 && json_array_size(json_object_get(j->data, "challenges")) > 0)
		return wk_fail(j, CF_ERR_PERMANENT, "unreadable challenges in the job's data");
	for (size_t i = 0; i < n; i++) {
		const wk_provider *p = wk_provider_get(j, v[i].provider, &j->err);

		if (p == NULL) {
			rc = wk_err(j);
			goto out;
		}
		v[i].max_live = p->ops->max_values_per_name;
	}
	if (n > 0 && ((rc = budget_possible(j, v, n)) != WK_NEXT || (rc = reserve(j, v, n)) !=
		      WK_NEXT))
		goto out;
	for (size_t i = 0; i < n && rc == WK_NEXT; i++) {
		const wk_provider *p;
		size_t k = 0;

		if (handled[i] || (rc = wk_check(j)) != WK_NEXT)
			continue;
		if ((p = wk_provider_get(j, v[i].provider, &j->err)) == NULL) {
			rc = wk_err(j);
			break;
		}
		if (p->ops->present_many == NULL) {
			rc = present_one(j, &v[i]);
			continue;
		}
		for (size_t m = i; m < n; m++)
			if (!handled[m] && strcmp(v[m].provider, v[i].provider) == 0) {
				handled[m] = true;
				idx[k++] = m;
			}
		rc = present_batch(j, p, v, idx, k);
	}
	if (rc == WK_NEXT)
		rc = wk_step_done(j, NULL, "%zu values written", n);
out:
	free(handled);
	free(idx);
	free(v);
	return rc;
}

wk_rc wk_st_propagate(wk_job *j)
{
	const cf_app *app = j->w->app;
	cf_txt_value *v = NULL;
	size_t n = values_of(j, &v);
	cf_txt_want *w = calloc(n ? n : 1, sizeof(*w));
	long long deadline = cf_clock_mono_ms() + app->cfg->propagation_timeout * 1000LL;
	cf_err e = {0};
	wk_rc rc = WK_NEXT;

	for (size_t i = 0; w != NULL && i < n; i++)
		w[i] = (cf_txt_want){v[i].fqdn, v[i].value};
	while (w != NULL && n > 0 && app->propagation != CF_PROP_NONE) {
		long long left = deadline - cf_clock_mono_ms();

		if ((rc = wk_check(j)) != WK_NEXT)
			goto out;
		if (cf_dns_wait_txt(app->propagation, &app->resolvers, w, n,
				    left < WK_CHUNK_S * 1000 ? (long)left : WK_CHUNK_S * 1000, &e) == 0)
			break;
		if (e.cls == CF_ERR_PERMANENT || cf_clock_mono_ms() >= deadline) {
			rc = wk_fail(j, e.cls, "propagation: not served after %d s: %s",
				     app->cfg->propagation_timeout, e.msg);
			goto out;
		}
		cf_err_clear(&e);
	}
	rc = w == NULL ? wk_oom(j)
	     : wk_step_done(j, NULL, "%s",
			  n == 0 ? "nothing to wait for"
			  : app->propagation == CF_PROP_AUTHORITATIVE
			  ? "every authoritative server serves every value"
			  : app->propagation == CF_PROP_RESOLVERS ? "every resolver serves every value"
			  : "not checked (CERTFLEET_PROPAGATION=none)");
out:
	cf_err_clear(&e);
	free(w);
	free(v);
	return rc;
}

/* Removes one recorded value; the outcome is recorded on its row. */
static wk_rc cleanup_one(wk_job *j, PGconn *db, const cf_txt_row *row, bool *ok)
{
	cf_txt_value v = {row->provider, row->fqdn, row->value, 0};
	const wk_provider *p;
	cf_provider_ctx ctx;
	cf_err e = {0};
	int st;

	if ((p = wk_provider_get(j, row->provider, &e)) != NULL &&
	    write_lock(j->w, p->ops, row->fqdn, true, &e) == 0) {
		ctx = provider_ctx(j, p);
		/* a value certfleet recorded writing is removed even when allowed_names
		 * no longer covers it (narrowed since): never stranded */
		if (cf_provider_cleanup(p->ops, row->provider, &ctx, row->fqdn, row->value, false,
					&e) != 0 &&
		    e.cls == CF_ERR_NONE)
			cf_err_set(&e, CF_ERR_TRANSIENT, "provider %s: cleanup failed", row->provider);
		write_unlock(j->w, p->ops, row->fqdn);
	}
	*ok = e.cls == CF_ERR_NONE;
	if (!*ok && p != NULL)
		cf_metrics_dns_error(row->provider);
	if (!*ok)
		cf_log(CF_LOG_WARN, "txt.cleanup_failed", "%s TXT \"%s\": %s", row->fqdn,
		       row->value, e.msg);
	/* the provider look-up or the lock may have replaced the thread's connection */
	if ((db = wk_thread_db(j->w, NULL)) == NULL) {
		cf_err_clear(&e);
		return WK_NEXT;
	}
	st = cf_txt_set_state(db, &j->cl.ref, &v, *ok ? "removed" : NULL, *ok ? NULL : e.msg, &e);
	cf_err_clear(&e);
	if (cf_db_lost(db))
		wk_thread_db_drop(j->w);
	return st == 1 ? WK_LOST : WK_NEXT;
}

/* Removes the recorded values rows[idx[0..k)], all of provider p, in one call
 * of its cleanup_many (under the write locks of all their targets); each
 * outcome is recorded on its row, as cleanup_one does. *removed counts those
 * removed. */
static wk_rc cleanup_batch(wk_job *j, const wk_provider *p, const cf_txt_row *rows,
			   const size_t *idx, size_t k, size_t *removed)
{
	cf_provider_rec *recs = calloc(k, sizeof(*recs));
	const char **names = calloc(k, sizeof(*names));
	cf_provider_ctx ctx = provider_ctx(j, p);
	cf_err e = {0}, e2 = {0};
	size_t i, nn = 0;
	PGconn *db;
	wk_rc rc = WK_NEXT;

	if (recs == NULL || names == NULL) {
		cf_err_oom(&e, "cleanup");
	} else {
		for (i = 0; i < k; i++)
			recs[i] = (cf_provider_rec){.fqdn = rows[idx[i]].fqdn,
						    .value = rows[idx[i]].value};
		nn = distinct_names(recs, k, names);
		if (write_lock_all(j->w, p->ops, names, nn, true, &e) == 0) {
			if (cf_provider_cleanup_many(p->ops, p->name, &ctx, recs, k, false, &e) != 0 &&
			    e.cls == CF_ERR_NONE)
				cf_err_set(&e, CF_ERR_TRANSIENT, "provider %s: cleanup failed",
					   p->name);
			write_unlock_all(j->w, p->ops, names, nn);
		}
	}
	if (e.cls != CF_ERR_NONE) {
		cf_metrics_dns_error(p->name);
		cf_log(CF_LOG_WARN, "txt.cleanup_failed", "%zu TXT values via %s: %s", k, p->name,
		       e.msg);
	}
	for (i = 0; i < k && rc == WK_NEXT; i++) {
		const cf_txt_row *row = &rows[idx[i]];
		cf_txt_value v = {row->provider, row->fqdn, row->value, 0};
		bool ok = recs != NULL && recs[i].done;
		int st;

		/* the lock may have replaced the thread's connection */
		if ((db = wk_thread_db(j->w, NULL)) == NULL)
			break;
		st = cf_txt_set_state(db, &j->cl.ref, &v, ok ? "removed" : NULL,
				      ok ? NULL : e.msg[0] ? e.msg : "not removed", &e2);
		cf_err_clear(&e2);
		if (cf_db_lost(db))
			wk_thread_db_drop(j->w);
		if (st == 1)
			rc = WK_LOST;
		else if (ok)
			(*removed)++;
	}
	cf_err_clear(&e);
	free(names);
	free(recs);
	return rc;
}

wk_rc wk_cleanup_values(wk_job *j, bool as_step)
{
	cf_txt_row *rows = NULL;
	size_t n = 0, removed = 0, *idx = NULL;
	long long t = cf_clock_mono_ms();
	bool ok, *handled = NULL;
	PGconn *db = wk_db(j);
	wk_rc rc = WK_NEXT;

	if (db == NULL || cf_txt_live_of_job(db, j->cl.ref.id, &rows, &n, &j->err) != 0)
		return wk_db_err(j);
	idx = calloc(n ? n : 1, sizeof(*idx));
	handled = calloc(n ? n : 1, sizeof(*handled));
	if (idx == NULL || handled == NULL) {
		rc = wk_oom(j);
		goto out;
	}
	for (size_t i = 0; i < n && rc == WK_NEXT; i++) {
		const wk_provider *p;
		cf_err pe = {0};
		size_t k = 0;

		if (handled[i])
			continue;
		if (atomic_load(&j->w->lost)) {
			rc = WK_LOST;
			break;
		}
		if ((db = wk_db(j)) == NULL) {
			rc = wk_db_err(j);
			break;
		}
		p = wk_provider_get(j, rows[i].provider, &pe);
		cf_err_clear(&pe);
		if (p == NULL || p->ops->cleanup_many == NULL) {
			/* one at a time (an unknown provider is recorded on the row there) */
			if ((rc = cleanup_one(j, db, &rows[i], &ok)) == WK_NEXT && ok)
				removed++;
			continue;
		}
		for (size_t m = i; m < n; m++)
			if (!handled[m] && strcmp(rows[m].provider, rows[i].provider) == 0) {
				handled[m] = true;
				idx[k++] = m;
			}
		rc = cleanup_batch(j, p, rows, idx, k, &removed);
	}
	if (rc == WK_NEXT && as_step) {
		/* the runner writes it with the next step, timed from the step's start */
		rc = wk_step_done(j, NULL, "%zu values removed, %zu failed", removed,
				  n - removed);
	} else if (rc == WK_NEXT && n > 0) {
		long long t0 = j->t0;

		j->t0 = t;
		/* the caller's write (failed, new order) follows */
		rc = wk_note(j, WK_EV(CLEANUP), true, "%zu values removed, %zu failed", removed,
			     n - removed);
		j->t0 = t0;
	}
out:
	free(handled);
	free(idx);
	cf_txt_rows_free(rows, n);
	return rc;
}

wk_rc wk_st_cleanup(wk_job *j)
{
	wk_rc rc = wk_cleanup_values(j, true);

	if (rc == WK_LOST || rc == WK_NEXT)
		return rc;
	/* the certificate does not depend on it: go on; the janitor retries later */
	cf_log(CF_LOG_WARN, "job.cleanup", "%s", j->err.msg);
	cf_err_clear(&j->err);
	return wk_step_done(j, NULL, "skipped: %s", "database error");
}

/* Cleans one orphan value through its provider; e is set on failure. */
static void orphan_clean(wk_thread *w, PGconn *db, const cf_txt_row *row, cf_err *e)
{
	char *type = NULL;
	json_t *settings = NULL;
	const cf_provider_ops *ops;
	cf_provider_ctx ctx = {.resolvers = &w->app->resolvers,
			       .timeout_ms = WK_PROVIDER_TIMEOUT_MS};

	if (cf_provider_settings_load(db, w->app->master_key, row->provider, &type, &settings,
				      e) != 0)
		return;
	if ((ops = cf_provider_find(type)) == NULL)
		cf_err_set(e, CF_ERR_PERMANENT, "provider %s: unknown type", row->provider);
	else if (write_lock(w, ops, row->fqdn, false, e) == 0) {
		ctx.settings = settings;
		if (cf_provider_cleanup(ops, row->provider, &ctx, row->fqdn, row->value, false,
					e) != 0 && e->cls == CF_ERR_NONE)
			cf_err_set(e, CF_ERR_TRANSIENT, "provider %s: cleanup failed", row->provider);
		write_unlock(w, ops, row->fqdn);
	}
	free(type);
	cf_provider_settings_free(settings);
}

#define WK_JANITOR_BATCH 5
#define WK_JANITOR_TRIES 10

/* The janitor's second task: old Idempotency-Key records; a failure is logged
 * and retried on the next pass. */
static void idem_purge(wk_thread *w)
{
	cf_err err = {0};
	long n = 0;
	PGconn *db = wk_thread_db(w, &err);

	if (db != NULL && cf_idem_purge(db, &n, &err) != 0)
		cf_log(CF_LOG_WARN, "idempotency.purge", "%s", err.msg);
	else if (n > 0)
		cf_log(CF_LOG_INFO, "idempotency.purge", "%ld records older than 24 h purged", n);
	cf_err_clear(&err);
}

void wk_janitor(wk_thread *w)
{
	static atomic_llong next_run; /* per process: one janitor pass at a time */
	long long now = cf_clock_mono_ms(), next = atomic_load(&next_run);
	cf_err err = {0};
	PGconn *db;

	if (now < next || !atomic_compare_exchange_strong(&next_run, &next,
							  now + 2000LL * w->app->cfg->poll_seconds))
		return;
	for (int i = 0; i < WK_JANITOR_BATCH && (db = wk_thread_db(w, &err)) != NULL; i++) {
		cf_txt_row row = {0};
		cf_err e = {0};

		if (cf_txt_orphan_take(db, WK_JANITOR_TRIES, &row, &err) != 1)
			break;
		orphan_clean(w, db, &row, &e);
		if (e.cls != CF_ERR_NONE)
			cf_metrics_janitor_failure();
		cf_log(e.cls == CF_ERR_NONE ? CF_LOG_INFO : CF_LOG_WARN, "txt.orphan",
		       "%s TXT \"%s\" (%s): %s", row.fqdn, row.value, row.provider,
		       e.cls == CF_ERR_NONE ? "removed" : e.msg);
		/* the lock may have replaced the connection */
		if ((db = wk_thread_db(w, &err)) == NULL ||
		    cf_txt_orphan_done(db, row.id, e.cls == CF_ERR_NONE ? NULL : e.msg,
				       WK_JANITOR_TRIES, w->app->cfg->poll_seconds, &err) != 0)
			cf_log(CF_LOG_WARN, "txt.orphan", "recording the outcome for %s: %s", row.fqdn,
			       err.msg);
		free(row.provider);
		free(row.fqdn);
		free(row.value);
		cf_err_clear(&e);
	}
	idem_purge(w);
	if (cf_db_lost(w->db))
		wk_thread_db_drop(w);
	cf_err_clear(&err);
}
