/*
 * engine.c: one foreground issuance through DNS challenge aliases; see engine.h
 * for the sequence and the cleanup guarantees.
 *
 * The run keeps every TXT value it presented in `txt[]`, with the provider that
 * wrote it, so that cleanup() removes exactly those values, and only those, on
 * every exit path. Planning, matching authorizations to targets, TXT values and
 * the key + CSR come from issue/common.c, which the service's workers share.
 */
#include "issue/engine.h"

#include "issue/common.h"
#include "dns/dnssec.h"
#include "providers/scope.h"
#include "util/clock.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct txt_rec {
	const cf_provider_ops *ops;
	const json_t *settings;
	char fqdn[CF_NAME_MAX + 1];
	char *value;
	char *authz_url;
	char *chall_url;
	bool presented;
} txt_rec;

typedef struct run {
	const cf_issue_params *p;
	cf_issue_name *names;
	cf_alias_plan plan;
	cf_acme_client *client;
	cf_acme_order order;
	txt_rec *txt;
	size_t ntxt;
	char **pending_authz; /* authorizations to deactivate if the order fails */
	size_t npending;
} run;

static void step(const run *r, const char *name, long start, bool ok, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static void step(const run *r, const char *name, long start, bool ok, const char *fmt, ...)
{
	char detail[1024] = "";
	va_list ap;

	if (r->p->on_step == NULL)
		return;
	if (fmt != NULL) {
		va_start(ap, fmt);
		vsnprintf(detail, sizeof(detail), fmt, ap);
		va_end(ap);
	}
	r->p->on_step(name, (long)cf_clock_mono_ms() - start, ok, detail, r->p->step_arg);
}

static int cancelled(const run *r, cf_err *err)
{
	if (r->p->cancel != NULL && *r->p->cancel)
		return cf_err_set(err, CF_ERR_TRANSIENT, "interrupted");
	return 0;
}

/* Normalises the names, refuses duplicates and names without a provider. */
static int prepare_names(run *r, cf_err *err)
{
	const cf_issue_params *p = r->p;

	if (cf_issue_names_normalize(p->names, p->nnames, &r->names, err) != 0)
		return -1;
	for (size_t i = 0; i < p->nnames; i++)
		if (p->providers[i] == NULL)
			return cf_err_set(err, CF_ERR_PERMANENT, "name %s has no DNS provider",
					  r->names[i]);
	return 0;
}

static bool same_provider(size_t a, size_t b, void *arg)
{
	const cf_issue_params *p = arg;

	return p->providers[a] == p->providers[b] &&
	       p->provider_settings[a] == p->provider_settings[b];
}

static int plan_and_preflight(run *r, cf_err *err)
{
	const cf_issue_params *p = r->p;
	long t = (long)cf_clock_mono_ms();

	if (cf_issue_plan_build(r->names, p->nnames, p->alias, p->resolvers, same_provider,
				(void *)p, &r->plan, err) != 0) {
		step(r, "plan", t, false, "%s", err->msg);
		return -1;
	}
	step(r, "plan", t, true, "%zu names, %zu challenge records", p->nnames, r->plan.n);
	if (!p->skip_preflight && p->alias->mode != CF_ALIAS_NONE) {
		t = (long)cf_clock_mono_ms();
		if (cf_alias_preflight(&r->plan, p->resolvers, err) != 0) {
			step(r, "preflight", t, false, "%s", err->msg);
			return -1;
		}
		step(r, "preflight", t, true, "every CNAME points where it should");
	}
	if (!p->skip_preflight) {
		/* a bogus DNSSEC chain can never validate at the CA: stop before ordering */
		t = (long)cf_clock_mono_ms();
		if (cf_dnssec_preflight(&r->plan, p->resolvers, err) != 0) {
			step(r, "dnssec", t, false, "%s", err->msg);
			return -1;
		}
		step(r, "dnssec", t, true, "no challenge chain fails DNSSEC validation");
	}
	return 0;
}

static int account_and_order(run *r, cf_err *err)
{
	const cf_issue_params *p = r->p;
	cf_acme_options o = {0};
	cf_acme_account_req req = {0};
	cf_acme_account acct = {0};
	const cf_acme_directory *dir = NULL;
	cf_acme_order_opts oo = {.profile = p->profile};
	const char **names = NULL;
	long t = (long)cf_clock_mono_ms();
	int rc = -1;

	o.directory_url = p->directory_url;
	o.ca_file = p->ca_file;
	o.on_event = p->on_acme_event;
	o.event_arg = p->acme_event_arg;
	if ((r->client = cf_acme_client_new(&o, p->account_key, err)) == NULL)
		goto out;
	req.contacts = p->contacts;
	req.ncontacts = p->ncontacts;
	req.terms_agreed = true;
	req.eab_kid = p->eab_kid;
	req.eab_hmac_key = p->eab_hmac_key;
	if (cf_acme_account_register(r->client, &req, &acct, err) != 0) {
		step(r, "account", t, false, "%s", err->msg);
		goto out;
	}
	step(r, "account", t, true, "%s (%s)", acct.url, acct.created ? "new" : "existing");
	t = (long)cf_clock_mono_ms();
	if ((names = cf_issue_name_ptrs(r->names, p->nnames)) == NULL)
		goto out;
	if (cf_acme_client_directory(r->client, &dir, err) != 0 ||
	    cf_acme_directory_check_profile(dir, p->profile, err) != 0 ||
	    cf_acme_order_new_opts(r->client, names, p->nnames, &oo, &r->order, err) != 0) {
		step(r, "order", t, false, "%s", err->msg);
		goto out;
	}
	step(r, "order", t, true, "%s (%s%s%s)", r->order.url, cf_acme_status_name(r->order.status),
	     r->order.profile ? ", profile " : "", r->order.profile ? r->order.profile : "");
	rc = 0;
out:
	free(names);
	cf_acme_account_free(&acct);
	return rc;
}

/* Reads every authorization and computes the TXT value of each pending one. */
static int collect_challenges(run *r, cf_err *err)
{
	long t = (long)cf_clock_mono_ms();
	size_t valid = 0;
	int rc = -1;

	r->txt = calloc(r->order.nauthz, sizeof(*r->txt));
	r->pending_authz = calloc(r->order.nauthz, sizeof(char *));
	if (r->txt == NULL || r->pending_authz == NULL)
		goto out;
	for (size_t i = 0; i < r->order.nauthz; i++) {
		cf_acme_authz a = {0};
		const cf_challenge_target *ct;
		size_t idx = 0;
		txt_rec *x;

		if (cf_acme_authz_get(r->client, r->order.authz_urls[i], &a, err) != 0)
			goto fail_one;
		if (a.status == CF_ACME_VALID) {
			valid++;
			cf_acme_authz_free(&a);
			continue;
		}
		r->pending_authz[r->npending++] = strdup(a.url);
		if ((ct = cf_issue_target_of(&r->plan, r->names, a.identifier, a.wildcard,
					     &idx)) == NULL) {
			cf_err_set(err, CF_ERR_PERMANENT, "the CA sent an authorization for %s%s, "
				   "which was not ordered", a.wildcard ? "*." : "", a.identifier);
			goto fail_one;
		}
		if (a.chall_url == NULL) {
			cf_err_set(err, CF_ERR_PERMANENT,
				   "the CA offers no dns-01 challenge for %s", a.identifier);
			goto fail_one;
		}
		x = &r->txt[r->ntxt++];
		x->ops = r->p->providers[idx];
		x->settings = r->p->provider_settings[idx];
		snprintf(x->fqdn, sizeof(x->fqdn), "%s", ct->target);
		x->value = cf_issue_txt_value(r->p->account_key, a.chall_token, err);
		x->authz_url = strdup(a.url);
		x->chall_url = strdup(a.chall_url);
		cf_acme_authz_free(&a);
		if (x->value == NULL || x->authz_url == NULL || x->chall_url == NULL)
			goto out;
		continue;
fail_one:
		cf_acme_authz_free(&a);
		step(r, "authorizations", t, false, "%s", err->msg);
		goto out;
	}
	step(r, "authorizations", t, true, "%zu to validate, %zu already valid", r->ntxt, valid);
	rc = 0;
out:
	if (rc != 0 && err->cls == CF_ERR_NONE)
		cf_err_oom(err, NULL);
	return rc;
}

/* The records of r that share x's provider (ops and settings) and are not yet
 * handled, as a batch: recs and idx filled, handled marked; returns how many. */
static size_t batch_of(run *r, size_t i, bool *handled, bool need_presented,
		       cf_provider_rec *recs, size_t *idx)
{
	const txt_rec *x = &r->txt[i];
	size_t k = 0;

	for (size_t m = i; m < r->ntxt; m++) {
		txt_rec *y = &r->txt[m];

		if (handled[m] || y->ops != x->ops || y->settings != x->settings ||
		    (need_presented && !y->presented))
			continue;
		handled[m] = true;
		recs[k] = (cf_provider_rec){.fqdn = y->fqdn, .value = y->value};
		idx[k++] = m;
	}
	return k;
}

/* Presents every value; a provider with present_many gets all of its values in
 * one call (one change per zone, one wait). */
static int present_all(run *r, cf_err *err)
{
	cf_provider_ctx ctx = {.resolvers = r->p->resolvers, .timeout_ms = 10000};
	cf_provider_rec *recs = calloc(r->ntxt ? r->ntxt : 1, sizeof(*recs));
	size_t *idx = calloc(r->ntxt ? r->ntxt : 1, sizeof(*idx));
	bool *handled = calloc(r->ntxt ? r->ntxt : 1, sizeof(*handled));
	int rc = -1;

	if (recs == NULL || idx == NULL || handled == NULL) {
		cf_err_oom(err, NULL);
		goto out;
	}
	for (size_t i = 0; i < r->ntxt; i++) {
		txt_rec *x = &r->txt[i];
		long t1 = (long)cf_clock_mono_ms();
		size_t k;

		if (handled[i])
			continue;
		ctx.settings = x->settings;
		if (x->ops->present_many == NULL) {
			handled[i] = true;
			if (cf_provider_present(x->ops, x->ops->name, &ctx, x->fqdn, x->value, err) !=
			    0) {
				cf_err_wrap(err, "present TXT at %s (%s)", x->fqdn, x->ops->name);
				step(r, "present", t1, false, "%s", err->msg);
				goto out;
			}
			x->presented = true;
			step(r, "present", t1, true, "%s TXT \"%s\" via %s", x->fqdn, x->value,
			     x->ops->name);
			continue;
		}
		k = batch_of(r, i, handled, false, recs, idx);
		if (cf_provider_present_many(x->ops, x->ops->name, &ctx, recs, k, err) != 0)
			cf_err_wrap(err, "present %zu TXT values (%s)", k, x->ops->name);
		for (size_t m = 0; m < k; m++) {
			txt_rec *y = &r->txt[idx[m]];

			/* after a transient failure a value may be there: clean it up too */
			y->presented = recs[m].done || err->cls == CF_ERR_TRANSIENT;
			if (recs[m].done)
				step(r, "present", t1, true, "%s TXT \"%s\" via %s", y->fqdn,
				     y->value, y->ops->name);
		}
		if (err->cls != CF_ERR_NONE) {
			step(r, "present", t1, false, "%s", err->msg);
			goto out;
		}
	}
	rc = 0;
out:
	free(handled);
	free(idx);
	free(recs);
	return rc;
}

static int propagate(run *r, cf_err *err)
{
	cf_txt_want *w = NULL;
	long t = (long)cf_clock_mono_ms(), timeout = r->p->propagation_timeout_ms;
	int rc = -1;

	if (r->ntxt == 0 || r->p->propagation == CF_PROP_NONE)
		return 0;
	if ((w = calloc(r->ntxt, sizeof(*w))) == NULL)
		return cf_err_oom(err, NULL);
	for (size_t i = 0; i < r->ntxt; i++) {
		w[i].fqdn = r->txt[i].fqdn;
		w[i].value = r->txt[i].value;
	}
	rc = cf_dns_wait_txt_cancellable(r->p->propagation, r->p->resolvers, w, r->ntxt,
					 timeout > 0 ? timeout : 120000, r->p->cancel, err);
	step(r, "propagate", t, rc == 0, "%s", rc == 0 ? (r->p->propagation == CF_PROP_AUTHORITATIVE
			  ? "every authoritative server serves every value"
			  : "every resolver serves every value") : err->msg);
	free(w);
	return rc;
}

/* Answers every challenge, then polls every authorization. */
static int validate(run *r, time_t deadline, cf_err *err)
{
	long t = (long)cf_clock_mono_ms();

	for (size_t i = 0; i < r->ntxt; i++) {
		if (cf_acme_challenge_respond(r->client, r->txt[i].chall_url, NULL, err) != 0) {
			step(r, "respond", t, false, "%s", err->msg);
			return -1;
		}
	}
	step(r, "respond", t, true, "%zu challenges answered", r->ntxt);
	t = (long)cf_clock_mono_ms();
	for (size_t i = 0; i < r->ntxt; i++) {
		cf_acme_authz a = {0};
		int rc = cf_acme_authz_poll(r->client, r->txt[i].authz_url, deadline, &a, err);

		cf_acme_authz_free(&a);
		if (rc != 0) {
			step(r, "validate", t, false, "%s", err->msg);
			return -1;
		}
	}
	step(r, "validate", t, true, "%zu authorizations valid", r->ntxt);
	return 0;
}

static int finalize_and_download(run *r, time_t deadline, cf_issue_result *res, cf_err *err)
{
	const cf_issue_params *p = r->p;
	cf_buf csr = {0};
	long t = (long)cf_clock_mono_ms();
	int rc = -1;

	if (cf_issue_key_and_csr(p->key_type, p->reuse_key, p->account_key, r->names, p->nnames,
				 &res->key, &csr, err) != 0 ||
	    (res->key_pem = cf_key_to_pem(res->key, err)) == NULL)
		goto out;
	if (cf_acme_order_finalize(r->client, &r->order, csr.data, csr.len, &r->order, err) != 0 ||
	    cf_acme_order_poll(r->client, r->order.url, deadline, &r->order, err) != 0) {
		step(r, "finalize", t, false, "%s", err->msg);
		goto out;
	}
	if (r->order.status != CF_ACME_VALID || r->order.cert_url == NULL) {
		cf_err_set(err, CF_ERR_TRANSIENT, "the order is %s, not valid, after finalize",
			   cf_acme_status_name(r->order.status));
		step(r, "finalize", t, false, "%s", err->msg);
		goto out;
	}
	step(r, "finalize", t, true, "%s key, order valid", cf_key_type_name(cf_key_get_type(res->key)));
	t = (long)cf_clock_mono_ms();
	if (cf_acme_cert_download(r->client, r->order.cert_url, p->preferred_chain, &res->cert,
				  err) != 0) {
		step(r, "download", t, false, "%s", err->msg);
		goto out;
	}
	step(r, "download", t, true, "chain issued by %s (%zu alternates)",
	     res->cert.top_issuer ? res->cert.top_issuer : "?", res->cert.nalternates);
	rc = 0;
out:
	cf_buf_free(&csr);
	return rc;
}

/* Removes every value this run presented (a provider with cleanup_many: all of
 * its values in one call); reports but does not stop on errors. */
static int cleanup(run *r, cf_err *err)
{
	cf_provider_ctx ctx = {.resolvers = r->p->resolvers, .timeout_ms = 10000};
	long t = (long)cf_clock_mono_ms();
	size_t removed = 0, failed = 0;
	cf_provider_rec *recs = calloc(r->ntxt ? r->ntxt : 1, sizeof(*recs));
	size_t *idx = calloc(r->ntxt ? r->ntxt : 1, sizeof(*idx));
	bool *handled = calloc(r->ntxt ? r->ntxt : 1, sizeof(*handled));
	cf_err e = {0};

	for (size_t i = 0; i < r->ntxt; i++) {
		txt_rec *x = &r->txt[i];
		size_t k;

		if (!x->presented || (handled != NULL && handled[i]))
			continue;
		ctx.settings = x->settings;
		if (x->ops->cleanup_many == NULL || recs == NULL || idx == NULL || handled == NULL) {
			if (cf_provider_cleanup(x->ops, x->ops->name, &ctx, x->fqdn, x->value, false,
						&e) == 0) {
				x->presented = false;
				removed++;
			} else {
				failed++;
				step(r, "cleanup", t, false, "%s TXT \"%s\": %s", x->fqdn, x->value,
				     e.msg);
				if (err && err->cls == CF_ERR_NONE)
					cf_err_set(err, e.cls, "cleanup of %s: %s", x->fqdn, e.msg);
			}
			cf_err_clear(&e);
			continue;
		}
		k = batch_of(r, i, handled, true, recs, idx);
		if (cf_provider_cleanup_many(x->ops, x->ops->name, &ctx, recs, k, false, &e) != 0 &&
		    e.cls == CF_ERR_NONE)
			cf_err_set(&e, CF_ERR_TRANSIENT, "provider %s: cleanup failed", x->ops->name);
		for (size_t m = 0; m < k; m++) {
			txt_rec *y = &r->txt[idx[m]];

			if (recs[m].done) {
				y->presented = false;
				removed++;
				continue;
			}
			failed++;
			step(r, "cleanup", t, false, "%s TXT \"%s\": %s", y->fqdn, y->value, e.msg);
			if (err && err->cls == CF_ERR_NONE)
				cf_err_set(err, e.cls, "cleanup of %s: %s", y->fqdn, e.msg);
		}
		cf_err_clear(&e);
	}
	if (removed || failed)
		step(r, "cleanup", t, failed == 0, "%zu values removed, %zu failed", removed, failed);
	free(handled);
	free(idx);
	free(recs);
	return failed ? -1 : 0;
}

/* Releases the authorizations this run tried to validate: each is read again
 * and deactivated only when pending or valid (the CA refuses the others). */
static void deactivate_pending(run *r)
{
	long t = (long)cf_clock_mono_ms();
	size_t n = 0, idle = 0, failed = 0;
	cf_err e = {0};

	if (r->client == NULL)
		return;
	for (size_t i = 0; i < r->npending; i++) {
		bool done = false;

		if (cf_acme_authz_release(r->client, r->pending_authz[i], CF_ACME_UNKNOWN, &done,
					  &e) != 0)
			failed++;
		else if (done)
			n++;
		else
			idle++;
		cf_err_clear(&e);
	}
	if (r->npending)
		step(r, "deactivate", t, failed == 0,
		     "%zu of %zu authorizations deactivated, %zu no longer pending or valid", n,
		     r->npending, idle);
}

/* Reads the order of reused authorizations until the CA has it ready (a CA may
 * still say pending in the newOrder response). */
static int await_ready(run *r, time_t deadline, cf_err *err)
{
	long t = (long)cf_clock_mono_ms();

	if (r->order.status == CF_ACME_READY)
		return 0;
	if (cf_acme_order_poll(r->client, r->order.url, deadline, &r->order, err) != 0) {
		step(r, "validate", t, false, "%s", err->msg);
		return -1;
	}
	step(r, "validate", t, true, "every authorization reused: order %s",
	     cf_acme_status_name(r->order.status));
	return 0;
}

static void run_free(run *r)
{
	for (size_t i = 0; i < r->ntxt; i++) {
		free(r->txt[i].value);
		free(r->txt[i].authz_url);
		free(r->txt[i].chall_url);
	}
	for (size_t i = 0; i < r->npending; i++)
		free(r->pending_authz[i]);
	free(r->pending_authz);
	free(r->txt);
	free(r->names);
	cf_alias_plan_free(&r->plan);
	cf_acme_order_free(&r->order);
	cf_acme_client_free(r->client);
}

int cf_issue_run(const cf_issue_params *p, cf_issue_result *res, cf_err *err)
{
	run r = {.p = p};
	long timeout = p->order_timeout_s > 0 ? p->order_timeout_s : 300;
	time_t deadline = time(NULL) + timeout;
	cf_err cerr = {0};
	int rc = -1;

	memset(res, 0, sizeof(*res));
	if (prepare_names(&r, err) != 0 || plan_and_preflight(&r, err) != 0 ||
	    cancelled(&r, err) != 0 || account_and_order(&r, err) != 0)
		goto out;
	/* no DNS at all for an order ready at once or whose authorizations are reused */
	if (r.order.status == CF_ACME_READY)
		step(&r, "authorizations", (long)cf_clock_mono_ms(), true, "order ready at once: no DNS needed");
	else if (collect_challenges(&r, err) != 0 || cancelled(&r, err) != 0)
		goto out;
	if (r.order.status != CF_ACME_READY && r.ntxt == 0 && await_ready(&r, deadline, err) != 0)
		goto out;
	if (r.ntxt > 0 &&
	    (present_all(&r, err) != 0 || cancelled(&r, err) != 0 || propagate(&r, err) != 0 ||
	     cancelled(&r, err) != 0 || validate(&r, deadline, err) != 0 ||
	     cancelled(&r, err) != 0))
		goto out;
	/* the values are no longer needed once every authorization is valid */
	cleanup(&r, &cerr);
	if (finalize_and_download(&r, deadline, res, err) != 0)
		goto out;
	res->order_url = strdup(r.order.url);
	res->account_url = strdup(cf_acme_client_account(r.client));
	res->profile = r.order.profile ? strdup(r.order.profile) : NULL;
	rc = 0;
out:
	cleanup(&r, &cerr);
	if (rc != 0)
		deactivate_pending(&r);
	cf_err_clear(&cerr);
	run_free(&r);
	if (rc != 0)
		cf_issue_result_free(res);
	return rc;
}

void cf_issue_result_free(cf_issue_result *r)
{
	cf_key_free(r->key);
	cf_secret_free(r->key_pem);
	cf_acme_cert_free(&r->cert);
	free(r->order_url);
	free(r->account_url);
	free(r->profile);
	memset(r, 0, sizeof(*r));
}
