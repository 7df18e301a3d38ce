/*
 * spec.c: a certificate row read as an issuance: its names normalised (as
 * `certfleet issue` does), its dns_alias JSON as a cf_alias_spec (null: none;
 * "auto"; one FQDN; or a map by name), its provider JSON as a provider name per
 * name (one name for all, or a map by name), and its key type. Also the alias plan
 * rebuilt from the targets the preflight stored in jobs.data, so a resumed job
 * writes at exactly the targets its preflight checked, without resolving again.
 *
 * The API validated all of this on the way in; a row that still does not fit is a
 * permanent failure of the job, with a message naming the field.
 */
#include "worker/worker_int.h"

#include <stdlib.h>
#include <string.h>

static int alias_map(const json_t *a, cf_alias_spec *spec, cf_err *err)
{
	size_t n = json_object_size(a);
	const char *k;
	json_t *v;

	spec->mode = CF_ALIAS_MAP;
	spec->map_names = calloc(n ? n : 1, sizeof(char *));
	spec->map_targets = calloc(n ? n : 1, sizeof(char *));
	if (spec->map_names == NULL || spec->map_targets == NULL)
		return cf_err_oom(err, NULL);
	json_object_foreach((json_t *)a, k, v) {
		if (!json_is_string(v))
			return cf_err_set(err, CF_ERR_PERMANENT, "dns_alias: %s is not a string", k);
		spec->map_names[spec->nmap] = strdup(k);
		spec->map_targets[spec->nmap] = strdup(json_string_value(v));
		spec->nmap++;
		if (!spec->map_names[spec->nmap - 1] || !spec->map_targets[spec->nmap - 1])
			return cf_err_oom(err, NULL);
	}
	return 0;
}

static int alias_from_json(const json_t *a, cf_alias_spec *spec, cf_err *err)
{
	memset(spec, 0, sizeof(*spec));
	if (a == NULL || json_is_null(a))
		return 0;
	if (json_is_string(a) && strcmp(json_string_value(a), "auto") == 0) {
		spec->mode = CF_ALIAS_AUTO;
		return 0;
	}
	if (json_is_string(a)) {
		spec->mode = CF_ALIAS_ONE;
		spec->one = strdup(json_string_value(a));
		return spec->one ? 0 : cf_err_oom(err, NULL);
	}
	if (json_is_object(a))
		return alias_map(a, spec, err);
	return cf_err_set(err, CF_ERR_PERMANENT, "dns_alias: expected null, a string or an object");
}

/* The provider name of each name, borrowed from the row's JSON. */
static int providers_from_json(wk_job *j, cf_err *err)
{
	const json_t *p = j->cert.provider;
	const char *k;
	json_t *v;

	if ((j->prov_of = calloc(j->nnames, sizeof(*j->prov_of))) == NULL)
		return cf_err_oom(err, NULL);
	for (size_t i = 0; i < j->nnames; i++) {
		if (json_is_string(p))
			j->prov_of[i] = json_string_value(p);
		else if (json_is_object(p))
			json_object_foreach((json_t *)p, k, v)
				if (cf_name_equal(k, j->names[i]) && json_is_string(v))
					j->prov_of[i] = json_string_value(v);
		if (j->prov_of[i] == NULL)
			return cf_err_set(err, CF_ERR_PERMANENT, "provider: name %s has no DNS "
					  "provider", j->names[i]);
	}
	return 0;
}

wk_rc wk_spec_load(wk_job *j)
{
	/* the claim read the row: it is the job's now */
	j->cert = j->cl.cert;
	memset(&j->cl.cert, 0, sizeof(j->cl.cert));
	if (j->cl.cert_found < 0)
		return wk_fail(j, CF_ERR_PERMANENT, "certificate %s: unreadable row",
			       j->cl.certificate_id);
	if (j->cl.cert_found == 0) /* deleted: its jobs went with it */
		return WK_LOST;
	if (cf_issue_names_normalize((const char *const *)j->cert.domains, j->cert.ndomains,
				     &j->names, &j->err) != 0)
		return wk_err(j);
	j->nnames = j->cert.ndomains;
	if (alias_from_json(j->cert.dns_alias, &j->alias, &j->err) != 0 ||
	    providers_from_json(j, &j->err) != 0)
		return wk_err(j);
	if (cf_key_type_parse(j->cert.key_type, &j->key_type) != 0)
		return wk_fail(j, CF_ERR_PERMANENT, "key_type: unknown '%s'", j->cert.key_type);
	return WK_NEXT;
}

void wk_spec_free(wk_job *j)
{
	cf_alias_spec_free(&j->alias);
	free(j->prov_of);
	free(j->names);
	cf_job_cert_free(&j->cert);
	j->prov_of = NULL;
	j->names = NULL;
}

static int name_index(const wk_job *j, const char *name, size_t *idx)
{
	for (size_t i = 0; i < j->nnames; i++)
		if (cf_name_equal(j->names[i], name)) {
			*idx = i;
			return 0;
		}
	return -1;
}

/* One entry of data.targets into t. */
static int target_from_json(const wk_job *j, const json_t *e, cf_challenge_target *t)
{
	const char *rec = json_string_value(json_object_get(e, "record"));
	const char *tgt = json_string_value(json_object_get(e, "target"));
	const json_t *names = json_object_get(e, "names"), *v;
	size_t k;

	if (rec == NULL || tgt == NULL || !json_is_array(names) || json_array_size(names) == 0 ||
	    json_array_size(names) > 2 || strlen(rec) > CF_NAME_MAX || strlen(tgt) > CF_NAME_MAX)
		return -1;
	strcpy(t->record, rec);
	strcpy(t->target, tgt);
	json_array_foreach(names, k, v)
		if (!json_is_string(v) || name_index(j, json_string_value(v), &t->names[t->nnames++]))
			return -1;
	return 0;
}

int wk_plan_from_data(const wk_job *j, cf_alias_plan *plan)
{
	const json_t *a = json_object_get(j->data, "targets"), *e;
	size_t i;

	memset(plan, 0, sizeof(*plan));
	if (!json_is_array(a) || json_array_size(a) == 0)
		return -1;
	if ((plan->t = calloc(json_array_size(a), sizeof(*plan->t))) == NULL)
		return -1;
	json_array_foreach(a, i, e) {
		plan->n = i + 1;
		if (target_from_json(j, e, &plan->t[i]) != 0) {
			cf_alias_plan_free(plan);
			return -1;
		}
	}
	return 0;
}

const char *wk_target_provider(const wk_job *j, const cf_challenge_target *t)
{
	return j->prov_of[t->names[0]];
}
