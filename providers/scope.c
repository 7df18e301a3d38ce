/*
 * scope.c: the allowed_names setting that every provider takes, and the calls
 * into a provider that enforce it; see scope.h for the contract.
 *
 * The provider is handed a shallow copy of its settings without allowed_names
 * (the values are shared, not copied, so a secret is never duplicated; the copy
 * is released before returning). The list is read from the settings at every
 * call: settings are small and this keeps no state beside them.
 */
#include "providers/scope.h"

#include <stdio.h>
#include <string.h>

/* settings less allowed_names (new shallow copy), or NULL when out of memory. */
static json_t *provider_part(const json_t *settings)
{
	json_t *copy = json_copy((json_t *)settings);

	if (copy != NULL && json_object_get(copy, CF_SCOPE_SETTING) != NULL)
		json_object_del(copy, CF_SCOPE_SETTING);
	return copy;
}

int cf_provider_validate(const cf_provider_ops *ops, json_t *settings, cf_err *err)
{
	json_t *list = json_object_get(settings, CF_SCOPE_SETTING), *v, *norm = NULL, *rest = NULL;
	char name[CF_NAME_MAX + 1];
	cf_err e = { 0 };
	size_t i;
	int rc = -1;

	if (list != NULL) {
		if (!json_is_array(list) || json_array_size(list) == 0 ||
		    json_array_size(list) > CF_SCOPE_MAX) {
			cf_err_set(err, CF_ERR_PERMANENT, "%s: setting " CF_SCOPE_SETTING " must be "
				   "a JSON array of 1-%d DNS names (suffixes the provider may write "
				   "under)", ops->name, CF_SCOPE_MAX);
			goto out;
		}
		if ((norm = json_array()) == NULL)
			goto oom;
		json_array_foreach(list, i, v) {
			if (!json_is_string(v) ||
			    cf_target_normalize(json_string_value(v), name, &e) != 0) {
				cf_err_set(err, CF_ERR_PERMANENT, "%s: setting " CF_SCOPE_SETTING
					   "[%zu] is not a DNS name%s%s", ops->name, i,
					   e.msg[0] ? ": " : "", e.msg);
				goto out;
			}
			if (json_array_append_new(norm, json_string(name)) != 0)
				goto oom;
		}
		if (json_object_set(settings, CF_SCOPE_SETTING, norm) != 0)
			goto oom;
	}
	if ((rest = provider_part(settings)) == NULL)
		goto oom;
	rc = ops->validate(rest, err);
	goto out;
oom:
	cf_err_oom(err, CF_SCOPE_SETTING);
out:
	cf_err_clear(&e);
	json_decref(norm);
	json_decref(rest);
	return rc;
}

int cf_scope_allows(const json_t *settings, const char *label, const char *fqdn, cf_err *err)
{
	const json_t *list = json_object_get(settings, CF_SCOPE_SETTING), *v;
	char names[512] = "";
	size_t i;

	if (list == NULL)
		return 1;
	json_array_foreach(list, i, v) {
		if (json_is_string(v) && cf_name_is_under(fqdn, json_string_value(v)))
			return 1;
		if (json_is_string(v))
			snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s%s",
				 i ? ", " : "", json_string_value(v));
	}
	cf_err_set(err, CF_ERR_PERMANENT, "provider %s may not write %s: it is outside the "
		   "provider's " CF_SCOPE_SETTING " (%s)", label, fqdn, names);
	return 0;
}

/* The call, with ctx's settings less allowed_names. */
typedef enum scoped_call {
	CALL_PRESENT, CALL_CLEANUP, CALL_CAN_WRITE, CALL_PRESENT_MANY, CALL_CLEANUP_MANY
} scoped_call;

static int call(const cf_provider_ops *ops, scoped_call what, const cf_provider_ctx *ctx,
		const char *fqdn, const char *value, cf_provider_rec *recs, size_t n, cf_err *err)
{
	cf_provider_ctx c = *ctx;
	json_t *rest = provider_part(ctx->settings);
	int rc;

	if (rest == NULL)
		return cf_err_oom(err, "provider settings");
	c.settings = rest;
	switch (what) {
	case CALL_PRESENT:
		rc = ops->present(&c, fqdn, value, err);
		break;
	case CALL_CLEANUP:
		rc = ops->cleanup(&c, fqdn, value, err);
		break;
	case CALL_PRESENT_MANY:
		rc = ops->present_many(&c, recs, n, err);
		break;
	case CALL_CLEANUP_MANY:
		rc = ops->cleanup_many(&c, recs, n, err);
		break;
	default:
		rc = ops->can_write(&c, fqdn, err);
		break;
	}
	json_decref(rest);
	return rc;
}

int cf_provider_present(const cf_provider_ops *ops, const char *label, const cf_provider_ctx *ctx,
			const char *fqdn, const char *value, cf_err *err)
{
	if (cf_scope_allows(ctx->settings, label, fqdn, err) != 1)
		return -1;
	return call(ops, CALL_PRESENT, ctx, fqdn, value, NULL, 0, err);
}

int cf_provider_cleanup(const cf_provider_ops *ops, const char *label, const cf_provider_ctx *ctx,
			const char *fqdn, const char *value, bool check_scope, cf_err *err)
{
	if (check_scope && cf_scope_allows(ctx->settings, label, fqdn, err) != 1)
		return -1;
	return call(ops, CALL_CLEANUP, ctx, fqdn, value, NULL, 0, err);
}

int cf_provider_present_many(const cf_provider_ops *ops, const char *label,
			     const cf_provider_ctx *ctx, cf_provider_rec *recs, size_t n, cf_err *err)
{
	for (size_t i = 0; i < n; i++)
		if (cf_scope_allows(ctx->settings, label, recs[i].fqdn, err) != 1)
			return -1;
	return call(ops, CALL_PRESENT_MANY, ctx, NULL, NULL, recs, n, err);
}

int cf_provider_cleanup_many(const cf_provider_ops *ops, const char *label,
			     const cf_provider_ctx *ctx, cf_provider_rec *recs, size_t n,
			     bool check_scope, cf_err *err)
{
	for (size_t i = 0; check_scope && i < n; i++)
		if (cf_scope_allows(ctx->settings, label, recs[i].fqdn, err) != 1)
			return -1;
	return call(ops, CALL_CLEANUP_MANY, ctx, NULL, NULL, recs, n, err);
}

int cf_provider_can_write(const cf_provider_ops *ops, const char *label, const cf_provider_ctx *ctx,
			  const char *fqdn, cf_err *err)
{
	if (cf_scope_allows(ctx->settings, label, fqdn, err) != 1)
		return 0;
	if (ops->can_write == NULL) {
		cf_err_set(err, CF_ERR_TRANSIENT, "provider %s cannot tell without writing", label);
		return -1;
	}
	return call(ops, CALL_CAN_WRITE, ctx, fqdn, NULL, NULL, 0, err);
}
