/*
 * poll.c: reading and polling the ACME objects that are addressed by URL and
 * move through statuses on their own (authorizations and orders, RFC 8555
 * sections 7.1.3, 7.1.4, 7.5.1). authz.c and order.c describe their object with
 * an acme_object_kind (how to parse and free it, which statuses mean "still
 * busy", the verdict once it settled); the read, the public get, the poll loop
 * and their events are here, once.
 *
 * Waiting: clients "SHOULD" honour Retry-After while an object is pending or
 * processing. The server's Retry-After wins; without one the wait starts at the
 * client's poll_initial_ms (cf_acme_options, 50 ms by default) and doubles up to
 * 5 s, so a CA that finishes in milliseconds costs milliseconds and a slow one is
 * read at most every 5 s. No wait reaches past the caller's deadline, so a poll
 * ends at most one short read after it. The first read comes without a wait, and
 * none at all is made when the caller's object already is final (a finalize that
 * the CA answered "valid"): the wait is only for an object a read found busy, or
 * one the caller holds busy with the Retry-After of the response that left it so
 * (a finalize answered "processing" with Retry-After: that wait comes first).
 *
 * Ownership: the object is the caller's; every read frees it first, so it may be
 * a zeroed struct or an earlier result, and the URL passed in may point into it
 * (it is copied before the first read).
 */
#include "acme/acme_int.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

long acme_poll_wait_ms(long retry_after_ms, long initial_ms, int attempt, time_t deadline)
{
	long long left = ((long long)deadline - (long long)time(NULL)) * 1000;
	long wait = retry_after_ms > 0 ? retry_after_ms
				       : cf_acme_backoff_from_ms(initial_ms, attempt);

	if (left <= 0)
		return -1;
	return wait < left ? wait : (long)left;
}

static cf_acme_status status_of(const acme_object_kind *k, const void *obj)
{
	return *(const cf_acme_status *)((const char *)obj + k->status_at);
}

static long retry_after_of(const acme_object_kind *k, const void *obj)
{
	return *(const long *)((const char *)obj + k->retry_after_at);
}

int acme_object_read(cf_acme_client *c, const acme_object_kind *k, const char *url, void *obj,
		     cf_err *err)
{
	json_t *j = NULL;
	acme_resp r = {0};
	int rc = -1;

	k->free(obj);
	if (acme_post_json(c, k->step, url, NULL, NULL, &r, &j, err) == 0)
		rc = k->parse(url, &r, j, obj, err);
	json_decref(j);
	acme_resp_free(&r);
	return rc;
}

/* Whether obj holds the object at url (a response the caller kept). */
static bool holds(const acme_object_kind *k, const void *obj, const char *url)
{
	const char *have = *(char *const *)((const char *)obj + k->url_at);

	return have != NULL && strcmp(have, url) == 0;
}

/* Reads until the object leaves the busy statuses (then k->settled's verdict)
 * or the deadline comes (transient). When obj already holds the object busy with
 * a Retry-After, that wait comes before the first read. */
static int poll_loop(cf_acme_client *c, const acme_object_kind *k, const char *url,
		     time_t deadline, void *obj, cf_err *err)
{
	char what[512];
	cf_acme_status st = status_of(k, obj);
	long wait;
	int attempt;

	if (holds(k, obj, url) && (k->busy & (1u << st)) != 0 && retry_after_of(k, obj) > 0 &&
	    (wait = acme_poll_wait_ms(retry_after_of(k, obj), c->poll_initial_ms, 0,
				      deadline)) > 0) {
		acme_emit(c, CF_ACME_EV_WAIT, k->step, NULL, url, 0, wait, true,
			  cf_acme_status_name(st));
		acme_sleep_ms(wait);
	}
	for (attempt = 0;; attempt++) {
		if (acme_object_read(c, k, url, obj, err) != 0)
			return -1;
		st = status_of(k, obj);
		if ((k->busy & (1u << st)) == 0)
			return k->settled(obj, err);
		if ((wait = acme_poll_wait_ms(retry_after_of(k, obj), c->poll_initial_ms, attempt,
					      deadline)) < 0) {
			k->name(obj, url, what, sizeof(what));
			return cf_err_set(err, CF_ERR_TRANSIENT, "%s still %s at the deadline", what,
					  cf_acme_status_name(st));
		}
		acme_emit(c, CF_ACME_EV_WAIT, k->step, NULL, url, 0, wait, true,
			  cf_acme_status_name(st));
		acme_sleep_ms(wait);
	}
}

/* Whether obj already holds the object at url in a status it never leaves: the
 * response of the request that changed it (finalize, or a caller's own read) said
 * so, and reading it again would only say the same. */
static bool already_final(const acme_object_kind *k, const void *obj, const char *url)
{
	return (k->final & (1u << status_of(k, obj))) != 0 && holds(k, obj, url);
}

/* The public get (poll false) or poll: a copy of url (it may point into obj),
 * then the STEP event with the object's status. A poll first looks at what obj
 * already holds (already_final); otherwise its first read is immediate and the
 * wait comes only when that read still finds the object busy. */
static int object_call(cf_acme_client *c, const acme_object_kind *k, const char *url,
		       bool poll, time_t deadline, void *obj, cf_err *err)
{
	long long t0 = cf_clock_mono_ms();
	char *u = strdup(url);
	int rc = -1;

	if (u == NULL)
		cf_err_oom(err, NULL);
	else if (poll && already_final(k, obj, u))
		rc = k->settled(obj, err);
	else if (poll)
		rc = poll_loop(c, k, u, deadline, obj, err);
	else
		rc = acme_object_read(c, k, u, obj, err);
	rc = acme_step_done(c, poll ? k->poll_step : k->step, u, t0, rc, err,
			    cf_acme_status_name(status_of(k, obj)));
	free(u);
	return rc;
}

int acme_object_get(cf_acme_client *c, const acme_object_kind *k, const char *url, void *obj,
		    cf_err *err)
{
	return object_call(c, k, url, false, 0, obj, err);
}

int acme_object_poll(cf_acme_client *c, const acme_object_kind *k, const char *url,
		     time_t deadline, void *obj, cf_err *err)
{
	return object_call(c, k, url, true, deadline, obj, err);
}

int acme_settled_err(cf_err *err, const char *what, const char *problem, const char *fallback)
{
	json_t *p = problem ? json_loads(problem, 0, NULL) : NULL;

	if (p == NULL)
		return cf_err_set(err, CF_ERR_PERMANENT, "%s", fallback);
	cf_acme_problem_json_set_err(err, CF_ERR_PERMANENT, what, p);
	json_decref(p);
	return -1;
}
