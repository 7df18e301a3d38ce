/*
 * jws.c: the JSON Web Signatures of ACME (RFC 8555 section 6.2). Protected headers
 * carry {alg, nonce, url} and either the account URL (kid) or the public key (jwk,
 * for newAccount and revocation by the certificate's key), never both. The
 * signature itself is the crypto facade's (cf_jws_flatten); here live the header
 * shapes, the External Account Binding (an HS256 JWS over the account's JWK, keyed
 * with the CA-issued MAC key, section 7.3.4) and the inner JWS of a key rollover
 * (signed by the NEW key, no nonce, section 7.3.5).
 */
#include "acme/acme_int.h"

#include <stdlib.h>
#include <string.h>

#include "util/b64.h"

json_t *cf_acme_jws_protected(const char *alg, const char *nonce, const char *url,
			      const char *kid, const json_t *jwk)
{
	json_t *h = json_object();
	int bad = h == NULL || alg == NULL || url == NULL || (kid == NULL && jwk == NULL);

	if (!bad)
		bad |= json_object_set_new(h, "alg", json_string(alg));
	if (!bad && nonce != NULL)
		bad |= json_object_set_new(h, "nonce", json_string(nonce));
	if (!bad)
		bad |= json_object_set_new(h, "url", json_string(url));
	if (!bad && kid != NULL)
		bad |= json_object_set_new(h, "kid", json_string(kid));
	else if (!bad)
		bad |= json_object_set_new(h, "jwk", json_deep_copy(jwk));
	if (bad) {
		json_decref(h);
		return NULL;
	}
	return h;
}

char *acme_jws_sign(const cf_key *key, const char *nonce, const char *url, const char *kid,
		    const char *payload, cf_err *err)
{
	const char *alg = cf_jws_alg(key);
	json_t *jwk = NULL, *hdr = NULL;
	char *out = NULL;

	if (alg == NULL) {
		cf_err_set(err, CF_ERR_PERMANENT, "JWS: unsupported key type");
		goto out;
	}
	if (kid == NULL && (jwk = cf_jwk_public(key, err)) == NULL)
		goto out;
	if ((hdr = cf_acme_jws_protected(alg, nonce, url, kid, jwk)) == NULL) {
		cf_err_set(err, CF_ERR_PERMANENT, "JWS: cannot build the protected header");
		goto out;
	}
	out = cf_jws_flatten(key, hdr, payload, err);
out:
	json_decref(jwk);
	json_decref(hdr);
	return out;
}

/* base64url of a compact JSON serialisation. */
static char *b64_json(const json_t *j)
{
	char *text = json_dumps(j, JSON_COMPACT), *out = NULL;

	if (text != NULL)
		out = cf_b64url_encode(text, strlen(text));
	free(text);
	return out;
}

/* Signs "<h>.<p>" with HMAC-SHA256 under the decoded MAC key; base64url result. */
static char *eab_mac(const char *hmac_key_b64url, const char *h, const char *p, cf_err *err)
{
	uint8_t *key = NULL, mac[32];
	size_t klen = 0;
	cf_buf input = {0};
	char *out = NULL;

	key = cf_b64url_decode(hmac_key_b64url, &klen);
	if (key == NULL || klen == 0) {
		cf_err_set(err, CF_ERR_PERMANENT, "EAB: the HMAC key is not base64url");
		goto out;
	}
	if (cf_buf_printf(&input, "%s.%s", h, p) != 0 ||
	    cf_hmac_sha256(key, klen, input.data, input.len, mac) != 0) {
		cf_err_set(err, CF_ERR_PERMANENT, "EAB: HMAC-SHA256 failed");
		goto out;
	}
	if ((out = cf_b64url_encode(mac, sizeof(mac))) == NULL)
		cf_err_oom(err, "EAB");
out:
	if (key != NULL)
		explicit_bzero(key, klen);
	free(key);
	explicit_bzero(mac, sizeof(mac));
	cf_buf_free(&input);
	return out;
}

json_t *cf_acme_eab_jws(const char *eab_kid, const char *hmac_key_b64url, const char *url,
			const json_t *account_jwk, cf_err *err)
{
	json_t *hdr = NULL, *out = NULL;
	char *h = NULL, *p = NULL, *sig = NULL;

	hdr = json_pack("{s:s, s:s, s:s}", "alg", "HS256", "kid", eab_kid, "url", url);
	if (hdr == NULL || (h = b64_json(hdr)) == NULL || (p = b64_json(account_jwk)) == NULL) {
		cf_err_set(err, CF_ERR_PERMANENT, "EAB: cannot encode the binding");
		goto out;
	}
	if ((sig = eab_mac(hmac_key_b64url, h, p, err)) == NULL)
		goto out;
	out = json_pack("{s:s, s:s, s:s}", "protected", h, "payload", p, "signature", sig);
	if (out == NULL)
		cf_err_oom(err, "EAB");
out:
	json_decref(hdr);
	free(h);
	free(p);
	free(sig);
	return out;
}

char *acme_key_change_inner(const cf_key *new_key, const cf_key *old_key, const char *url,
			    const char *account_url, cf_err *err)
{
	json_t *old_jwk = NULL, *payload = NULL;
	char *text = NULL, *out = NULL;

	if ((old_jwk = cf_jwk_public(old_key, err)) == NULL)
		goto out;
	payload = json_pack("{s:s, s:O}", "account", account_url, "oldKey", old_jwk);
	if (payload == NULL || (text = json_dumps(payload, JSON_COMPACT)) == NULL) {
		cf_err_set(err, CF_ERR_PERMANENT, "keyChange: cannot build the payload");
		goto out;
	}
	out = acme_jws_sign(new_key, NULL, url, NULL, text, err);
out:
	json_decref(old_jwk);
	json_decref(payload);
	free(text);
	return out;
}
