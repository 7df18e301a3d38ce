/*
 * fuzz_link.c: the Link header parser (service/acme/link.c, RFC 8288 as ACME uses
 * it for alternate chains, "up" and "index").
 *
 * Each line of the input is one Link header value of a response (at most
 * ACME_MAX_LINKS, as the transport keeps them); every value is parsed for each
 * relation certfleet asks about, and the whole response through
 * acme_resp_links() with a small output array so that the "array full" path runs.
 * Invariants: never more URLs than room; every URL kept is an absolute https://
 * URL without blanks, controls or quotes.
 */
#include "fuzz.h"

#include <strings.h>

#include "acme/acme_int.h"

static void check_urls(char **urls, size_t n, size_t max)
{
	size_t i;
	const unsigned char *c;

	FZ_CHECK(n <= max);
	for (i = 0; i < n; i++) {
		FZ_CHECK(strncasecmp(urls[i], "https://", 8) == 0);
		FZ_CHECK(strlen(urls[i]) > 8);
		for (c = (const unsigned char *)urls[i]; *c; c++)
			FZ_CHECK(*c > 0x20 && *c != 0x7f && *c != '"');
	}
}

static void free_urls(char **urls, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(urls[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const rels[] = { "alternate", "up", "index" };
	char *text = fz_str(data, size), *line, *save = NULL;
	char *urls[ACME_MAX_LINKS], *few[2];
	acme_resp r = { 0 };
	size_t i, k, n, nfew;
	int rc;

	for (line = strtok_r(text, "\r\n", &save); line != NULL && r.nlinks < ACME_MAX_LINKS;
	     line = strtok_r(NULL, "\r\n", &save))
		r.links[r.nlinks++] = line;
	for (k = 0; k < sizeof(rels) / sizeof(rels[0]); k++) {
		for (i = 0; i < r.nlinks; i++) {
			n = 0;
			rc = cf_acme_link_parse(r.links[i], rels[k], urls, ACME_MAX_LINKS, &n);
			FZ_CHECK(rc == 0 || rc == -1);
			check_urls(urls, n, ACME_MAX_LINKS);
			free_urls(urls, n);
		}
		nfew = 0;
		(void)acme_resp_links(&r, rels[k], few, 2, &nfew);
		check_urls(few, nfew, 2);
		free_urls(few, nfew);
	}
	free(text);
	return 0;
}
