/*
 * ari_id.c: the certificate identifier of ACME Renewal Information (RFC 9773
 * section 4.1): base64url(AKI keyIdentifier) "." base64url(serial), where the
 * serial is the content octets of its DER INTEGER encoding (so a serial whose
 * first byte has its high bit set keeps the leading 0x00 that DER requires), both
 * without padding. The renewal scheduler uses it to ask the CA for a window and
 * sends it as "replaces" in the renewal's newOrder.
 */
#include "crypto/crypto_int.h"

#include <limits.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/b64.h"

/* The content octets of the DER encoding of the serial (tag and length skipped).
 * *der (OPENSSL_malloc'd) must be freed by the caller; *content points into it. */
static int serial_content(const X509 *x, unsigned char **der, const unsigned char **content,
			  size_t *n, cf_err *err)
{
	int len = i2d_ASN1_INTEGER(X509_get0_serialNumber(x), der);
	const unsigned char *p = *der;
	size_t hdr = 2, l;

	if (len < 3 || p[0] != 0x02)
		return cf_crypto_fail(err, "i2d_ASN1_INTEGER");
	l = p[1];
	if (l & 0x80) { /* long form: 0x8N then N length bytes */
		size_t nb = l & 0x7f;

		if (nb == 0 || nb > 4 || (size_t)len < 2 + nb)
			return cf_err_set(err, CF_ERR_PERMANENT,
					  "certificate serial: bad DER length");
		l = 0;
		for (size_t i = 0; i < nb; i++)
			l = (l << 8) | p[2 + i];
		hdr += nb;
	}
	if (hdr + l != (size_t)len || l == 0)
		return cf_err_set(err, CF_ERR_PERMANENT, "certificate serial: bad DER length");
	*content = p + hdr;
	*n = l;
	return 0;
}

char *cf_cert_ari_id(const char *pem, size_t len, cf_err *err)
{
	BIO *bio = NULL;
	X509 *x = NULL;
	const ASN1_OCTET_STRING *aki;
	unsigned char *der = NULL;
	const unsigned char *serial = NULL;
	char *kid_b64 = NULL, *ser_b64 = NULL, *out = NULL;
	size_t n = 0;

	if (pem == NULL || len == 0 || len > INT_MAX) {
		cf_err_set(err, CF_ERR_PERMANENT, "certificate PEM is empty or oversized");
		goto out;
	}
	if ((bio = BIO_new_mem_buf(pem, (int)len)) == NULL ||
	    (x = PEM_read_bio_X509(bio, NULL, cf_pem_no_password, NULL)) == NULL) {
		cf_crypto_fail(err, "PEM_read_bio_X509");
		goto out;
	}
	aki = X509_get0_authority_key_id(x);
	if (aki == NULL || ASN1_STRING_length(aki) <= 0) {
		cf_err_set(err, CF_ERR_PERMANENT, "the certificate has no Authority Key Identifier "
			   "keyIdentifier (needed for ARI)");
		goto out;
	}
	if (serial_content(x, &der, &serial, &n, err) != 0)
		goto out;
	kid_b64 = cf_b64url_encode(ASN1_STRING_get0_data(aki), (size_t)ASN1_STRING_length(aki));
	ser_b64 = cf_b64url_encode(serial, n);
	if (kid_b64 == NULL || ser_b64 == NULL ||
	    (out = malloc(strlen(kid_b64) + strlen(ser_b64) + 2)) == NULL) {
		cf_err_oom(err, NULL);
		goto out;
	}
	sprintf(out, "%s.%s", kid_b64, ser_b64);
out:
	OPENSSL_free(der);
	free(kid_b64);
	free(ser_b64);
	X509_free(x);
	BIO_free(bio);
	return out;
}
