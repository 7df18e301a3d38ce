/*
 * acme_int.h: what the files of service/acme share with each other and with the
 * unit tests (tests/unit/test_acme_*.c), but not with the rest of certfleet: the
 * HTTP transport, the client's insides, acme_post(), and the pure helpers (header
 * parsers, problem documents, protected headers) that the tests drive directly.
 */
#ifndef CERTFLEET_ACME_INT_H
#define CERTFLEET_ACME_INT_H

#include <curl/curl.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "acme/acme.h"
#include "util/buf.h"
#include "util/clock.h"

#define ACME_URN_PREFIX "urn:ietf:params:acme:error:"
#define ACME_MAX_LINKS 16
#define ACME_MAX_HEADER 4096

/* ---- retry_after.c ---- */
/* Retry-After values are capped here (one day). */
#define CF_RETRY_AFTER_MAX_MS (24L * 3600 * 1000)
/* Parses a Retry-After value (RFC 9110 section 10.2.3): delta-seconds or an
 * HTTP-date (IMF-fixdate, and the obsolete RFC 850 and asctime forms), surrounding
 * blanks allowed. *out_ms is the wait from now: 0 for a date in the past, capped at
 * CF_RETRY_AFTER_MAX_MS. Returns 0, or -1 (and leaves *out_ms alone) on garbage. */
int cf_retry_after_parse(const char *value, time_t now, long *out_ms);
/* Every backoff stops growing here. */
#define CF_ACME_BACKOFF_MAX_MS 5000L
/* The first poll wait without Retry-After when cf_acme_options leaves it 0. */
#define CF_ACME_POLL_INITIAL_MS 50L
/* Capped exponential backoff: initial_ms << attempt, at most CF_ACME_BACKOFF_MAX_MS
 * (initial_ms below 1 counts as 1; no overflow for any attempt). */
long cf_acme_backoff_from_ms(long initial_ms, int attempt);
/* acme_post()'s in-line retry backoff: 250 ms << attempt, at most 5000 ms. */
long cf_acme_backoff_ms(int attempt);

/* ---- link.c ---- */
/* Appends to urls (up to max, a caller-owned array of malloc'd strings; *n is the
 * count so far) the target of every link in one Link header value (RFC 8288) whose
 * rel list contains rel. Only absolute https:// targets are kept. Returns 0, or -1
 * on a malformed value (links parsed before the fault are kept). */
int cf_acme_link_parse(const char *value, const char *rel, char **urls, size_t max,
		       size_t *n);

/* ---- problem.c ---- */
/* The class of a problem type (full URN) at an HTTP status: rateLimited,
 * serverInternal, badNonce and any 5xx or 429 are transient, the rest permanent. */
cf_err_class cf_acme_problem_class(const char *type, long http_status);
/* Fills err from an error response: class by cf_acme_problem_class(); message
 * "<what>: <type> (HTTP <status>): <detail> [subproblems: <id>: <type>: <detail>; ...]"
 * with ACME types shortened to their last part; the body kept verbatim as the
 * problem when it is a JSON object. Bodies that are no problem document give a
 * message with the status and a short printable excerpt. Returns -1. */
int cf_acme_problem_set_err(cf_err *err, const char *what, long http_status,
			    const char *body, size_t len);
/* Copies the "type" of a problem document text into out and returns out; NULL
 * when the text has none. */
const char *cf_acme_problem_type(const char *body, size_t len, char *out, size_t outlen);
/* Sets err (class given) from a problem object found inside another object (an
 * order's or a challenge's "error"), message "<what>: <summary>", JSON kept. */
int cf_acme_problem_json_set_err(cf_err *err, cf_err_class cls, const char *what,
				 const json_t *problem);

/* ---- jws.c ---- */
/* The protected header {alg, nonce, url, kid | jwk}: kid when kid != NULL, else a
 * copy of jwk; nonce omitted when NULL (the keyChange inner JWS). New reference. */
json_t *cf_acme_jws_protected(const char *alg, const char *nonce, const char *url,
			      const char *kid, const json_t *jwk);
/* A flattened JWS of payload (a JSON text, or "" for POST-as-GET) signed by key.
 * Caller frees. */
char *acme_jws_sign(const cf_key *key, const char *nonce, const char *url, const char *kid,
		    const char *payload, cf_err *err);
/* The External Account Binding object (section 7.3.4): an HS256 JWS with
 * protected {alg:"HS256", kid, url} over the account JWK. New reference. */
json_t *cf_acme_eab_jws(const char *eab_kid, const char *hmac_key_b64url, const char *url,
			const json_t *account_jwk, cf_err *err);
/* The keyChange inner JWS (section 7.3.5) as a JSON text: protected {alg, jwk of
 * new_key, url}, payload {account, oldKey}, signed by new_key. Caller frees. */
char *acme_key_change_inner(const cf_key *new_key, const cf_key *old_key, const char *url,
			    const char *account_url, cf_err *err);

/* ---- http.c ---- */
typedef struct acme_resp {
	long status;    /* 0 when no response arrived */
	int curl_code;  /* CURLcode of the transfer */
	cf_buf body;
	char *content_type;
	char *location;
	char *nonce;
	char *retry_after;
	char *links[ACME_MAX_LINKS]; /* raw Link header values */
	size_t nlinks;
} acme_resp;

typedef struct acme_http {
	CURL *curl;
	char *ca_file;
	long connect_timeout_ms;
	long timeout_ms;
	size_t max_body;
	char user_agent[64];
} acme_http;

int acme_http_init(acme_http *h, const char *ca_file, long connect_timeout_ms,
		   long timeout_ms, size_t max_body, cf_err *err);
void acme_http_cleanup(acme_http *h);
/* One exchange. method "GET", "HEAD" or "POST" (body with content_type). accept may
 * be NULL. resp is reset first and filled even for 4xx/5xx; -1 only when no complete
 * response arrived (class by the curl error) or the body exceeded the cap. */
int acme_http_request(acme_http *h, const char *method, const char *url, const char *body,
		      const char *content_type, const char *accept, acme_resp *resp,
		      cf_err *err);
void acme_resp_free(acme_resp *r);
/* true when the response's content type (without parameters) equals type. */
bool acme_resp_is(const acme_resp *r, const char *type);
/* The alternates of a response (every Link rel="alternate"), as in link.c. */
int acme_resp_links(const acme_resp *r, const char *rel, char **urls, size_t max, size_t *n);

/* ---- client.c ---- */
struct cf_acme_client {
	acme_http http;
	char *dir_url;
	bool have_dir;
	cf_acme_directory dir;
	char *nonce;
	const cf_key *key;
	char *kid;
	long bad_nonce_timeout_ms; /* > 0 */
	int bad_nonce_retries;     /* 0: no count cap */
	long max_inline_wait_ms;
	long poll_initial_ms; /* 1..CF_ACME_BACKOFF_MAX_MS */
	cf_acme_failure last; /* of the last failed request; see acme.h */
	cf_acme_event_fn on_event;
	void *event_arg;
};

/* err->msg, or NULL when the caller passed no cf_err. */
static inline const char *acme_errmsg(const cf_err *err)
{
	return err ? err->msg : NULL;
}
void acme_sleep_ms(long ms);
void acme_emit(cf_acme_client *c, cf_acme_event_kind kind, const char *step,
	       const char *method, const char *url, long status, long duration_ms, bool ok,
	       const char *detail);
/* Emits the STEP event of a public call that began at t0 (cf_clock_mono_ms()). Returns rc. */
int acme_step_done(cf_acme_client *c, const char *step, const char *url, long long t0,
		   int rc, const cf_err *err, const char *detail);
/* Forgets the last failure: at the start of every call that sends requests. */
void acme_failure_reset(cf_acme_client *c);
/* Records an error response (status >= 400) as the client's last failure. */
void acme_failure_note(cf_acme_client *c, const acme_resp *r);
/* Takes the Replay-Nonce of a response, if any. */
void acme_take_nonce(cf_acme_client *c, acme_resp *r);
/* Makes sure a nonce is held (HEAD newNonce otherwise). */
int acme_ensure_nonce(cf_acme_client *c, cf_err *err);

/* ---- post.c ---- */
/* The one signed request of the client. payload: a JSON text, or NULL for
 * POST-as-GET. jwk_key: NULL signs with the account key and kid; otherwise signs
 * with jwk_key and embeds its JWK (newAccount, revocation by the certificate key).
 * Handles nonces, badNonce retries (within the client's bad_nonce_timeout_ms), and
 * the in-line backoff of reads on 5xx other than 503 and of connection failures
 * within the client's in-line wait budget; a 429 / rateLimited or 503 fails at
 * once, recorded as the client's last failure. On success
 * resp holds a response with status < 400. On -1 err is set (problem documents
 * kept) and resp holds the last response, if any. */
int acme_post(cf_acme_client *c, const char *step, const char *url, const char *payload,
	      const cf_key *jwk_key, const char *accept, acme_resp *resp, cf_err *err);
/* acme_post() whose 2xx response must be a JSON object; *obj is a new reference. */
int acme_post_json(cf_acme_client *c, const char *step, const char *url,
		   const char *payload, const cf_key *jwk_key, acme_resp *resp, json_t **obj,
		   cf_err *err);

/* ---- small helpers (client.c) ---- */
/* strdup of a JSON string member, NULL when absent or not a string. */
char *acme_json_strdup(const json_t *obj, const char *key);
/* The status member of an ACME object (CF_ACME_UNKNOWN when absent or unknown). */
cf_acme_status acme_json_status(const json_t *obj);
/* The "error" member of an object as compact JSON text (caller frees), NULL when
 * it has none (or memory ran out). */
char *acme_json_problem(const json_t *obj);
/* Copies the string array obj[key] into *out (malloc'd array of malloc'd strings). */
int acme_json_strarray(const json_t *obj, const char *key, char ***out, size_t *n);
void acme_strarray_free(char **v, size_t n);
/* The Retry-After of a response in ms, 0 when absent or unparsable. */
long acme_resp_retry_after_ms(const acme_resp *r);

/* ---- poll.c ---- */
/* How long to wait after poll read number `attempt` (0-based) given the server's
 * Retry-After (0 = none; it wins) and the client's first interval initial_ms
 * (doubling, capped at CF_ACME_BACKOFF_MAX_MS), never beyond the deadline; -1 once
 * the deadline has passed. */
long acme_poll_wait_ms(long retry_after_ms, long initial_ms, int attempt, time_t deadline);

/* One kind of object that is read by URL and polled (cf_acme_authz, cf_acme_order). */
typedef struct acme_object_kind {
	const char *step;      /* of a read, its wait events and the get call: "authz" */
	const char *poll_step; /* of the poll call: "pollAuthz" */
	unsigned busy;         /* (1u << status) for each status that keeps a poll going */
	unsigned final;        /* (1u << status) for each status the object never leaves */
	size_t url_at;         /* offsetof the object's char *url */
	size_t status_at;      /* offsetof the object's cf_acme_status status */
	size_t retry_after_at; /* offsetof its long retry_after_ms */
	void (*free)(void *obj);
	/* Fills obj (zeroed) from the object j read from url, response r. */
	int (*parse)(const char *url, const acme_resp *r, const json_t *j, void *obj,
		     cf_err *err);
	/* The verdict once obj left the busy statuses: 0, or -1 with err. */
	int (*settled)(const void *obj, cf_err *err);
	/* How messages name obj (read from url), e.g. "order <url>". */
	void (*name)(const void *obj, const char *url, char *out, size_t outlen);
} acme_object_kind;

/* POST-as-GET of url into obj (freed first; url must not point into it). */
int acme_object_read(cf_acme_client *c, const acme_object_kind *k, const char *url, void *obj,
		     cf_err *err);
/* The public get: acme_object_read() plus the STEP event k->step; url may point
 * into obj. */
int acme_object_get(cf_acme_client *c, const acme_object_kind *k, const char *url, void *obj,
		    cf_err *err);
/* The public poll: reads until obj leaves k->busy (then k->settled decides) or
 * the deadline passes ("<name> still <status> at the deadline", transient),
 * waiting by acme_poll_wait_ms() with a WAIT event before each sleep; the STEP
 * event k->poll_step. url may point into obj; obj holds the last state read.
 * When obj already holds the object at url in one of k->final (as the response
 * that changed it left it, e.g. a finalize answered "valid"), k->settled decides
 * at once: no read and no wait. */
int acme_object_poll(cf_acme_client *c, const acme_object_kind *k, const char *url,
		     time_t deadline, void *obj, cf_err *err);
/* A settled object's failure (permanent): from its problem document (JSON text,
 * may be NULL) as "<what>: <summary>", else the message fallback. Returns -1. */
int acme_settled_err(cf_err *err, const char *what, const char *problem, const char *fallback);

#endif
