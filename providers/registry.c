/*
 * registry.c: the table of DNS providers the binary knows, by name.
 *
 * A fixed array, filled once with the built-in providers (pthread_once, so the
 * first caller from any thread does it) and open to more registrations (tests, a
 * future plug-in) under a mutex. Names are unique: a second provider with a taken
 * name is refused with an error naming it, so one can never shadow another. The
 * entries point at static ops tables; the registry owns nothing it must free.
 */
#include "providers/provider.h"

#include <pthread.h>
#include <string.h>

#define REGISTRY_MAX 32
#define NAME_MAX_LEN 32

static const cf_provider_ops *registry[REGISTRY_MAX];
static size_t registry_n;
static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t registry_once = PTHREAD_ONCE_INIT;

/* The built-ins, registered by the first use of the registry. */
static const cf_provider_ops *const builtins[] = {
	&cf_provider_rfc2136,
	&cf_provider_cloudflare, &cf_provider_route53,
	&cf_provider_powerdns, &cf_provider_exec, &cf_provider_acmedns,
	&cf_provider_azure, &cf_provider_gcloud,
	&cf_provider_digitalocean, &cf_provider_hetzner, &cf_provider_ovh,
	&cf_provider_gandi, &cf_provider_linode, &cf_provider_desec, &cf_provider_httpreq,
};

/* A provider name is a short lower-case identifier: [a-z0-9_-], 1..32. */
static int name_ok(const char *name)
{
	size_t i, n;

	if (name == NULL)
		return 0;
	n = strlen(name);
	if (n == 0 || n > NAME_MAX_LEN)
		return 0;
	for (i = 0; i < n; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return 0;
	}
	return 1;
}

/* Adds ops; the caller holds registry_lock. */
static int add_locked(const cf_provider_ops *ops, cf_err *err)
{
	size_t i;

	if (ops == NULL || !name_ok(ops->name))
		return cf_err_set(err, CF_ERR_PERMANENT,
				  "provider name \"%.40s\" is not a lower-case identifier "
				  "([a-z0-9_-], 1-%d characters)",
				  ops && ops->name ? ops->name : "", NAME_MAX_LEN);
	for (i = 0; i < registry_n; i++)
		if (strcmp(registry[i]->name, ops->name) == 0)
			return cf_err_set(err, CF_ERR_PERMANENT,
					  "a provider named %s is already registered", ops->name);
	if (ops->validate == NULL || ops->present == NULL || ops->cleanup == NULL)
		return cf_err_set(err, CF_ERR_PERMANENT,
				  "provider %s lacks validate, present or cleanup", ops->name);
	if (registry_n >= REGISTRY_MAX)
		return cf_err_set(err, CF_ERR_PERMANENT,
				  "provider registry full (%d entries): cannot add %s",
				  REGISTRY_MAX, ops->name);
	registry[registry_n++] = ops;
	return 0;
}

static void register_builtins(void)
{
	size_t i;

	pthread_mutex_lock(&registry_lock);
	for (i = 0; i < sizeof(builtins) / sizeof(builtins[0]); i++)
		(void)add_locked(builtins[i], NULL); /* built-in names are distinct */
	pthread_mutex_unlock(&registry_lock);
}

void cf_providers_init(void)
{
	pthread_once(&registry_once, register_builtins);
}

int cf_provider_register(const cf_provider_ops *ops, cf_err *err)
{
	int rc;

	cf_providers_init();
	pthread_mutex_lock(&registry_lock);
	rc = add_locked(ops, err);
	pthread_mutex_unlock(&registry_lock);
	return rc;
}

const cf_provider_ops *cf_provider_find(const char *name)
{
	const cf_provider_ops *found = NULL;
	size_t i;

	if (name == NULL)
		return NULL;
	cf_providers_init();
	pthread_mutex_lock(&registry_lock);
	for (i = 0; i < registry_n && found == NULL; i++)
		if (strcmp(registry[i]->name, name) == 0)
			found = registry[i];
	pthread_mutex_unlock(&registry_lock);
	return found;
}

size_t cf_provider_names(const char **names, size_t max)
{
	size_t i, n;

	cf_providers_init();
	pthread_mutex_lock(&registry_lock);
	n = registry_n;
	for (i = 0; i < registry_n && i < max; i++)
		names[i] = registry[i]->name;
	pthread_mutex_unlock(&registry_lock);
	return n;
}

int cf_provider_is_secret(const cf_provider_ops *ops, const char *key)
{
	size_t i;

	if (ops == NULL || key == NULL)
		return 0;
	if (ops->public_keys != NULL) {
		for (i = 0; ops->public_keys[i] != NULL; i++)
			if (strcmp(ops->public_keys[i], key) == 0)
				return 0;
		return 1;
	}
	if (ops->secret_keys == NULL)
		return 0;
	for (i = 0; ops->secret_keys[i] != NULL; i++)
		if (strcmp(ops->secret_keys[i], key) == 0)
			return 1;
	return 0;
}

int cf_provider_suggest_target(const json_t *settings, const char *name, char *out,
			       size_t outlen)
{
	const char *full = json_string_value(json_object_get(settings, "fulldomain"));
	const char *zone = json_string_value(json_object_get(settings, "zone"));
	int n;

	if (full != NULL && full[0] != '\0')
		n = snprintf(out, outlen, "%s", full);
	else if (zone != NULL && zone[0] != '\0')
		n = snprintf(out, outlen, "%s.%s", name, zone);
	else
		return -1;
	if (n < 0 || (size_t)n >= outlen)
		return -1;
	while (n > 0 && out[n - 1] == '.')
		out[--n] = '\0';
	return 0;
}
