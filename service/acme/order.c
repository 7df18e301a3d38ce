/*
 * order.c: ACME orders (RFC 8555 sections 7.4, 7.1.3): newOrder for dns
 * identifiers (with RFC 9773's "replaces" for a renewal at a CA that offers ARI,
 * and the "profile" of draft-ietf-acme-profiles when one is asked for),
 * re-reading an order by its URL (how a resumed job learns where it
 * stands), polling it until it leaves pending/processing, and finalizing it with a
 * CSR. Every function fills a cf_acme_order from the order object the CA returns,
 * including its "error" (kept as JSON) and the response's Retry-After. The read,
 * get and poll loop are poll.c's (order_kind describes an order).
 */
#include "acme/acme_int.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/b64.h"

void cf_acme_order_free(cf_acme_order *o)
{
	if (o == NULL)
		return;
	free(o->url);
	free(o->expires);
	acme_strarray_free(o->identifiers, o->nidentifiers);
	acme_strarray_free(o->authz_urls, o->nauthz);
	free(o->finalize_url);
	free(o->cert_url);
	free(o->problem);
	free(o->profile);
	memset(o, 0, sizeof(*o));
}

static int parse_identifiers(const json_t *j, cf_acme_order *o)
{
	const json_t *ids = json_object_get(j, "identifiers"), *id;
	size_t i;

	if (!json_is_array(ids) || json_array_size(ids) == 0)
		return 0;
	if ((o->identifiers = calloc(json_array_size(ids), sizeof(char *))) == NULL)
		return -1;
	json_array_foreach(ids, i, id) {
		const char *v = json_string_value(json_object_get(id, "value"));

		if (v == NULL || (o->identifiers[o->nidentifiers] = strdup(v)) == NULL)
			return -1;
		o->nidentifiers++;
	}
	return 0;
}

/* Fills o (a cf_acme_order, already zeroed) from an order object fetched from url;
 * also acme_object_kind.parse. */
static int parse_order(const char *url, const acme_resp *r, const json_t *j, void *obj,
		       cf_err *err)
{
	cf_acme_order *o = obj;

	o->status = acme_json_status(j);
	o->url = strdup(url);
	o->expires = acme_json_strdup(j, "expires");
	o->finalize_url = acme_json_strdup(j, "finalize");
	o->cert_url = acme_json_strdup(j, "certificate");
	o->problem = acme_json_problem(j);
	o->profile = acme_json_strdup(j, "profile");
	o->retry_after_ms = acme_resp_retry_after_ms(r);
	if (o->url == NULL || parse_identifiers(j, o) != 0 ||
	    acme_json_strarray(j, "authorizations", &o->authz_urls, &o->nauthz) != 0)
		return cf_err_set(err, CF_ERR_PERMANENT, "order %s: out of memory or bad JSON", url);
	if (o->status == CF_ACME_UNKNOWN || o->finalize_url == NULL)
		return cf_err_set(err, CF_ERR_PERMANENT, "order %s: no status or finalize URL", url);
	return 0;
}

static bool given(const char *s)
{
	return s != NULL && s[0] != '\0';
}

/* {"identifiers": [...], "replaces"?: certID (RFC 9773 section 5), "profile"?}. */
static json_t *order_payload(const char *const *names, size_t n, const cf_acme_order_opts *o)
{
	json_t *ids = json_array(), *p;
	size_t i;

	for (i = 0; ids != NULL && i < n; i++) {
		if (names[i] == NULL || names[i][0] == '\0' ||
		    json_array_append_new(ids, json_pack("{s:s, s:s}", "type", "dns", "value",
							 names[i])) != 0) {
			json_decref(ids);
			return NULL;
		}
	}
	if (ids == NULL || (p = json_pack("{s:o}", "identifiers", ids)) == NULL)
		return NULL;
	if ((given(o->replaces) &&
	     json_object_set_new(p, "replaces", json_string(o->replaces)) != 0) ||
	    (given(o->profile) && json_object_set_new(p, "profile", json_string(o->profile)) != 0)) {
		json_decref(p);
		return NULL;
	}
	return p;
}

static int do_new(cf_acme_client *c, const char *const *names, size_t n,
		  const cf_acme_order_opts *opts, cf_acme_order *out, cf_err *err)
{
	json_t *payload = NULL, *j = NULL;
	char *text = NULL;
	acme_resp r = {0};
	int rc = -1;

	if (n == 0 || (payload = order_payload(names, n, opts)) == NULL ||
	    (text = json_dumps(payload, JSON_COMPACT)) == NULL) {
		cf_err_set(err, CF_ERR_PERMANENT, "newOrder: no names, or an empty name");
		goto out;
	}
	if (cf_acme_client_directory(c, NULL, err) != 0 ||
	    acme_post_json(c, "newOrder", c->dir.new_order, text, NULL, &r, &j, err) != 0)
		goto out;
	if (r.location == NULL) {
		cf_err_set(err, CF_ERR_PERMANENT, "newOrder: no Location in the response");
		goto out;
	}
	rc = parse_order(r.location, &r, j, out, err);
out:
	json_decref(payload);
	json_decref(j);
	free(text);
	acme_resp_free(&r);
	return rc;
}

int cf_acme_order_new(cf_acme_client *c, const char *const *names, size_t n,
		      cf_acme_order *out, cf_err *err)
{
	return cf_acme_order_new_replacing(c, names, n, NULL, out, err);
}

int cf_acme_order_new_replacing(cf_acme_client *c, const char *const *names, size_t n,
				const char *replaces, cf_acme_order *out, cf_err *err)
{
	cf_acme_order_opts o = {.replaces = replaces};

	return cf_acme_order_new_opts(c, names, n, &o, out, err);
}

int cf_acme_order_new_opts(cf_acme_client *c, const char *const *names, size_t n,
			   const cf_acme_order_opts *opts, cf_acme_order *out, cf_err *err)
{
	static const cf_acme_order_opts none = {0};
	long long t0 = cf_clock_mono_ms();
	int rc;

	cf_acme_order_free(out);
	rc = do_new(c, names, n, opts ? opts : &none, out, err);
	return acme_step_done(c, "newOrder", out->url, t0, rc, err,
			      cf_acme_status_name(out->status));
}

static void order_free(void *obj)
{
	cf_acme_order_free(obj);
}

/* The verdict on an order that left pending/processing. */
static int order_settled(const void *obj, cf_err *err)
{
	const cf_acme_order *o = obj;
	char fallback[1024];

	if (o->status == CF_ACME_READY || o->status == CF_ACME_VALID)
		return 0;
	snprintf(fallback, sizeof(fallback), "order %s is %s", o->url,
		 cf_acme_status_name(o->status));
	return acme_settled_err(err, "order invalid", o->problem, fallback);
}

static void order_name(const void *obj, const char *url, char *out, size_t outlen)
{
	snprintf(out, outlen, "order %s", url);
}

static const acme_object_kind order_kind = {
	.step = "order",
	.poll_step = "pollOrder",
	.busy = (1u << CF_ACME_PENDING) | (1u << CF_ACME_PROCESSING),
	.final = (1u << CF_ACME_VALID) | (1u << CF_ACME_INVALID),
	.url_at = offsetof(cf_acme_order, url),
	.status_at = offsetof(cf_acme_order, status),
	.retry_after_at = offsetof(cf_acme_order, retry_after_ms),
	.free = order_free,
	.parse = parse_order,
	.settled = order_settled,
	.name = order_name,
};

int cf_acme_order_get(cf_acme_client *c, const char *url, cf_acme_order *out, cf_err *err)
{
	return acme_object_get(c, &order_kind, url, out, err);
}

int cf_acme_order_poll(cf_acme_client *c, const char *url, time_t deadline,
		       cf_acme_order *out, cf_err *err)
{
	return acme_object_poll(c, &order_kind, url, deadline, out, err);
}

static int do_finalize(cf_acme_client *c, const char *url, const char *finalize_url,
		       const void *csr_der, size_t len, cf_acme_order *out, cf_err *err)
{
	json_t *j = NULL;
	char *csr = NULL, *text = NULL;
	acme_resp r = {0};
	int rc = -1;

	if ((csr = cf_b64url_encode(csr_der, len)) == NULL ||
	    (j = json_pack("{s:s}", "csr", csr)) == NULL ||
	    (text = json_dumps(j, JSON_COMPACT)) == NULL) {
		cf_err_oom(err, "finalize");
		goto out;
	}
	json_decref(j);
	j = NULL;
	if (acme_post_json(c, "finalize", finalize_url, text, NULL, &r, &j, err) != 0)
		goto out;
	rc = parse_order(url, &r, j, out, err);
out:
	json_decref(j);
	free(csr);
	free(text);
	acme_resp_free(&r);
	return rc;
}

int cf_acme_order_finalize(cf_acme_client *c, const cf_acme_order *order,
			   const void *csr_der, size_t len, cf_acme_order *out, cf_err *err)
{
	long long t0 = cf_clock_mono_ms();
	char *url = order->url ? strdup(order->url) : NULL;
	char *fin = order->finalize_url ? strdup(order->finalize_url) : NULL;
	int rc = -1;

	/* out may alias order: what we need was copied above, before freeing it */
	cf_acme_order_free(out);
	if (url == NULL || fin == NULL || csr_der == NULL || len == 0)
		cf_err_set(err, CF_ERR_PERMANENT, "finalize: order URL, finalize URL and CSR needed");
	else
		rc = do_finalize(c, url, fin, csr_der, len, out, err);
	rc = acme_step_done(c, "finalize", url, t0, rc, err,
			    rc == 0 ? cf_acme_status_name(out->status) : NULL);
	free(url);
	free(fin);
	return rc;
}
