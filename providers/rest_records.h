/*
 * rest_records.h: the shared layer of the DNS providers that speak a "records
 * API with a token" over HTTPS (digitalocean, hetzner, ovh, gandi, linode,
 * desec; httpreq uses its settings and call parts only).
 *
 * A provider describes its API in one static cf_rest_api table: its settings
 * (known keys, the credential, the default URL, the TTL range), how a request
 * is authenticated (a header template, or a hook that signs), and its JSON
 * mapping as small hooks. This file does the rest, once for all of them:
 *  - settings: unknown keys refused, the credential required and printable,
 *    api_url https:// (plain http:// only to a loopback host, for fakes), zone
 *    and ttl checked; every error names the setting, never a secret's value;
 *  - calls: URL from api_url and a path, the credential headers (wiped after
 *    use), 429 with Retry-After waited out and the call sent again (bounded),
 *    an answer other than 2xx turned into an error naming the provider, the
 *    method, the path, the status and the API's own error text (401/403 name
 *    the credential setting);
 *  - the zone: the configured one, or the longest suffix of the name the API
 *    knows (zone_find hook), walked from the name up;
 *  - present/cleanup in one of two models:
 *      records: the API keeps one record per value with an id (list, create,
 *        delete): present lists the TXT records at the name and creates one
 *        unless the value is there; cleanup deletes exactly the records that
 *        hold the value (ids collected over every page before any delete);
 *      rrset: the API keeps a name's TXT values as one set (get, put): a
 *        read-modify-write that keeps every other value, read again after the
 *        write and redone (a few times) when a concurrent writer undid it;
 *    changes to one name within a process take turns (cf_txt_name_lock); the
 *    service serialises them across replicas (atomic_writes is false);
 *  - can_write: the zone lookup alone (GETs only).
 *
 * TXT contents travel either as the value itself (raw) or as zone-file text
 * (quoted, RFC 1035 decimal escapes): api->quoted. Contents read back are
 * compared after unquoting when they are quoted, so either form matches.
 */
#ifndef CERTFLEET_PROVIDERS_REST_RECORDS_H
#define CERTFLEET_PROVIDERS_REST_RECORDS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "providers/api_http.h"
#include "providers/provider.h"
#include "util/err.h"

#define CF_REST_ID_MAX 64      /* an id from an API: [A-Za-z0-9_.-], 1-64 */
#define CF_REST_HDRS 4         /* credential header lines per request */
#define CF_REST_HDR_MAX 700    /* bytes per header line */
#define CF_REST_VALUE_MAX 1024 /* bytes of one TXT value */
#define CF_REST_EXTRA 4        /* provider-specific string settings kept */

/* cf_rest_call flags */
#define CF_REST_OK_404 0x1u /* a 404 is an answer (status 404, *out NULL), not an error */
#define CF_REST_ERR_BODY 0x2u /* after an error answer (-1), *out is its parsed body */

typedef struct cf_rest_api cf_rest_api;

/* The member names of a listed record. */
typedef struct cf_rest_fields {
	const char *type, *name, *content, *id;
} cf_rest_fields;

/* The checked settings. Strings point into the settings object (not owned). */
typedef struct cf_rest_conf {
	const char *token;              /* api->token_key's value, or NULL */
	char url[CF_API_URL_MAX];       /* api_url without trailing slashes */
	char zone[CF_NAME_MAX + 1];     /* "" = find it */
	long ttl;
	const char *extra[CF_REST_EXTRA]; /* api->extra_keys' values (NULL: absent) */
} cf_rest_conf;

/* One present, cleanup or probe. */
typedef struct cf_rest_op {
	const cf_rest_api *api;
	const cf_rest_conf *conf;
	long timeout_ms;
	char name[CF_NAME_MAX + 1];       /* the FQDN, normalised, no trailing dot */
	char zone[CF_NAME_MAX + 1];       /* the zone found */
	char zone_id[CF_NAME_MAX + 1];    /* the API's id of the zone, or its name */
	long waited_ms;                   /* Retry-After waits so far */
} cf_rest_op;

struct cf_rest_api {
	const char *who;               /* provider name, message prefix */
	const char *const *known_keys; /* NULL-terminated: every setting it takes */
	const char *url_key;           /* "api_url" (or "endpoint") */
	const char *default_url;       /* NULL: the url setting is required */
	const char *token_key;         /* the credential setting, or NULL */
	const char *token_hint;        /* what the credential must allow, for messages */
	/* provider settings kept in conf->extra[i] (strings), NULL-terminated */
	const char *const *extra_keys;
	long ttl_min, ttl_max, ttl_def;
	bool quoted;                   /* TXT contents as zone-file text */
	/* the header line before the token (e.g. "Authorization: Bearer "), or
	 * NULL with sign set */
	const char *auth_header;
	/* Optional: checks what the common checks cannot (extra settings). */
	CF_MUST_CHECK int (*conf_check)(const cf_rest_conf *c, cf_err *err);
	/* Optional: the credential header lines of one request (instead of
	 * auth_header): fills hdrs[0..] (at most CF_REST_HDRS), returns how many or
	 * -1. url is the full URL, body the JSON text ("" for none). */
	CF_MUST_CHECK int (*sign)(cf_rest_op *op, const char *method, const char *url,
				  const char *body, char hdrs[CF_REST_HDRS][CF_REST_HDR_MAX],
				  cf_err *err);
	/* Longest retry wait honoured for a 429 (seconds; 0: a 429 is not retried) */
	long retry_after_max_s;

	/* The zone named exactly candidate: 1 (op->zone_id set), 0 none, -1. */
	CF_MUST_CHECK int (*zone_find)(cf_rest_op *op, const char *candidate, cf_err *err);
	/* Optional, for cf_rest_zone_by_path: true when an error answer (other than
	 * 404) to a zone lookup only means "not a zone these credentials may use"
	 * (OVH's NOT_GRANTED_CALL for a name outside the consumer key's rules). */
	bool (*not_a_zone)(long status, const json_t *body);

	/* records model: appends {"id", "content"} for each TXT record at op->name
	 * on page `page` (1-based) to out, and sets *pages (total, >= 1). */
	CF_MUST_CHECK int (*list)(cf_rest_op *op, long page, json_t *out, long *pages,
				  cf_err *err);
	/* creates one TXT record at op->name with content. */
	CF_MUST_CHECK int (*create)(cf_rest_op *op, const char *content, cf_err *err);
	/* deletes record id; 0 also when it is gone already. */
	CF_MUST_CHECK int (*remove)(cf_rest_op *op, const char *id, cf_err *err);

	/* rrset model: *contents = a new array of the TXT contents at op->name
	 * (empty when there is no rrset). */
	CF_MUST_CHECK int (*rrset_get)(cf_rest_op *op, json_t **contents, cf_err *err);
	/* replaces the rrset with contents (an array of strings); deletes it when
	 * contents is empty. */
	CF_MUST_CHECK int (*rrset_put)(cf_rest_op *op, const json_t *contents, cf_err *err);

	/* Optional: after a change went through (ovh's zone refresh). */
	CF_MUST_CHECK int (*committed)(cf_rest_op *op, cf_err *err);
};

/* The provider entry points: each provider's ops wrap these with its table. */
CF_MUST_CHECK int cf_rest_validate(const cf_rest_api *api, const json_t *settings, cf_err *err);
CF_MUST_CHECK int cf_rest_present(const cf_rest_api *api, const cf_provider_ctx *ctx,
				  const char *fqdn, const char *value, cf_err *err);
CF_MUST_CHECK int cf_rest_cleanup(const cf_rest_api *api, const cf_provider_ctx *ctx,
				  const char *fqdn, const char *value, cf_err *err);
CF_MUST_CHECK int cf_rest_can_write(const cf_rest_api *api, const cf_provider_ctx *ctx,
				    const char *fqdn, cf_err *err);

/* The ops table of a provider described by API (a cf_rest_api), named NAME,
 * whose secret settings are the static array SECRETS; defines the wrappers and
 * cf_provider_<SYM>. */
#define CF_REST_PROVIDER(SYM, NAME, API, SECRETS)                                          \
	static int SYM##_validate(const json_t *s, cf_err *e)                               \
	{                                                                                   \
		return cf_rest_validate(&API, s, e);                                        \
	}                                                                                   \
	static int SYM##_present(const cf_provider_ctx *c, const char *f, const char *v,   \
				 cf_err *e)                                                 \
	{                                                                                   \
		return cf_rest_present(&API, c, f, v, e);                                   \
	}                                                                                   \
	static int SYM##_cleanup(const cf_provider_ctx *c, const char *f, const char *v,   \
				 cf_err *e)                                                 \
	{                                                                                   \
		return cf_rest_cleanup(&API, c, f, v, e);                                   \
	}                                                                                   \
	static int SYM##_can_write(const cf_provider_ctx *c, const char *f, cf_err *e)     \
	{                                                                                   \
		return cf_rest_can_write(&API, c, f, e);                                    \
	}                                                                                   \
	const cf_provider_ops cf_provider_##SYM = { .name = NAME,                           \
						    .secret_keys = SECRETS,                 \
						    .validate = SYM##_validate,             \
						    .present = SYM##_present,               \
						    .cleanup = SYM##_cleanup,               \
						    .can_write = SYM##_can_write }

/* ---- helpers for the hooks ---- */

/* Loads and checks settings (what validate does). */
CF_MUST_CHECK int cf_rest_conf_load(const cf_rest_api *api, const json_t *settings,
				    cf_rest_conf *c, cf_err *err);

/* A credential setting: present, printable ASCII without blanks, at most 512
 * characters; the error names key (and hint when it is missing), never the
 * value. */
CF_MUST_CHECK int cf_rest_check_secret(const char *who, const char *key, const char *value,
				       const char *hint, cf_err *err);

/* One API call: method on conf->url + path (path starts with '/', query escaped
 * by the caller), body (JSON, may be NULL). 0 for a 2xx answer (*status set,
 * *out the parsed JSON body or NULL when it is empty or not JSON; the caller
 * decrefs), and for a 404 with CF_REST_OK_404; -1 with err otherwise. out may
 * be NULL when the body does not matter. */
CF_MUST_CHECK int cf_rest_call(cf_rest_op *op, const char *method, const char *path,
			       const json_t *body, unsigned flags, long *status, json_t **out,
			       cf_err *err);

/* A zone_find for APIs that name a zone by its name in a path: GET
 * prefix + candidate (escaped) + suffix; 1 for a 2xx (op->zone_id = the
 * candidate), 0 for a 404 (or an answer api->not_a_zone accepts), -1 otherwise. */
CF_MUST_CHECK int cf_rest_zone_by_path(cf_rest_op *op, const char *prefix, const char *candidate,
				       const char *suffix, cf_err *err);

/* Sends body (a new reference, consumed; NULL stands for a value JSON cannot
 * carry, refused as not UTF-8) with method to path; the answer is not kept. */
CF_MUST_CHECK int cf_rest_send(cf_rest_op *op, const char *method, const char *path,
			       json_t *body, cf_err *err);
/* DELETE path; a 404 (gone already) is success. */
CF_MUST_CHECK int cf_rest_delete(cf_rest_op *op, const char *path, cf_err *err);

/* Where a page of a records listing keeps what the shared list needs. */
typedef struct cf_rest_listing {
	const char *member;           /* the array of records in the answer */
	cf_rest_fields fields;        /* the members of one record */
	const char *apex;             /* the relative name of the zone apex ("@", "") */
	const char *const *pages;     /* member path (NULL-terminated) to the page count */
	long per_page;                /* > 0: that member is a total of records instead */
} cf_rest_listing;

/* A list hook's work for one page: GET path, append the TXT records at op->name
 * (cf_rest_collect) to out, *pages from the answer (>= 1). */
CF_MUST_CHECK int cf_rest_list_get(cf_rest_op *op, const char *path, const cf_rest_listing *l,
				   json_t *out, long *pages, cf_err *err);

/* GET path; *out = a copy of the array member of the answer: empty when the
 * answer is a 404 or has no such array (an rrset that does not exist). */
CF_MUST_CHECK int cf_rest_get_array(cf_rest_op *op, const char *path, const char *member,
				    json_t **out, cf_err *err);

/* Percent-encodes s (unreserved characters kept) into out (cap bytes;
 * 3 * strlen(s) + 1 suffice). -1 when it does not fit. */
CF_MUST_CHECK int cf_rest_escape(const char *s, char *out, size_t cap);

/* op->name relative to op->zone ("_acme-challenge.www"), or apex (e.g. "@" or
 * "") when the name is the zone itself. */
void cf_rest_subname(const cf_rest_op *op, const char *apex, char out[CF_NAME_MAX + 1]);

/* The id member of obj (a string, or a whole number written in decimal) into
 * out when it is [A-Za-z0-9_.-]{1,64}; -1 otherwise (an id goes into a path). */
CF_MUST_CHECK int cf_rest_take_id(const json_t *obj, const char *key,
				  char out[CF_REST_ID_MAX + 1]);

/* Appends {"id", "content"} to out for each object of records whose f->type is
 * "TXT" and whose f->name is name (case ignored; a relative name as the API
 * lists it). -1 when out of memory. */
CF_MUST_CHECK int cf_rest_collect(json_t *out, const json_t *records, const cf_rest_fields *f,
				  const char *name);

/* true when content (as an API lists it: the value itself, or zone-file text
 * in double quotes) stands for value. */
bool cf_rest_content_is(const char *content, const char *value);

/* The API's error text of an answer, for messages: "detail", "message",
 * "error" (a string or an object with "message"), errors[0].reason or
 * .message, with errorCode/code/id/cause in brackets when present; blanks
 * collapsed, cut to outlen - 1. */
void cf_rest_error_text(const cf_api_resp *resp, char *out, size_t outlen);

#endif
