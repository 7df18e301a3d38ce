/*
 * routes.c: the route table of the API and the matcher.
 *
 * A pattern is a path whose segments are literal or "{name}"; a "{name}" segment
 * matches one non-empty segment and is captured, in order, into req->params. The
 * table is small, so matching is a linear scan with no allocation until a match.
 * Each route names who may call it (auth); the dispatcher checks that before the
 * handler runs (api.c), so a handler never sees an unauthenticated request. A
 * keys token (key grants) reaches only the token routes and the reading and
 * PATCH of certificates; the handlers narrow what it may change there. The
 * flags say how: CF_ROUTE_CACHED routes (the fetches hosts poll) are authorised
 * from the fetch cache, without a database connection.
 */
#include "http/http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const cf_route cf_routes[] = {
	{"GET", "/healthz", CF_AUTH_NONE, cf_h_healthz, 0},
	{"GET", "/readyz", CF_AUTH_NONE, cf_h_readyz, 0},
	{"GET", "/v1/whoami", CF_AUTH_ANY, cf_h_whoami, 0},
	{"GET", "/v1/providers", CF_AUTH_ADMIN, cf_h_providers_list, 0},
	{"POST", "/v1/providers", CF_AUTH_ADMIN, cf_h_providers_create, 0},
	{"GET", "/v1/providers/{name}", CF_AUTH_ADMIN, cf_h_provider_get, 0},
	{"DELETE", "/v1/providers/{name}", CF_AUTH_ADMIN, cf_h_provider_delete, 0},
	{"GET", "/v1/issuers", CF_AUTH_ADMIN, cf_h_issuers_list, 0},
	{"POST", "/v1/issuers", CF_AUTH_ADMIN, cf_h_issuers_create, 0},
	{"GET", "/v1/issuers/{name}", CF_AUTH_ADMIN, cf_h_issuer_get, 0},
	{"PATCH", "/v1/issuers/{name}", CF_AUTH_ADMIN, cf_h_issuer_patch, 0},
	{"DELETE", "/v1/issuers/{name}", CF_AUTH_ADMIN, cf_h_issuer_delete, 0},
	{"GET", "/v1/alerts", CF_AUTH_ADMIN, cf_h_alerts_list, 0},
	{"POST", "/v1/alerts", CF_AUTH_ADMIN, cf_h_alerts_create, 0},
	{"GET", "/v1/alerts/{id}", CF_AUTH_ADMIN, cf_h_alert_get, 0},
	{"PATCH", "/v1/alerts/{id}", CF_AUTH_ADMIN, cf_h_alert_patch, 0},
	{"DELETE", "/v1/alerts/{id}", CF_AUTH_ADMIN, cf_h_alert_delete, 0},
	{"GET", "/v1/certificates", CF_AUTH_ADMIN_OR_KEYS, cf_h_certs_list, 0},
	{"POST", "/v1/certificates", CF_AUTH_ADMIN, cf_h_certs_create, 0},
	{"GET", "/v1/certificates/{id}", CF_AUTH_ADMIN_OR_KEYS, cf_h_cert_get, 0},
	{"PATCH", "/v1/certificates/{id}", CF_AUTH_ADMIN_OR_KEYS, cf_h_cert_patch, 0},
	{"DELETE", "/v1/certificates/{id}", CF_AUTH_ADMIN, cf_h_cert_delete, 0},
	{"POST", "/v1/certificates/{id}/issue", CF_AUTH_ADMIN, cf_h_cert_issue, 0},
	{"POST", "/v1/certificates/{id}/resume", CF_AUTH_ADMIN, cf_h_cert_resume, 0},
	{"GET", "/v1/certificates/{id}/bundle", CF_AUTH_HOST_OR_ADMIN, cf_h_fetch_bundle,
	 CF_ROUTE_CACHED},
	{"GET", "/v1/certificates/{id}/fullchain.pem", CF_AUTH_HOST_OR_ADMIN,
	 cf_h_fetch_fullchain, CF_ROUTE_CACHED},
	{"GET", "/v1/certificates/{id}/chain.pem", CF_AUTH_HOST_OR_ADMIN, cf_h_fetch_chain,
	 CF_ROUTE_CACHED},
	{"GET", "/v1/certificates/{id}/cert.pem", CF_AUTH_HOST_OR_ADMIN, cf_h_fetch_cert,
	 CF_ROUTE_CACHED},
	{"GET", "/v1/certificates/{id}/privkey.pem", CF_AUTH_HOST_OR_ADMIN, cf_h_fetch_key,
	 CF_ROUTE_CACHED},
	{"GET", "/v1/jobs", CF_AUTH_ADMIN, cf_h_jobs_list, 0},
	{"GET", "/v1/jobs/{id}", CF_AUTH_ADMIN, cf_h_job_get, 0},
	{"POST", "/v1/aliases/check", CF_AUTH_ADMIN, cf_h_aliases_check, 0},
	{"GET", "/v1/certificates/{id}/versions", CF_AUTH_ADMIN, cf_h_cert_versions, 0},
	{"POST", "/v1/certificates/{id}/versions/{version}/revoke", CF_AUTH_ADMIN,
	 cf_h_version_revoke, 0},
	{"GET", "/metrics", CF_AUTH_NONE, cf_h_metrics, 0},
	{"GET", "/v1/tokens", CF_AUTH_ADMIN_OR_KEYS, cf_h_tokens_list, 0},
	{"POST", "/v1/tokens", CF_AUTH_ADMIN_OR_KEYS, cf_h_tokens_create,
	 CF_ROUTE_NO_IDEMPOTENCY},
	{"DELETE", "/v1/tokens/{name}", CF_AUTH_ADMIN_OR_KEYS, cf_h_token_revoke, 0},
	{"GET", "/v1/audit", CF_AUTH_ADMIN, cf_h_audit_list, 0},
};
const size_t cf_nroutes = sizeof(cf_routes) / sizeof(cf_routes[0]);

/* Walks pattern and path together; captures params when req is not NULL. */
static int match_path(const char *pattern, const char *path, cf_http_req *req)
{
	const char *p = pattern, *s = path;

	while (*p && *s) {
		if (*p == '{') {
			const char *pe = strchr(p, '}');
			size_t n = strcspn(s, "/");
			if (pe == NULL || n == 0)
				return 0;
			if (req != NULL) {
				if (req->nparams >= CF_HTTP_MAX_PARAMS)
					return 0;
				req->params[req->nparams++] = strndup(s, n);
			}
			p = pe + 1;
			s += n;
			continue;
		}
		if (*p != *s)
			return 0;
		p++;
		s++;
	}
	return *p == '\0' && *s == '\0';
}

const cf_route *cf_route_match(const char *method, const char *path, cf_http_req *req,
			       int *path_known)
{
	*path_known = 0;
	for (size_t i = 0; i < cf_nroutes; i++) {
		if (!match_path(cf_routes[i].pattern, path, NULL))
			continue;
		if (strcmp(cf_routes[i].method, method) != 0 &&
		    !(strcmp(method, "HEAD") == 0 && strcmp(cf_routes[i].method, "GET") == 0)) {
			*path_known = 1;
			continue;
		}
		match_path(cf_routes[i].pattern, path, req);
		return &cf_routes[i];
	}
	return NULL;
}

void cf_route_allow(const char *path, char *out, size_t len)
{
	size_t used = 0;

	out[0] = '\0';
	for (size_t i = 0; i < cf_nroutes && used < len; i++) {
		if (!match_path(cf_routes[i].pattern, path, NULL))
			continue;
		used += (size_t)snprintf(out + used, len - used, "%s%s%s", used ? ", " : "",
					 cf_routes[i].method,
					 strcmp(cf_routes[i].method, "GET") == 0 ? ", HEAD" : "");
	}
}
