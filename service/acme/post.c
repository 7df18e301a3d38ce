/*
 * post.c: acme_post(), the one signed request of the client and the one place
 * that knows the protocol's quirks (RFC 8555 sections 6.2-6.6):
 *  - a nonce is used once: the held nonce is consumed by signing, and the
 *    Replay-Nonce of every response (errors too) becomes the next one;
 *  - badNonce is retried at once with the nonce of the error response, for as
 *    long as the request's badNonce retries stay within the client's
 *    bad_nonce_timeout_ms (30 s): a CA that rejects most nonces costs round
 *    trips, not a failed issuance;
 *  - a rate limit (429, rateLimited) or an overloaded CA (503) is never sent
 *    again from here: the call fails (transient) with the answer recorded as
 *    the client's last failure (status, problem type, Retry-After), because the
 *    remedy is to pause the whole issuer, which only the caller can do;
 *  - for POST-as-GET reads any other 5xx and any transport failure, and for
 *    other POSTs only failures before the request was sent, are retried after
 *    the server's Retry-After or a capped backoff, as long as the waits stay
 *    within the client's in-line budget. Beyond it the call fails (transient).
 *  - the JWS carries kid (the account URL) except when the caller asks for jwk.
 * Non-idempotent POSTs are not repeated after a failure that may have reached the
 * server: the state machine re-reads the object instead.
 */
#include "acme/acme_int.h"

#include <stdlib.h>
#include <string.h>

#define ACME_MAX_WAIT_RETRIES 4

typedef struct post_state {
	int bad_nonce; /* badNonce retries used */
	long long bad_nonce_t0; /* cf_clock_mono_ms() of the first badNonce, 0 before */
	int waits;     /* Retry-After / backoff waits used */
	long waited_ms;
} post_state;

/* Moves the local error into the caller's (NULL allowed). */
static void err_move(cf_err *dst, cf_err *src)
{
	if (dst != NULL) {
		cf_err_set(dst, src->cls, "%s", src->msg);
		cf_err_set_problem(dst, src->problem);
	}
	cf_err_clear(src);
}

/* Transport failures that certainly happened before the request was sent. */
static bool failed_before_send(int curl_code)
{
	return curl_code == CURLE_COULDNT_RESOLVE_HOST || curl_code == CURLE_COULDNT_CONNECT ||
	       curl_code == CURLE_SSL_CONNECT_ERROR;
}

/* Sleeps wait_ms when the budget allows; false when the caller must give up. */
static bool wait_within_budget(cf_acme_client *c, post_state *st, const char *step,
			       const char *url, long wait_ms, const char *why)
{
	if (st->waits >= ACME_MAX_WAIT_RETRIES || st->waited_ms + wait_ms > c->max_inline_wait_ms)
		return false;
	st->waits++;
	st->waited_ms += wait_ms;
	acme_emit(c, CF_ACME_EV_WAIT, step, NULL, url, 0, wait_ms, true, why);
	acme_sleep_ms(wait_ms);
	return true;
}

static char *sign_request(cf_acme_client *c, const char *url, const char *payload,
			  const cf_key *jwk_key, cf_err *err)
{
	char *jws;

	if (jwk_key == NULL && c->kid == NULL) {
		cf_err_set(err, CF_ERR_PERMANENT, "no ACME account URL (register the account first)");
		return NULL;
	}
	jws = acme_jws_sign(jwk_key ? jwk_key : c->key, c->nonce, url,
			    jwk_key ? NULL : c->kid, payload ? payload : "", err);
	free(c->nonce); /* used once, whatever happens next */
	c->nonce = NULL;
	return jws;
}

/* A badNonce answer: true while its retries stay within the client's time (and
 * optional count) budget. */
static bool retry_bad_nonce(cf_acme_client *c, post_state *st)
{
	long long now = cf_clock_mono_ms();

	if (st->bad_nonce_t0 == 0)
		st->bad_nonce_t0 = now;
	if (c->bad_nonce_retries > 0 && st->bad_nonce >= c->bad_nonce_retries)
		return false;
	st->bad_nonce++;
	return now - st->bad_nonce_t0 < c->bad_nonce_timeout_ms;
}

/* After an error response (recorded as the last failure first): true to send
 * again (having waited if needed). Never for 429, rateLimited or 503. */
static bool retry_response(cf_acme_client *c, post_state *st, const char *step,
			   const char *url, bool is_read, const acme_resp *r)
{
	const cf_acme_failure *f = &c->last;

	if (strcmp(f->problem_type, ACME_URN_PREFIX "badNonce") == 0)
		return retry_bad_nonce(c, st);
	if (f->rate_limited || f->unavailable || !(is_read && r->status >= 500))
		return false;
	return wait_within_budget(c, st, step, url,
				  f->retry_after_ms > 0 ? f->retry_after_ms
							: cf_acme_backoff_ms(st->waits),
				  "server error");
}

/* One signed exchange; 0 when a response (any status) arrived, -2 when nothing
 * was sent (no nonce could be had, or signing failed), -1 otherwise. */
static int send_once(cf_acme_client *c, const char *step, const char *url,
		     const char *payload, const cf_key *jwk_key, const char *accept,
		     acme_resp *resp, cf_err *e)
{
	char *jws = NULL, type[128];
	const char *detail = NULL;
	long long t0;
	int rc = -1;

	if (acme_ensure_nonce(c, e) != 0 || (jws = sign_request(c, url, payload, jwk_key, e)) == NULL)
		return -2;
	t0 = cf_clock_mono_ms();
	rc = acme_http_request(&c->http, "POST", url, jws, "application/jose+json", accept, resp, e);
	free(jws);
	acme_take_nonce(c, resp);
	if (rc != 0)
		detail = e->msg;
	else if (resp->status >= 400)
		detail = cf_acme_problem_type((char *)resp->body.data, resp->body.len, type,
					      sizeof(type));
	acme_emit(c, CF_ACME_EV_HTTP, step, "POST", url, resp->status,
		  (long)(cf_clock_mono_ms() - t0), rc == 0 && resp->status < 400, detail);
	return rc;
}

int acme_post(cf_acme_client *c, const char *step, const char *url, const char *payload,
	      const cf_key *jwk_key, const char *accept, acme_resp *resp, cf_err *err)
{
	cf_err e = {0};
	post_state st = {0};
	bool is_read = payload == NULL;
	int rc;

	for (;;) {
		cf_err_clear(&e);
		acme_failure_reset(c);
		rc = send_once(c, step, url, payload, jwk_key, accept, resp, &e);
		if (rc != 0) {
			if (e.cls == CF_ERR_TRANSIENT &&
			    (is_read || rc == -2 || failed_before_send(resp->curl_code)) &&
			    wait_within_budget(c, &st, step, url, cf_acme_backoff_ms(st.waits),
					       "connection failed"))
				continue;
			break;
		}
		if (resp->status < 400)
			return 0;
		cf_acme_problem_set_err(&e, step, resp->status, (char *)resp->body.data,
					resp->body.len);
		acme_failure_note(c, resp);
		if (!retry_response(c, &st, step, url, is_read, resp))
			break;
	}
	err_move(err, &e);
	return -1;
}

int acme_post_json(cf_acme_client *c, const char *step, const char *url,
		   const char *payload, const cf_key *jwk_key, acme_resp *resp, json_t **obj,
		   cf_err *err)
{
	json_t *j;

	*obj = NULL;
	if (acme_post(c, step, url, payload, jwk_key, "application/json", resp, err) != 0)
		return -1;
	j = json_loadb((char *)resp->body.data, resp->body.len, 0, NULL);
	if (!json_is_object(j)) {
		json_decref(j);
		return cf_err_set(err, CF_ERR_PERMANENT, "%s %s: HTTP %ld without a JSON object",
				  step, url, resp->status);
	}
	*obj = j;
	return 0;
}
