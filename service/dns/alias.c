/*
 * alias.c: where each TXT value of an order goes, and whether DNS agrees.
 *
 * The plan groups the order's names by challenge record ("*.x" and "x" share
 * "_acme-challenge.x", and so share one target that will hold two values) and
 * gives each record its target: the record itself (no alias), one alias for all,
 * one alias per name (a map, checked for coverage and consistency), or the end of
 * the record's CNAME chain ("auto"). The preflight then resolves every challenge
 * record through the configured resolvers, as the CA will, and when the chain does
 * not reach the target it fails with the exact zone-file line the operator must
 * create: "_acme-challenge.www.example.test. CNAME www.example.test.alias.test."
 */
#include "dns/dns.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"

/* Adds the order's names to the plan, one entry per distinct challenge record. */
static int group_names(const char *const *names, size_t n, char (*norm)[CF_NAME_MAX + 1],
		       cf_alias_plan *plan, cf_err *err)
{
	char rec[CF_NAME_MAX + 1];
	size_t i, j;

	for (i = 0; i < n; i++) {
		if (cf_name_normalize(names[i], true, norm[i], err) != 0)
			return -1;
		for (j = 0; j < i; j++)
			if (strcmp(norm[i], norm[j]) == 0)
				return cf_err_set(err, CF_ERR_PERMANENT, "name %s is listed twice",
						  norm[i]);
		if (cf_challenge_record(norm[i], rec, err) != 0)
			return -1;
		for (j = 0; j < plan->n; j++)
			if (strcmp(plan->t[j].record, rec) == 0)
				break;
		if (j == plan->n) {
			memcpy(plan->t[j].record, rec, sizeof(rec));
			plan->n++;
		}
		plan->t[j].names[plan->t[j].nnames++] = i;
	}
	return 0;
}

/* CF_ALIAS_MAP: each map key must be one of the order's names, each name needs a
 * target, and names that share a record must share the target. */
static int apply_map(const cf_alias_spec *spec, char (*norm)[CF_NAME_MAX + 1], size_t n,
		     cf_alias_plan *plan, cf_err *err)
{
	char (*tgt)[CF_NAME_MAX + 1] = NULL;
	char key[CF_NAME_MAX + 1];
	bool *seen = NULL;
	size_t k, i;
	int rc = -1;

	tgt = calloc(n, sizeof(*tgt));
	seen = calloc(n, sizeof(*seen));
	if (tgt == NULL || seen == NULL) {
		cf_err_oom(err, NULL);
		goto out;
	}
	for (k = 0; k < spec->nmap; k++) {
		if (cf_name_normalize(spec->map_names[k], true, key, err) != 0) {
			cf_err_wrap(err, "alias map");
			goto out;
		}
		for (i = 0; i < n && strcmp(norm[i], key) != 0; i++)
			;
		if (i == n) {
			cf_err_set(err, CF_ERR_PERMANENT,
				   "alias map names %s, which is not one of the certificate's names",
				   key);
			goto out;
		}
		if (seen[i]) {
			cf_err_set(err, CF_ERR_PERMANENT, "alias map names %s twice", key);
			goto out;
		}
		if (cf_target_normalize(spec->map_targets[k], tgt[i], err) != 0) {
			cf_err_wrap(err, "alias map target for %s", key);
			goto out;
		}
		seen[i] = true;
	}
	for (i = 0; i < n; i++)
		if (!seen[i]) {
			cf_err_set(err, CF_ERR_PERMANENT, "alias map has no target for %s",
				   norm[i]);
			goto out;
		}
	for (k = 0; k < plan->n; k++) {
		cf_challenge_target *t = &plan->t[k];

		if (t->nnames == 2 && strcmp(tgt[t->names[0]], tgt[t->names[1]]) != 0) {
			cf_err_set(err, CF_ERR_PERMANENT,
				   "%s and %s share the challenge record %s, so the alias map "
				   "must give them the same target (it gives %s and %s)",
				   norm[t->names[0]], norm[t->names[1]], t->record,
				   tgt[t->names[0]], tgt[t->names[1]]);
			goto out;
		}
		memcpy(t->target, tgt[t->names[0]], sizeof(t->target));
	}
	rc = 0;
out:
	free(tgt);
	free(seen);
	return rc;
}

/* CF_ALIAS_AUTO: the target is where the challenge record's CNAME chain ends. */
static int apply_auto(const cf_dns_servers *servers, cf_challenge_target *t, cf_err *err)
{
	cf_cname_chain c = { 0 };
	const char *end;
	int rc = -1;

	if (cf_dns_cname_chain(servers, t->record, &c, err) != 0)
		goto out;
	if (c.loop || c.too_long) {
		cf_err_set(err, CF_ERR_PERMANENT, "the CNAME chain of %s %s", t->record,
			   c.loop ? "loops" : "is longer than 16 hops");
		goto out;
	}
	if (c.n < 2) {
		cf_err_set(err, CF_ERR_PERMANENT,
			   "alias \"auto\": %s has no CNAME; create %s. CNAME <a name in a zone "
			   "you control>",
			   t->record, t->record);
		goto out;
	}
	end = c.names[c.n - 1];
	if (strlen(end) > CF_NAME_MAX) {
		cf_err_set(err, CF_ERR_PERMANENT, "the CNAME chain of %s ends in an overlong name",
			   t->record);
		goto out;
	}
	memcpy(t->target, end, strlen(end) + 1);
	rc = 0;
out:
	cf_cname_chain_free(&c);
	return rc;
}

int cf_alias_plan_build(const char *const *names, size_t n, const cf_alias_spec *spec,
			const cf_dns_servers *servers, cf_alias_plan *plan, cf_err *err)
{
	char (*norm)[CF_NAME_MAX + 1] = NULL;
	char one[CF_NAME_MAX + 1];
	size_t k;
	int rc = -1;

	memset(plan, 0, sizeof(*plan));
	if (names == NULL || n == 0) {
		cf_err_set(err, CF_ERR_PERMANENT, "no names to plan challenges for");
		goto out;
	}
	norm = calloc(n, sizeof(*norm));
	plan->t = calloc(n, sizeof(*plan->t));
	if (norm == NULL || plan->t == NULL) {
		cf_err_oom(err, NULL);
		goto out;
	}
	if (group_names(names, n, norm, plan, err) != 0)
		goto out;
	switch (spec ? spec->mode : CF_ALIAS_NONE) {
	case CF_ALIAS_NONE:
		for (k = 0; k < plan->n; k++)
			memcpy(plan->t[k].target, plan->t[k].record, sizeof(plan->t[k].target));
		break;
	case CF_ALIAS_ONE:
		if (cf_target_normalize(spec->one, one, err) != 0) {
			cf_err_wrap(err, "alias");
			goto out;
		}
		for (k = 0; k < plan->n; k++)
			memcpy(plan->t[k].target, one, sizeof(one));
		break;
	case CF_ALIAS_MAP:
		if (apply_map(spec, norm, n, plan, err) != 0)
			goto out;
		break;
	case CF_ALIAS_AUTO:
		for (k = 0; k < plan->n; k++)
			if (apply_auto(servers, &plan->t[k], err) != 0)
				goto out;
		break;
	default:
		cf_err_set(err, CF_ERR_PERMANENT, "unknown alias mode %d", (int)spec->mode);
		goto out;
	}
	rc = 0;
out:
	free(norm);
	if (rc != 0)
		cf_alias_plan_free(plan);
	return rc;
}

int cf_alias_check_one(const cf_challenge_target *t, const cf_dns_servers *servers,
		       cf_err *err)
{
	cf_cname_chain c = { 0 };
	char **types = NULL;
	size_t ntypes = 0, i;
	int rc = -1;

	if (cf_dns_cname_chain(servers, t->record, &c, err) != 0)
		goto out;
	if (cf_name_equal(t->record, t->target)) {
		/* No alias: the TXT goes at the record, which a CNAME would forbid. */
		if (c.n > 1) {
			cf_err_set(err, CF_ERR_PERMANENT,
				   "%s. is a CNAME to %s., but no alias is configured for it: "
				   "set the alias to %s or delete the CNAME",
				   t->record, c.names[1], c.names[c.n - 1]);
			goto out;
		}
		rc = 0;
		goto out;
	}
	for (i = 1; i < c.n; i++)
		if (cf_name_equal(c.names[i], t->target)) {
			rc = 0;
			goto out;
		}
	if (c.loop) {
		cf_err_set(err, CF_ERR_PERMANENT,
			   "the CNAME chain of %s. loops (%s. -> %s. -> ...); replace its CNAME "
			   "with: %s. CNAME %s.",
			   t->record, c.names[0], c.names[1], t->record, t->target);
		goto out;
	}
	if (c.too_long) {
		cf_err_set(err, CF_ERR_PERMANENT,
			   "the CNAME chain of %s. is longer than 16 hops; replace its CNAME "
			   "with: %s. CNAME %s.",
			   t->record, t->record, t->target);
		goto out;
	}
	if (c.n > 1) {
		cf_err_set(err, CF_ERR_PERMANENT,
			   "%s. is a CNAME to %s., not to the alias target %s.%s%.200s%s; "
			   "replace it with: %s. CNAME %s.",
			   t->record, c.names[1], t->target,
			   c.unresolved ? " (the chain stops at an unresolvable name: " : "",
			   c.unresolved ? c.unresolved_why : "", c.unresolved ? ")" : "",
			   t->record, t->target);
		goto out;
	}
	if (cf_dns_types_at(servers, t->record, &types, &ntypes, err) != 0)
		goto out;
	if (ntypes > 0)
		cf_err_set(err, CF_ERR_PERMANENT,
			   "a %s record at %s. shadows the CNAME the alias needs: delete the %s "
			   "at %s. and create: %s. CNAME %s.",
			   types[0], t->record, types[0], t->record, t->record, t->target);
	else
		cf_err_set(err, CF_ERR_PERMANENT, "%s. has no CNAME; create: %s. CNAME %s.",
			   t->record, t->record, t->target);
out:
	cf_strv_free(types);
	cf_cname_chain_free(&c);
	return rc;
}

int cf_alias_preflight(const cf_alias_plan *plan, const cf_dns_servers *servers, cf_err *err)
{
	cf_buf msg = { 0 };
	cf_err one = { 0 };
	char first[sizeof(one.msg)] = "";
	cf_err_class cls = CF_ERR_NONE;
	size_t k, bad = 0;
	int rc = -1;

	for (k = 0; k < plan->n; k++) {
		cf_err_clear(&one);
		if (cf_alias_check_one(&plan->t[k], servers, &one) == 0)
			continue;
		if (++bad == 1)
			snprintf(first, sizeof(first), "%s", one.msg);
		/* One configuration error decides: retrying will not fix it. */
		if (one.cls == CF_ERR_PERMANENT || cls == CF_ERR_NONE)
			cls = one.cls;
		if (cf_buf_printf(&msg, "%s(%zu) %s", bad > 1 ? "; " : "", bad, one.msg) != 0) {
			cf_err_oom(err, NULL);
			goto out;
		}
	}
	if (bad == 0) {
		rc = 0;
		goto out;
	}
	if (bad == 1)
		cf_err_set(err, cls, "%s", first);
	else
		cf_err_set(err, cls, "%zu of %zu challenge records are not ready: %s", bad,
			   plan->n, (const char *)msg.data);
out:
	cf_err_clear(&one);
	cf_buf_free(&msg);
	return rc;
}

void cf_alias_plan_free(cf_alias_plan *plan)
{
	if (plan == NULL)
		return;
	free(plan->t);
	plan->t = NULL;
	plan->n = 0;
}

static void free_n(char **v, size_t n)
{
	size_t i;

	for (i = 0; v != NULL && i < n; i++)
		free(v[i]);
	free(v);
}

void cf_alias_spec_free(cf_alias_spec *spec)
{
	if (spec == NULL)
		return;
	free(spec->one);
	free_n(spec->map_names, spec->nmap);
	free_n(spec->map_targets, spec->nmap);
	memset(spec, 0, sizeof(*spec));
}
