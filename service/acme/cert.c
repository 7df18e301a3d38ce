/*
 * cert.c: getting the certificate out of a valid order and revoking it (RFC 8555
 * sections 7.4.2 and 7.6). A download is a POST-as-GET that must return PEM
 * CERTIFICATE blocks only (section 11.4; checked by cf_pem_chain_split). The CA
 * may offer alternate chains in Link rel="alternate" headers; when the caller
 * prefers an issuer, the default chain and then each alternate is checked and the
 * first whose top issuer CN matches wins, else the default chain is kept.
 * Revocation sends the DER of the certificate, signed either by the account
 * (kid) or by the certificate's own key (jwk).
 */
#include "acme/acme_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/b64.h"

typedef struct chain {
	char *pem;       /* as downloaded */
	cf_pem_chain c;  /* read once: leaf, rest, top issuer, the leaf's fields and key */
} chain;

static void chain_free(chain *ch)
{
	free(ch->pem);
	cf_pem_chain_free(&ch->c);
	memset(ch, 0, sizeof(*ch));
}

void cf_acme_cert_free(cf_acme_cert *cert)
{
	if (cert == NULL)
		return;
	free(cert->fullchain);
	free(cert->leaf);
	free(cert->chain);
	free(cert->top_issuer);
	free(cert->url);
	cf_cert_info_free(&cert->leaf_info);
	cf_key_free(cert->leaf_key);
	memset(cert, 0, sizeof(*cert));
}

/* Downloads and checks one chain; collects its alternates when alts != NULL. */
static int fetch_chain(cf_acme_client *c, const char *url, chain *ch, char **alts,
		       size_t *nalt, cf_err *err)
{
	acme_resp r = {0};
	int rc = -1;

	if (acme_post(c, "cert", url, NULL, NULL, "application/pem-certificate-chain", &r, err) != 0)
		goto out;
	if (cf_pem_chain_read((char *)r.body.data, r.body.len, &ch->c, err) != 0) {
		cf_err_wrap(err, "certificate %s", url);
		goto out;
	}
	if (alts != NULL)
		acme_resp_links(&r, "alternate", alts, ACME_MAX_LINKS, nalt); /* best effort */
	if ((ch->pem = cf_buf_steal(&r.body)) == NULL) {
		cf_err_oom(err, NULL);
		cf_err_wrap(err, "certificate %s", url);
		goto out;
	}
	rc = 0;
out:
	if (rc != 0)
		chain_free(ch);
	acme_resp_free(&r);
	return rc;
}

/* Looks through the alternates for the preferred top issuer; 0 and *found filled
 * on a match, -1 when none matches. Failed alternates are reported and skipped. */
static int find_alternate(cf_acme_client *c, char **alts, size_t nalt, const char *preferred,
			  chain *found, size_t *which)
{
	cf_err e = {0};
	size_t i;

	for (i = 0; i < nalt; i++) {
		if (fetch_chain(c, alts[i], found, NULL, NULL, &e) != 0) {
			acme_emit(c, CF_ACME_EV_STEP, "cert", NULL, alts[i], 0, 0, false, e.msg);
			cf_err_clear(&e);
			continue;
		}
		if (strcmp(found->c.top_issuer, preferred) == 0) {
			*which = i;
			return 0;
		}
		chain_free(found);
	}
	return -1;
}

static int fill_cert(chain *ch, const char *url, size_t nalt, cf_acme_cert *out, cf_err *err)
{
	out->fullchain = ch->pem;
	out->leaf = ch->c.leaf;
	out->chain = ch->c.rest;
	out->leaf_info = ch->c.leaf_info;
	out->leaf_key = ch->c.leaf_key;
	out->top_issuer = strdup(ch->c.top_issuer);
	ch->pem = NULL;
	memset(&ch->c, 0, sizeof(ch->c));
	out->url = strdup(url);
	out->nalternates = nalt;
	if (out->top_issuer == NULL || out->url == NULL)
		return cf_err_oom(err, "certificate");
	return 0;
}

static int do_download(cf_acme_client *c, const char *url, const char *preferred,
		       cf_acme_cert *out, cf_err *err)
{
	chain def = {0}, alt = {0};
	char *alts[ACME_MAX_LINKS] = {0};
	size_t nalt = 0, which = 0, i;
	int rc = -1;

	if (fetch_chain(c, url, &def, alts, &nalt, err) != 0)
		goto out;
	if (preferred != NULL && preferred[0] != '\0' && strcmp(def.c.top_issuer, preferred) != 0 &&
	    find_alternate(c, alts, nalt, preferred, &alt, &which) == 0)
		rc = fill_cert(&alt, alts[which], nalt, out, err);
	else
		rc = fill_cert(&def, url, nalt, out, err);
out:
	chain_free(&def);
	chain_free(&alt);
	for (i = 0; i < nalt; i++)
		free(alts[i]);
	return rc;
}

int cf_acme_cert_download(cf_acme_client *c, const char *url, const char *preferred_issuer,
			  cf_acme_cert *out, cf_err *err)
{
	long long t0 = cf_clock_mono_ms();
	char *u = strdup(url); /* url may point into out */
	int rc = -1;

	cf_acme_cert_free(out);
	if (u == NULL)
		cf_err_oom(err, NULL);
	else
		rc = do_download(c, u, preferred_issuer, out, err);
	if (rc != 0)
		cf_acme_cert_free(out);
	rc = acme_step_done(c, "cert", u, t0, rc, err, rc == 0 ? out->top_issuer : NULL);
	free(u);
	return rc;
}

/* The DER of the first CERTIFICATE block of a PEM text; caller frees. */
static uint8_t *first_cert_der(const char *pem, size_t len, size_t *dlen)
{
	static const char begin[] = "-----BEGIN CERTIFICATE-----";
	static const char end[] = "-----END CERTIFICATE-----";
	char *text = strndup(pem, len), *p, *q, *b64 = NULL;
	uint8_t *der = NULL;
	size_t n = 0;

	if (text == NULL || (p = strstr(text, begin)) == NULL ||
	    (q = strstr(p, end)) == NULL || (b64 = malloc((size_t)(q - p) + 1)) == NULL)
		goto out;
	for (p += sizeof(begin) - 1; p < q; p++)
		if (*p != '\r' && *p != '\n' && *p != ' ' && *p != '\t')
			b64[n++] = *p;
	b64[n] = '\0';
	der = cf_b64_decode(b64, dlen);
out:
	free(text);
	free(b64);
	return der;
}

static char *revoke_payload(const char *pem, size_t len, int reason, cf_err *err)
{
	uint8_t *der = NULL;
	size_t dlen = 0;
	char *cert = NULL, *text = NULL;
	json_t *j = NULL;

	if (cf_pem_chain_split(pem, len, NULL, NULL, err) != 0 ||
	    (der = first_cert_der(pem, len, &dlen)) == NULL) {
		cf_err_wrap(err, "revokeCert: the certificate");
		goto out;
	}
	if ((cert = cf_b64url_encode(der, dlen)) == NULL ||
	    (j = reason < 0 ? json_pack("{s:s}", "certificate", cert)
			    : json_pack("{s:s, s:i}", "certificate", cert, "reason", reason)) == NULL ||
	    (text = json_dumps(j, JSON_COMPACT)) == NULL)
		cf_err_oom(err, "revokeCert");
out:
	free(der);
	free(cert);
	json_decref(j);
	return text;
}

static int do_revoke(cf_acme_client *c, const char *pem, size_t len, int reason,
		     const cf_key *cert_key, cf_err *err)
{
	char *payload = NULL;
	acme_resp r = {0};
	int rc = -1;

	/* RFC 5280 CRLReason: 0-10, 7 unused */
	if (reason < -1 || reason > 10 || reason == 7) {
		cf_err_set(err, CF_ERR_PERMANENT, "revokeCert: invalid reason code %d", reason);
		goto out;
	}
	if (cf_acme_client_directory(c, NULL, err) != 0 ||
	    (payload = revoke_payload(pem, len, reason, err)) == NULL)
		goto out;
	rc = acme_post(c, "revokeCert", c->dir.revoke_cert, payload, cert_key, NULL, &r, err);
out:
	free(payload);
	acme_resp_free(&r);
	return rc;
}

int cf_acme_cert_revoke(cf_acme_client *c, const char *cert_pem, size_t len, int reason,
			const cf_key *cert_key, cf_err *err)
{
	long long t0 = cf_clock_mono_ms();

	return acme_step_done(c, "revokeCert", NULL, t0,
			      do_revoke(c, cert_pem, len, reason, cert_key, err), err, NULL);
}
