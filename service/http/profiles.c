/*
 * profiles.c: a certificate's ACME profile checked against its issuers'
 * directories (meta.profiles, draft-ietf-acme-profiles) when it is created or
 * changed, so an unknown profile is a 400 that lists the ones offered instead of
 * a failed job later; and a profile's documented name limit (Let's Encrypt's
 * tlsserver and shortlived: 25 names) enforced at the same time.
 *
 * The one place a handler reads a CA: the directory of each issuer, fetched once
 * (by app->directory_profiles, issue/directory.c, set by serve: http/ does not
 * speak ACME) and cached for CF_DIR_TTL_S per directory URL in this process (a mutex around
 * the small cache; a fetch holds it, so concurrent checks of a cold cache wait
 * for one fetch). Issuers whose directory offers no profiles at all are skipped
 * (the worker orders there without one); a directory that cannot be read is a
 * 503 naming the issuer.
 */
#include "http/http.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/validate.h"
#include "store/db.h"
#include "store/rows.h"
#include "util/clock.h"

#define CF_DIR_TTL_S 60
#define CF_DIR_CACHE 8

/* Profiles whose documented limit of names the directory does not carry. */
static const struct {
	const char *profile;
	int max_names;
} name_limits[] = {{"tlsserver", 25}, {"shortlived", 25}, {"classic", 100}};

typedef struct dir_entry {
	char *url;
	double at;       /* when fetched (monotonic s) */
	char *offered;   /* "classic, shortlived, tlsserver" ("" when none) */
} dir_entry;

static pthread_mutex_t dir_mu = PTHREAD_MUTEX_INITIALIZER;
static dir_entry dir_cache[CF_DIR_CACHE];

/* The cached list of the directory at url (fetched when absent or stale), copied
 * into a new string. NULL with err. */
static char *offered_profiles(const cf_app *app, const char *url, const char *ca_pem,
			      cf_err *err)
{
	double now = cf_clock_mono_s();
	dir_entry *e = NULL, *oldest = &dir_cache[0];
	char *list = NULL;

	pthread_mutex_lock(&dir_mu);
	for (int i = 0; i < CF_DIR_CACHE; i++) {
		if (dir_cache[i].url != NULL && strcmp(dir_cache[i].url, url) == 0)
			e = &dir_cache[i];
		if (dir_cache[i].at < oldest->at)
			oldest = &dir_cache[i];
	}
	if (e == NULL || now - e->at > CF_DIR_TTL_S) {
		char *fresh = NULL;

		if (app->directory_profiles == NULL) {
			cf_err_set(err, CF_ERR_PERMANENT, "no directory reader in this process");
			goto out;
		}
		if (app->directory_profiles(url, ca_pem, &fresh, err) != 0)
			goto out;
		if (e == NULL) {
			e = oldest;
			free(e->url);
			if ((e->url = strdup(url)) == NULL) {
				free(fresh);
				cf_err_oom(err, "directory cache");
				goto out;
			}
		}
		free(e->offered);
		e->offered = fresh;
		e->at = now;
	}
	if ((list = strdup(e->offered)) == NULL)
		cf_err_oom(err, "directory cache");
out:
	pthread_mutex_unlock(&dir_mu);
	return list;
}

/* Whether name is an entry of the ", "-separated list. */
static bool listed(const char *list, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = list; (p = strstr(p, name)) != NULL; p += n)
		if ((p == list || p[-1] == ' ') && (p[n] == '\0' || p[n] == ','))
			return true;
	return false;
}

/* Checks profile at one issuer: 0 fine, 1 answered (400/503), -1 error. */
static int check_at(const cf_app *app, cf_http_req *req, cf_http_resp *resp,
		    const char *issuer,
		    const char *profile, size_t nnames, cf_err *err)
{
	const char *p[1] = {issuer};
	PGresult *r = NULL;
	char *offered = NULL;
	cf_err ferr = {0};
	cf_verrs errs = {0};
	int rc = -1;

	r = cf_db_exec(req->db, "an issuer's directory",
		       "SELECT directory, ca_pem FROM issuers WHERE name = $1", 1, p, err);
	if (r == NULL)
		goto out;
	rc = 0;
	if (PQntuples(r) == 0)
		goto out; /* "default" before serve wrote it: nothing to check against */
	offered = offered_profiles(app, PQgetvalue(r, 0, 0),
				   PQgetisnull(r, 0, 1) ? NULL : PQgetvalue(r, 0, 1), &ferr);
	if (offered == NULL) {
		rc = 1;
		cf_resp_problem(resp, 503, "issuer-unreachable", NULL, "profile: the directory of "
				"issuer \"%s\" cannot be read to check the profile: %s", issuer,
				ferr.msg);
		goto out;
	}
	if (offered[0] == '\0')
		goto out; /* the CA offers no profiles: ordered without one */
	if (!listed(offered, profile)) {
		cf_verrs_add(&errs, "profile", "\"%s\" is not offered by issuer %s (offered: %s)",
			     profile, issuer, offered);
		cf_resp_invalid(resp, &errs);
		rc = 1;
		goto out;
	}
	for (size_t i = 0; i < sizeof(name_limits) / sizeof(name_limits[0]); i++)
		if (strcmp(name_limits[i].profile, profile) == 0 &&
		    nnames > (size_t)name_limits[i].max_names) {
			cf_verrs_add(&errs, "domains", "profile %s allows at most %d names; this "
				     "certificate has %zu", profile, name_limits[i].max_names,
				     nnames);
			cf_resp_invalid(resp, &errs);
			rc = 1;
		}
out:
	free(offered);
	PQclear(r);
	cf_err_clear(&ferr);
	return rc;
}

int cf_profile_check(const cf_app *app, cf_http_req *req, cf_http_resp *resp,
		     const json_t *doc, cf_err *err)
{
	const char *profile = json_string_value(json_object_get(doc, "profile"));
	size_t n = json_array_size(json_object_get(doc, "domains")), i;
	json_t *v;
	int r;

	if (profile == NULL)
		return 0;
	json_array_foreach(json_object_get(doc, "issuers"), i, v)
		if ((r = check_at(app, req, resp, json_string_value(v), profile, n, err)) != 0)
			return r;
	return 0;
}
