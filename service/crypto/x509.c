/*
 * x509.c: reading what a CA hands back. cf_cert_info_from_pem extracts the fields
 * certfleet stores and shows (serial, CNs, validity, dNSName SANs, SHA-256
 * fingerprint); cf_cert_matches_key checks a certificate against its key; the PEM
 * chain functions validate an RFC 8555 section 11.4 download strictly (only
 * CERTIFICATE blocks that decode as X.509, separated by nothing but whitespace) and
 * split it into leaf and chain or report the issuer at its top.
 */
#include "crypto/crypto_int.h"

#include <ctype.h>
#include <limits.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One validated block of a chain: its DER (OPENSSL_malloc'd) and the parsed cert. */
typedef struct pem_block {
	unsigned char *der;
	long len;
	X509 *x509;
} pem_block;

static const char begin_marker[] = "-----BEGIN ";
static const char cert_end[] = "-----END CERTIFICATE-----";

/* The first certificate of a PEM text, or NULL with err set. */
static X509 *first_cert(const char *pem, size_t len, cf_err *err)
{
	BIO *bio = NULL;
	X509 *x = NULL;

	if (pem == NULL || len == 0 || len > INT_MAX) {
		cf_err_set(err, CF_ERR_PERMANENT, "certificate PEM is empty or oversized");
		goto out;
	}
	bio = BIO_new_mem_buf(pem, (int)len);
	if (bio == NULL) {
		cf_crypto_fail(err, "BIO_new_mem_buf");
		goto out;
	}
	x = PEM_read_bio_X509(bio, NULL, cf_pem_no_password, NULL);
	if (x == NULL)
		cf_crypto_fail(err, "PEM_read_bio_X509");
out:
	BIO_free(bio);
	return x;
}

/* Copies the first CN of name as UTF-8 into out ("" when there is none). */
static int name_cn(const X509_NAME *name, char *out, size_t outlen, cf_err *err)
{
	unsigned char *utf8 = NULL;
	int idx, n, rc = -1;

	out[0] = '\0';
	idx = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
	if (idx < 0) {
		rc = 0;
		goto out;
	}
	n = ASN1_STRING_to_UTF8(&utf8,
				X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, idx)));
	if (n < 0) {
		cf_crypto_fail(err, "ASN1_STRING_to_UTF8");
		goto out;
	}
	if (memchr(utf8, '\0', (size_t)n) != NULL || (size_t)n >= outlen) {
		cf_err_set(err, CF_ERR_PERMANENT,
			   "certificate CN has a NUL or is too long");
		goto out;
	}
	memcpy(out, utf8, (size_t)n);
	out[n] = '\0';
	rc = 0;
out:
	OPENSSL_free(utf8);
	return rc;
}

static int asn1_time(const ASN1_TIME *t, time_t *out, cf_err *err)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
		return cf_crypto_fail(err, "ASN1_TIME_to_tm");
	*out = timegm(&tm);
	return 0;
}

static int serial_hex(const X509 *x, char *out, size_t outlen, cf_err *err)
{
	BIGNUM *bn = NULL;
	char *hex = NULL;
	size_t i;
	int rc = -1;

	bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
	if (bn == NULL) {
		cf_crypto_fail(err, "ASN1_INTEGER_to_BN");
		goto out;
	}
	hex = BN_bn2hex(bn);
	if (hex == NULL) {
		cf_crypto_fail(err, "BN_bn2hex");
		goto out;
	}
	if (strlen(hex) >= outlen) {
		cf_err_set(err, CF_ERR_PERMANENT, "certificate serial is too long");
		goto out;
	}
	for (i = 0; hex[i]; i++)
		out[i] = (char)tolower((unsigned char)hex[i]);
	out[i] = '\0';
	rc = 0;
out:
	OPENSSL_free(hex);
	BN_free(bn);
	return rc;
}

/* Collects the dNSName SANs, lower-cased, into out->sans. */
static int dns_sans(const X509 *x, cf_cert_info *out, cf_err *err)
{
	GENERAL_NAMES *gens = NULL;
	const GENERAL_NAME *gen;
	const ASN1_IA5STRING *ia5;
	char *name;
	int crit = -1, i, j, n, rc = -1;

	gens = X509_get_ext_d2i(x, NID_subject_alt_name, &crit, NULL);
	if (gens == NULL) {
		if (crit == -1) /* no SAN extension at all */
			rc = 0;
		else
			cf_crypto_fail(err, "X509_get_ext_d2i(subjectAltName)");
		goto out;
	}
	n = sk_GENERAL_NAME_num(gens);
	out->sans = calloc(n > 0 ? (size_t)n : 1, sizeof(char *));
	if (out->sans == NULL) {
		cf_err_oom(err, NULL);
		goto out;
	}
	for (i = 0; i < n; i++) {
		gen = sk_GENERAL_NAME_value(gens, i);
		if (gen->type != GEN_DNS)
			continue;
		ia5 = gen->d.dNSName;
		if (memchr(ia5->data, '\0', (size_t)ia5->length) != NULL) {
			cf_err_set(err, CF_ERR_PERMANENT,
				   "certificate dNSName contains a NUL");
			goto out;
		}
		name = malloc((size_t)ia5->length + 1);
		if (name == NULL) {
			cf_err_oom(err, NULL);
			goto out;
		}
		for (j = 0; j < ia5->length; j++)
			name[j] = (char)tolower(ia5->data[j]);
		name[ia5->length] = '\0';
		out->sans[out->nsans++] = name;
	}
	rc = 0;
out:
	GENERAL_NAMES_free(gens);
	return rc;
}

int cf_cert_info_from_pem(const char *pem, size_t len, cf_cert_info *out, cf_err *err)
{
	X509 *x = NULL;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0, i;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	x = first_cert(pem, len, err);
	if (x == NULL)
		goto out;
	if (serial_hex(x, out->serial, sizeof(out->serial), err) != 0 ||
	    name_cn(X509_get_subject_name(x), out->subject_cn, sizeof(out->subject_cn),
		    err) != 0 ||
	    name_cn(X509_get_issuer_name(x), out->issuer_cn, sizeof(out->issuer_cn), err) !=
		    0 ||
	    asn1_time(X509_get0_notBefore(x), &out->not_before, err) != 0 ||
	    asn1_time(X509_get0_notAfter(x), &out->not_after, err) != 0 ||
	    dns_sans(x, out, err) != 0)
		goto out;
	if (X509_digest(x, EVP_sha256(), md, &mdlen) != 1 || mdlen != 32) {
		cf_crypto_fail(err, "X509_digest");
		goto out;
	}
	for (i = 0; i < mdlen; i++)
		snprintf(out->sha256_hex + 2 * i, 3, "%02x", md[i]);
	rc = 0;
out:
	if (rc != 0)
		cf_cert_info_free(out);
	X509_free(x);
	return rc;
}

void cf_cert_info_free(cf_cert_info *info)
{
	size_t i;

	if (info == NULL)
		return;
	for (i = 0; i < info->nsans; i++)
		free(info->sans[i]);
	free(info->sans);
	info->sans = NULL;
	info->nsans = 0;
}

bool cf_cert_matches_key(const char *pem, size_t len, const cf_key *key)
{
	X509 *x = NULL;
	bool match = false;

	if (key == NULL)
		goto out;
	x = first_cert(pem, len, NULL);
	if (x == NULL)
		goto out;
	match = EVP_PKEY_eq(X509_get0_pubkey(x), key->pkey) == 1;
out:
	ERR_clear_error();
	X509_free(x);
	return match;
}

/* ---- strict PEM chains ---- */

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Offset of needle in hay[from, len), or len when absent. */
static size_t find(const char *hay, size_t len, size_t from, const char *needle)
{
	size_t nlen = strlen(needle), i;

	for (i = from; i + nlen <= len; i++)
		if (memcmp(hay + i, needle, nlen) == 0)
			return i;
	return len;
}

static void blocks_free(pem_block *blocks, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		OPENSSL_free(blocks[i].der);
		X509_free(blocks[i].x509);
	}
	free(blocks);
}

/* The base64 body of a block, from just after the BEGIN line's dashes to the END
 * line: a line break first, then only base64, '=' and line breaks ("\n" or
 * "\r\n"). OpenSSL's reader cuts a line at a stray '\r' and skips other bytes,
 * so without this check a garbled body could decode to a certificate other than
 * the one another reader of the same text sees. */
static bool body_is_strict(const char *p, size_t len)
{
	size_t i = 0;

	if (len >= 2 && p[0] == '\r' && p[1] == '\n')
		i = 2;
	else if (len >= 1 && p[0] == '\n')
		i = 1;
	else
		return false;
	for (; i < len; i++) {
		unsigned char c = (unsigned char)p[i];

		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '+' || c == '/' || c == '=' || c == '\n' ||
		    (c == '\r' && i + 1 < len && p[i + 1] == '\n'))
			continue;
		return false;
	}
	return true;
}

/* Decodes the one PEM block in text[0, len) (already delimited) into b. */
static int decode_block(const char *text, size_t len, size_t idx, pem_block *b, cf_err *err)
{
	BIO *bio = NULL;
	char *name = NULL, *header = NULL;
	const unsigned char *p;
	int rc = -1;

	bio = BIO_new_mem_buf(text, (int)len);
	if (bio == NULL) {
		cf_crypto_fail(err, "BIO_new_mem_buf");
		goto out;
	}
	if (PEM_read_bio(bio, &name, &header, &b->der, &b->len) != 1) {
		cf_crypto_fail(err, "PEM_read_bio");
		cf_err_wrap(err, "PEM chain: block %zu", idx);
		goto out;
	}
	if (header[0] != '\0') {
		cf_err_set(err, CF_ERR_PERMANENT, "PEM chain: block %zu has PEM headers",
			   idx);
		goto out;
	}
	p = b->der;
	b->x509 = d2i_X509(NULL, &p, b->len);
	if (b->x509 == NULL || p != b->der + b->len) {
		cf_crypto_fail(err, "d2i_X509");
		cf_err_wrap(err, "PEM chain: block %zu is not an X.509 certificate", idx);
		goto out;
	}
	rc = 0;
out:
	OPENSSL_free(name);
	OPENSSL_free(header);
	BIO_free(bio);
	return rc;
}

/* Validates pem as a certificate chain and returns its blocks in order. */
static int chain_parse(const char *pem, size_t len, pem_block **out, size_t *nout,
		       cf_err *err)
{
	pem_block *blocks = NULL, *nb;
	size_t n = 0, pos = 0, label, dash, end, next;
	char shown[41];
	int rc = -1;

	if (pem == NULL || len > INT_MAX) {
		cf_err_set(err, CF_ERR_PERMANENT, "PEM chain: missing or oversized");
		goto out;
	}
	for (;;) {
		while (pos < len && is_space(pem[pos]))
			pos++;
		if (pos == len)
			break;
		/* a BEGIN line not at the start of a line is no BEGIN line to OpenSSL's
		 * reader, which would skip that block and read the next one */
		if (len - pos < sizeof(begin_marker) - 1 ||
		    memcmp(pem + pos, begin_marker, sizeof(begin_marker) - 1) != 0 ||
		    (pos > 0 && pem[pos - 1] != '\n')) {
			cf_err_set(
				err, CF_ERR_PERMANENT,
				"PEM chain: unexpected text at byte %zu after %zu block(s)",
				pos, n);
			goto out;
		}
		label = pos + sizeof(begin_marker) - 1;
		dash = find(pem, len, label, "-----");
		if (dash == len || memchr(pem + label, '\n', dash - label) != NULL) {
			cf_err_set(err, CF_ERR_PERMANENT,
				   "PEM chain: malformed BEGIN line at byte %zu", pos);
			goto out;
		}
		if (dash - label != strlen("CERTIFICATE") ||
		    memcmp(pem + label, "CERTIFICATE", dash - label) != 0) {
			snprintf(shown, sizeof(shown), "%.*s",
				 (int)(dash - label < 40 ? dash - label : 40), pem + label);
			for (next = 0; shown[next]; next++)
				if (!isprint((unsigned char)shown[next]))
					shown[next] = '?';
			cf_err_set(err, CF_ERR_PERMANENT,
				   "PEM chain: block %zu is \"%s\", only CERTIFICATE is "
				   "allowed",
				   n + 1, shown);
			goto out;
		}
		end = find(pem, len, dash, cert_end);
		next = find(pem, len, dash, begin_marker);
		if (end == len || next < end) {
			cf_err_set(err, CF_ERR_PERMANENT,
				   "PEM chain: block %zu has no END CERTIFICATE line",
				   n + 1);
			goto out;
		}
		end += sizeof(cert_end) - 1;
		nb = realloc(blocks, (n + 1) * sizeof(*blocks));
		if (nb == NULL) {
			cf_err_oom(err, NULL);
			goto out;
		}
		blocks = nb;
		memset(&blocks[n], 0, sizeof(blocks[n]));
		n++;
		if (decode_block(pem + pos, end - pos, n, &blocks[n - 1], err) != 0)
			goto out;
		if (!body_is_strict(pem + dash + 5, end - (sizeof(cert_end) - 1) - (dash + 5))) {
			cf_err_set(err, CF_ERR_PERMANENT,
				   "PEM chain: block %zu has bytes other than base64 and line "
				   "breaks",
				   n);
			goto out;
		}
		pos = end;
	}
	if (n == 0) {
		cf_err_set(err, CF_ERR_PERMANENT, "PEM chain: no CERTIFICATE block");
		goto out;
	}
	*out = blocks;
	*nout = n;
	blocks = NULL;
	n = 0;
	rc = 0;
out:
	blocks_free(blocks, n);
	return rc;
}

/* Re-encodes blocks as one PEM text (canonical line wrapping); "" for none. */
static char *blocks_pem(const pem_block *blocks, size_t n, cf_err *err)
{
	BIO *bio = NULL;
	char *data = NULL, *text = NULL;
	long tlen = 0;
	size_t i;

	bio = BIO_new(BIO_s_mem());
	if (bio == NULL) {
		cf_crypto_fail(err, "BIO_new");
		goto out;
	}
	for (i = 0; i < n; i++) {
		if (PEM_write_bio(bio, PEM_STRING_X509, "", blocks[i].der, blocks[i].len) <=
		    0) {
			cf_crypto_fail(err, "PEM_write_bio");
			goto out;
		}
	}
	tlen = BIO_get_mem_data(bio, &data);
	if (tlen < 0) {
		cf_crypto_fail(err, "BIO_get_mem_data");
		goto out;
	}
	text = malloc((size_t)tlen + 1);
	if (text == NULL) {
		cf_err_oom(err, NULL);
		goto out;
	}
	if (tlen > 0)
		memcpy(text, data, (size_t)tlen);
	text[tlen] = '\0';
out:
	BIO_free(bio);
	return text;
}

int cf_pem_chain_split(const char *pem, size_t len, char **leaf, char **chain, cf_err *err)
{
	pem_block *blocks = NULL;
	size_t n = 0;
	char *l = NULL, *c = NULL;
	int rc = -1;

	if (leaf)
		*leaf = NULL;
	if (chain)
		*chain = NULL;
	if (chain_parse(pem, len, &blocks, &n, err) != 0)
		goto out;
	if (leaf && (l = blocks_pem(blocks, 1, err)) == NULL)
		goto out;
	if (chain && (c = blocks_pem(blocks + 1, n - 1, err)) == NULL)
		goto out;
	if (leaf)
		*leaf = l;
	if (chain)
		*chain = c;
	l = c = NULL;
	rc = 0;
out:
	free(l);
	free(c);
	blocks_free(blocks, n);
	return rc;
}

int cf_pem_chain_top_issuer(const char *pem, size_t len, char *out, size_t outlen,
			    cf_err *err)
{
	pem_block *blocks = NULL;
	size_t n = 0;
	int rc = -1;

	if (out == NULL || outlen == 0) {
		cf_err_set(err, CF_ERR_PERMANENT,
			   "cf_pem_chain_top_issuer: no output buffer");
		goto out;
	}
	out[0] = '\0';
	if (chain_parse(pem, len, &blocks, &n, err) != 0)
		goto out;
	rc = name_cn(X509_get_issuer_name(blocks[n - 1].x509), out, outlen, err);
out:
	blocks_free(blocks, n);
	return rc;
}
