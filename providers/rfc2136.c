/*
 * rfc2136.c: the RFC 2136 DNS UPDATE provider, signed with TSIG (RFC 8945).
 *
 * Settings (a JSON object of strings):
 *   server          HOST[:PORT] of the primary that accepts updates (required);
 *                   a numeric address, or a host name resolved through the
 *                   configured resolvers
 *   zone            the zone to update (optional: otherwise the zone of the FQDN,
 *                   found by SOA through the resolvers, or by asking the server)
 *   ttl             TTL of the TXT records, 1-86400 (default 60)
 *   tsig_name       TSIG key name (optional, but then updates are unsigned)
 *   tsig_algorithm  hmac-sha256 (default) or hmac-sha512
 *   tsig_secret     the key, base64 (a secret: never printed, wiped after use)
 *
 * present() sends one UPDATE adding exactly one TXT RR, so other values at the
 * name stay (RFC 2136 3.4.2.2); cleanup() deletes exactly that RR (class NONE,
 * section 2.5.4), which also succeeds when it is already gone. The answer is
 * checked: TSIG errors (BADSIG, BADKEY, BADTIME), REFUSED, NOTAUTH and NOTZONE
 * are permanent and name the server, the zone and the key; no answer or SERVFAIL
 * is transient.
 *
 * can_write() (for the alias check) finds the zone the same way and sends an
 * UPDATE with an empty update section, signed like a real one: it changes
 * nothing, but the server checks the signature (BADSIG, BADKEY), whether it is
 * authoritative for the zone (NOTAUTH) and whether the zone takes updates at all
 * (REFUSED) exactly as it would for a write. It cannot see a policy that allows
 * some names or types of the zone and not others (BIND's update-policy): that
 * only shows on the first real write.
 */
#include "providers/provider.h"

#include <ldns/ldns.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/b64.h"
#include "util/buf.h"

#define DEFAULT_TTL 60
#define DEFAULT_TIMEOUT_MS 5000
#define TSIG_BADSIG 16
#define TSIG_BADKEY 17
#define TSIG_BADTIME 18
#define VALUE_MAX 1024

static const char *const secret_keys[] = { "tsig_secret", NULL };
static const char *const known_keys[] = { "server", "zone", "ttl", "tsig_name",
					  "tsig_algorithm", "tsig_secret", NULL };

/* The settings, checked. Strings point into the settings object (not owned). */
typedef struct rfc_conf {
	const char *server;  /* as configured, for messages */
	char host[CF_NAME_MAX + 1];
	uint16_t port;
	bool numeric;        /* host is an address */
	const char *key;     /* NULL: no TSIG */
	const char *alg;     /* ldns algorithm name, e.g. "hmac-sha256." */
	const char *secret;
	char zone[CF_NAME_MAX + 1]; /* "" = find it */
	uint32_t ttl;
} rfc_conf;

/* The string value of an optional setting; -1 when present but not a string. */
static int get_str(const json_t *s, const char *key, const char **out, cf_err *err)
{
	const json_t *v = json_object_get(s, key);

	*out = NULL;
	if (v == NULL)
		return 0;
	if (!json_is_string(v))
		return cf_err_set(err, CF_ERR_PERMANENT, "rfc2136 setting %s: must be a string",
				  key);
	*out = json_string_value(v);
	return 0;
}

/* Splits "HOST[:PORT]" ("[v6]:PORT" for IPv6) into conf. */
static int parse_server(rfc_conf *c, cf_err *err)
{
	cf_dns_servers tmp = { 0 };
	cf_err ignore = { 0 };
	char host[CF_NAME_MAX + 2];
	const char *colon;
	size_t hlen;
	long port = 53;
	char *end = NULL;

	if (cf_dns_servers_add(&tmp, c->server, &ignore) == 0) {
		snprintf(c->host, sizeof(c->host), "%s", tmp.s[0].ip);
		c->port = tmp.s[0].port;
		c->numeric = true;
		return 0;
	}
	cf_err_clear(&ignore);
	colon = strchr(c->server, ':');
	hlen = colon ? (size_t)(colon - c->server) : strlen(c->server);
	if (colon != NULL) {
		port = strtol(colon + 1, &end, 10);
		if (colon[1] == '\0' || *end != '\0' || port < 1 || port > 65535)
			return cf_err_set(err, CF_ERR_PERMANENT,
					  "rfc2136 setting server: bad port in \"%.100s\" (1-65535)",
					  c->server);
	}
	if (hlen == 0 || hlen > CF_NAME_MAX)
		return cf_err_set(err, CF_ERR_PERMANENT,
				  "rfc2136 setting server: \"%.100s\" is not HOST[:PORT]", c->server);
	memcpy(host, c->server, hlen);
	host[hlen] = '\0';
	if (cf_target_normalize(host, c->host, err) != 0)
		return cf_err_wrap(err, "rfc2136 setting server");
	c->port = (uint16_t)port;
	c->numeric = false;
	return 0;
}

static int check_keys(const json_t *s, cf_err *err)
{
	const char *key;
	const json_t *v;
	size_t i;

	json_object_foreach((json_t *)s, key, v) {
		for (i = 0; known_keys[i] != NULL && strcmp(known_keys[i], key) != 0; i++)
			;
		if (known_keys[i] == NULL)
			return cf_err_set(err, CF_ERR_PERMANENT,
					  "rfc2136: unknown setting \"%.60s\" (known: server, zone, "
					  "ttl, tsig_name, tsig_algorithm, tsig_secret)",
					  key);
	}
	return 0;
}

static int check_tsig(rfc_conf *c, const char *alg, cf_err *err)
{
	ldns_rdf *kn = NULL;
	uint8_t *raw = NULL;
	size_t rawlen = 0;

	if (c->key == NULL) {
		if (c->secret != NULL || alg != NULL)
			return cf_err_set(err, CF_ERR_PERMANENT,
					  "rfc2136 setting tsig_name: required when tsig_secret or "
					  "tsig_algorithm is set");
		return 0;
	}
	kn = c->key[0] && strlen(c->key) <= CF_NAME_MAX ? ldns_dname_new_frm_str(c->key) : NULL;
	if (kn == NULL)
		return cf_err_set(err, CF_ERR_PERMANENT,
				  "rfc2136 setting tsig_name: \"%.100s\" is not a DNS name", c->key);
	ldns_rdf_deep_free(kn);
	if (alg == NULL || strcasecmp(alg, "hmac-sha256") == 0 ||
	    strcasecmp(alg, "hmac-sha256.") == 0)
		c->alg = "hmac-sha256.";
	else if (strcasecmp(alg, "hmac-sha512") == 0 || strcasecmp(alg, "hmac-sha512.") == 0)
		c->alg = "hmac-sha512.";
	else
		return cf_err_set(err, CF_ERR_PERMANENT,
				  "rfc2136 setting tsig_algorithm: \"%.40s\" is not supported "
				  "(hmac-sha256 or hmac-sha512)",
				  alg);
	if (c->secret == NULL || c->secret[0] == '\0')
		return cf_err_set(err, CF_ERR_PERMANENT,
				  "rfc2136 setting tsig_secret: required when tsig_name is set");
	raw = cf_b64_decode(c->secret, &rawlen);
	if (raw != NULL) {
		cf_wipe(raw, rawlen);
		free(raw);
	}
	if (raw == NULL || rawlen == 0)
		return cf_err_set(err, CF_ERR_PERMANENT,
				  "rfc2136 setting tsig_secret: not valid base64 (the value is "
				  "not shown)");
	return 0;
}

/* Reads and checks every setting into c. */
static int conf_load(const json_t *s, rfc_conf *c, cf_err *err)
{
	const char *zone, *ttl, *alg;
	const json_t *jttl;
	char *end = NULL;
	long v;

	memset(c, 0, sizeof(*c));
	c->ttl = DEFAULT_TTL;
	if (s == NULL || !json_is_object(s))
		return cf_err_set(err, CF_ERR_PERMANENT, "rfc2136: settings must be an object");
	if (check_keys(s, err) != 0)
		return -1;
	if (get_str(s, "server", &c->server, err) != 0 || get_str(s, "zone", &zone, err) != 0 ||
	    get_str(s, "tsig_name", &c->key, err) != 0 ||
	    get_str(s, "tsig_algorithm", &alg, err) != 0 ||
	    get_str(s, "tsig_secret", &c->secret, err) != 0)
		return -1;
	if (c->server == NULL || c->server[0] == '\0')
		return cf_err_set(err, CF_ERR_PERMANENT,
				  "rfc2136 setting server: required (HOST[:PORT] of the primary)");
	if (parse_server(c, err) != 0)
		return -1;
	if (zone != NULL && cf_target_normalize(zone, c->zone, err) != 0)
		return cf_err_wrap(err, "rfc2136 setting zone");
	jttl = json_object_get(s, "ttl");
	if (json_is_integer(jttl)) {
		v = (long)json_integer_value(jttl);
	} else if (jttl != NULL) {
		if (get_str(s, "ttl", &ttl, err) != 0)
			return -1;
		v = strtol(ttl, &end, 10);
		if (ttl[0] == '\0' || *end != '\0')
			v = -1;
	} else {
		v = DEFAULT_TTL;
	}
	if (v < 1 || v > 86400)
		return cf_err_set(err, CF_ERR_PERMANENT,
				  "rfc2136 setting ttl: must be a number of seconds, 1-86400");
	c->ttl = (uint32_t)v;
	return check_tsig(c, alg, err);
}

static int rfc2136_validate(const json_t *settings, cf_err *err)
{
	rfc_conf c;

	return conf_load(settings, &c, err);
}

/* Finds the update server's address: the configured one, or its host name
 * resolved through the resolvers. */
static int server_address(const cf_provider_ctx *ctx, const rfc_conf *c, cf_dns_server *out,
			  cf_err *err)
{
	cf_dns_servers addrs = { 0 };

	if (c->numeric) {
		snprintf(out->ip, sizeof(out->ip), "%s", c->host);
		out->port = c->port;
		return 0;
	}
	if (cf_dns_host_addresses(ctx->resolvers, c->host, &addrs, err) != 0)
		return cf_err_wrap(err, "rfc2136 server %s", c->server);
	if (addrs.n == 0)
		return cf_err_set(err, CF_ERR_PERMANENT, "rfc2136 server %s: host has no address",
				  c->server);
	*out = addrs.s[0];
	out->port = c->port;
	return 0;
}

/* The zone to update: configured, else by SOA through the resolvers, else by
 * asking the update server itself. Caller frees *zone. */
static int find_zone(const cf_provider_ctx *ctx, const rfc_conf *c, const cf_dns_server *srv,
		     const char *fqdn, char **zone, cf_err *err)
{
	cf_dns_servers self = { .n = 1 };
	cf_err first = { 0 };
	int rc = -1;

	if (c->zone[0] != '\0') {
		*zone = strdup(c->zone);
		if (*zone == NULL)
			return cf_err_oom(err, NULL);
		return 0;
	}
	if (ctx->resolvers != NULL && ctx->resolvers->n > 0 &&
	    cf_dns_find_zone(ctx->resolvers, fqdn, zone, &first) == 0) {
		rc = 0;
		goto out;
	}
	self.s[0] = *srv;
	if (cf_dns_find_zone(&self, fqdn, zone, err) == 0) {
		rc = 0;
		goto out;
	}
	if (first.cls != CF_ERR_NONE)
		cf_err_set(err, first.cls, "rfc2136: no zone for %s (set the zone setting): %s",
			   fqdn, first.msg);
	else
		cf_err_wrap(err, "rfc2136: no zone for %s (set the zone setting)", fqdn);
out:
	cf_err_clear(&first);
	return rc;
}

/* The TXT RR for value at name: class IN with ttl to add, class NONE to delete. */
static ldns_rr *txt_rr(const char *name, const char *value, bool add, uint32_t ttl)
{
	ldns_rr *rr = ldns_rr_new();
	ldns_rdf *owner = ldns_dname_new_frm_str(name);
	size_t len = strlen(value), off = 0;

	if (rr == NULL || owner == NULL)
		goto fail;
	ldns_rr_set_owner(rr, owner);
	owner = NULL;
	ldns_rr_set_type(rr, LDNS_RR_TYPE_TXT);
	ldns_rr_set_class(rr, add ? LDNS_RR_CLASS_IN : LDNS_RR_CLASS_NONE);
	ldns_rr_set_ttl(rr, add ? ttl : 0);
	do { /* character-strings of at most 255 bytes; an empty value is one "" */
		uint8_t buf[256];
		size_t n = len - off > 255 ? 255 : len - off;
		ldns_rdf *s;

		buf[0] = (uint8_t)n;
		memcpy(buf + 1, value + off, n);
		s = ldns_rdf_new_frm_data(LDNS_RDF_TYPE_STR, n + 1, buf);
		if (s == NULL || !ldns_rr_push_rdf(rr, s)) {
			if (s != NULL)
				ldns_rdf_deep_free(s);
			goto fail;
		}
		off += n;
	} while (off < len);
	return rr;
fail:
	if (owner != NULL)
		ldns_rdf_deep_free(owner);
	if (rr != NULL)
		ldns_rr_free(rr);
	return NULL;
}

/* A resolver that talks to srv only, signing with the configured key. */
static ldns_resolver *update_resolver(const cf_provider_ctx *ctx, const rfc_conf *c,
				      const cf_dns_server *srv)
{
	ldns_resolver *r = ldns_resolver_new();
	ldns_rdf *addr = ldns_rdf_new_frm_str(
		strchr(srv->ip, ':') ? LDNS_RDF_TYPE_AAAA : LDNS_RDF_TYPE_A, srv->ip);
	long ms = ctx->timeout_ms > 0 ? ctx->timeout_ms : DEFAULT_TIMEOUT_MS;
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	if (r == NULL || addr == NULL || ldns_resolver_push_nameserver(r, addr) != LDNS_STATUS_OK) {
		if (r != NULL)
			ldns_resolver_deep_free(r);
		r = NULL;
		goto out;
	}
	ldns_resolver_set_port(r, srv->port);
	ldns_resolver_set_timeout(r, tv);
	ldns_resolver_set_retry(r, 1);
	ldns_resolver_set_retrans(r, 0);
	ldns_resolver_set_recursive(r, false);
	ldns_resolver_set_fallback(r, true);
	if (c->key != NULL) {
		ldns_resolver_set_tsig_keyname(r, c->key);
		ldns_resolver_set_tsig_algorithm(r, c->alg);
		ldns_resolver_set_tsig_keydata(r, c->secret);
	}
out:
	if (addr != NULL)
		ldns_rdf_deep_free(addr);
	return r;
}

/* Frees the resolver after wiping ldns's copy of the secret. */
static void update_resolver_free(ldns_resolver *r)
{
	const char *kd;

	if (r == NULL)
		return;
	kd = ldns_resolver_tsig_keydata(r);
	if (kd != NULL)
		cf_wipe((char *)kd, strlen(kd));
	ldns_resolver_deep_free(r);
}

/* The TSIG error field of an answer (RFC 8945 4.2), 0 when unsigned or none. */
static int tsig_error(const ldns_pkt *reply)
{
	const ldns_rr *t = ldns_pkt_tsig(reply);
	const ldns_rdf *e;

	if (t == NULL || ldns_rr_rd_count(t) < 6)
		return 0;
	e = ldns_rr_rdf(t, 5);
	if (e == NULL || ldns_rdf_size(e) != 2)
		return 0;
	return ldns_rdf2native_int16(e);
}

/* Turns the server's answer into 0 or a message naming server, zone and key. */
static int check_answer(const ldns_pkt *reply, ldns_status st, const rfc_conf *c,
			const char *who, const char *zone, const char *fqdn, cf_err *err)
{
	int rcode = (int)ldns_pkt_get_rcode(reply);
	int terr = tsig_error(reply);
	char key[300];

	if (c->key != NULL)
		snprintf(key, sizeof(key), "TSIG key %s (%.11s)", c->key, c->alg);
	else
		snprintf(key, sizeof(key), "no TSIG key");
	if (terr == TSIG_BADSIG)
		return cf_err_set(err, CF_ERR_PERMANENT,
				  "rfc2136: server %s rejected the signature of %s for zone %s "
				  "(BADSIG: bad signature; check tsig_secret and tsig_algorithm)",
				  who, key, zone);
	if (terr == TSIG_BADKEY)
		return cf_err_set(err, CF_ERR_PERMANENT,
				  "rfc2136: server %s does not know %s, updating zone %s "
				  "(BADKEY: check tsig_name and tsig_algorithm)",
				  who, key, zone);
	if (terr == TSIG_BADTIME)
		return cf_err_set(err, CF_ERR_PERMANENT,
				  "rfc2136: server %s rejected the time of the signature of %s for "
				  "zone %s (BADTIME: clocks differ by more than 5 minutes)",
				  who, key, zone);
	switch (rcode) {
	case LDNS_RCODE_NOERROR:
		if (st != LDNS_STATUS_OK)
			return cf_err_set(err, CF_ERR_TRANSIENT,
					  "rfc2136: the answer of server %s for zone %s failed "
					  "verification with %s (%s); the update may have been applied",
					  who, zone, key, ldns_get_errorstr_by_id(st));
		return 0;
	case LDNS_RCODE_REFUSED:
		return cf_err_set(err, CF_ERR_PERMANENT,
				  "rfc2136: server %s refused the update of %s in zone %s with %s "
				  "(REFUSED: the zone's update policy does not allow %s to add or "
				  "delete TXT there)",
				  who, fqdn, zone, key, c->key ? "this key" : "unsigned updates");
	case LDNS_RCODE_NOTAUTH:
		return cf_err_set(err, CF_ERR_PERMANENT,
				  "rfc2136: server %s is not authoritative for zone %s (NOTAUTH; "
				  "%s): check the server and zone settings",
				  who, zone, key);
	case LDNS_RCODE_NOTZONE:
		return cf_err_set(err, CF_ERR_PERMANENT,
				  "rfc2136: %s is not in zone %s (NOTZONE from server %s, %s)", fqdn,
				  zone, who, key);
	case LDNS_RCODE_SERVFAIL:
		return cf_err_set(err, CF_ERR_TRANSIENT,
				  "rfc2136: server %s failed the update of zone %s (SERVFAIL, %s)",
				  who, zone, key);
	default:
		return cf_err_set(err, CF_ERR_PERMANENT,
				  "rfc2136: server %s answered rcode %d to the update of %s in zone "
				  "%s (%s)",
				  who, rcode, fqdn, zone, key);
	}
}

/* What one UPDATE does: add or delete one TXT RR, or nothing (the probe). */
typedef enum rfc_op { OP_ADD, OP_DELETE, OP_PROBE } rfc_op;

/* Sends one UPDATE for fqdn's zone: adds or deletes one TXT RR, or (OP_PROBE)
 * nothing at all. */
static int update(const cf_provider_ctx *ctx, const char *fqdn, const char *value, rfc_op op,
		  cf_err *err)
{
	rfc_conf c;
	cf_dns_server srv = { 0 };
	char name[CF_NAME_MAX + 1], who[CF_DNS_SERVER_STRLEN];
	char *zone = NULL;
	ldns_resolver *r = NULL;
	ldns_rr_list *up = NULL;
	ldns_rr *rr = NULL;
	ldns_rdf *zone_rdf = NULL;
	ldns_pkt *q = NULL, *reply = NULL;
	ldns_status st;
	int rc = -1;

	if (conf_load(ctx->settings, &c, err) != 0)
		goto out;
	if (cf_target_normalize(fqdn, name, err) != 0) {
		cf_err_wrap(err, "rfc2136");
		goto out;
	}
	if (op != OP_PROBE && (value == NULL || strlen(value) > VALUE_MAX)) {
		cf_err_set(err, CF_ERR_PERMANENT, "rfc2136: TXT value missing or over %d bytes",
			   VALUE_MAX);
		goto out;
	}
	if (server_address(ctx, &c, &srv, err) != 0 ||
	    find_zone(ctx, &c, &srv, name, &zone, err) != 0)
		goto out;
	cf_dns_server_str(&srv, who);
	if (!cf_name_is_under(name, zone)) {
		cf_err_set(err, CF_ERR_PERMANENT, "rfc2136: %s is not in zone %s", name, zone);
		goto out;
	}
	r = update_resolver(ctx, &c, &srv);
	up = ldns_rr_list_new();
	if (op != OP_PROBE)
		rr = txt_rr(name, value, op == OP_ADD, c.ttl);
	zone_rdf = ldns_dname_new_frm_str(zone);
	if (r == NULL || up == NULL || (op != OP_PROBE && rr == NULL) || zone_rdf == NULL ||
	    (rr != NULL && !ldns_rr_list_push_rr(up, rr))) {
		cf_err_set(err, CF_ERR_TRANSIENT, "rfc2136: cannot build the update");
		goto out;
	}
	rr = NULL; /* owned by up */
	q = ldns_update_pkt_new(zone_rdf, LDNS_RR_CLASS_IN, NULL, up, NULL);
	zone_rdf = NULL; /* owned by q (or lost with it on failure) */
	if (q == NULL) {
		cf_err_set(err, CF_ERR_TRANSIENT, "rfc2136: cannot build the update");
		goto out;
	}
	ldns_pkt_set_rd(q, false); /* a Z bit in an UPDATE header */
	st = ldns_update_pkt_tsig_add(q, r);
	if (st != LDNS_STATUS_OK) {
		cf_err_set(err, CF_ERR_PERMANENT, "rfc2136: cannot sign with TSIG key %s (%s)",
			   c.key ? c.key : "-", ldns_get_errorstr_by_id(st));
		goto out;
	}
	st = ldns_send(&reply, r, q);
	if (reply == NULL) {
		cf_err_set(err, CF_ERR_TRANSIENT,
			   "rfc2136: no answer from server %s to the update of zone %s (%s)", who,
			   zone, ldns_get_errorstr_by_id(st));
		goto out;
	}
	if (check_answer(reply, st, &c, who, zone, name, err) != 0)
		goto out;
	rc = 0;
out:
	if (reply != NULL)
		ldns_pkt_free(reply);
	if (q != NULL)
		ldns_pkt_free(q);
	if (zone_rdf != NULL)
		ldns_rdf_deep_free(zone_rdf);
	if (rr != NULL)
		ldns_rr_free(rr);
	if (up != NULL)
		ldns_rr_list_deep_free(up);
	update_resolver_free(r);
	free(zone);
	return rc;
}

static int rfc2136_present(const cf_provider_ctx *ctx, const char *fqdn, const char *value,
			   cf_err *err)
{
	return update(ctx, fqdn, value, OP_ADD, err);
}

static int rfc2136_cleanup(const cf_provider_ctx *ctx, const char *fqdn, const char *value,
			   cf_err *err)
{
	return update(ctx, fqdn, value, OP_DELETE, err);
}

/* err must not be NULL: its class tells "cannot" (permanent) from "cannot tell". */
static int rfc2136_can_write(const cf_provider_ctx *ctx, const char *fqdn, cf_err *err)
{
	if (update(ctx, fqdn, NULL, OP_PROBE, err) == 0)
		return 1;
	return err->cls == CF_ERR_PERMANENT ? 0 : -1;
}

const cf_provider_ops cf_provider_rfc2136 = {
	.name = "rfc2136",
	.secret_keys = secret_keys,
	.validate = rfc2136_validate,
	.present = rfc2136_present,
	.cleanup = rfc2136_cleanup,
	.can_write = rfc2136_can_write,
	.atomic_writes = true, /* one RR added or deleted per UPDATE */
};
