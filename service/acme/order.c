/*
 * order.c: ACME orders (RFC 8555 sections 7.4, 7.1.3): newOrder for dns
 * identifiers, re-reading an order by its URL (how a resumed job learns where it
 * stands), polling it until it leaves pending/processing, and finalizing it with a
 * CSR. Every function fills a cf_acme_order from the order object the CA returns,
 * including its "error" (kept as JSON) and the response's Retry-After.
 */
#include "acme/acme_int.h"

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

/* Fills o (already zeroed) from an order object fetched from url. */
static int parse_order(const char *url, const acme_resp *r, const json_t *j, cf_acme_order *o,
		       cf_err *err)
{
	const json_t *e = json_object_get(j, "error");

	o->status = cf_acme_status_parse(json_string_value(json_object_get(j, "status")));
	o->url = strdup(url);
	o->expires = acme_json_strdup(j, "expires");
	o->finalize_url = acme_json_strdup(j, "finalize");
	o->cert_url = acme_json_strdup(j, "certificate");
	o->problem = json_is_object(e) ? json_dumps(e, JSON_COMPACT) : NULL;
	o->retry_after_ms = acme_resp_retry_after_ms(r);
	if (o->url == NULL || parse_identifiers(j, o) != 0 ||
	    acme_json_strarray(j, "authorizations", &o->authz_urls, &o->nauthz) != 0)
		return cf_err_set(err, CF_ERR_PERMANENT, "order %s: out of memory or bad JSON", url);
	if (o->status == CF_ACME_UNKNOWN || o->finalize_url == NULL)
		return cf_err_set(err, CF_ERR_PERMANENT, "order %s: no status or finalize URL", url);
	return 0;
}

static json_t *identifiers_payload(const char *const *names, size_t n)
{
	json_t *ids = json_array();
	size_t i;

	for (i = 0; ids != NULL && i < n; i++) {
		if (names[i] == NULL || names[i][0] == '\0' ||
		    json_array_append_new(ids, json_pack("{s:s, s:s}", "type", "dns", "value",
							 names[i])) != 0) {
			json_decref(ids);
			return NULL;
		}
	}
	return ids ? json_pack("{s:o}", "identifiers", ids) : NULL;
}

static int do_new(cf_acme_client *c, const char *const *names, size_t n, cf_acme_order *out,
		  cf_err *err)
{
	json_t *payload = NULL, *j = NULL;
	char *text = NULL;
	acme_resp r = {0};
	int rc = -1;

	if (n == 0 || (payload = identifiers_payload(names, n)) == NULL ||
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
	long long t0 = acme_now_ms();
	int rc;

	cf_acme_order_free(out);
	rc = do_new(c, names, n, out, err);
	return acme_step_done(c, "newOrder", out->url, t0, rc, err,
			      cf_acme_status_name(out->status));
}

/* POST-as-GET of an order; out is freed first (url must not point into it). */
static int order_read(cf_acme_client *c, const char *url, cf_acme_order *out, cf_err *err)
{
	json_t *j = NULL;
	acme_resp r = {0};
	int rc = -1;

	cf_acme_order_free(out);
	if (acme_post_json(c, "order", url, NULL, NULL, &r, &j, err) == 0)
		rc = parse_order(url, &r, j, out, err);
	json_decref(j);
	acme_resp_free(&r);
	return rc;
}

int cf_acme_order_get(cf_acme_client *c, const char *url, cf_acme_order *out, cf_err *err)
{
	long long t0 = acme_now_ms();
	char *u = strdup(url); /* url may point into out */
	int rc = -1;

	if (u == NULL)
		cf_err_set(err, CF_ERR_TRANSIENT, "out of memory");
	else
		rc = order_read(c, u, out, err);
	rc = acme_step_done(c, "order", u, t0, rc, err, cf_acme_status_name(out->status));
	free(u);
	return rc;
}

/* The verdict on an order that left pending/processing. */
static int order_final(const cf_acme_order *o, cf_err *err)
{
	json_t *p;

	if (o->status == CF_ACME_READY || o->status == CF_ACME_VALID)
		return 0;
	p = o->problem ? json_loads(o->problem, 0, NULL) : NULL;
	if (p != NULL) {
		cf_acme_problem_json_set_err(err, CF_ERR_PERMANENT, "order invalid", p);
		json_decref(p);
		return -1;
	}
	return cf_err_set(err, CF_ERR_PERMANENT, "order %s is %s", o->url,
			  cf_acme_status_name(o->status));
}

static int do_poll(cf_acme_client *c, const char *url, time_t deadline, cf_acme_order *out,
		   cf_err *err)
{
	long wait;
	int attempt;

	for (attempt = 0;; attempt++) {
		if (order_read(c, url, out, err) != 0)
			return -1;
		if (out->status != CF_ACME_PENDING && out->status != CF_ACME_PROCESSING)
			return order_final(out, err);
		if ((wait = acme_poll_wait_ms(out->retry_after_ms, c->poll_initial_ms, attempt,
					      deadline)) < 0)
			return cf_err_set(err, CF_ERR_TRANSIENT, "order %s still %s at the deadline",
					  url, cf_acme_status_name(out->status));
		acme_emit(c, CF_ACME_EV_WAIT, "order", NULL, url, 0, wait, true,
			  cf_acme_status_name(out->status));
		acme_sleep_ms(wait);
	}
}

int cf_acme_order_poll(cf_acme_client *c, const char *url, time_t deadline,
		       cf_acme_order *out, cf_err *err)
{
	long long t0 = acme_now_ms();
	char *u = strdup(url); /* url may point into out */
	int rc = -1;

	if (u == NULL)
		cf_err_set(err, CF_ERR_TRANSIENT, "out of memory");
	else
		rc = do_poll(c, u, deadline, out, err);
	rc = acme_step_done(c, "pollOrder", u, t0, rc, err, cf_acme_status_name(out->status));
	free(u);
	return rc;
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
		cf_err_set(err, CF_ERR_PERMANENT, "finalize: out of memory");
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
	long long t0 = acme_now_ms();
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
