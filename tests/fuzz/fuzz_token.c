/*
 * fuzz_token.c: the bearer token on its way in: the Authorization header
 * (cf_bearer_parse, service/http/request.c), the token's shape
 * "cf_<id>_<secret>" (cf_token_split, service/store/tokens.c) and the decision on
 * a token row (cf_token_check), plus the small parsers of token creation
 * (cf_role_parse, cf_parse_duration).
 *
 * The input is an Authorization header value. Invariants: a bearer is a
 * non-empty suffix of the header after "Bearer " and spaces; a token that splits
 * has a 12-digit lower-case hex id and a non-empty base64url secret of at most
 * CF_TOKEN_SECRET_MAX characters; checked against a row made from its own id and
 * secret hash it is OK (and the principal carries the id), REVOKED or EXPIRED as
 * the row says, and INVALID against no row, another id or another hash; a token
 * that does not split is INVALID against any row.
 */
#include "fuzz.h"

#include <strings.h>

#include "crypto/crypto.h"
#include "http/http.h"
#include "store/tokens.h"

#define NOW ((time_t)1700000000)

static cf_token_status check(const cf_token_row *row, const char *token, cf_principal *who)
{
	cf_token_status st = CF_TOKEN_OK;

	cf_token_check(row, token, NOW, who, &st);
	return st;
}

static void token(const char *t)
{
	char id[CF_TOKEN_ID_LEN + 1];
	const char *secret = NULL;
	cf_token_row row = { .role = CF_ROLE_HOST };
	cf_principal who;
	size_t i, n;

	FZ_CHECK(check(NULL, t, &who) == CF_TOKEN_INVALID);
	if (cf_token_split(t, id, &secret) != 0) {
		/* a row with any id and the hash of anything after the prefix */
		snprintf(row.id, sizeof(row.id), "0123456789ab");
		cf_sha256(t, strlen(t), row.secret_sha256);
		FZ_CHECK(check(&row, t, &who) == CF_TOKEN_INVALID);
		return;
	}
	FZ_CHECK(strlen(id) == CF_TOKEN_ID_LEN);
	for (i = 0; i < CF_TOKEN_ID_LEN; i++)
		FZ_CHECK((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f'));
	n = strlen(secret);
	FZ_CHECK(n >= 1 && n <= CF_TOKEN_SECRET_MAX);
	FZ_CHECK(secret == t + 3 + CF_TOKEN_ID_LEN + 1);

	memcpy(row.id, id, sizeof(row.id));
	snprintf(row.name, sizeof(row.name), "web-01");
	cf_sha256(secret, n, row.secret_sha256);
	FZ_CHECK(check(&row, t, &who) == CF_TOKEN_OK);
	FZ_CHECK(strcmp(who.token_id, id) == 0 && who.role == CF_ROLE_HOST);
	row.expires_at = NOW;
	FZ_CHECK(check(&row, t, &who) == CF_TOKEN_EXPIRED);
	row.expires_at = NOW + 1;
	FZ_CHECK(check(&row, t, &who) == CF_TOKEN_OK);
	row.revoked = true;
	FZ_CHECK(check(&row, t, &who) == CF_TOKEN_REVOKED);
	row.revoked = false;
	row.secret_sha256[0] ^= 1;
	FZ_CHECK(check(&row, t, &who) == CF_TOKEN_INVALID);
	row.secret_sha256[0] ^= 1;
	row.id[0] = row.id[0] == '0' ? '1' : '0';
	FZ_CHECK(check(&row, t, &who) == CF_TOKEN_INVALID);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *h = fz_str(data, size);
	const char *b = cf_bearer_parse(h);
	long secs;

	if (b != NULL) {
		FZ_CHECK(strncasecmp(h, "Bearer ", 7) == 0);
		FZ_CHECK(b >= h + 7 && b < h + strlen(h) && *b != ' ');
		token(b);
	}
	token(h);
	(void)cf_role_parse(h);
	if (cf_parse_duration(h, &secs) == 0)
		FZ_CHECK(secs >= 1 && secs <= 100L * 366 * 86400);
	free(h);
	return 0;
}
