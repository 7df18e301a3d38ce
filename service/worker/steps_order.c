/*
 * steps_order.c: the steps before any TXT value is written: the preflight (alias
 * plan, CNAME check and the chain's DNSSEC, before anything is ordered), the ACME
 * account, and the order with its authorizations.
 *
 * DNSSEC: the CA validates every DNS-01 lookup, so a challenge record whose chain
 * is bogus (dns/dnssec.h: a wrong DS, a missing DNSKEY, an expired signature in any
 * zone from the origin to the alias zone) can never validate; the preflight fails
 * the job then, with the alias check's verdict, the zone and the reason, instead
 * of ordering and failing at the CA. Unsigned zones and a resolver that cannot
 * tell are no reason to stop (the later steps see real DNS trouble).
 *
 * The order URL is saved (fenced) right after newOrder returns, before anything
 * else happens, so a crash afterwards resumes this order instead of making a new
 * one; only a crash between the CA's answer and that write can cost one extra
 * order. The TXT value of every pending authorization is computed here and kept
 * in jobs.data (challenges), so later steps and later attempts need no CA round
 * trip to know what to write where.
 */
#include "worker/worker_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dns/dnssec.h"
#include "log.h"

static bool same_provider(size_t a, size_t b, void *arg)
{
	const wk_job *j = arg;

	return strcmp(j->prov_of[a], j->prov_of[b]) == 0;
}

static json_t *targets_json(const wk_job *j, const cf_alias_plan *plan)
{
	json_t *a = json_array();

	for (size_t i = 0; a != NULL && i < plan->n; i++) {
		const cf_challenge_target *t = &plan->t[i];
		json_t *names = json_array();

		for (size_t k = 0; names != NULL && k < t->nnames; k++)
			json_array_append_new(names, json_string(j->names[t->names[k]]));
		json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:o}", "record", t->record,
						   "target", t->target, "provider",
						   wk_target_provider(j, t), "names", names));
	}
	return a;
}

wk_rc wk_st_preflight(wk_job *j)
{
	const cf_app *app = j->w->app;
	cf_alias_plan plan = {0};
	wk_rc rc;

	if (cf_issue_plan_build(j->names, j->nnames, &j->alias, &app->resolvers, same_provider, j,
				&plan, &j->err) != 0)
		return wk_err(j);
	if (j->alias.mode != CF_ALIAS_NONE && cf_alias_preflight(&plan, &app->resolvers,
								 &j->err) != 0) {
		cf_alias_plan_free(&plan);
		return wk_err(j);
	}
	if (cf_dnssec_preflight(&plan, &app->resolvers, &j->err) != 0) {
		cf_alias_plan_free(&plan);
		return wk_err(j);
	}
	json_object_set_new(j->data, "targets", targets_json(j, &plan));
	rc = wk_step_done(j, NULL, "%zu names, %zu challenge records%s", j->nnames, plan.n,
			  j->alias.mode != CF_ALIAS_NONE ? "; every CNAME points where it should"
							 : "");
	cf_alias_plan_free(&plan);
	return rc;
}

/* How long a worker waits for another one registering the same account: about
 * one newAccount exchange; past it the job retries later. */
#define WK_ACCOUNT_LOCK_WAIT_MS 30000

/* Registers the account key with the issuer's CA (newAccount finds an existing
 * account of the key), with External Account Binding when the issuer has it,
 * and stores its URL. One registration at a time per account, across replicas
 * (store/acme_accounts.h): the lock is held for newAccount and the store only,
 * and a worker that waited for it uses the URL the other one stored. */
static wk_rc account_register(wk_job *j, PGconn *db)
{
	char contact[400];
	const char *contacts[1] = {contact};
	cf_acme_account_req req = {.terms_agreed = true};
	cf_acme_account a = {0};
	char *url = NULL;
	wk_rc rc = WK_ERR;
	bool found;
	int l;

	if (cf_db_begin(db, &j->err) != 0)
		return wk_db_err(j);
	if ((l = cf_accounts_lock(db, j->w->acct.id, WK_ACCOUNT_LOCK_WAIT_MS, &url,
				  &j->err)) != 0) {
		cf_db_rollback(db);
		if (l < 0)
			return wk_db_err(j);
		cf_err_set(&j->err, CF_ERR_TRANSIENT, "issuer %s: another worker is still "
			   "registering its ACME account", j->iss.name);
		return wk_err(j);
	}
	if (!(found = url != NULL)) {
		snprintf(contact, sizeof(contact), "mailto:%s", j->iss.email);
		req.contacts = contacts;
		req.ncontacts = j->iss.email[0] ? 1 : 0;
		req.eab_kid = j->iss.eab_kid;
		req.eab_hmac_key = j->iss.eab_hmac;
		if (cf_acme_account_register(j->w->client, &req, &a, &j->err) != 0) {
			cf_db_rollback(db);
			rc = wk_err(j);
			goto out;
		}
		if (cf_accounts_set_url(db, j->w->acct.id, a.url, &j->err) != 0) {
			cf_db_rollback(db);
			rc = wk_db_err(j);
			goto out;
		}
		url = a.url;
		a.url = NULL;
	}
	if (cf_db_commit(db, &j->err) != 0) {
		rc = wk_db_err(j);
		goto out;
	}
	/* newAccount sets the client's account URL; a stored one is set here */
	if (found && cf_acme_client_set_account(j->w->client, url, &j->err) != 0) {
		rc = wk_err(j);
		goto out;
	}
	j->w->acct.url = url;
	url = NULL;
	rc = WK_NEXT;
out:
	free(url);
	cf_acme_account_free(&a);
	return rc;
}

/* The thread's client and account for the job's issuer (one account per
 * directory and contact, registered on first use and reused). */
wk_rc wk_account_ensure(wk_job *j)
{
	wk_thread *w = j->w;
	cf_acme_options o = {0};
	PGconn *db;
	wk_rc rc;

	if ((rc = wk_issuer_select(j)) != WK_NEXT)
		return rc;
	if (w->client != NULL && w->acct.url != NULL)
		return WK_NEXT;
	if ((db = wk_db(j)) == NULL)
		return wk_db_err(j);
	if (w->acct.key == NULL &&
	    cf_accounts_get_or_create(db, w->app->master_key, j->iss.directory, j->iss.email,
				      &w->acct, &j->err) != 0)
		return j->err.cls == CF_ERR_PERMANENT && !cf_db_lost(db) ? wk_err(j) : wk_db_err(j);
	if (wk_issuer_client_options(j, &o, &j->err) != 0)
		return wk_err(j);
	if (w->client == NULL && (w->client = cf_acme_client_new(&o, w->acct.key, &j->err)) == NULL)
		return wk_err(j);
	if (w->acct.url == NULL)
		return account_register(j, db);
	if (cf_acme_client_set_account(w->client, w->acct.url, &j->err) != 0)
		return wk_err(j);
	return WK_NEXT;
}

wk_rc wk_st_account(wk_job *j)
{
	bool had = j->w->acct.url != NULL;
	wk_rc rc;

	if ((rc = wk_account_ensure(j)) != WK_NEXT)
		return rc;
	j->end.account_id = j->w->acct.id; /* written with the step's event */
	return wk_step_done(j, NULL, "%s (%s)", j->w->acct.url,
			    had ? "known" : "registered or found");
}

wk_rc wk_order_read(wk_job *j)
{
	if (cf_acme_order_get(j->w->client, j->cl.order_url, &j->order, &j->err) != 0)
		return wk_err(j);
	return WK_NEXT;
}

/* The CA no longer knows the account (it was reset): register the key again. */
static bool account_gone(const cf_err *e)
{
	return e->problem != NULL && strstr(e->problem, "accountDoesNotExist") != NULL;
}

static wk_rc account_forget(wk_job *j)
{
	PGconn *db = wk_db(j);

	if (db == NULL)
		return wk_db_err(j);
	free(j->w->acct.url);
	j->w->acct.url = NULL;
	cf_log(CF_LOG_WARN, "acme.account_gone", "the CA does not know account %lld; "
	       "registering its key again", j->w->acct.id);
	if (cf_accounts_set_url(db, j->w->acct.id, NULL, &j->err) != 0)
		return wk_db_err(j);
	cf_err_clear(&j->err);
	return wk_account_ensure(j);
}

/* The profile the job orders: the certificate's, else the issuer's; checked
 * against the directory (permanent failure when not offered; a directory that
 * offers no profiles at all gets none). NULL: none. */
static const char *order_profile(wk_job *j, int *bad)
{
	const char *p = j->cert.profile[0] ? j->cert.profile : j->iss.profile;
	const cf_acme_directory *d = NULL;

	*bad = 0;
	if (p == NULL || p[0] == '\0')
		return NULL;
	if (cf_acme_client_directory(j->w->client, &d, &j->err) != 0) {
		*bad = 1;
		return p;
	}
	if (d->nprofiles == 0)
		return NULL; /* a CA without profiles (e.g. a fallback): ordered without */
	if (cf_acme_directory_check_profile(d, p, &j->err) != 0)
		*bad = 1;
	return p;
}

/* newOrder, then saves the order URL at once (fenced). */
static wk_rc new_order(wk_job *j)
{
	cf_job_change ch = CF_JOB_KEEP;
	const char **names = cf_issue_name_ptrs(j->names, j->nnames);
	/* a renewal at a CA with ARI names the certificate it replaces (scheduler.c) */
	cf_acme_order_opts opts = {
		.replaces = json_string_value(json_object_get(j->data, "replaces"))};
	int rc = -1, bad = 0;
	wk_rc r;

	if (names == NULL)
		return wk_oom(j);
	opts.profile = order_profile(j, &bad);
	if (bad) {
		free(names);
		return wk_err(j);
	}
	rc = cf_acme_order_new_opts(j->w->client, names, j->nnames, &opts, &j->order, &j->err);
	if (rc != 0 && account_gone(&j->err) && account_forget(j) == WK_NEXT)
		rc = cf_acme_order_new_opts(j->w->client, names, j->nnames, &opts, &j->order,
					    &j->err);
	free(names);
	if (rc != 0 && opts.replaces != NULL && j->err.cls == CF_ERR_PERMANENT) {
		/* e.g. alreadyReplaced: the renewal goes on as a plain order, which takes
		 * its budget units first: the next attempt passes the issuer's gate */
		cf_log(CF_LOG_WARN, "acme.replaces_refused", "newOrder replacing %s: %s; "
		       "ordering without \"replaces\"", opts.replaces, j->err.msg);
		json_object_del(j->data, "replaces");
		cf_err_clear(&j->err);
		return wk_fail(j, CF_ERR_TRANSIENT, "the CA refused \"replaces\"; ordering again "
			       "without it");
	}
	if (rc != 0)
		return wk_err(j);
	wk_issuer_order_sent(j);
	if (opts.profile != NULL)
		json_object_set_new(j->data, "profile", json_string(opts.profile));
	ch.order_url = j->order.url;
	if ((r = wk_write(j, &ch, WK_EV(ORDER), true, NULL, "newOrder %s at %s%s%s%s%s",
			  j->order.url, j->iss.name, opts.profile ? ", profile " : "",
			  opts.profile ? opts.profile : "", opts.replaces ? " replacing " : "",
			  opts.replaces ? opts.replaces : "")) != WK_NEXT)
		return r;
	if ((j->cl.order_url = strdup(j->order.url)) == NULL)
		return wk_oom(j);
	return WK_NEXT;
}

/* The challenges entry of one pending authorization. */
static json_t *challenge_json(wk_job *j, const cf_alias_plan *plan, const cf_acme_authz *a)
{
	const cf_challenge_target *t;
	char *value = NULL;
	json_t *e = NULL;
	size_t idx = 0;

	if ((t = cf_issue_target_of(plan, j->names, a->identifier, a->wildcard, &idx)) == NULL) {
		cf_err_set(&j->err, CF_ERR_PERMANENT, "the CA sent an authorization for %s%s, "
			   "which was not ordered", a->wildcard ? "*." : "", a->identifier);
		return NULL;
	}
	if (a->chall_url == NULL) {
		cf_err_set(&j->err, CF_ERR_PERMANENT, "the CA offers no dns-01 challenge for %s",
			   a->identifier);
		return NULL;
	}
	if ((value = cf_issue_txt_value(j->w->acct.key, a->chall_token, &j->err)) == NULL)
		return NULL;
	e = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "name", j->names[idx], "authz", a->url,
		      "chall", a->chall_url, "fqdn", t->target, "value", value, "provider",
		      wk_target_provider(j, t));
	free(value);
	if (e == NULL)
		cf_err_oom(&j->err, NULL);
	return e;
}

/* Reads every authorization of the order; pending ones become challenges. */
static wk_rc collect(wk_job *j, const cf_alias_plan *plan, json_t *out, size_t *valid)
{
	for (size_t i = 0; i < j->order.nauthz; i++) {
		cf_acme_authz a = {0};
		json_t *e = NULL;
		cf_acme_status st;

		if (cf_acme_authz_get(j->w->client, j->order.authz_urls[i], &a, &j->err) != 0) {
			cf_acme_authz_free(&a);
			return wk_err(j);
		}
		st = a.status;
		if (st == CF_ACME_PENDING)
			e = challenge_json(j, plan, &a);
		else if (st != CF_ACME_VALID)
			cf_err_set(&j->err, CF_ERR_PERMANENT, "authorization of %s is %s",
				   a.identifier, cf_acme_status_name(st));
		cf_acme_authz_free(&a);
		if (st == CF_ACME_VALID)
			(*valid)++;
		else if (e == NULL || json_array_append_new(out, e) != 0)
			return wk_err(j);
	}
	return WK_NEXT;
}

wk_rc wk_st_order(wk_job *j)
{
	cf_alias_plan plan = {0};
	json_t *ch = json_array();
	size_t valid = 0;
	wk_rc rc;

	if ((rc = wk_account_ensure(j)) != WK_NEXT)
		goto out;
	if ((rc = j->cl.order_url ? wk_order_read(j) : new_order(j)) != WK_NEXT)
		goto out;
	if (j->order.status != CF_ACME_PENDING && j->order.status != CF_ACME_READY) {
		cf_err_set(&j->err, CF_ERR_PERMANENT, "order %s is %s", j->order.url,
			   cf_acme_status_name(j->order.status));
		cf_err_set_problem(&j->err, j->order.problem);
		rc = wk_err(j);
		goto out;
	}
	if (ch == NULL || wk_plan_from_data(j, &plan) != 0) {
		rc = wk_fail(j, CF_ERR_PERMANENT, "the job's targets no longer match the "
			     "certificate's names");
		goto out;
	}
	if ((rc = collect(j, &plan, ch, &valid)) != WK_NEXT)
		goto out;
	json_object_set(j->data, "challenges", ch);
	rc = wk_step_done(j, "authorizations", "%zu to validate, %zu already valid",
			json_array_size(ch), valid);
out:
	json_decref(ch);
	cf_alias_plan_free(&plan);
	return rc;
}
