/*
 * api_http.h: the small HTTP client that the HTTP-API DNS providers share
 * (powerdns, acmedns; open to others): one libcurl easy handle per request,
 * JSON bodies, headers that may carry credentials, and the checks of an
 * `api_url` setting.
 *
 * Every request has a connect timeout and a total timeout, follows no redirect,
 * speaks only http and https, caps the response body, and sends the User-Agent
 * "certfleet/<version>". Transport failures (refused connection, timeout, reset,
 * TLS handshake) are CF_ERR_TRANSIENT; the HTTP status is left to the caller,
 * which knows what a 404 means for its API. Headers are wiped before they are
 * freed (an X-API-Key line is a credential), and no message here ever contains a
 * header. curl_global_init() is the program's (main.c); a process that never
 * called it gets libcurl's lazy, not thread-safe, initialisation.
 */
#ifndef CERTFLEET_PROVIDERS_API_HTTP_H
#define CERTFLEET_PROVIDERS_API_HTTP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "util/buf.h"
#include "util/err.h"

#define CF_API_URL_MAX 512

typedef struct cf_api_req {
	const char *method;              /* "GET", "POST", "PATCH", "PUT", "DELETE" */
	const char *url;
	const char *const *headers;      /* NULL-terminated "Name: value" lines, or NULL */
	const char *body;                /* JSON text, or NULL for none */
	const char *ca_file;             /* PEM bundle for https, or NULL for the system's */
	long timeout_ms;                 /* total; <= 0 means 10 s */
	size_t max_body;                 /* response cap; 0 means 1 MiB */
	const char *who;                 /* for messages, e.g. "powerdns"; never a secret */
	const char *content_type;        /* of body; NULL means application/json */
} cf_api_req;

typedef struct cf_api_resp {
	long status;  /* the HTTP status, 0 when no response came */
	cf_buf body;  /* owned; NUL-terminated */
	/* after a failure: false when the request surely never reached the server
	 * (no connection, no name, no TLS session), true when it may have */
	bool maybe_delivered;
	/* the Retry-After header of the answer in whole seconds (a delta; an HTTP
	 * date is not read), -1 when there is none */
	long retry_after_s;
} cf_api_resp;

/* Sends req. 0 when any HTTP response arrived (whatever its status), -1 with a
 * transient error naming who, the method and the URL when none did (or a
 * permanent one for a malformed request or an unusable ca_file). */
CF_MUST_CHECK int cf_api_http(const cf_api_req *req, cf_api_resp *resp, cf_err *err);
void cf_api_resp_free(cf_api_resp *resp);

/* Checks an api_url setting: "http://" or "https://", a host, an optional port
 * and path; no user:password@, query, fragment, blanks or control characters;
 * at most CF_API_URL_MAX - 128 characters. Writes it without trailing slashes
 * to out. The error names the setting `key` of provider who. */
CF_MUST_CHECK int cf_api_url_check(const char *who, const char *key, const char *url,
		     char out[CF_API_URL_MAX], cf_err *err);

/* The text of an API error body, for messages: the string member "error" (or
 * "message") of a JSON object, else the body itself; blanks collapsed, control
 * characters dropped, cut to outlen - 1 bytes. "" for an empty body. */
void cf_api_error_text(const cf_api_resp *resp, char *out, size_t outlen);

/* The string setting key of a settings object: 0 with *out NULL when absent,
 * -1 naming who and key when it is present but not a string. */
CF_MUST_CHECK int cf_api_setting_str(const char *who, const json_t *settings, const char *key,
		       const char **out, cf_err *err);

/* Refuses any key of settings not in known (NULL-terminated), naming it. */
CF_MUST_CHECK int cf_api_settings_known(const char *who, const json_t *settings, const char *const *known,
			  cf_err *err);

/* A whole number setting (JSON integer or decimal string) in [min, max], or def
 * when absent. */
CF_MUST_CHECK int cf_api_setting_long(const char *who, const json_t *settings, const char *key, long min,
			long max, long def, long *out, cf_err *err);

#endif
