/*
 * directory.c: the profiles a CA's directory offers (meta.profiles), read with a
 * throwaway key and the issuer's trust, for the API's check of a certificate's
 * profile (http/profiles.c reaches it through cf_app.directory_profiles, set by
 * serve; http/ does not speak ACME itself).
 */
#include "issue/directory.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "acme/acme.h"
#include "crypto/crypto.h"
#include "util/files.h"

/* The profiles the directory at url offers, as a list ("" when none), fetched
 * with the issuer's trust (ca_pem may be NULL). Caller frees. NULL with err. */
static char *fetch_offered(const char *url, const char *ca_pem, cf_err *err)
{
	cf_acme_options o = {.directory_url = url, .connect_timeout_ms = 5000,
			     .timeout_ms = 10000, .max_inline_wait_ms = -1};
	const cf_acme_directory *d = NULL;
	char name[64], path[4096] = "", *out = NULL;
	cf_acme_client *c = NULL;
	cf_key *key = NULL;
	const char *dir = getenv("TMPDIR");
	size_t len = 1;

	if (dir == NULL || dir[0] == '\0')
		dir = "/tmp";
	if (ca_pem != NULL) {
		snprintf(name, sizeof(name), "certfleet-ca-%ld-http.pem", (long)getpid());
		if (cf_write_file_atomic(dir, name, ca_pem, strlen(ca_pem), 0644, err) != 0)
			goto out;
		snprintf(path, sizeof(path), "%s/%s", dir, name);
		o.ca_file = path;
	}
	if ((key = cf_key_generate(CF_KEY_EC256, err)) == NULL ||
	    (c = cf_acme_client_new(&o, key, err)) == NULL ||
	    cf_acme_client_directory(c, &d, err) != 0)
		goto out;
	for (size_t i = 0; i < d->nprofiles; i++)
		len += strlen(d->profile_names[i]) + 2;
	if ((out = calloc(1, len)) == NULL) {
		cf_err_oom(err, "directory profiles");
		goto out;
	}
	for (size_t i = 0; i < d->nprofiles; i++) {
		if (i > 0)
			strcat(out, ", ");
		strcat(out, d->profile_names[i]);
	}
out:
	if (path[0])
		unlink(path);
	cf_acme_client_free(c);
	cf_key_free(key);
	return out;
}

int cf_issue_directory_profiles(const char *url, const char *ca_pem, char **out, cf_err *err)
{
	*out = fetch_offered(url, ca_pem, err);
	return *out ? 0 : -1;
}
