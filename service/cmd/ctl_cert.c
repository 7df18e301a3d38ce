/*
 * ctl_cert.c: `certfleet ctl cert ...`, the managed certificates over the API:
 * list, get, create, patch, delete, issue, revoke, versions, deployments.
 *
 * create and patch take the API's own fields, from a JSON file (-f FILE, or -f -
 * for stdin) and from flags named after the fields (--domain, --dns-alias,
 * --provider, --key-type, --host, --admin-keys, --renew-fraction, --issuer,
 * --profile), flags overriding the file member by member; patch's --unset FIELD
 * sends null (back to the default). Values are passed as given: the server
 * validates them and its problem names the field at fault, so this client never
 * holds a second copy of the rules. A repeated list flag (--domain, --host,
 * --issuer) builds the list; --dns-alias and --provider take one value for every
 * name, or NAME=VALUE repeated for a map.
 *
 * issue, revoke and create answer with a job; --watch follows it to its end
 * (ctl_job_watch), and the exit code says how it ended.
 *
 * deployments reads GET /v1/certificates/{id}/deployments (issue 13's per-host
 * rollout inventory). A server without that route answers 404 "no route", which
 * is reported as "the server does not support deployments" rather than as a
 * missing certificate.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/ctl.h"

#define CERT_FLAGS                                                                        \
	"-f= --domain= --dns-alias= --provider= --key-type= --host= --admin-keys= "        \
	"--renew-fraction= --issuer= --profile= "

static const ctl_col list_cols[] = {
	{ "ID", "id", CTL_STR },
	{ "STATUS", "status", CTL_STR },
	{ "VERSION", "current_version.version", CTL_STR },
	{ "NOT AFTER", "current_version.not_after", CTL_TIME },
	{ "DAYS", "current_version.not_after", CTL_DAYS },
	{ "DOMAINS", "domains", CTL_LIST },
	{ "HOSTS", "hosts", CTL_LIST },
	{ "ISSUERS", "issuers", CTL_LIST },
};

static const ctl_col get_cols[] = {
	{ "id", "id", CTL_STR },
	{ "status", "status", CTL_STR },
	{ "domains", "domains", CTL_ALL },
	{ "dns_alias", "dns_alias", CTL_ALL },
	{ "provider", "provider", CTL_ALL },
	{ "key_type", "key_type", CTL_STR },
	{ "hosts", "hosts", CTL_ALL },
	{ "admin_keys", "admin_keys", CTL_BOOL },
	{ "renew_fraction", "renew_fraction", CTL_STR },
	{ "issuers", "issuers", CTL_ALL },
	{ "profile", "profile", CTL_STR },
	{ "version", "current_version.version", CTL_STR },
	{ "serial", "current_version.serial", CTL_STR },
	{ "not_before", "current_version.not_before", CTL_TIME },
	{ "not_after", "current_version.not_after", CTL_TIME },
	{ "days_left", "current_version.not_after", CTL_DAYS },
	{ "revoked_at", "current_version.revoked_at", CTL_TIME },
	{ "created_at", "created_at", CTL_TIME },
	{ "updated_at", "updated_at", CTL_TIME },
};

static const ctl_col version_cols[] = {
	{ "VERSION", "version", CTL_STR },
	{ "SERIAL", "serial", CTL_STR },
	{ "NOT BEFORE", "not_before", CTL_TIME },
	{ "NOT AFTER", "not_after", CTL_TIME },
	{ "ISSUER", "issuer", CTL_STR },
	{ "CURRENT", "current", CTL_BOOL },
	{ "REVOKED", "revoked_at", CTL_TIME },
	{ "REASON", "revocation_reason", CTL_STR },
};

#define NCOLS(a) (sizeof(a) / sizeof((a)[0]))

/* "/v1/certificates/<id><tail>" with id encoded. */
static const char *cert_path(char *out, size_t n, const char *id, const char *tail)
{
	char seg[512];

	snprintf(out, n, "/v1/certificates/%s%s", ctl_seg(id, seg, sizeof(seg)) ? seg : "-",
		 tail);
	return out;
}

static int cert_list(ctl *c, const ctl_args *a)
{
	const char *within = ctl_arg(a, "--expiring-within");
	cf_buf q = { 0 };
	json_t *items = NULL;
	long limit = 0;
	int rc;

	if ((rc = ctl_limit(c, a, &limit)) != CTL_OK)
		goto out;
	if (within != NULL && ctl_query_add(&q, "expiring_within", within) != 0) {
		rc = ctl_errorf(c, CTL_ERROR, "out of memory");
		goto out;
	}
	rc = ctl_list(c, "/v1/certificates", (const char *)q.data, "certificates",
		      limit, &items);
	if (rc != CTL_OK)
		goto out;
	if (c->json) {
		json_t *doc = json_pack("{s:O}", "certificates", items);

		ctl_json(doc);
		json_decref(doc);
	} else {
		ctl_table(list_cols, NCOLS(list_cols), items);
	}
out:
	json_decref(items);
	cf_buf_free(&q);
	return rc;
}

static int cert_get(ctl *c, const ctl_args *a)
{
	char path[600];
	json_t *doc = NULL;
	int rc = ctl_call(c, "GET", cert_path(path, sizeof(path), a->pos[0], ""), NULL, &doc);

	if (rc == CTL_OK) {
		if (c->json)
			ctl_json(doc);
		else
			ctl_fields(get_cols, NCOLS(get_cols), doc);
	}
	json_decref(doc);
	return rc;
}

/* ---- the document of create and patch ---- */

/* A value of a flag as JSON: numbers and true/false where the field takes them,
 * else the text (the server judges it). */
static json_t *flag_value(const char *field, const char *v)
{
	char *end = NULL;
	double d;

	if (strcmp(field, "admin_keys") == 0 && (strcmp(v, "true") == 0 || strcmp(v, "false") == 0))
		return json_boolean(strcmp(v, "true") == 0);
	if (strcmp(field, "renew_fraction") == 0) {
		d = strtod(v, &end);
		if (*v != '\0' && end != NULL && *end == '\0')
			return json_real(d);
	}
	return json_string(v);
}

int ctl_spec_flag(ctl *c, const ctl_args *a, const char *flag, const char *field,
		     json_t *doc)
{
	json_t *map = NULL, *one = NULL;
	int n = 0, rc = CTL_USAGE;

	for (size_t i = 0; i < a->nopt; i++) {
		const char *v = a->opt[i].val, *eq;
		char name[512];

		if (!ctl_opt_is(&a->opt[i], flag))
			continue;
		n++;
		if ((eq = strchr(v, '=')) == NULL) {
			json_decref(one);
			one = json_string(v);
			continue;
		}
		if (map == NULL && (map = json_object()) == NULL)
			goto oom;
		snprintf(name, sizeof(name), "%.*s", (int)(eq - v), v);
		if (json_object_set_new(map, name, json_string(eq + 1)) != 0)
			goto oom;
	}
	if (n == 0)
		return CTL_OK;
	if ((one != NULL && map != NULL) || (one != NULL && n > 1)) {
		ctl_errorf(c, rc, "%s: give one value for every name, or NAME=VALUE for each name",
			   flag);
		goto out;
	}
	rc = json_object_set(doc, field, one ? one : map) == 0 ? CTL_OK : CTL_ERROR;
	goto out;
oom:
	rc = ctl_errorf(c, CTL_ERROR, "out of memory");
out:
	json_decref(one);
	json_decref(map);
	return rc;
}

/* A repeated list flag (--domain) replaces the member with the list given. */
static int list_flag(const ctl_args *a, const char *flag, const char *field, json_t *doc)
{
	json_t *list = NULL;

	for (size_t i = 0; i < a->nopt; i++) {
		if (!ctl_opt_is(&a->opt[i], flag))
			continue;
		if ((list == NULL && (list = json_array()) == NULL) ||
		    json_array_append_new(list, json_string(a->opt[i].val)) != 0) {
			json_decref(list);
			return -1;
		}
	}
	return list == NULL ? 0 : json_object_set_new(doc, field, list);
}

/* The body of create (patch false) or patch: the file, then the flags. */
static int cert_doc(ctl *c, const ctl_args *a, bool patch, json_t **out)
{
	static const struct {
		const char *flag, *field;
	} scalars[] = {
		{ "--key-type", "key_type" },
		{ "--admin-keys", "admin_keys" },
		{ "--renew-fraction", "renew_fraction" },
		{ "--profile", "profile" },
	};
	const char *file = ctl_arg(a, "-f");
	json_error_t jerr;
	json_t *doc = NULL;
	int rc = CTL_ERROR;

	if (file != NULL) {
		doc = strcmp(file, "-") == 0 ? json_loadf(stdin, JSON_REJECT_DUPLICATES, &jerr)
					     : json_load_file(file, JSON_REJECT_DUPLICATES, &jerr);
		if (!json_is_object(doc)) {
			ctl_errorf(c, rc, "-f %s: %s", file,
				   doc ? "not a JSON object" : jerr.text);
			goto out;
		}
	} else if ((doc = json_object()) == NULL) {
		goto oom;
	}
	if (!patch && a->npos > 0 && json_object_set_new(doc, "id", json_string(a->pos[0])) != 0)
		goto oom;
	if (list_flag(a, "--domain", "domains", doc) != 0 ||
	    list_flag(a, "--host", "hosts", doc) != 0 ||
	    list_flag(a, "--issuer", "issuers", doc) != 0)
		goto oom;
	if ((rc = ctl_spec_flag(c, a, "--dns-alias", "dns_alias", doc)) != CTL_OK ||
	    (rc = ctl_spec_flag(c, a, "--provider", "provider", doc)) != CTL_OK)
		goto out;
	rc = CTL_ERROR;
	for (size_t i = 0; i < sizeof(scalars) / sizeof(scalars[0]); i++) {
		const char *v = ctl_arg(a, scalars[i].flag);

		if (v != NULL &&
		    json_object_set_new(doc, scalars[i].field, flag_value(scalars[i].field, v)) != 0)
			goto oom;
	}
	for (size_t i = 0; patch && i < a->nopt; i++)
		if (ctl_opt_is(&a->opt[i], "--unset") &&
		    json_object_set_new(doc, a->opt[i].val, json_null()) != 0)
			goto oom;
	if (json_object_size(doc) == 0) {
		rc = ctl_errorf(c, CTL_USAGE, "nothing to send: give -f FILE or field flags");
		goto out;
	}
	*out = doc; /* handed over */
	doc = NULL;
	rc = CTL_OK;
	goto out;
oom:
	rc = ctl_errorf(c, CTL_ERROR, "out of memory");
out:
	json_decref(doc);
	return rc;
}

/* A 202/201 answer's job: printed, then followed with --watch. */
static int job_answer(ctl *c, const ctl_args *a, const json_t *doc, const char *what)
{
	const char *id = json_string_value(ctl_path(doc, "job.id"));

	if (id == NULL)
		return ctl_errorf(c, CTL_ERROR, "the answer names no job");
	if (!ctl_flag(a, "--watch")) {
		if (c->json)
			ctl_json(doc);
		else
			printf("%s: job %s %s\n", what, id,
			       json_string_value(ctl_path(doc, "job.state")));
		return CTL_OK;
	}
	if (!c->json)
		printf("%s: job %s\n", what, id);
	return ctl_job_watch(c, id, 0);
}

static int cert_create(ctl *c, const ctl_args *a)
{
	json_t *body = NULL, *doc = NULL;
	char what[600];
	int rc;

	if ((rc = cert_doc(c, a, false, &body)) != CTL_OK)
		return rc;
	if ((rc = ctl_call(c, "POST", "/v1/certificates", body, &doc)) == CTL_OK) {
		snprintf(what, sizeof(what), "certificate %s created",
			 json_string_value(json_object_get(doc, "id")));
		if (!c->json)
			ctl_fields(get_cols, NCOLS(get_cols), doc);
		rc = job_answer(c, a, doc, what);
	}
	json_decref(body);
	json_decref(doc);
	return rc;
}

static int cert_patch(ctl *c, const ctl_args *a)
{
	json_t *body = NULL, *doc = NULL;
	char path[600];
	int rc;

	if ((rc = cert_doc(c, a, true, &body)) != CTL_OK)
		return rc;
	rc = ctl_call(c, "PATCH", cert_path(path, sizeof(path), a->pos[0], ""), body, &doc);
	if (rc == CTL_OK) {
		if (c->json)
			ctl_json(doc);
		else
			ctl_fields(get_cols, NCOLS(get_cols), doc);
	}
	json_decref(body);
	json_decref(doc);
	return rc;
}

static int cert_delete(ctl *c, const ctl_args *a)
{
	char path[600];
	json_t *doc = NULL;
	int rc = ctl_call(c, "DELETE", cert_path(path, sizeof(path), a->pos[0], ""), NULL, &doc);

	if (rc == CTL_OK && !c->json)
		printf("certificate %s deleted\n", a->pos[0]);
	else if (rc == CTL_OK)
		printf("{\"deleted\": \"%s\"}\n", a->pos[0]);
	json_decref(doc);
	return rc;
}

static int cert_issue(ctl *c, const ctl_args *a)
{
	char path[600], what[600];
	json_t *body = json_object(), *doc = NULL;
	int rc = ctl_call(c, "POST",
			  cert_path(path, sizeof(path), a->pos[0],
				    ctl_flag(a, "--force") ? "/issue?force=true" : "/issue"),
			  body, &doc);

	snprintf(what, sizeof(what), "issuance of %s queued", a->pos[0]);
	if (rc == CTL_OK)
		rc = job_answer(c, a, doc, what);
	json_decref(body);
	json_decref(doc);
	return rc;
}

/* The current version of a certificate (the default of revoke --version). */
static int current_version(ctl *c, const char *id, long *version)
{
	char path[600];
	json_t *doc = NULL;
	int rc = ctl_call(c, "GET", cert_path(path, sizeof(path), id, ""), NULL, &doc);

	if (rc == CTL_OK) {
		json_t *v = ctl_path(doc, "current_version.version");

		if (json_is_integer(v))
			*version = (long)json_integer_value(v);
		else
			rc = ctl_errorf(c, CTL_ERROR, "certificate %s has no issued version", id);
	}
	json_decref(doc);
	return rc;
}

static int cert_revoke(ctl *c, const ctl_args *a)
{
	const char *vs = ctl_arg(a, "--version"), *reason = ctl_arg(a, "--reason");
	char path[600], tail[64], what[600], *end = NULL;
	json_t *body = json_object(), *doc = NULL;
	long version = 0;
	int rc;

	if (vs != NULL) {
		version = strtol(vs, &end, 10);
		if (*vs == '\0' || *end != '\0' || version < 1) {
			rc = ctl_errorf(c, CTL_USAGE, "--version: \"%s\" is not a version number", vs);
			goto out;
		}
	} else if ((rc = current_version(c, a->pos[0], &version)) != CTL_OK) {
		goto out;
	}
	if (reason != NULL) {
		long code = strtol(reason, &end, 10);

		json_object_set_new(body, "reason", *reason != '\0' && *end == '\0'
							    ? json_integer(code) : json_string(reason));
	}
	if (ctl_flag(a, "--replace"))
		json_object_set_new(body, "replace", json_true());
	snprintf(tail, sizeof(tail), "/versions/%ld/revoke", version);
	rc = ctl_call(c, "POST", cert_path(path, sizeof(path), a->pos[0], tail), body, &doc);
	snprintf(what, sizeof(what), "revocation of %s version %ld queued", a->pos[0], version);
	if (rc == CTL_OK)
		rc = job_answer(c, a, doc, what);
out:
	json_decref(body);
	json_decref(doc);
	return rc;
}

static int cert_versions(ctl *c, const ctl_args *a)
{
	char path[600];
	json_t *items = NULL;
	long limit = 0;
	int rc = ctl_limit(c, a, &limit);

	if (rc == CTL_OK)
		rc = ctl_list(c, cert_path(path, sizeof(path), a->pos[0], "/versions"), NULL,
			      "versions", limit, &items);
	if (rc == CTL_OK) {
		if (c->json) {
			json_t *doc = json_pack("{s:O}", "versions", items);

			ctl_json(doc);
			json_decref(doc);
		} else {
			ctl_table(version_cols, NCOLS(version_cols), items);
		}
	}
	json_decref(items);
	return rc;
}

/* The first array member of an answer (its list), or NULL. */
static json_t *first_list(const json_t *doc)
{
	const char *key;
	json_t *v;

	if (json_is_array(json_object_get(doc, "deployments")))
		return json_object_get(doc, "deployments");
	json_object_foreach((json_t *)doc, key, v)
		if (json_is_array(v))
			return v;
	return NULL;
}

static int cert_deployments(ctl *c, const ctl_args *a)
{
	char path[600];
	const char *detail;
	json_t *doc = NULL, *list;
	long status = 0;
	int rc = ctl_exchange(c, "GET", cert_path(path, sizeof(path), a->pos[0], "/deployments"),
			      NULL, &status, &doc);

	if (rc != CTL_OK)
		goto out;
	detail = json_string_value(json_object_get(doc, "detail"));
	if (status == 404 && detail != NULL && strncmp(detail, "no route", 8) == 0) {
		rc = ctl_errorf(c, CTL_ERROR, "the server does not support deployments (404: %s)",
				detail);
	} else if (status < 200 || status > 299) {
		rc = ctl_fail(c, status, doc);
	} else if (c->json) {
		ctl_json(doc);
	} else if ((list = first_list(doc)) == NULL) {
		rc = ctl_errorf(c, CTL_ERROR, "the answer holds no list of deployments");
	} else if (json_array_size(list) == 0) {
		printf("no deployments of %s\n", a->pos[0]);
	} else {
		ctl_table_generic(list);
	}
out:
	json_decref(doc);
	return rc;
}

const ctl_verb ctl_cert_verbs[] = {
	{ "cert", "list", cert_list, "--expiring-within= --limit=", 0, 0,
	  "[--expiring-within 7d] [--limit N]", "list certificates (state, expiry, days left)" },
	{ "cert", "get", cert_get, "", 1, 1, "ID", "show a certificate" },
	{ "cert", "create", cert_create, CERT_FLAGS "--watch", 0, 1,
	  "[ID] [-f FILE.json|-] [--domain NAME]... [--dns-alias FQDN|auto|NAME=FQDN...]\n"
	  "       [--provider P|NAME=P...] [--key-type T] [--host H]... [--admin-keys true|false]\n"
	  "       [--renew-fraction F] [--issuer I]... [--profile P] [--watch]",
	  "create a certificate (the API's fields) and queue its issuance" },
	{ "cert", "patch", cert_patch, CERT_FLAGS "--unset=", 1, 1,
	  "ID [-f FILE.json|-] [field flags as for create] [--unset FIELD]...",
	  "change a certificate (a merge patch; --unset sends null)" },
	{ "cert", "delete", cert_delete, "", 1, 1, "ID", "delete a certificate" },
	{ "cert", "issue", cert_issue, "--force --watch", 1, 1, "ID [--force] [--watch]",
	  "queue an issuance now" },
	{ "cert", "revoke", cert_revoke, "--version= --reason= --replace --watch", 1, 1,
	  "ID [--version N] [--reason NAME|CODE] [--replace] [--watch]",
	  "revoke a version (default: the current one) at the CA" },
	{ "cert", "versions", cert_versions, "--limit=", 1, 1, "ID [--limit N]",
	  "list a certificate's issued versions" },
	{ "cert", "deployments", cert_deployments, "", 1, 1, "ID",
	  "which host has which version installed and served" },
};
const size_t ctl_cert_nverbs = sizeof(ctl_cert_verbs) / sizeof(ctl_cert_verbs[0]);
