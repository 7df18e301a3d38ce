/*
 * csr.c: the PKCS#10 certificate signing request sent to ACME finalize (RFC 8555
 * section 7.4): a subjectAltName extension with exactly the order's dNSNames
 * (wildcards included), a CN equal to the first name that fits the 64-character
 * upper bound of X.520, the certificate key's public key, signed with SHA-256.
 */
#include "crypto/crypto_int.h"

#include <ctype.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>

#define CN_MAX 64        /* ub-common-name, RFC 5280 appendix A */
#define DNS_NAME_MAX 253 /* longest DNS name in text form */

/* Rejects names that are not plain ASCII DNS names, optionally starting with one
 * "*." wildcard label. The CA does the authoritative checks; this only keeps
 * garbage (spaces, NULs, UTF-8) out of the DER. */
static int check_name(const char *name, cf_err *err)
{
	size_t len, i = 0;

	if (name == NULL || (len = strlen(name)) == 0 || len > DNS_NAME_MAX)
		return cf_err_set(err, CF_ERR_PERMANENT, "CSR: empty or overlong DNS name");
	if (len > 2 && name[0] == '*' && name[1] == '.')
		i = 2;
	for (; i < len; i++) {
		unsigned char c = (unsigned char)name[i];
		if (!isalnum(c) && c != '-' && c != '.' && c != '_')
			return cf_err_set(err, CF_ERR_PERMANENT,
					  "CSR: invalid character in DNS name \"%.*s\"",
					  DNS_NAME_MAX, name);
	}
	return 0;
}

/* A GENERAL_NAMES holding one dNSName per name, in the given order. */
static GENERAL_NAMES *san_names(const char *const *names, size_t n, cf_err *err)
{
	GENERAL_NAMES *gens = NULL, *result = NULL;
	GENERAL_NAME *gen = NULL;
	ASN1_IA5STRING *ia5 = NULL;
	size_t i;

	gens = GENERAL_NAMES_new();
	if (gens == NULL) {
		cf_crypto_fail(err, "GENERAL_NAMES_new");
		goto out;
	}
	for (i = 0; i < n; i++) {
		gen = GENERAL_NAME_new();
		ia5 = ASN1_IA5STRING_new();
		if (gen == NULL || ia5 == NULL) {
			cf_crypto_fail(err, "GENERAL_NAME_new");
			goto out;
		}
		if (ASN1_STRING_set(ia5, names[i], (int)strlen(names[i])) != 1) {
			cf_crypto_fail(err, "ASN1_STRING_set");
			goto out;
		}
		GENERAL_NAME_set0_value(gen, GEN_DNS, ia5);
		ia5 = NULL;
		if (sk_GENERAL_NAME_push(gens, gen) <= 0) {
			cf_crypto_fail(err, "sk_GENERAL_NAME_push");
			goto out;
		}
		gen = NULL;
	}
	result = gens;
	gens = NULL;
out:
	ASN1_IA5STRING_free(ia5);
	GENERAL_NAME_free(gen);
	GENERAL_NAMES_free(gens);
	return result;
}

int cf_csr_der(const cf_key *key, const char *const *names, size_t n, cf_buf *der,
	       cf_err *err)
{
	X509_REQ *req = NULL;
	X509_NAME *subj = NULL;
	GENERAL_NAMES *gens = NULL;
	STACK_OF(X509_EXTENSION) *exts = NULL;
	unsigned char *out = NULL;
	const char *cn = NULL;
	size_t i;
	int outlen, rc = -1;

	if (key == NULL || !key->has_private) {
		cf_err_set(err, CF_ERR_PERMANENT, "CSR: no private key");
		goto out;
	}
	if (names == NULL || n == 0 || n > 1000) {
		cf_err_set(err, CF_ERR_PERMANENT, "CSR: needs 1 to 1000 names, got %zu", n);
		goto out;
	}
	for (i = 0; i < n; i++) {
		if (check_name(names[i], err) != 0)
			goto out;
		if (cn == NULL && strlen(names[i]) <= CN_MAX)
			cn = names[i];
	}
	req = X509_REQ_new();
	subj = X509_NAME_new();
	if (req == NULL || subj == NULL) {
		cf_crypto_fail(err, "X509_REQ_new");
		goto out;
	}
	if (X509_REQ_set_version(req, X509_REQ_VERSION_1) != 1) {
		cf_crypto_fail(err, "X509_REQ_set_version");
		goto out;
	}
	if (cn && X509_NAME_add_entry_by_NID(subj, NID_commonName, MBSTRING_ASC,
					     (const unsigned char *)cn, -1, -1, 0) != 1) {
		cf_crypto_fail(err, "X509_NAME_add_entry_by_NID");
		goto out;
	}
	if (X509_REQ_set_subject_name(req, subj) != 1) {
		cf_crypto_fail(err, "X509_REQ_set_subject_name");
		goto out;
	}
	if (X509_REQ_set_pubkey(req, key->pkey) != 1) {
		cf_crypto_fail(err, "X509_REQ_set_pubkey");
		goto out;
	}
	gens = san_names(names, n, err);
	if (gens == NULL)
		goto out;
	exts = sk_X509_EXTENSION_new_null();
	if (exts == NULL) {
		cf_crypto_fail(err, "sk_X509_EXTENSION_new_null");
		goto out;
	}
	/* Critical when the subject is empty (RFC 5280 section 4.2.1.6). */
	if (X509V3_add1_i2d(&exts, NID_subject_alt_name, gens, cn == NULL,
			    X509V3_ADD_DEFAULT) != 1) {
		cf_crypto_fail(err, "X509V3_add1_i2d");
		goto out;
	}
	if (X509_REQ_add_extensions(req, exts) != 1) {
		cf_crypto_fail(err, "X509_REQ_add_extensions");
		goto out;
	}
	if (X509_REQ_sign(req, key->pkey, EVP_sha256()) <= 0) {
		cf_crypto_fail(err, "X509_REQ_sign");
		goto out;
	}
	outlen = i2d_X509_REQ(req, &out);
	if (outlen <= 0) {
		cf_crypto_fail(err, "i2d_X509_REQ");
		goto out;
	}
	if (cf_buf_append(der, out, (size_t)outlen) != 0) {
		cf_err_oom(err, NULL);
		goto out;
	}
	rc = 0;
out:
	OPENSSL_free(out);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	GENERAL_NAMES_free(gens);
	X509_NAME_free(subj);
	X509_REQ_free(req);
	return rc;
}
