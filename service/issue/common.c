/*
 * common.c: the issuance pieces shared by the foreground engine and the worker's
 * persisted state machine; see common.h. Keeping them in one place means a
 * `certfleet issue` run and a service job plan the same targets, compute the same
 * TXT values and build the same CSR for the same input.
 */
#include "issue/common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acme/acme.h"

int cf_issue_names_normalize(const char *const *in, size_t n, cf_issue_name **out, cf_err *err)
{
	cf_issue_name *names = NULL;
	int rc = -1;

	*out = NULL;
	if (n == 0)
		return cf_err_set(err, CF_ERR_PERMANENT, "no names to issue for");
	if ((names = calloc(n, sizeof(*names))) == NULL)
		return cf_err_oom(err, NULL);
	for (size_t i = 0; i < n; i++) {
		if (cf_name_normalize(in[i], true, names[i], err) != 0)
			goto out;
		for (size_t j = 0; j < i; j++)
			if (strcmp(names[i], names[j]) == 0) {
				cf_err_set(err, CF_ERR_PERMANENT, "name %s is given twice",
					   names[i]);
				goto out;
			}
	}
	*out = names;
	names = NULL;
	rc = 0;
out:
	free(names);
	return rc;
}

const char **cf_issue_name_ptrs(const cf_issue_name *names, size_t n)
{
	const char **p = calloc(n ? n : 1, sizeof(*p));

	if (p == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++)
		p[i] = names[i];
	return p;
}

static int check_providers(const cf_alias_plan *plan, const cf_issue_name *names,
			   cf_issue_same_provider_fn same, void *arg, cf_err *err)
{
	for (size_t i = 0; same != NULL && i < plan->n; i++) {
		const cf_challenge_target *ct = &plan->t[i];

		for (size_t k = 1; k < ct->nnames; k++)
			if (!same(ct->names[0], ct->names[k], arg))
				return cf_err_set(err, CF_ERR_PERMANENT,
						  "%s and %s share the challenge record %s and "
						  "must use the same provider",
						  names[ct->names[0]], names[ct->names[k]],
						  ct->record);
	}
	return 0;
}

int cf_issue_plan_build(const cf_issue_name *names, size_t n, const cf_alias_spec *spec,
			const cf_dns_servers *resolvers, cf_issue_same_provider_fn same,
			void *same_arg, cf_alias_plan *plan, cf_err *err)
{
	const char **ptrs = cf_issue_name_ptrs(names, n);
	int rc = -1;

	memset(plan, 0, sizeof(*plan));
	if (ptrs == NULL) {
		cf_err_oom(err, NULL);
		goto out;
	}
	if (cf_alias_plan_build(ptrs, n, spec, resolvers, plan, err) != 0)
		goto out;
	if (check_providers(plan, names, same, same_arg, err) != 0) {
		cf_alias_plan_free(plan);
		goto out;
	}
	rc = 0;
out:
	free(ptrs);
	return rc;
}

const cf_challenge_target *cf_issue_target_of(const cf_alias_plan *plan,
					      const cf_issue_name *names, const char *identifier,
					      bool wildcard, size_t *name_idx)
{
	char name[CF_NAME_MAX + 3];

	snprintf(name, sizeof(name), "%s%s", wildcard ? "*." : "", identifier);
	for (size_t i = 0; i < plan->n; i++)
		for (size_t k = 0; k < plan->t[i].nnames; k++)
			if (cf_name_equal(names[plan->t[i].names[k]], name)) {
				*name_idx = plan->t[i].names[k];
				return &plan->t[i];
			}
	return NULL;
}

char *cf_issue_txt_value(const cf_key *account_key, const char *token, cf_err *err)
{
	char *ka = cf_acme_key_authorization(account_key, token, err), *v;

	if (ka == NULL)
		return NULL;
	if ((v = cf_acme_dns01_txt(ka)) == NULL)
		cf_err_oom(err, NULL);
	free(ka);
	return v;
}

/* A copy of key, through its PEM (the facade has no dup). */
static cf_key *key_copy(const cf_key *key, cf_err *err)
{
	char *pem = cf_key_to_pem(key, err);
	cf_key *k = pem ? cf_key_from_pem(pem, strlen(pem), err) : NULL;

	cf_secret_free(pem);
	return k;
}

int cf_issue_key_and_csr(cf_key_type t, const cf_key *reuse, const cf_key *account_key,
			 const cf_issue_name *names, size_t n, cf_key **key, cf_buf *csr,
			 cf_err *err)
{
	const char **ptrs = NULL;
	cf_key *k = NULL;
	int rc = -1;

	k = reuse != NULL ? key_copy(reuse, err) : cf_key_generate(t, err);
	if (k == NULL)
		goto out;
	if (account_key != NULL && cf_key_public_equal(k, account_key)) {
		cf_err_set(err, CF_ERR_PERMANENT,
			   "the certificate key is the account key; use another key");
		goto out;
	}
	if ((ptrs = cf_issue_name_ptrs(names, n)) == NULL) {
		cf_err_oom(err, NULL);
		goto out;
	}
	if (cf_csr_der(k, ptrs, n, csr, err) != 0)
		goto out;
	*key = k;
	k = NULL;
	rc = 0;
out:
	free(ptrs);
	cf_key_free(k);
	return rc;
}
