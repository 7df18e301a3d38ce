/*
 * test_crypto_x509.c: unit tests of the CSR, certificate and PEM chain parts of the
 * crypto facade. The certificates are made here with OpenSSL (a self-signed root,
 * an intermediate and a leaf, with known serials, names and validity), so no
 * fixture files are needed; CSRs are parsed back with d2i_X509_REQ and verified.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crypto/crypto.h"

#define T0 ((time_t)1700000000) /* 2023-11-14T22:13:20Z */
#define DAY ((time_t)86400)

static cf_key *root_key, *inter_key, *leaf_key, *rsa_key;
static char *root_pem, *inter_pem, *leaf_pem, *nosan_pem, *leaf_key_pem;
static X509 *leaf_x509;

static EVP_PKEY *to_evp(const cf_key *key)
{
	char *pem = cf_key_to_pem(key, NULL);
	BIO *bio = BIO_new_mem_buf(pem, -1);
	EVP_PKEY *pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);

	BIO_free(bio);
	cf_secret_free(pem);
	return pkey;
}

static char *x509_pem(X509 *x)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data = NULL, *out;
	long n;

	if (bio == NULL || PEM_write_bio_X509(bio, x) != 1)
		return NULL;
	n = BIO_get_mem_data(bio, &data);
	out = strndup(data, (size_t)n);
	BIO_free(bio);
	return out;
}

/* A certificate for subject_key signed by issuer_key; issuer NULL = self-signed. */
static X509 *make_cert(const cf_key *subject, const cf_key *issuer_key, X509 *issuer,
		       const char *cn, const char *const *sans, size_t nsans,
		       uint64_t serial)
{
	EVP_PKEY *spub = to_evp(subject), *ipriv = to_evp(issuer_key);
	X509 *x = X509_new();
	X509_NAME *name = X509_NAME_new();
	GENERAL_NAMES *gens = NULL;
	size_t i;
	int ok = x && name && spub && ipriv;

	ok = ok && X509_set_version(x, X509_VERSION_3) == 1;
	ok = ok && ASN1_INTEGER_set_uint64(X509_get_serialNumber(x), serial) == 1;
	ok = ok && X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
					      (const unsigned char *)"certfleet tests", -1,
					      -1, 0) == 1;
	ok = ok && X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
					      (const unsigned char *)cn, -1, -1, 0) == 1;
	ok = ok && X509_set_subject_name(x, name) == 1;
	ok = ok &&
	     X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name) == 1;
	ok = ok && ASN1_TIME_set(X509_getm_notBefore(x), T0) != NULL;
	ok = ok && ASN1_TIME_set(X509_getm_notAfter(x), T0 + 90 * DAY) != NULL;
	ok = ok && X509_set_pubkey(x, spub) == 1;
	if (ok && nsans > 0) {
		gens = GENERAL_NAMES_new();
		for (i = 0; ok && i < nsans; i++) {
			GENERAL_NAME *g = GENERAL_NAME_new();
			ASN1_IA5STRING *s = ASN1_IA5STRING_new();
			ok = g && s && ASN1_STRING_set(s, sans[i], -1) == 1;
			GENERAL_NAME_set0_value(g, GEN_DNS, s);
			ok = ok && sk_GENERAL_NAME_push(gens, g) > 0;
		}
		ok = ok && X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0,
					     X509V3_ADD_DEFAULT) == 1;
	}
	ok = ok && X509_sign(x, ipriv, EVP_sha256()) > 0;
	GENERAL_NAMES_free(gens);
	X509_NAME_free(name);
	EVP_PKEY_free(spub);
	EVP_PKEY_free(ipriv);
	if (!ok) {
		X509_free(x);
		return NULL;
	}
	return x;
}

static int setup(void **state)
{
	static const char *const leaf_sans[] = {"Leaf.Example.com", "*.example.com",
						"127.0.0.1.example.net"};
	X509 *root = NULL, *inter = NULL, *nosan = NULL;
	cf_err err = {0};

	/* A local time zone far from UTC: notBefore/notAfter must not depend on it. */
	setenv("TZ", "America/Los_Angeles", 1);
	tzset();

	root_key = cf_key_generate(CF_KEY_EC384, &err);
	inter_key = cf_key_generate(CF_KEY_EC256, &err);
	leaf_key = cf_key_generate(CF_KEY_EC256, &err);
	rsa_key = cf_key_generate(CF_KEY_RSA2048, &err);
	if (!root_key || !inter_key || !leaf_key || !rsa_key)
		return -1;
	root = make_cert(root_key, root_key, NULL, "Test Root X1", NULL, 0, 1);
	inter = make_cert(inter_key, root_key, root, "Test Intermediate E9", NULL, 0,
			  0x4242);
	leaf_x509 = make_cert(leaf_key, inter_key, inter, "leaf.example.com", leaf_sans, 3,
			      0x1a2b3c4d5e6fULL);
	nosan = make_cert(rsa_key, rsa_key, NULL, "no sans here", NULL, 0, 7);
	if (!root || !inter || !leaf_x509 || !nosan)
		return -1;
	root_pem = x509_pem(root);
	inter_pem = x509_pem(inter);
	leaf_pem = x509_pem(leaf_x509);
	nosan_pem = x509_pem(nosan);
	leaf_key_pem = cf_key_to_pem(leaf_key, &err);
	X509_free(root);
	X509_free(inter);
	X509_free(nosan);
	return root_pem && inter_pem && leaf_pem && nosan_pem && leaf_key_pem ? 0 : -1;
}

static int teardown(void **state)
{
	cf_key_free(root_key);
	cf_key_free(inter_key);
	cf_key_free(leaf_key);
	cf_key_free(rsa_key);
	X509_free(leaf_x509);
	free(root_pem);
	free(inter_pem);
	free(leaf_pem);
	free(nosan_pem);
	cf_secret_free(leaf_key_pem);
	return 0;
}

/* ---- CSR ---- */

/* Parses a CSR, checks its signature (with the embedded key and with want_key) and
 * returns its SAN dNSNames as one "a,b,c" string plus its CN. */
static void parse_csr(const cf_buf *der, const cf_key *want_key, char *sans, size_t sanslen,
		      char *cn, size_t cnlen, int *san_critical)
{
	const unsigned char *p = der->data;
	X509_REQ *req = d2i_X509_REQ(NULL, &p, (long)der->len);
	STACK_OF(X509_EXTENSION) * exts;
	GENERAL_NAMES *gens;
	EVP_PKEY *want = to_evp(want_key);
	int i, idx;

	assert_non_null(req);
	assert_ptr_equal(p, der->data + der->len);
	assert_int_equal(X509_REQ_verify(req, X509_REQ_get0_pubkey(req)), 1);
	assert_int_equal(X509_REQ_verify(req, want), 1);
	assert_int_equal(EVP_PKEY_eq(X509_REQ_get0_pubkey(req), want), 1);
	cn[0] = '\0';
	X509_NAME_get_text_by_NID(X509_REQ_get_subject_name(req), NID_commonName, cn,
				  (int)cnlen);
	exts = X509_REQ_get_extensions(req);
	assert_non_null(exts);
	idx = X509v3_get_ext_by_NID(exts, NID_subject_alt_name, -1);
	assert_true(idx >= 0);
	assert_int_equal(X509v3_get_ext_by_NID(exts, NID_subject_alt_name, idx), -1);
	*san_critical = X509_EXTENSION_get_critical(X509v3_get_ext(exts, idx));
	gens = X509V3_EXT_d2i(X509v3_get_ext(exts, idx));
	assert_non_null(gens);
	sans[0] = '\0';
	for (i = 0; i < sk_GENERAL_NAME_num(gens); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		assert_int_equal(g->type, GEN_DNS);
		if (i)
			strncat(sans, ",", sanslen - strlen(sans) - 1);
		strncat(sans, (const char *)g->d.dNSName->data, sanslen - strlen(sans) - 1);
	}
	GENERAL_NAMES_free(gens);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	EVP_PKEY_free(want);
	X509_REQ_free(req);
}

static void test_csr_sans(void **state)
{
	static const char *const names[] = {"example.com", "*.example.com",
					    "www.example.com"};
	cf_buf der = {0};
	cf_err err = {0};
	char sans[1024], cn[256];
	int crit;

	assert_int_equal(cf_csr_der(leaf_key, names, 3, &der, &err), 0);
	parse_csr(&der, leaf_key, sans, sizeof(sans), cn, sizeof(cn), &crit);
	assert_string_equal(sans, "example.com,*.example.com,www.example.com");
	assert_string_equal(cn, "example.com");
	assert_int_equal(crit, 0);
	/* signed with SHA-256 */
	{
		const unsigned char *p = der.data;
		X509_REQ *req = d2i_X509_REQ(NULL, &p, (long)der.len);
		assert_int_equal(X509_REQ_get_signature_nid(req), NID_ecdsa_with_SHA256);
		X509_REQ_free(req);
	}
	/* a flipped byte in the signature must not verify */
	der.data[der.len - 3] ^= 0x01;
	{
		const unsigned char *p = der.data;
		X509_REQ *req = d2i_X509_REQ(NULL, &p, (long)der.len);
		if (req != NULL)
			assert_int_not_equal(
				X509_REQ_verify(req, X509_REQ_get0_pubkey(req)), 1);
		X509_REQ_free(req);
	}
	cf_buf_free(&der);
}

static void test_csr_rsa_and_long_names(void **state)
{
	char longname[80], longer[100], sans[1024], cn[256];
	const char *names[3];
	cf_buf der = {0};
	cf_err err = {0};
	int crit;

	/* 65 characters: too long for the CN, fine as a SAN */
	memset(longname, 'a', 61);
	memcpy(longname + 61, ".com", 5);
	memset(longer, 'b', 80);
	memcpy(longer + 80, ".example.org", 13);
	names[0] = longname;
	names[1] = "short.example.com";
	names[2] = longer;
	assert_int_equal(cf_csr_der(rsa_key, names, 3, &der, &err), 0);
	parse_csr(&der, rsa_key, sans, sizeof(sans), cn, sizeof(cn), &crit);
	assert_string_equal(cn, "short.example.com");
	assert_non_null(strstr(sans, longname));
	assert_non_null(strstr(sans, longer));
	{
		const unsigned char *p = der.data;
		X509_REQ *req = d2i_X509_REQ(NULL, &p, (long)der.len);
		assert_int_equal(X509_REQ_get_signature_nid(req),
				 NID_sha256WithRSAEncryption);
		X509_REQ_free(req);
	}
	/* no name fits the CN: empty subject, critical SAN */
	cf_buf_reset(&der);
	names[1] = longer;
	assert_int_equal(cf_csr_der(leaf_key, names, 2, &der, &err), 0);
	parse_csr(&der, leaf_key, sans, sizeof(sans), cn, sizeof(cn), &crit);
	assert_string_equal(cn, "");
	assert_int_equal(crit, 1);
	cf_buf_free(&der);
}

static void test_csr_rejects(void **state)
{
	const char *bad_space[] = {"ok.example.com", "bad name.example.com"};
	const char *bad_null[] = {"ok.example.com", NULL};
	const char *bad_empty[] = {""};
	const char *one[] = {"example.com"};
	cf_buf der = {0};
	cf_err err = {0};
	json_t *jwk = cf_jwk_public(leaf_key, NULL);
	cf_key *pub = cf_key_from_jwk(jwk, NULL);

	assert_int_equal(cf_csr_der(leaf_key, bad_space, 2, &der, &err), -1);
	assert_non_null(strstr(err.msg, "bad name"));
	assert_int_equal(cf_csr_der(leaf_key, bad_null, 2, &der, &err), -1);
	assert_int_equal(cf_csr_der(leaf_key, bad_empty, 1, &der, &err), -1);
	assert_int_equal(cf_csr_der(leaf_key, one, 0, &der, &err), -1);
	assert_int_equal(cf_csr_der(pub, one, 1, &der, &err), -1); /* public only */
	assert_int_equal(der.len, 0);
	cf_key_free(pub);
	json_decref(jwk);
}

/* ---- certificate info ---- */

static void test_cert_info(void **state)
{
	cf_cert_info info;
	cf_err err = {0};
	unsigned char *der = NULL, md[32];
	char hex[65];
	int derlen, i;

	assert_int_equal(cf_cert_info_from_pem(leaf_pem, strlen(leaf_pem), &info, &err), 0);
	assert_string_equal(info.serial, "1a2b3c4d5e6f");
	assert_string_equal(info.subject_cn, "leaf.example.com");
	assert_string_equal(info.issuer_cn, "Test Intermediate E9");
	assert_int_equal(info.not_before, T0);
	assert_int_equal(info.not_after, T0 + 90 * DAY);
	assert_int_equal(info.nsans, 3);
	assert_string_equal(info.sans[0], "leaf.example.com");
	assert_string_equal(info.sans[1], "*.example.com");
	assert_string_equal(info.sans[2], "127.0.0.1.example.net");
	/* fingerprint: SHA-256 of the DER, computed independently */
	derlen = i2d_X509(leaf_x509, &der);
	assert_true(derlen > 0);
	assert_int_equal(EVP_Q_digest(NULL, "SHA256", NULL, der, (size_t)derlen, md, NULL),
			 1);
	for (i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	assert_string_equal(info.sha256_hex, hex);
	OPENSSL_free(der);
	cf_cert_info_free(&info);
	cf_cert_info_free(&info); /* idempotent */

	/* first block of a chain; no SANs */
	{
		char chain[8192];
		snprintf(chain, sizeof(chain), "%s%s", nosan_pem, leaf_pem);
		assert_int_equal(cf_cert_info_from_pem(chain, strlen(chain), &info, &err),
				 0);
		assert_string_equal(info.subject_cn, "no sans here");
		assert_string_equal(info.issuer_cn, "no sans here");
		assert_string_equal(info.serial, "07");
		assert_int_equal(info.nsans, 0);
		cf_cert_info_free(&info);
	}
	assert_int_equal(cf_cert_info_from_pem("junk", 4, &info, &err), -1);
	assert_non_null(strstr(err.msg, "PEM_read_bio_X509"));
	assert_int_equal(info.nsans, 0);
	assert_null(info.sans);
}

static void test_cert_matches_key(void **state)
{
	cf_key *back = cf_key_from_pem(leaf_key_pem, strlen(leaf_key_pem), NULL);

	assert_true(cf_cert_matches_key(leaf_pem, strlen(leaf_pem), leaf_key));
	assert_true(cf_cert_matches_key(leaf_pem, strlen(leaf_pem), back));
	assert_false(cf_cert_matches_key(leaf_pem, strlen(leaf_pem), inter_key));
	assert_false(cf_cert_matches_key(leaf_pem, strlen(leaf_pem), rsa_key));
	assert_false(cf_cert_matches_key(root_pem, strlen(root_pem), leaf_key));
	assert_true(cf_cert_matches_key(root_pem, strlen(root_pem), root_key));
	assert_false(cf_cert_matches_key("garbage", 7, leaf_key));
	assert_false(cf_cert_matches_key(leaf_pem, strlen(leaf_pem), NULL));
	cf_key_free(back);
}

/* ---- PEM chains ---- */

static void test_chain_split_valid(void **state)
{
	char text[16384], *leaf = NULL, *chain = NULL, issuer[256];
	cf_err err = {0};
	size_t i, j;

	snprintf(text, sizeof(text), "%s%s", leaf_pem, inter_pem);
	assert_int_equal(cf_pem_chain_split(text, strlen(text), &leaf, &chain, &err), 0);
	assert_string_equal(leaf, leaf_pem);
	assert_string_equal(chain, inter_pem);
	free(leaf);
	free(chain);
	assert_int_equal(
		cf_pem_chain_top_issuer(text, strlen(text), issuer, sizeof(issuer), &err),
		0);
	assert_string_equal(issuer, "Test Root X1");

	/* three blocks, CRLF line ends, surrounding blank lines, no final newline */
	snprintf(text, sizeof(text), "\r\n%s\n%s%s", leaf_pem, inter_pem, root_pem);
	{
		char crlf[20000];
		for (i = 0, j = 0; text[i]; i++) {
			if (text[i] == '\n' && (i == 0 || text[i - 1] != '\r'))
				crlf[j++] = '\r';
			crlf[j++] = text[i];
		}
		while (j > 0 && (crlf[j - 1] == '\n' || crlf[j - 1] == '\r'))
			j--;
		crlf[j] = '\0';
		assert_int_equal(cf_pem_chain_split(crlf, j, &leaf, &chain, &err), 0);
		assert_string_equal(leaf, leaf_pem);
		snprintf(text, sizeof(text), "%s%s", inter_pem, root_pem);
		assert_string_equal(chain, text);
		free(leaf);
		free(chain);
		assert_int_equal(
			cf_pem_chain_top_issuer(crlf, j, issuer, sizeof(issuer), &err), 0);
		assert_string_equal(issuer, "Test Root X1");
	}

	/* a lone leaf: the chain is "" */
	assert_int_equal(
		cf_pem_chain_split(leaf_pem, strlen(leaf_pem), &leaf, &chain, &err), 0);
	assert_string_equal(chain, "");
	free(leaf);
	free(chain);
	/* NULL outputs are fine */
	assert_int_equal(cf_pem_chain_split(leaf_pem, strlen(leaf_pem), NULL, NULL, &err),
			 0);
}

/* Expects rejection with a message containing what. */
static void expect_reject(const char *text, const char *what)
{
	char *leaf = (char *)"sentinel", *chain = (char *)"sentinel", issuer[64];
	cf_err err = {0};

	assert_int_equal(cf_pem_chain_split(text, strlen(text), &leaf, &chain, &err), -1);
	assert_null(leaf);
	assert_null(chain);
	if (strstr(err.msg, what) == NULL)
		fail_msg("error \"%s\" does not mention \"%s\"", err.msg, what);
	assert_int_equal(
		cf_pem_chain_top_issuer(text, strlen(text), issuer, sizeof(issuer), &err),
		-1);
}

static void test_chain_rejects(void **state)
{
	char text[16384], *p;

	/* a private key next to the certificates */
	snprintf(text, sizeof(text), "%s%s", leaf_pem, leaf_key_pem);
	expect_reject(text, "\"PRIVATE KEY\"");
	snprintf(text, sizeof(text), "%s%s", leaf_key_pem, leaf_pem);
	expect_reject(text, "PRIVATE KEY");
	/* garbage: alone, trailing, leading, between blocks */
	expect_reject("this is not a certificate\n", "unexpected text");
	snprintf(text, sizeof(text), "%s%sThanks for using our CA!\n", leaf_pem, inter_pem);
	expect_reject(text, "unexpected text");
	snprintf(text, sizeof(text), "Certificate:\n%s", leaf_pem);
	expect_reject(text, "unexpected text");
	snprintf(text, sizeof(text), "%sissuer=Test\n%s", leaf_pem, inter_pem);
	expect_reject(text, "unexpected text");
	snprintf(text, sizeof(text), "%s-----END CERTIFICATE-----\n", leaf_pem);
	expect_reject(text, "unexpected text");
	/* empty and whitespace only */
	expect_reject("", "no CERTIFICATE block");
	expect_reject(" \r\n\n\t", "no CERTIFICATE block");
	/* well-formed PEM that is not X.509, bad base64, missing END */
	expect_reject("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
		      "not an X.509 certificate");
	snprintf(text, sizeof(text), "%s", leaf_pem);
	p = strchr(text, '\n') + 5;
	*p = '*';
	expect_reject(text, "PEM_read_bio");
	snprintf(text, sizeof(text), "%s", leaf_pem);
	*strstr(text, "-----END") = '\0';
	expect_reject(text, "no END CERTIFICATE");
	snprintf(text, sizeof(text), "%s%s", leaf_pem, inter_pem);
	*strstr(text, "-----END") = ' ';
	expect_reject(text, "no END CERTIFICATE");
	/* other labels, even near misses */
	snprintf(text, sizeof(text), "%s", leaf_pem);
	memcpy(strstr(text, "BEGIN CERTIFICATE"), "BEGIN CERTIFICATX", 17);
	expect_reject(text, "CERTIFICATX");
	expect_reject("-----BEGIN TRUSTED CERTIFICATE-----\nAAAA\n"
		      "-----END TRUSTED CERTIFICATE-----\n",
		      "TRUSTED CERTIFICATE");
	expect_reject("-----BEGIN CERTIFICATE\nAAAA\n-----END CERTIFICATE-----\n",
		      "malformed BEGIN");
	/* RFC 1421 headers inside the block */
	p = strchr(leaf_pem, '\n') + 1;
	snprintf(text, sizeof(text),
		 "-----BEGIN CERTIFICATE-----\nProc-Type: 4,ENCRYPTED\n"
		 "DEK-Info: AES-128-CBC,000102030405060708090A0B0C0D0E0F\n\n%s",
		 p);
	expect_reject(text, "headers");
	/* a stray CR inside a base64 line: OpenSSL's reader skips it here but cuts
	 * the line when the text starts otherwise (found by tests/fuzz/fuzz_x509) */
	p = strchr(leaf_pem, '\n') + 1 + 30;
	snprintf(text, sizeof(text), "%.*s\r%s", (int)(p - leaf_pem), leaf_pem, p);
	expect_reject(text, "other than base64");
	/* a BEGIN line that does not start a line (OpenSSL's reader skips that
	 * block; found by fuzz_x509) */
	snprintf(text, sizeof(text), " %s%s", leaf_pem, inter_pem);
	expect_reject(text, "unexpected text at byte 1");
	snprintf(text, sizeof(text), "%s\r%s", leaf_pem, inter_pem);
	expect_reject(text, "unexpected text");
}

/* A CERTIFICATE block whose DER has bytes after the certificate is no certificate. */
static void test_chain_rejects_trailing_der(void **state)
{
	unsigned char *der = NULL, *padded;
	int derlen = i2d_X509(leaf_x509, &der);
	BIO *bio = BIO_new(BIO_s_mem());
	char *data = NULL, *text;
	long n;

	assert_true(derlen > 0);
	padded = malloc((size_t)derlen + 2);
	memcpy(padded, der, (size_t)derlen);
	padded[derlen] = 0x05; /* an ASN.1 NULL */
	padded[derlen + 1] = 0x00;
	assert_true(PEM_write_bio(bio, "CERTIFICATE", "", padded, derlen + 2) > 0);
	n = BIO_get_mem_data(bio, &data);
	text = strndup(data, (size_t)n);
	expect_reject(text, "not an X.509 certificate");
	free(text);
	BIO_free(bio);
	free(padded);
	OPENSSL_free(der);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_csr_sans),
		cmocka_unit_test(test_csr_rsa_and_long_names),
		cmocka_unit_test(test_csr_rejects),
		cmocka_unit_test(test_cert_info),
		cmocka_unit_test(test_cert_matches_key),
		cmocka_unit_test(test_chain_split_valid),
		cmocka_unit_test(test_chain_rejects),
		cmocka_unit_test(test_chain_rejects_trailing_der),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
