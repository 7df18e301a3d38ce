/*
 * challenge.c: what a dns-01 challenge asks us to publish (RFC 8555 sections 8.1
 * and 8.4): the key authorization, token "." base64url(RFC 7638 thumbprint of the
 * account key), and the TXT value, base64url(SHA-256(key authorization)). The
 * token comes from the CA and is checked to be base64url before it is used.
 */
#include "acme/acme_int.h"

#include <stdlib.h>
#include <string.h>

#include "util/b64.h"

static bool token_ok(const char *t)
{
	size_t i;

	if (t == NULL || t[0] == '\0' || strlen(t) > 512)
		return false;
	for (i = 0; t[i]; i++)
		if (!((t[i] >= 'A' && t[i] <= 'Z') || (t[i] >= 'a' && t[i] <= 'z') ||
		      (t[i] >= '0' && t[i] <= '9') || t[i] == '-' || t[i] == '_'))
			return false;
	return true;
}

char *cf_acme_key_authorization(const cf_key *key, const char *token, cf_err *err)
{
	char *thumb = NULL;
	cf_buf b = {0};
	char *out = NULL;

	if (!token_ok(token)) {
		cf_err_set(err, CF_ERR_PERMANENT, "challenge token is not base64url");
		goto out;
	}
	if ((thumb = cf_jwk_thumbprint(key, err)) == NULL)
		goto out;
	if (cf_buf_printf(&b, "%s.%s", token, thumb) != 0) {
		cf_err_oom(err, "key authorization");
		goto out;
	}
	out = cf_buf_steal(&b);
out:
	free(thumb);
	cf_buf_free(&b);
	return out;
}

char *cf_acme_dns01_txt(const char *key_authorization)
{
	uint8_t digest[32];

	if (key_authorization == NULL)
		return NULL;
	cf_sha256(key_authorization, strlen(key_authorization), digest);
	return cf_b64url_encode(digest, sizeof(digest));
}
