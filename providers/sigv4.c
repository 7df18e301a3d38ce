/*
 * sigv4.c: AWS Signature Version 4, header form; see sigv4.h for the canonical
 * forms. Built on the crypto facade (cf_sha256, cf_hmac_sha256) and cf_buf.
 *
 * The steps, each kept in the result so the tests can check them one by one:
 * canonical request = method \n URI \n query \n headers \n signed-headers \n
 * hex(SHA-256(payload)); string to sign = algorithm \n date \n scope \n
 * hex(SHA-256(canonical request)); signing key = HMAC chain over the date, the
 * region, the service and "aws4_request", starting from "AWS4" + secret;
 * signature = hex(HMAC(signing key, string to sign)). The key material (the
 * "AWS4" + secret string and every intermediate key) lives on the stack and is
 * wiped with explicit_bzero before return, on every path.
 */
#include "providers/sigv4.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"

#define SECRET_MAX 256

typedef struct hdr {
	char *name;  /* lower-cased, owned */
	char *value; /* trimmed and collapsed, owned */
	size_t idx;  /* position given, to keep repeated names in order */
} hdr;

typedef struct qpair {
	char *name;  /* encoded, owned */
	char *value; /* encoded, owned */
} qpair;

static bool unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_' || c == '~';
}

int cf_sigv4_uri_encode(cf_buf *b, const char *s, int keep_slash)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *p;

	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		char e[3] = { '%', hex[*p >> 4], hex[*p & 15] };

		if (unreserved(*p) || (keep_slash && *p == '/')) {
			if (cf_buf_append(b, p, 1) != 0)
				return -1;
		} else if (cf_buf_append(b, e, 3) != 0) {
			return -1;
		}
	}
	return 0;
}

static void hex_encode(const uint8_t *in, size_t n, char *out)
{
	static const char hex[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = hex[in[i] >> 4];
		out[2 * i + 1] = hex[in[i] & 15];
	}
	out[2 * n] = '\0';
}

static char *encoded(const char *s)
{
	cf_buf b = { 0 };

	if (cf_sigv4_uri_encode(&b, s ? s : "", 0) != 0) {
		cf_buf_free(&b);
		return NULL;
	}
	return cf_buf_steal(&b);
}

static int qpair_cmp(const void *a, const void *b)
{
	const qpair *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	return c != 0 ? c : strcmp(x->value, y->value);
}

char *cf_sigv4_canonical_query(const cf_sigv4_kv *q, size_t n)
{
	qpair *pairs = NULL;
	cf_buf b = { 0 };
	char *res = NULL;
	size_t i, made = 0;

	if (n > 0 && (pairs = calloc(n, sizeof(*pairs))) == NULL)
		return NULL;
	for (; made < n; made++) {
		pairs[made].name = encoded(q[made].name);
		pairs[made].value = encoded(q[made].value);
		if (pairs[made].name == NULL || pairs[made].value == NULL) {
			made++;
			goto out;
		}
	}
	if (n > 0)
		qsort(pairs, n, sizeof(*pairs), qpair_cmp);
	for (i = 0; i < n; i++)
		if (cf_buf_printf(&b, "%s%s=%s", i ? "&" : "", pairs[i].name, pairs[i].value) != 0)
			goto out;
	res = cf_buf_steal(&b);
out:
	for (i = 0; i < made; i++) {
		free(pairs[i].name);
		free(pairs[i].value);
	}
	free(pairs);
	cf_buf_free(&b);
	return res;
}

void cf_sigv4_amz_date(time_t t, char out[CF_SIGV4_AMZ_DATE_LEN + 1])
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, CF_SIGV4_AMZ_DATE_LEN + 1, "%Y%m%dT%H%M%SZ", &tm);
}

static int hdr_cmp(const void *a, const void *b)
{
	const hdr *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	if (c != 0)
		return c;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* A header name is a token: printable ASCII without blanks, ':' or separators
 * that would break the canonical form. */
static bool name_ok(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	if (s == NULL || *p == '\0')
		return false;
	for (; *p != '\0'; p++)
		if (*p <= 0x20 || *p >= 0x7f || *p == ':' || *p == ';' || *p == ',')
			return false;
	return true;
}

/* The value with leading and trailing blanks removed and inner runs of blanks
 * collapsed to one space. NULL when it holds CR or LF, or out of memory. */
static char *trim_value(const char *v)
{
	char *out = malloc(strlen(v) + 1), *w = out;
	bool blank = false;

	if (out == NULL)
		return NULL;
	while (*v == ' ' || *v == '\t')
		v++;
	for (; *v != '\0'; v++) {
		if (*v == '\r' || *v == '\n') {
			free(out);
			return NULL;
		}
		if (*v == ' ' || *v == '\t') {
			blank = true;
			continue;
		}
		if (blank)
			*w++ = ' ';
		blank = false;
		*w++ = *v;
	}
	*w = '\0';
	return out;
}

/* Appends the canonical headers block (each "name:value\n") to creq and fills
 * signed ("a;b;c"). */
static int canonical_headers(const cf_sigv4_request *req, cf_buf *creq, cf_buf *signed_h,
			     cf_err *err)
{
	hdr *h = NULL;
	size_t i, j, made = 0;
	int rc = -1;

	if (req->nheaders == 0)
		return cf_err_set(err, CF_ERR_PERMANENT, "sigv4: no headers to sign (host needed)");
	if ((h = calloc(req->nheaders, sizeof(*h))) == NULL)
		return cf_err_oom(err, NULL);
	for (; made < req->nheaders; made++) {
		const cf_sigv4_kv *kv = &req->headers[made];

		if (!name_ok(kv->name) || kv->value == NULL) {
			cf_err_set(err, CF_ERR_PERMANENT, "sigv4: bad header name \"%.60s\"",
				   kv->name ? kv->name : "");
			goto out;
		}
		h[made].idx = made;
		h[made].name = strdup(kv->name);
		h[made].value = trim_value(kv->value);
		if (h[made].name == NULL || h[made].value == NULL) {
			made++;
			cf_err_set(err, CF_ERR_PERMANENT,
				   "sigv4: header %.60s: a value with CR or LF cannot be signed",
				   kv->name);
			goto out;
		}
		for (j = 0; h[made].name[j] != '\0'; j++)
			if (h[made].name[j] >= 'A' && h[made].name[j] <= 'Z')
				h[made].name[j] = (char)(h[made].name[j] - 'A' + 'a');
	}
	qsort(h, made, sizeof(*h), hdr_cmp);
	for (i = 0; i < made; i = j) {
		if (cf_buf_printf(creq, "%s:%s", h[i].name, h[i].value) != 0 ||
		    cf_buf_printf(signed_h, "%s%s", i ? ";" : "", h[i].name) != 0)
			goto oom;
		for (j = i + 1; j < made && strcmp(h[j].name, h[i].name) == 0; j++)
			if (cf_buf_printf(creq, ",%s", h[j].value) != 0)
				goto oom;
		if (cf_buf_append_str(creq, "\n") != 0)
			goto oom;
	}
	rc = 0;
	goto out;
oom:
	cf_err_oom(err, NULL);
out:
	for (i = 0; i < made; i++) {
		free(h[i].name);
		free(h[i].value);
	}
	free(h);
	return rc;
}

static bool date_ok(const char *d)
{
	size_t i;

	if (d == NULL || strlen(d) != CF_SIGV4_AMZ_DATE_LEN || d[8] != 'T' || d[15] != 'Z')
		return false;
	for (i = 0; i < 15; i++)
		if (i != 8 && (d[i] < '0' || d[i] > '9'))
			return false;
	return true;
}

/* A scope part (access key id, region, service): printable, no '/', ',' or blank. */
static bool part_ok(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	if (s == NULL || *p == '\0' || strlen(s) > 128)
		return false;
	for (; *p != '\0'; p++)
		if (*p <= 0x20 || *p >= 0x7f || *p == '/' || *p == ',' || *p == '=')
			return false;
	return true;
}

/* signature = hex(HMAC(signing key, sts)), the key derived from the secret. */
static int sign_sts(const cf_sigv4_scope *s, const char *sts, char out[65])
{
	char k0[4 + SECRET_MAX + 1];
	uint8_t ka[32], kb[32], mac[32]; /* no HMAC writes over its own key */
	size_t slen = strlen(s->secret_access_key);
	int rc = -1;

	if (slen == 0 || slen > SECRET_MAX)
		return -1;
	memcpy(k0, "AWS4", 4);
	memcpy(k0 + 4, s->secret_access_key, slen);
	if (cf_hmac_sha256(k0, 4 + slen, s->amz_date, 8, ka) != 0 ||
	    cf_hmac_sha256(ka, 32, s->region, strlen(s->region), kb) != 0 ||
	    cf_hmac_sha256(kb, 32, s->service, strlen(s->service), ka) != 0 ||
	    cf_hmac_sha256(ka, 32, "aws4_request", 12, kb) != 0 ||
	    cf_hmac_sha256(kb, 32, sts, strlen(sts), mac) != 0)
		goto out;
	hex_encode(mac, 32, out);
	rc = 0;
out:
	explicit_bzero(k0, sizeof(k0));
	explicit_bzero(ka, sizeof(ka));
	explicit_bzero(kb, sizeof(kb));
	explicit_bzero(mac, sizeof(mac));
	return rc;
}

void cf_sigv4_result_free(cf_sigv4_result *r)
{
	if (r == NULL)
		return;
	free(r->canonical_request);
	free(r->string_to_sign);
	free(r->signed_headers);
	free(r->authorization);
	memset(r, 0, sizeof(*r));
}

int cf_sigv4_sign(const cf_sigv4_request *req, const cf_sigv4_scope *scope,
		  cf_sigv4_result *out, cf_err *err)
{
	cf_buf creq = { 0 }, signed_h = { 0 }, sts = { 0 }, auth = { 0 };
	char *query = NULL, hash_hex[65];
	uint8_t hash[32];
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (!date_ok(scope->amz_date))
		return cf_err_set(err, CF_ERR_PERMANENT,
				  "sigv4: date \"%.20s\" is not YYYYMMDDTHHMMSSZ",
				  scope->amz_date ? scope->amz_date : "");
	if (!part_ok(scope->access_key_id) || !part_ok(scope->region) ||
	    !part_ok(scope->service))
		return cf_err_set(err, CF_ERR_PERMANENT,
				  "sigv4: access key id, region and service must be printable "
				  "words without '/', ',' or '='");
	if (scope->secret_access_key == NULL || scope->secret_access_key[0] == '\0' ||
	    strlen(scope->secret_access_key) > SECRET_MAX)
		return cf_err_set(err, CF_ERR_PERMANENT,
				  "sigv4: the secret access key is empty or longer than %d "
				  "characters",
				  SECRET_MAX);
	if (req->method == NULL || !part_ok(req->method))
		return cf_err_set(err, CF_ERR_PERMANENT, "sigv4: bad method");
	query = cf_sigv4_canonical_query(req->query, req->nquery);
	if (query == NULL || cf_buf_printf(&creq, "%s\n", req->method) != 0 ||
	    cf_sigv4_uri_encode(&creq, req->path && req->path[0] ? req->path : "/", 1) != 0 ||
	    cf_buf_printf(&creq, "\n%s\n", query) != 0) {
		cf_err_oom(err, NULL);
		goto out;
	}
	if (canonical_headers(req, &creq, &signed_h, err) != 0)
		goto out;
	cf_sha256(req->payload_len ? req->payload : "", req->payload_len, hash);
	hex_encode(hash, 32, hash_hex);
	if (cf_buf_printf(&creq, "\n%s\n%s", (char *)signed_h.data, hash_hex) != 0)
		goto oom;
	cf_sha256(creq.data, creq.len, hash);
	hex_encode(hash, 32, hash_hex);
	if (cf_buf_printf(&sts, "%s\n%s\n%.8s/%s/%s/aws4_request\n%s", CF_SIGV4_ALGORITHM,
			  scope->amz_date, scope->amz_date, scope->region, scope->service,
			  hash_hex) != 0)
		goto oom;
	if (sign_sts(scope, (char *)sts.data, out->signature) != 0) {
		cf_err_set(err, CF_ERR_PERMANENT, "sigv4: HMAC-SHA256 failed");
		goto out;
	}
	if (cf_buf_printf(&auth,
			  "%s Credential=%s/%.8s/%s/%s/aws4_request, SignedHeaders=%s, "
			  "Signature=%s",
			  CF_SIGV4_ALGORITHM, scope->access_key_id, scope->amz_date,
			  scope->region, scope->service, (char *)signed_h.data,
			  out->signature) != 0)
		goto oom;
	out->canonical_request = cf_buf_steal(&creq);
	out->string_to_sign = cf_buf_steal(&sts);
	out->signed_headers = cf_buf_steal(&signed_h);
	out->authorization = cf_buf_steal(&auth);
	if (out->canonical_request == NULL || out->string_to_sign == NULL ||
	    out->signed_headers == NULL || out->authorization == NULL) {
		cf_sigv4_result_free(out);
		goto oom;
	}
	rc = 0;
	goto out;
oom:
	cf_err_oom(err, NULL);
out:
	if (rc != 0)
		memset(out->signature, 0, sizeof(out->signature));
	free(query);
	cf_buf_free(&creq);
	cf_buf_free(&signed_h);
	cf_buf_free(&sts);
	cf_buf_free(&auth);
	return rc;
}
