/*
 * h_aliases.c: POST /v1/aliases/check (admin): is the challenge alias of each
 * name right, and which zone-file lines fix it (dns/alias_check.h; the same
 * check as `certfleet alias check`).
 *
 * The body names what to check, either inline, in the shape of a certificate:
 *     {"domains": [...], "dns_alias": null|"auto"|"fqdn"|{name: fqdn},
 *      "provider": "name" | {name: "name"}}      (dns_alias, provider optional)
 * or as a managed certificate's definition: {"certificate": "id"}. With a
 * provider, each target is also checked for whether that provider (its stored
 * settings, unsealed here and wiped when the request ends) can write there. The
 * answer is {"results": [...]}, one AliasCheckResult per name (api/openapi.yaml)
 * with the name's provider added; DNS problems are verdicts, never errors, so
 * the status is 200 whenever the input could be checked.
 *
 * The check asks DNS (and, through can_write, the providers' APIs), which takes
 * time, so it runs off the HTTP threads and under one overall deadline: the
 * handler validates the body and loads the providers (its database connection
 * then goes back to the pool), and hands the rest to a deferred answer
 * (cf_resp_defer: the connection is suspended, the HTTP thread is free for
 * other requests). That answer starts the check on a thread of its own and
 * waits for it until CERTFLEET_ALIAS_CHECK_TIMEOUT; a check still running then
 * is answered 504 and left to finish alone (it owns everything it uses, and
 * frees it). At most CF_HTTP_DEFER_MAX checks run at once, counting those
 * left behind; beyond that the answer is 503 with Retry-After. Nothing is
 * written.
 */
#include "http/http.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/validate.h"
#include "dns/alias_check.h"
#include "store/certificates.h"
#include "store/providers.h"
#include "providers/scope.h"

#define PROBE_TIMEOUT_MS 10000

/* The providers of one request: each name's index into p[]. */
typedef struct check_provs {
	struct {
		const char *name; /* borrowed from the body */
		const cf_provider_ops *ops;
		json_t *settings; /* unsealed: cf_provider_settings_free */
	} p[16];
	size_t np;
	int *of;           /* per name: index into p, or -1 */
	cf_provider_ctx ctx;
} check_provs;

static int suggest(void *arg, size_t i, const char *name, char *out, size_t len)
{
	check_provs *cp = arg;

	if (cp->of[i] < 0)
		return -1;
	return cf_provider_suggest_target(cp->p[cp->of[i]].settings, name, out, len);
}

static int can_write(void *arg, size_t i, const char *fqdn, cf_err *err)
{
	check_provs *cp = arg;
	cf_provider_ctx ctx = cp->ctx;

	if (cp->of[i] < 0) {
		cf_err_set(err, CF_ERR_TRANSIENT, "no provider given");
		return -1;
	}
	ctx.settings = cp->p[cp->of[i]].settings;
	/* allowed_names first (unwritable, naming the setting), then the type's probe */
	return cf_provider_can_write(cp->p[cp->of[i]].ops, cp->p[cp->of[i]].name, &ctx, fqdn, err);
}

/* dns_alias as a spec (what spec.c does for a job); 1 with errs when malformed. */
static int alias_spec(const json_t *a, cf_alias_spec *spec, cf_verrs *errs)
{
	const char *k;
	json_t *v;

	memset(spec, 0, sizeof(*spec));
	if (a == NULL || json_is_null(a))
		return 0;
	if (json_is_string(a)) {
		spec->mode = strcmp(json_string_value(a), "auto") == 0 ? CF_ALIAS_AUTO : CF_ALIAS_ONE;
		if (spec->mode == CF_ALIAS_ONE)
			spec->one = strdup(json_string_value(a));
		return 0;
	}
	if (!json_is_object(a) || json_object_size(a) == 0)
		return cf_verrs_add(errs, "dns_alias", "must be null, \"auto\", a DNS name or an "
				    "object from names to DNS names"), 1;
	spec->mode = CF_ALIAS_MAP;
	spec->map_names = calloc(json_object_size(a), sizeof(char *));
	spec->map_targets = calloc(json_object_size(a), sizeof(char *));
	json_object_foreach((json_t *)a, k, v) {
		char field[300];

		snprintf(field, sizeof(field), "dns_alias[\"%.250s\"]", k);
		if (!json_is_string(v))
			return cf_verrs_add(errs, field, "must be a DNS name (a string)"), 1;
		if (spec->map_names == NULL || spec->map_targets == NULL)
			return -1;
		spec->map_names[spec->nmap] = strdup(k);
		spec->map_targets[spec->nmap] = strdup(json_string_value(v));
		spec->nmap++;
	}
	return 0;
}

/* The provider name of domain i (borrowed), NULL when none is given for it. */
static const char *provider_of(const json_t *p, const char *domain)
{
	const char *k;
	json_t *v;

	if (json_is_string(p))
		return json_string_value(p);
	json_object_foreach((json_t *)p, k, v)
		if (cf_name_equal(k, domain) && json_is_string(v))
			return json_string_value(v);
	return NULL;
}

/* Checks the members and collects the names; 1 with errs when invalid. */
static int check_body(cf_app *app, const json_t *b, const char ***names, size_t *n,
		      cf_verrs *errs)
{
	const json_t *d = json_object_get(b, "domains"), *p = json_object_get(b, "provider"), *v;
	char field[64], norm[CF_NAME_MAX + 1];
	const char *k;
	size_t i;

	json_object_foreach((json_t *)b, k, v)
		if (strcmp(k, "domains") != 0 && strcmp(k, "dns_alias") != 0 &&
		    strcmp(k, "provider") != 0 && strcmp(k, "certificate") != 0)
			cf_verrs_add(errs, k, "unknown field (known: domains, dns_alias, provider, "
				     "certificate)");
	if (!json_is_array(d) || json_array_size(d) == 0 ||
	    json_array_size(d) > (size_t)app->cfg->max_names)
		cf_verrs_add(errs, "domains", "required: an array of 1 to %d DNS names",
			     app->cfg->max_names);
	else if ((*names = calloc(json_array_size(d), sizeof(char *))) != NULL)
		json_array_foreach(d, i, v) {
			snprintf(field, sizeof(field), "domains[%zu]", i);
			if (!json_is_string(v) || cf_name_normalize(json_string_value(v), true, norm,
								    NULL) != 0)
				cf_verrs_add(errs, field, "must be a DNS name (a wildcard only as "
					     "the whole left-most label)");
			(*names)[(*n)++] = json_string_value(v);
		}
	if (p != NULL && !json_is_null(p) && !(json_is_string(p) && cf_valid_slug(json_string_value(p))) &&
	    !json_is_object(p))
		cf_verrs_add(errs, "provider", "must be a provider name or an object from names "
			     "to provider names");
	return errs->n > 0;
}

/* Loads the providers the names use; 1 with errs for an unknown one, -1 on error. */
static int load_providers(cf_app *app, cf_http_req *req, const json_t *p, const char **names,
			  size_t n, check_provs *cp, cf_verrs *errs, cf_err *err)
{
	if ((cp->of = calloc(n, sizeof(int))) == NULL)
		return cf_err_oom(err, NULL);
	for (size_t i = 0; i < n; i++) {
		const char *name = p == NULL || json_is_null(p) ? NULL : provider_of(p, names[i]);
		char *type = NULL;
		size_t k;

		cp->of[i] = -1;
		if (name == NULL)
			continue;
		for (k = 0; k < cp->np && strcmp(cp->p[k].name, name) != 0; k++)
			;
		if (k == cp->np) {
			if (k == sizeof(cp->p) / sizeof(cp->p[0]))
				return cf_verrs_add(errs, "provider", "more than %zu providers", k), 1;
			if (!cf_valid_slug(name) ||
			    cf_provider_settings_load(req->db, app->master_key, name, &type,
						      &cp->p[k].settings, err) != 0) {
				if (err->cls == CF_ERR_TRANSIENT || cf_db_lost(req->db))
					return -1;
				cf_err_clear(err);
				return cf_verrs_add(errs, "provider", "no usable DNS provider called "
						    "\"%.80s\"", name), 1;
			}
			cp->p[k].name = name;
			cp->p[k].ops = cf_provider_find(type);
			free(type);
			if (cp->p[k].ops == NULL) {
				cf_provider_settings_free(cp->p[k].settings);
				return cf_verrs_add(errs, "provider", "DNS provider \"%.80s\" has an "
						    "unknown type", name), 1;
			}
			cp->np++;
		}
		cp->of[i] = (int)k;
	}
	return 0;
}

/* {"certificate": id}: the stored definition as the body (new), or NULL with a
 * 404/400 in resp (*failed for a store error). */
static json_t *stored_definition(cf_http_req *req, cf_http_resp *resp, const json_t *b,
				 cf_err *err, bool *failed)
{
	const char *id = json_string_value(json_object_get(b, "certificate"));
	json_t *doc = NULL, *out;
	cf_verrs errs = { 0 };

	if (json_object_size(b) != 1 || id == NULL || !cf_valid_slug(id)) {
		cf_verrs_add(&errs, "certificate", "a certificate id, and nothing else beside it");
		cf_resp_invalid(resp, &errs);
		return NULL;
	}
	if (cf_cert_get_json(req->db, id, &doc, err) != 0) {
		*failed = true;
		return NULL;
	}
	if (doc == NULL) {
		cf_resp_problem(resp, 404, "not-found", NULL, "no certificate called \"%s\"", id);
		return NULL;
	}
	out = json_pack("{s:O?, s:O?, s:O?}", "domains", json_object_get(doc, "domains"),
			"dns_alias", json_object_get(doc, "dns_alias"), "provider",
			json_object_get(doc, "provider"));
	json_decref(doc);
	return out;
}

/* ---- the check, off the HTTP threads ---- */

static atomic_int checks_running; /* checker threads alive, those left behind too */

int cf_h_aliases_running(void)
{
	return atomic_load(&checks_running);
}

/* One check: owned jointly by the deferred answer and the checker thread (refs),
 * freed by whichever lets go last. names point into body/def. */
typedef struct check_job {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int refs;
	bool done;
	json_t *body, *def, *results;
	const char **names;
	cf_alias_spec spec;
	check_provs cp;
	cf_alias_check_req creq;
	cf_err err;
	int rc;
	int timeout_s;
	cf_dns_servers resolvers; /* a copy: a checker left behind may outlive the app */
} check_job;

static void job_release(void *arg)
{
	check_job *j = arg;
	bool last;

	pthread_mutex_lock(&j->mu);
	last = --j->refs == 0;
	pthread_mutex_unlock(&j->mu);
	if (!last)
		return;
	for (size_t i = 0; i < j->cp.np; i++)
		cf_provider_settings_free(j->cp.p[i].settings);
	free(j->cp.of);
	free(j->names);
	cf_alias_spec_free(&j->spec);
	json_decref(j->results);
	json_decref(j->def);
	json_decref(j->body);
	cf_err_clear(&j->err);
	pthread_cond_destroy(&j->cv);
	pthread_mutex_destroy(&j->mu);
	free(j);
}

static void *checker_main(void *arg)
{
	check_job *j = arg;
	json_t *results = NULL;
	cf_err err = { 0 };
	int rc = cf_alias_check_run(&j->creq, &results, &err);

	pthread_mutex_lock(&j->mu);
	j->rc = rc;
	j->results = results;
	j->err = err;
	j->done = true;
	pthread_cond_signal(&j->cv);
	pthread_mutex_unlock(&j->mu);
	atomic_fetch_sub(&checks_running, 1);
	job_release(j);
	return NULL;
}

/* The deferred answer: start the checker, wait for it until the deadline. */
static void job_run(void *arg, cf_http_resp *resp)
{
	check_job *j = arg;
	cf_verrs errs = { 0 };
	struct timespec until;
	pthread_attr_t at;
	pthread_t t;
	json_t *r;
	size_t i;
	bool started = false;

	if (atomic_fetch_add(&checks_running, 1) < CF_HTTP_DEFER_MAX &&
	    pthread_attr_init(&at) == 0) {
		pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
		j->refs++; /* the checker's */
		started = pthread_create(&t, &at, checker_main, j) == 0;
		if (!started)
			j->refs--;
		pthread_attr_destroy(&at);
	}
	if (!started) {
		atomic_fetch_sub(&checks_running, 1);
		cf_resp_problem(resp, 503, "busy", NULL, "%d alias checks are running: try again "
				"shortly", CF_HTTP_DEFER_MAX);
		cf_resp_header(resp, "Retry-After", "5");
		return;
	}
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += j->timeout_s;
	pthread_mutex_lock(&j->mu);
	while (!j->done)
		if (pthread_cond_timedwait(&j->cv, &j->mu, &until) != 0 && !j->done)
			break;
	if (!j->done) {
		pthread_mutex_unlock(&j->mu);
		cf_resp_problem(resp, 504, "alias-check-timeout", NULL,
				"the alias check of %zu names did not finish within %d s "
				"(CERTFLEET_ALIAS_CHECK_TIMEOUT): check fewer names at once, or "
				"check the resolvers (CERTFLEET_RESOLVERS)",
				j->creq.n, j->timeout_s);
		return;
	}
	pthread_mutex_unlock(&j->mu);
	if (j->rc != 0) {
		cf_verrs_add(&errs, j->spec.mode == CF_ALIAS_MAP || j->spec.mode == CF_ALIAS_ONE
			     ? "dns_alias" : "domains", "%s", j->err.msg);
		cf_resp_invalid(resp, &errs);
		return;
	}
	json_array_foreach(j->results, i, r)
		json_object_set_new(r, "provider", j->cp.of[i] < 0 ? json_null()
				    : json_string(j->cp.p[j->cp.of[i]].name));
	cf_resp_json(resp, 200, json_pack("{s:O}", "results", j->results));
}

/* A job that takes over the request's parsed state (the caller's pointers are
 * set to NULL); NULL when out of memory. */
static check_job *job_new(cf_app *app, json_t **body, json_t **def, const char ***names,
			  size_t n, cf_alias_spec *spec, check_provs *cp)
{
	check_job *j = calloc(1, sizeof(*j));
	pthread_condattr_t ca;

	if (j == NULL)
		return NULL;
	pthread_mutex_init(&j->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&j->cv, &ca);
	pthread_condattr_destroy(&ca);
	j->refs = 1; /* the deferred answer's */
	j->timeout_s = app->cfg->alias_check_timeout;
	j->body = *body;
	j->def = *def;
	j->names = *names;
	j->spec = *spec;
	j->cp = *cp;
	*body = *def = NULL;
	*names = NULL;
	memset(spec, 0, sizeof(*spec));
	memset(cp, 0, sizeof(*cp));
	j->resolvers = app->resolvers;
	j->creq = (cf_alias_check_req){ .resolvers = &j->resolvers, .spec = &j->spec,
					.names = j->names, .n = n };
	j->cp.ctx.resolvers = &j->resolvers;
	j->cp.ctx.timeout_ms = PROBE_TIMEOUT_MS;
	if (j->cp.np > 0) {
		j->creq.writable = can_write;
		j->creq.suggest = suggest;
		j->creq.arg = &j->cp;
	}
	return j;
}

int cf_h_aliases_check(cf_app *app, cf_http_req *req, cf_http_resp *resp)
{
	json_t *body = NULL, *def = NULL;
	const json_t *b;
	const char **names = NULL;
	cf_alias_spec spec = { 0 };
	check_provs cp = { 0 };
	check_job *job;
	cf_verrs errs = { 0 };
	cf_err err = { 0 };
	bool failed = false;
	size_t n = 0, i;
	int rc = 0;

	if ((body = cf_req_json(req, resp, false)) == NULL)
		goto out;
	b = body;
	if (json_is_object(body) && json_object_get(body, "certificate") != NULL) {
		if ((def = stored_definition(req, resp, body, &err, &failed)) == NULL)
			goto done;
		b = def;
	}
	if (!json_is_object(b)) {
		cf_verrs_add(&errs, "body", "must be a JSON object");
		cf_resp_invalid(resp, &errs);
		goto out;
	}
	if (check_body(app, b, &names, &n, &errs) == 0 &&
	    (rc = alias_spec(json_object_get(b, "dns_alias"), &spec, &errs)) == 0)
		rc = load_providers(app, req, json_object_get(b, "provider"), names, n, &cp, &errs,
				    &err);
	if (rc < 0 && err.cls == CF_ERR_NONE)
		cf_err_oom(&err, NULL);
	if (rc < 0) {
		failed = true;
		goto done;
	}
	if (errs.n > 0) {
		cf_resp_invalid(resp, &errs);
		goto out;
	}
	if ((job = job_new(app, &body, &def, &names, n, &spec, &cp)) == NULL) {
		cf_err_oom(&err, NULL);
		failed = true;
		goto done;
	}
	cf_resp_defer(resp, job_run, job_release, job);
done:
	if (failed)
		cf_resp_store_error(req, resp, &err);
out:
	for (i = 0; i < cp.np; i++)
		cf_provider_settings_free(cp.p[i].settings);
	free(cp.of);
	free(names);
	cf_alias_spec_free(&spec);
	json_decref(def);
	json_decref(body);
	cf_err_clear(&err);
	return 0;
}
