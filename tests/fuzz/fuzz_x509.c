/*
 * fuzz_x509.c: PEM certificate chains and the chain check (service/crypto/x509.c).
 *
 * The input is what a CA's certificate download or an operator's file would be:
 * one or more PEM blocks. It goes through the strict RFC 8555 section 11.4 check
 * (cf_pem_chain_split, cf_pem_chain_top_issuer) and through the parsers that read
 * the first certificate (cf_cert_info_from_pem, cf_cert_ari_id,
 * cf_cert_matches_key against a key made once). Invariants: the split and the
 * top-issuer check agree on what is a chain; a chain that passes gives a leaf that
 * passes again as a one-certificate chain, with no rest, and that parses to the
 * same certificate (same fingerprint) as the first block of the input.
 */
#include "fuzz.h"

#include "crypto/crypto.h"

static cf_key *key;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	key = cf_key_generate(CF_KEY_EC256, NULL);
	if (key == NULL)
		abort();
	return 0;
}

/* The leaf must be a chain of one, and the same certificate as the input's first. */
static void check_leaf(const char *leaf, const cf_cert_info *first)
{
	char *leaf2 = NULL, *rest2 = NULL;
	cf_cert_info info = { 0 };
	cf_err err = { 0 };

	FZ_CHECK(cf_pem_chain_split(leaf, strlen(leaf), &leaf2, &rest2, &err) == 0);
	FZ_CHECK(strcmp(leaf, leaf2) == 0 && rest2[0] == '\0');
	if (cf_cert_info_from_pem(leaf, strlen(leaf), &info, &err) == 0)
		FZ_CHECK(first == NULL || strcmp(info.sha256_hex, first->sha256_hex) == 0);
	else
		FZ_CHECK(first == NULL);
	cf_cert_info_free(&info);
	free(leaf2);
	free(rest2);
	cf_err_clear(&err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *pem = (const char *)data;
	char *leaf = NULL, *rest = NULL, *ari, *s = fz_str(data, size);
	cf_cert_info info = { 0 };
	char issuer[256];
	cf_err err = { 0 };
	int split, top, parsed;

	split = cf_pem_chain_split(pem, size, &leaf, &rest, &err);
	cf_err_clear(&err);
	top = cf_pem_chain_top_issuer(pem, size, issuer, sizeof(issuer), &err);
	cf_err_clear(&err);
	FZ_CHECK(split == top || (split == 0 && top == -1)); /* top: the CN may be unreadable */
	parsed = cf_cert_info_from_pem(pem, size, &info, &err);
	cf_err_clear(&err);
	if (split == 0) {
		FZ_CHECK(leaf != NULL && rest != NULL);
		check_leaf(leaf, parsed == 0 ? &info : NULL);
	}
	if (parsed == 0) {
		FZ_CHECK(strlen(info.sha256_hex) == 64);
		for (size_t i = 0; i < info.nsans; i++)
			FZ_CHECK(info.sans[i] != NULL);
	}
	ari = cf_cert_ari_id(pem, size, &err);
	cf_err_clear(&err);
	(void)cf_cert_matches_key(pem, size, key);
	/* the NUL-terminated form, as a file read into a string would give it */
	(void)cf_cert_matches_key(s, strlen(s), key);
	free(ari);
	free(leaf);
	free(rest);
	free(s);
	cf_cert_info_free(&info);
	return 0;
}
