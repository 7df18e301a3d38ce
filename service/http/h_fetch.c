/*
 * h_fetch.c: what hosts fetch: GET /v1/certificates/{id}/bundle (JSON: the
 * certificate, its chain, the full chain, the private key, validity, serial,
 * version) and .../fullchain.pem, chain.pem, cert.pem, privkey.pem.
 *
 * Policy, checked in this order:
 *  1. a host token sees only the certificates whose "hosts" name it; for any
 *     other (and for one that does not exist) it gets the same 404, so that
 *     existence is not revealed. An admin token sees every certificate.
 *  2. a certificate without an issued version: 404 (type not-issued).
 *  3. a current version revoked for keyCompromise is not served on any route:
 *     410 (type key-compromised) naming the revocation (version, reason, time),
 *     until a replacement version becomes current.
 *  4. the private key (bundle, privkey.pem) goes only over HTTPS, or to a client
 *     whose address is in CERTFLEET_LOCAL_ADDRESSES, or anywhere when
 *     CERTFLEET_ALLOW_PLAIN_KEYS=true: otherwise 403 (tls-required).
 *  5. an admin token gets the private key only when the certificate says
 *     "admin_keys": true: otherwise 403 (key-not-granted).
 *  6. each version has a strong ETag (SHA-256 of the full chain, stored with the
 *     version); If-None-Match with it gets 304 and no body.
 *
 * Everything comes from the fetch cache (cache.h): a poll that ends in 304 costs
 * the database nothing. The key stays sealed in the cache; it is opened per
 * request (AAD "certificate_versions:<id>:<version>", so a blob moved to another
 * row does not open: 500, never another certificate's key). Every answer that
 * carries it is decided by the database, not by the cache: the audit event
 * (certificate.fetch_key, with the token, the version and the client's address)
 * is written only when the token is live, the certificate grants the key to it,
 * and the version is current and not revoked for keyCompromise, all at that
 * moment (store/key_fetch.h). A refusal drops the cache entry that disagreed
 * (token: 401 at once; certificate: the fetch runs once more on a fresh entry,
 * which answers 404, 403 or 410); when the record cannot be written, the key is
 * not sent (503). Bodies that hold the key are built in one exact allocation (no
 * copies left behind by a growing buffer) and wiped when sent.
 */
#include "http/http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/revocation.h"
#include "api/validate.h"
#include "crypto/crypto.h"
#include "log.h"
#include "store/key_fetch.h"

typedef enum part { P_BUNDLE, P_FULLCHAIN, P_CHAIN, P_CERT, P_KEY } part;

static const struct {
	const char *name;
	bool key; /* carries the private key */
	const char *content_type;
} parts[] = {
	[P_BUNDLE] = { "bundle", true, "application/json" },
	[P_FULLCHAIN] = { "fullchain.pem", false, "application/pem-certificate-chain" },
	[P_CHAIN] = { "chain.pem", false, "application/pem-certificate-chain" },
	[P_CERT] = { "cert.pem", false, "application/pem-certificate-chain" },
	[P_KEY] = { "privkey.pem", true, "application/x-pem-file" },
};

/* Does the caller see certificate e at all? */
static bool visible(const cf_cached_cert *e, const cf_principal *who)
{
	if (!e->f.exists)
		return false;
	if (who->role == CF_ROLE_ADMIN)
		return true;
	for (size_t i = 0; who->role == CF_ROLE_HOST && i < e->f.nhosts; i++)
		if (strcmp(e->f.hosts[i], who->name) == 0)
			return true;
	return false;
}

/* The revocation reason that stops a version from being served. */
static int refused_reason(void)
{
	return cf_revocation_reason_code("keyCompromise", false);
}

/* Step 3: 1 (answered 410) when the current version is revoked for
 * keyCompromise. */
static int refuse_compromised(cf_http_resp *resp, const char *id, const cf_cert_fetch *f)
{
	const char *reason = cf_revocation_reason_name(f->revocation_reason);

	if (f->revoked_at[0] == '\0' || f->revocation_reason != refused_reason())
		return 0;
	cf_resp_problem_ext(resp, 410, "key-compromised",
			    json_pack("{s:{s:i, s:s, s:s}}", "revocation", "version", f->version,
				      "reason", reason, "revoked_at", f->revoked_at),
			    "version %d of certificate \"%s\" was revoked for %s at %s: it is not "
			    "served any more; a replacement version is served once it is issued",
			    f->version, id, reason, f->revoked_at);
	cf_resp_header(resp, "Cache-Control", "no-store");
	return 1;
}

/* Steps 4-5: 1 (answered 403) when the key may not go to this caller. */
static int refuse_key(const cf_app *app, const cf_http_req *req, cf_http_resp *resp,
		      const char *id, const cf_cached_cert *e)
{
	if (!req->tls && !req->local && !app->cfg->allow_plain_keys) {
		cf_resp_problem(resp, 403, "tls-required", NULL,
				"private keys are sent only over HTTPS: this request came over "
				"plain HTTP from %s, which is not a local address "
				"(CERTFLEET_LOCAL_ADDRESSES)", req->client_ip);
		return 1;
	}
	if (req->who.role == CF_ROLE_ADMIN && !e->f.admin_keys) {
		cf_resp_problem(resp, 403, "key-not-granted", NULL,
				"certificate \"%s\" does not grant its private key to admin tokens "
				"(\"admin_keys\": false); the hosts it lists in \"hosts\" may fetch "
				"it", id);
		return 1;
	}
	return 0;
}

/* Does If-None-Match name etag (weak comparison, RFC 9110 section 13.1.2)? */
static bool none_match_hits(const char *h, const char *etag)
{
	size_t elen = strlen(etag);

	while (h != NULL && *h != '\0') {
		size_t n;

		h += strspn(h, " \t,");
		if (*h == '*')
			return true;
		if (strncmp(h, "W/", 2) == 0)
			h += 2;
		n = strcspn(h, ",");
		while (n > 0 && (h[n - 1] == ' ' || h[n - 1] == '\t'))
			n--;
		if (n == elen && memcmp(h, etag, n) == 0)
			return true;
		h += strcspn(h, ",");
	}
	return false;
}

/* JSON-escapes s into out (when not NULL); returns the length written/needed. */
static size_t esc(char *out, const char *s)
{
	size_t n = 0;

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		char tmp[8];
		const char *rep = NULL;

		if (c == '"')
			rep = "\\\"";
		else if (c == '\\')
			rep = "\\\\";
		else if (c == '\n')
			rep = "\\n";
		else if (c == '\r')
			rep = "\\r";
		else if (c == '\t')
			rep = "\\t";
		else if (c < 0x20) {
			snprintf(tmp, sizeof(tmp), "\\u%04x", c);
			rep = tmp;
		}
		if (rep == NULL) {
			if (out)
				out[n] = (char)c;
			n++;
			continue;
		}
		if (out)
			memcpy(out + n, rep, strlen(rep));
		n += strlen(rep);
	}
	return n;
}

/* The bundle as JSON, in one allocation of exactly the size it needs (two
 * passes), so that no copy of the key is left in freed memory. */
static char *bundle_json(const char *id, const cf_cert_fetch *f, const char *key, size_t *len)
{
	char head[512];
	const char *strs[] = { "\",\"certificate\":\"", f->cert_pem, "\",\"chain\":\"",
			       f->chain_pem, "\",\"fullchain\":\"", f->cert_pem, f->chain_pem,
			       "\",\"private_key\":\"", key, "\"}" };
	const bool raw[] = { true, false, true, false, true, false, false, true, false, true };
	size_t total, n = 0;
	char *out;

	n = (size_t)snprintf(head, sizeof(head),
			     "{\"id\":\"%s\",\"version\":%d,\"serial\":\"%s\",\"not_before\":\"%s\","
			     "\"not_after\":\"%s", id, f->version, f->serial, f->not_before,
			     f->not_after);
	total = n;
	for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
		total += raw[i] ? strlen(strs[i]) : esc(NULL, strs[i]);
	if ((out = malloc(total + 1)) == NULL)
		return NULL;
	memcpy(out, head, n);
	for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
		if (raw[i]) {
			memcpy(out + n, strs[i], strlen(strs[i]));
			n += strlen(strs[i]);
		} else {
			n += esc(out + n, strs[i]);
		}
	}
	out[n] = '\0';
	*len = n;
	return out;
}

/* What the database said of a key fetch. */
typedef enum recorded {
	REC_GRANTED,  /* recorded: send the key */
	REC_ANSWERED, /* refused: resp holds the answer */
	REC_RELOAD,   /* the certificate's entry disagreed with the database */
} recorded;

/* The 401 of a token that the database refuses (api.c's words). */
static void token_refused(cf_http_resp *resp, cf_key_verdict v)
{
	cf_resp_problem(resp, 401, "unauthorized", NULL, "%s",
			v == CF_KEY_TOKEN_REVOKED ? "the token has been revoked"
			: v == CF_KEY_TOKEN_EXPIRED ? "the token has expired"
						    : "the token is not valid");
	cf_resp_header(resp, "WWW-Authenticate",
		       "Bearer realm=\"certfleet\", error=\"invalid_token\"");
}

/* Records the key fetch on a connection of the pool (committed at once), on the
 * condition that the database grants it now (store/key_fetch.h). A refusal drops
 * the cache entry that disagreed. */
static recorded record_key(cf_app *app, cf_http_req *req, cf_http_resp *resp, const char *id,
			   const cf_cert_fetch *f, part p)
{
	json_t *detail = json_pack("{s:i, s:s, s:s, s:b}", "version", f->version, "token",
				   req->who.token_id, "via", parts[p].name, "tls", req->tls);
	char *d = detail ? json_dumps(detail, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	cf_key_fetch kf = { .token_id = req->who.token_id, .certificate_id = id,
			    .version = f->version, .refused_reason = refused_reason(),
			    .address = req->client_ip, .detail = d };
	cf_key_verdict v = CF_KEY__MAX;
	recorded rc = REC_ANSWERED;
	cf_err err = { 0 };
	PGconn *db = NULL;

	if (d == NULL) {
		cf_err_oom(&err, NULL);
		goto fail;
	}
	if ((db = cf_db_acquire(app->pool, &err)) == NULL)
		goto fail;
	if (cf_key_fetch_record(db, &kf, &v, &err) != 0)
		goto fail;
	if (v == CF_KEY_GRANTED) {
		rc = REC_GRANTED;
		goto out;
	}
	cf_log(CF_LOG_INFO, "fetch.key_refused", "certificate %s version %d, token %s: %s "
	       "(the database's verdict)", id, f->version, req->who.token_id,
	       cf_key_verdict_name(v));
	if (v == CF_KEY_TOKEN_UNKNOWN || v == CF_KEY_TOKEN_REVOKED || v == CF_KEY_TOKEN_EXPIRED) {
		cf_cache_invalidate(req->cache, CF_CACHE_TOKEN, req->who.token_id);
		token_refused(resp, v);
	} else {
		cf_cache_invalidate(req->cache, CF_CACHE_CERT, id);
		rc = REC_RELOAD;
	}
	goto out;
fail:
	cf_log(CF_LOG_ERROR, "fetch.audit_failed", "certificate %s: %s", id, err.msg);
	cf_resp_problem(resp, 503, "database-unavailable", NULL,
			"the key fetch could not be recorded in the audit trail, so the key was "
			"not sent; try again");
out:
	cf_db_release(app->pool, db, cf_db_lost(db));
	free(d);
	json_decref(detail);
	cf_err_clear(&err);
	return rc;
}

/* The body of part p into resp (200). key: the opened private key, or NULL. */
static int body(cf_http_resp *resp, const char *id, const cf_cert_fetch *f, part p,
		const char *key)
{
	size_t len = 0;
	char *b = NULL;

	if (p == P_BUNDLE) {
		b = bundle_json(id, f, key, &len);
	} else {
		const char *a = p == P_CHAIN ? "" : p == P_KEY ? key : f->cert_pem;
		const char *z = p == P_CHAIN || p == P_FULLCHAIN ? f->chain_pem : "";

		len = strlen(a) + strlen(z);
		if ((b = malloc(len + 1)) != NULL) {
			memcpy(b, a, strlen(a));
			memcpy(b + strlen(a), z, strlen(z) + 1);
		}
	}
	if (b == NULL)
		return -1;
	cf_resp_empty(resp, 200);
	resp->body = b;
	resp->len = len;
	resp->secret = parts[p].key;
	resp->content_type = parts[p].content_type;
	return 0;
}

/* Opens the sealed key of f into key; a failure is logged and answered 500. */
static int open_key(cf_app *app, cf_http_resp *resp, const char *id, const cf_cert_fetch *f,
		    cf_buf *key)
{
	char aad[160];
	cf_err err = { 0 };
	int rc = 0;

	snprintf(aad, sizeof(aad), "certificate_versions:%s:%d", id, f->version);
	/* a cf_buf is NUL-terminated: the key is a C string */
	if (cf_unseal(app->master_key, aad, f->key_sealed, f->key_sealed_len, key, &err) != 0) {
		cf_log(CF_LOG_ERROR, "fetch.key_unreadable", "certificate %s version %d: %s", id,
		       f->version, err.msg);
		cf_resp_problem(resp, 500, "key-unreadable", NULL,
				"the private key of certificate \"%s\" version %d does not open "
				"with this master key (it belongs to another row, or the key is "
				"wrong); nothing was sent", id, f->version);
		rc = -1;
	}
	cf_err_clear(&err);
	return rc;
}

/* One pass over the policy and the answer; REC_RELOAD when the database
 * refused the key on grounds that the cache entry did not show (it was
 * dropped: the caller runs the fetch again). */
static recorded fetch_once(cf_app *app, cf_http_req *req, cf_http_resp *resp, part p)
{
	const char *id = req->params[0];
	const cf_cached_cert *e = NULL;
	const cf_cert_fetch *f;
	recorded rc = REC_ANSWERED;
	cf_buf key = { 0 };
	cf_err err = { 0 };

	if (cf_valid_slug(id) && cf_cache_cert(req->cache, id, &e, &err) != 0) {
		cf_log(CF_LOG_ERROR, "http.store_error", "%s %s: %s", req->method, req->path,
		       err.msg);
		cf_resp_problem(resp, 503, "database-unavailable", NULL,
				"the certificate could not be read: the database is unreachable");
		goto out;
	}
	if (e == NULL || !visible(e, &req->who)) {
		cf_resp_problem(resp, 404, "not-found", NULL, "no certificate called \"%.80s\"", id);
		goto out;
	}
	f = &e->f;
	if (f->version == 0) {
		cf_resp_problem(resp, 404, "not-issued", NULL,
				"certificate \"%s\" has no issued version yet", id);
		goto out;
	}
	if (refuse_compromised(resp, id, f))
		goto out;
	if (parts[p].key && refuse_key(app, req, resp, id, e))
		goto out;
	if (none_match_hits(cf_req_header(req, "If-None-Match"), f->etag)) {
		cf_resp_empty(resp, 304);
	} else {
		if (parts[p].key && open_key(app, resp, id, f, &key) != 0)
			goto out;
		if (parts[p].key && strcmp(req->method, "GET") == 0 &&
		    (rc = record_key(app, req, resp, id, f, p)) != REC_GRANTED)
			goto out;
		rc = REC_ANSWERED;
		if (body(resp, id, f, p, (const char *)key.data) != 0) {
			cf_resp_problem(resp, 500, "internal", NULL, "out of memory");
			goto out;
		}
	}
	cf_resp_header(resp, "ETag", f->etag);
	cf_resp_header(resp, "Cache-Control", parts[p].key ? "no-store" : "no-cache");
out:
	cf_buf_free_secret(&key);
	cf_cache_cert_release(e);
	cf_err_clear(&err);
	return rc;
}

/* The fetch, run a second time on a fresh entry when the database refused the
 * key on grounds the cached one did not show. */
static int fetch(cf_app *app, cf_http_req *req, cf_http_resp *resp, part p)
{
	if (fetch_once(app, req, resp, p) == REC_RELOAD &&
	    fetch_once(app, req, resp, p) == REC_RELOAD)
		cf_resp_problem(resp, 503, "changed", NULL,
				"certificate \"%s\" changed while it was fetched; try again",
				req->params[0]);
	return 0;
}

int cf_h_fetch_bundle(cf_app *app, cf_http_req *req, cf_http_resp *resp)
{
	return fetch(app, req, resp, P_BUNDLE);
}

int cf_h_fetch_fullchain(cf_app *app, cf_http_req *req, cf_http_resp *resp)
{
	return fetch(app, req, resp, P_FULLCHAIN);
}

int cf_h_fetch_chain(cf_app *app, cf_http_req *req, cf_http_resp *resp)
{
	return fetch(app, req, resp, P_CHAIN);
}

int cf_h_fetch_cert(cf_app *app, cf_http_req *req, cf_http_resp *resp)
{
	return fetch(app, req, resp, P_CERT);
}

int cf_h_fetch_key(cf_app *app, cf_http_req *req, cf_http_resp *resp)
{
	return fetch(app, req, resp, P_KEY);
}
