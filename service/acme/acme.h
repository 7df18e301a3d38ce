/*
 * acme.h: the RFC 8555 (ACME) client of certfleet, on libcurl and the crypto facade.
 *
 * Files: http.c (libcurl transport: timeouts, body cap, header capture),
 * client.c (client object, directory, nonces, events), post.c (acme_post(): the one
 * place that signs requests and handles badNonce, Retry-After and backoff), jws.c
 * (protected headers, EAB, the keyChange inner JWS), problem.c (problem documents ->
 * cf_err), retry_after.c and link.c (header parsers), account.c, order.c, authz.c,
 * challenge.c (key authorization, dns-01 TXT value), cert.c (download with
 * alternate chains, revocation), poll.c (waiting with Retry-After / backoff).
 *
 * Resumable by design: every object is addressed by its URL, and every call reads
 * or changes one object with one request (the poll functions repeat one read). A
 * persisted worker state machine stores URLs (account, order, authorizations,
 * challenges, certificate) and can resume any step in a new process with a new
 * client: cf_acme_order_get() / cf_acme_authz_get() re-read the state; each result
 * carries the server's Retry-After (retry_after_ms) so a worker can re-queue
 * with a delay instead of sleeping in a thread.
 *
 * Threads: curl_global_init() must run once per program before any client is
 * made: call cf_acme_global_init() from main(). A client object (one CURL easy
 * handle, one nonce, one account) is used by ONE thread at a time; make one client
 * per worker thread. Different clients are independent.
 *
 * Errors: functions return 0 / -1 and fill a cf_err. CA problem documents
 * (application/problem+json, subproblems included) are kept verbatim in
 * err->problem and summarised in err->msg. Transient (worth retrying later):
 * timeouts, connection failures, 5xx, rateLimited, badNonce after the retries ran
 * out, a poll that reached its deadline. A 429 or 503 is never retried in-line:
 * cf_acme_client_last_failure() tells the caller what the CA said and when to
 * come back. Permanent: everything else (unauthorized,
 * rejectedIdentifier, malformed, caa, dns, an invalid authorization or order...).
 *
 * Ownership: every struct filled by a function here owns its strings and is
 * released with its _free() function (safe on a zeroed struct, and on a struct
 * that a failed call left partly filled). An out parameter must be zeroed or hold
 * an earlier result of the same type: it is freed first, so a persisted state can
 * be refreshed in place, e.g. cf_acme_order_poll(c, o.url, dl, &o, err) (the URL
 * argument may point into out). Pointers passed in are borrowed for the duration
 * of the call unless stated otherwise.
 */
#ifndef CERTFLEET_ACME_H
#define CERTFLEET_ACME_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "crypto/crypto.h"
#include "util/err.h"

/* ---- library setup ---- */
/* Calls curl_global_init() once; call from main() before threads start. */
CF_MUST_CHECK int cf_acme_global_init(cf_err *err);
void cf_acme_global_cleanup(void);

/* ---- status of ACME objects (RFC 8555 section 7.1.6) ---- */
typedef enum cf_acme_status {
	CF_ACME_UNKNOWN = 0,
	CF_ACME_PENDING,
	CF_ACME_READY,
	CF_ACME_PROCESSING,
	CF_ACME_VALID,
	CF_ACME_INVALID,
	CF_ACME_DEACTIVATED,
	CF_ACME_EXPIRED,
	CF_ACME_REVOKED,
} cf_acme_status;

/* "pending" ... "revoked"; "unknown" for CF_ACME_UNKNOWN. Static strings. */
const char *cf_acme_status_name(cf_acme_status s);
cf_acme_status cf_acme_status_parse(const char *s);

/* ---- events: one per HTTP request, per wait, and per finished call ---- */
typedef enum cf_acme_event_kind {
	CF_ACME_EV_HTTP = 1, /* one HTTP exchange finished (or failed to) */
	CF_ACME_EV_WAIT,     /* about to sleep: duration_ms is the planned wait */
	CF_ACME_EV_STEP,     /* a public cf_acme_* call finished: its whole duration */
} cf_acme_event_kind;

typedef struct cf_acme_event {
	cf_acme_event_kind kind;
	const char *step;   /* "directory", "newNonce", "newAccount", "newOrder",
			       "authz", "challenge", "finalize", "order", "cert",
			       "revokeCert", "keyChange", "deactivate"; STEP events of
			       the poll functions: "pollAuthz", "pollOrder" */
	const char *method; /* HTTP: "GET" "HEAD" "POST"; otherwise NULL */
	const char *url;    /* the object's URL, or NULL */
	long http_status;   /* HTTP: the status, 0 when no response arrived */
	long duration_ms;
	bool ok;            /* HTTP: status < 400; STEP: the call returned 0 */
	const char *detail; /* problem type, wait reason, object status or error
			       message (never a secret), or NULL */
} cf_acme_event;

/* Called synchronously on the client's thread; the event and its strings live
 * only for the duration of the call. */
typedef void (*cf_acme_event_fn)(const cf_acme_event *ev, void *arg);

/* ---- the client ---- */
typedef struct cf_acme_client cf_acme_client;

typedef struct cf_acme_options {
	const char *directory_url; /* required, https:// */
	const char *ca_file;       /* PEM bundle for the CA's own TLS; NULL = system */
	long connect_timeout_ms;   /* per request; 0 = 10 s */
	long timeout_ms;           /* per request, total; 0 = 30 s */
	size_t max_body;           /* response body cap; 0 = 1 MiB */
	/* badNonce is retried at once with the nonce of the error response, for as
	 * long as one request's badNonce retries stay within this total time: a CA
	 * that rejects many nonces (Pebble's PEBBLE_WFE_NONCEREJECT) costs retries,
	 * never a failed call. 0 = 30 s; the call then fails (transient). */
	long bad_nonce_timeout_ms;
	int bad_nonce_retries;     /* an extra cap on their count; 0 = none (time only) */
	/* A 429 (rateLimited) or 503 answer is never sent again by the client: the
	 * call fails at once (transient) and cf_acme_client_last_failure() carries
	 * the CA's Retry-After, so that the caller pauses the whole issuer instead
	 * of one thread hammering it. Other failures of POST-as-GET reads (any other
	 * 5xx, a transport failure) and connection failures before a request was
	 * sent are retried in-line after a backoff of 250 ms doubling (or the
	 * server's Retry-After), at most 4 times and while the sum of the waits
	 * stays within this; 0 = 10 s; -1 = never wait in-line. */
	long max_inline_wait_ms;
	/* The first wait of cf_acme_authz_poll() and cf_acme_order_poll() when the
	 * CA sends no Retry-After (a Retry-After always wins); it doubles after each
	 * read, capped at 5 s. 0 = 50 ms: a CA that answers in milliseconds (Pebble
	 * finalizes at once) is not made to wait a fixed 250 ms per certificate, and
	 * a slow one reaches the 5 s cap after 7 reads. Values above 5000 are 5000. */
	long poll_initial_ms;
	cf_acme_event_fn on_event; /* may be NULL */
	void *event_arg;
} cf_acme_options;

/* Makes a client. account_key (required) is BORROWED: it must outlive the client
 * (or be replaced with cf_acme_client_set_key()). No network traffic happens here;
 * the directory is fetched on first use. Free with cf_acme_client_free(). */
cf_acme_client *cf_acme_client_new(const cf_acme_options *opts, const cf_key *account_key,
				   cf_err *err);
void cf_acme_client_free(cf_acme_client *c);
/* Replaces the (borrowed) account key, e.g. after a key rollover. */
void cf_acme_client_set_key(cf_acme_client *c, const cf_key *account_key);
/* Sets the account URL ("kid") used to sign every request except newAccount;
 * copied. cf_acme_account_register() sets it too. */
CF_MUST_CHECK int cf_acme_client_set_account(cf_acme_client *c, const char *kid, cf_err *err);
/* The current account URL, or NULL; owned by the client. */
const char *cf_acme_client_account(const cf_acme_client *c);
/* The Retry-After (ms, capped) of the last failed request, 0 when it had none:
 * how long to wait before re-queueing a job after a transient failure. */
long cf_acme_client_retry_after_ms(const cf_acme_client *c);

/* What the last failed request of the client's last call got from the CA: how a
 * caller tells a rate limit (pause the issuer until retry_after_s) from an
 * overloaded CA (503: pause with backoff) from anything else. Reset at the start
 * of every call that sends a request; all zero when the last call failed
 * without a response or did not fail. */
typedef struct cf_acme_failure {
	long http_status;    /* 0 when no response arrived */
	bool rate_limited;   /* problem type rateLimited, or HTTP 429 */
	bool unavailable;    /* HTTP 503 */
	long retry_after_ms; /* the response's Retry-After, 0 when none (capped 1 day) */
	long retry_after_s;  /* the same in seconds, rounded up */
	char problem_type[128]; /* the problem document's type (full URN), or "" */
} cf_acme_failure;
void cf_acme_client_last_failure(const cf_acme_client *c, cf_acme_failure *out);

typedef struct cf_acme_directory {
	char *new_nonce, *new_account, *new_order, *revoke_cert, *key_change;
	char *new_authz;     /* NULL when the CA has no pre-authorization */
	char *renewal_info;  /* ARI, NULL when absent */
	char *terms_of_service, *website; /* meta, NULL when absent */
	bool external_account_required;
	/* meta.profiles (draft-ietf-acme-profiles): name -> description, in the
	 * directory's order; both arrays nprofiles long, NULL when none. */
	char **profile_names;
	char **profile_descriptions;
	size_t nprofiles;
} cf_acme_directory;

/* Fetches the directory if not yet done. *out points into the client (valid until
 * cf_acme_client_free()). */
CF_MUST_CHECK int cf_acme_client_directory(cf_acme_client *c, const cf_acme_directory **out, cf_err *err);
/* The description of the profile `name` the directory offers (owned by d), or
 * NULL when it offers no such profile. */
const char *cf_acme_directory_profile(const cf_acme_directory *d, const char *name);
/* Checks that the directory offers profile `name`: 0 when it does, or when name
 * is NULL or "" (no profile asked for); otherwise -1 with a permanent error that
 * lists the profiles offered ("profile \"x\" is not offered by the CA (offered:
 * classic, tlsserver)"), or says the CA offers none. */
CF_MUST_CHECK int cf_acme_directory_check_profile(const cf_acme_directory *d, const char *name, cf_err *err);

/* ---- accounts (RFC 8555 section 7.3) ---- */
typedef struct cf_acme_account_req {
	const char *const *contacts; /* "mailto:a@b" (a bare address gets "mailto:") */
	size_t ncontacts;
	bool terms_agreed;         /* termsOfServiceAgreed */
	bool only_return_existing; /* find only: fails with accountDoesNotExist */
	const char *eab_kid;       /* External Account Binding, both or neither */
	const char *eab_hmac_key;  /* base64url MAC key as the CA hands it out */
} cf_acme_account_req;

typedef struct cf_acme_account {
	char *url;         /* the account URL (kid) */
	cf_acme_status status;
	bool created;      /* true: 201, a new account; false: it already existed */
	char *orders_url;  /* may be NULL */
	char *json;        /* the account object as received */
} cf_acme_account;

/* newAccount signed with the client's key (jwk). On success out is filled and the
 * client's account URL is set. At a CA whose directory says externalAccountRequired,
 * a request without EAB is sent as a look-up (onlyReturnExisting): it returns the
 * key's account (made earlier with EAB), else fails saying EAB is required. */
CF_MUST_CHECK int cf_acme_account_register(cf_acme_client *c, const cf_acme_account_req *req,
			     cf_acme_account *out, cf_err *err);
/* Key rollover (section 7.3.5): the inner JWS is signed by new_key, the outer by
 * the current key. On success the client switches to new_key (borrowed, as in
 * cf_acme_client_set_key()); on failure it keeps the old key. Needs an account URL. */
CF_MUST_CHECK int cf_acme_account_key_change(cf_acme_client *c, const cf_key *new_key, cf_err *err);
void cf_acme_account_free(cf_acme_account *a);

/* ---- orders (section 7.4) ---- */
typedef struct cf_acme_order {
	char *url;              /* the order URL */
	cf_acme_status status;
	char *expires;          /* RFC 3339 text, or NULL */
	char **identifiers;     /* dns identifier values, in the CA's order */
	size_t nidentifiers;
	char **authz_urls;
	size_t nauthz;
	char *finalize_url;
	char *cert_url;         /* NULL until the order is valid */
	char *problem;          /* the order's "error" as JSON text, or NULL */
	char *profile;          /* the order's "profile" as the CA echoes it, or NULL */
	long retry_after_ms;    /* from the response, 0 when none */
} cf_acme_order;

/* What newOrder sends besides the identifiers; a zeroed struct sends nothing. */
typedef struct cf_acme_order_opts {
	/* RFC 9773 section 5: the ARI certID of the certificate this order replaces
	 * (see cf_cert_ari_id()); send it only to a CA whose directory has
	 * renewalInfo. NULL or "": none. */
	const char *replaces;
	/* draft-ietf-acme-profiles: a profile the directory offers (check it with
	 * cf_acme_directory_check_profile() first). NULL or "": none. */
	const char *profile;
} cf_acme_order_opts;

/* newOrder for dns identifiers (wildcards as "*.example.com"). */
CF_MUST_CHECK int cf_acme_order_new(cf_acme_client *c, const char *const *names, size_t n,
		      cf_acme_order *out, cf_err *err);
/* The same, naming the certificate this order replaces (RFC 9773 section 5: the
 * ARI certID of the old certificate, see cf_cert_ari_id()); NULL or "" sends no
 * "replaces". Send it only to a CA whose directory has renewalInfo. */
CF_MUST_CHECK int cf_acme_order_new_replacing(cf_acme_client *c, const char *const *names, size_t n,
				const char *replaces, cf_acme_order *out, cf_err *err);
/* The same with every option: opts may be NULL (as a zeroed struct). */
CF_MUST_CHECK int cf_acme_order_new_opts(cf_acme_client *c, const char *const *names, size_t n,
			   const cf_acme_order_opts *opts, cf_acme_order *out, cf_err *err);
/* Re-reads an order (POST-as-GET). */
CF_MUST_CHECK int cf_acme_order_get(cf_acme_client *c, const char *url, cf_acme_order *out, cf_err *err);
/* Polls the order until it leaves pending/processing or the wall-clock deadline
 * passes, waiting per Retry-After or poll_initial_ms (50 ms) doubling to 5 s. The
 * first read is immediate; there is none when out already holds this order (same
 * URL) as valid or invalid, as cf_acme_order_finalize() leaves it when the CA
 * finalized at once: then its verdict comes without a request. When out holds it
 * processing (or pending) with a Retry-After, as a finalize answered "processing"
 * with Retry-After leaves it, that wait comes before the first read. Returns 0 for
 * ready or valid; -1 for invalid (permanent, the order's problem in err) or deadline
 * (transient). out holds the last state read, also on -1. */
CF_MUST_CHECK int cf_acme_order_poll(cf_acme_client *c, const char *url, time_t deadline,
		       cf_acme_order *out, cf_err *err);
/* Sends the CSR (DER) to order->finalize_url; out gets the order as returned
 * (usually processing or valid). out may be the same struct as order. */
CF_MUST_CHECK int cf_acme_order_finalize(cf_acme_client *c, const cf_acme_order *order,
			   const void *csr_der, size_t len, cf_acme_order *out,
			   cf_err *err);
void cf_acme_order_free(cf_acme_order *o);

/* ---- authorizations and dns-01 (sections 7.5, 8.4) ---- */
typedef struct cf_acme_authz {
	char *url;
	char *identifier;        /* dns value as the CA has it (no "*." for wildcards) */
	bool wildcard;
	cf_acme_status status;
	char *expires;           /* or NULL */
	/* the dns-01 challenge; all NULL/UNKNOWN when the CA offered none (allowed
	 * only when the authorization is no longer pending: get fails otherwise) */
	char *chall_url;
	char *chall_token;
	cf_acme_status chall_status;
	char *problem;           /* the dns-01 challenge's "error" as JSON, or NULL */
	long retry_after_ms;     /* from the response, 0 when none */
} cf_acme_authz;

CF_MUST_CHECK int cf_acme_authz_get(cf_acme_client *c, const char *url, cf_acme_authz *out, cf_err *err);
/* Polls until the authorization leaves pending or the deadline passes, waiting as
 * cf_acme_order_poll() does (no read when out already holds it as valid or
 * invalid). Returns 0
 * for valid; -1 for any other final status (permanent; the challenge's problem in
 * err) or the deadline (transient). out holds the last state read, also on -1. */
CF_MUST_CHECK int cf_acme_authz_poll(cf_acme_client *c, const char *url, time_t deadline,
		       cf_acme_authz *out, cf_err *err);
/* Releases an authorization of a failed or abandoned order: reads it first and
 * POSTs {"status":"deactivated"} only when it is pending or valid (a CA such as
 * Let's Encrypt refuses to deactivate the others). Returns 0 when it was
 * deactivated or needed nothing (already invalid, deactivated, expired...), -1
 * on error. Same as cf_acme_authz_release(c, url, CF_ACME_UNKNOWN, NULL, err). */
CF_MUST_CHECK int cf_acme_authz_deactivate(cf_acme_client *c, const char *url, cf_err *err);
/* The same with what the caller knows: known is the authorization's status when
 * the caller just read it (then it is not read again), CF_ACME_UNKNOWN to read
 * it. *deactivated (may be NULL) says whether a deactivation was sent and
 * accepted. */
CF_MUST_CHECK int cf_acme_authz_release(cf_acme_client *c, const char *url, cf_acme_status known,
			  bool *deactivated, cf_err *err);
/* Tells the CA to validate: POST {} to the challenge URL. *status (may be NULL)
 * gets the challenge's status from the response. */
CF_MUST_CHECK int cf_acme_challenge_respond(cf_acme_client *c, const char *url, cf_acme_status *status,
			      cf_err *err);
void cf_acme_authz_free(cf_acme_authz *a);

/* keyAuthorization = token "." base64url(JWK thumbprint of key) (section 8.1).
 * The token must be non-empty base64url. Caller frees. */
char *cf_acme_key_authorization(const cf_key *key, const char *token, cf_err *err);
/* The dns-01 TXT value: base64url(SHA-256(key_authorization)), 43 characters.
 * Caller frees. NULL on allocation failure. */
char *cf_acme_dns01_txt(const char *key_authorization);

/* ---- certificates (sections 7.4.2, 7.6) ---- */
typedef struct cf_acme_cert {
	char *fullchain;   /* the chosen chain as downloaded: leaf first, PEM */
	char *leaf;        /* the first certificate, PEM */
	char *chain;       /* the rest, PEM; "" when none */
	char *top_issuer;  /* issuer CN of the chain's last certificate */
	char *url;         /* the URL the chosen chain came from */
	size_t nalternates; /* alternate chains the CA offered */
	cf_cert_info leaf_info; /* the leaf's fields, read with the chain */
	cf_key *leaf_key;   /* the leaf's public key (cf_key_same_public) */
} cf_acme_cert;

/* Downloads the certificate chain. With preferred_issuer (may be NULL or ""), the
 * default chain and then each alternate (Link rel="alternate") is checked and the
 * first whose top issuer CN equals it is returned; when none does, the default.
 * Every download must be CERTIFICATE blocks only (section 11.4). */
CF_MUST_CHECK int cf_acme_cert_download(cf_acme_client *c, const char *url, const char *preferred_issuer,
			  cf_acme_cert *out, cf_err *err);
void cf_acme_cert_free(cf_acme_cert *cert);

/* ---- renewal information (RFC 9773, ARI) ---- */
typedef struct cf_acme_renewal_info {
	time_t start, end;      /* the suggested window (start < end) */
	char *explanation_url;  /* explanationURL, or NULL */
	long retry_after_ms;    /* the response's Retry-After, 0 when it had none */
} cf_acme_renewal_info;

/* 1 when the CA's directory offers renewalInfo, 0 when not, -1 on error. */
CF_MUST_CHECK int cf_acme_ari_offered(cf_acme_client *c, cf_err *err);
/* GET <renewalInfo>/<cert_id> (a plain GET, not signed). out is freed first. */
CF_MUST_CHECK int cf_acme_renewal_info_get(cf_acme_client *c, const char *cert_id,
			     cf_acme_renewal_info *out, cf_err *err);
/* Parses a renewalInfo body: {"suggestedWindow": {"start","end"}, "explanationURL"?}
 * with RFC 3339 times; the window must be non-empty (start < end). Pure; for tests. */
CF_MUST_CHECK int cf_acme_renewal_info_parse(const char *body, size_t len, cf_acme_renewal_info *out,
			       cf_err *err);
void cf_acme_renewal_info_free(cf_acme_renewal_info *ri);
/* RFC 3339 date-time ("2025-01-02T04:00:00Z", fractions and offsets allowed) ->
 * seconds since the epoch. Returns 0 / -1. */
CF_MUST_CHECK int cf_acme_rfc3339_parse(const char *s, time_t *out);

/* RFC 5280 reason codes accepted by revokeCert; -1 omits the reason. */
#define CF_ACME_REASON_NONE (-1)
/* Revokes the first certificate of cert_pem. cert_key NULL: signed by the account
 * key with kid; otherwise signed by the certificate's own key with its jwk. */
CF_MUST_CHECK int cf_acme_cert_revoke(cf_acme_client *c, const char *cert_pem, size_t len, int reason,
			const cf_key *cert_key, cf_err *err);

#endif
