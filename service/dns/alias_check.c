/*
 * alias_check.c: the alias check; see alias_check.h for what it reports.
 *
 * The names are grouped by challenge record with the alias plan of alias.c (a
 * wildcard and its apex share a record, a target and so one check), with the
 * spec's targets, or, for "auto" and no alias, with the record as a provisional
 * target. Each record is then looked at twice:
 *  - through the resolvers, as the CA will: the CNAME chain (cf_dns_cname_chain)
 *    and, when there is no CNAME, the records sitting at the challenge record;
 *  - at the authoritative servers: for each hop, the zone (SOA walk through the
 *    resolvers; for a name whose own SOA question fails, e.g. the member of a
 *    loop, its parent's zone), the zone's NS addresses, and each of them (up to
 *    AUTH_MAX_SERVERS) asked for the CNAME at exactly that name without recursion.
 *    At the first hop a random sibling of the record is asked too: when it gets
 *    the same CNAME, a wildcard is answering.
 * The verdict comes from the resolvers' view when it could be read (that is what
 * the CA sees) and from the authoritative view otherwise; a difference between
 * the two is mentioned in the detail (a resolver may still cache an old answer).
 * Where that gives ok, the chain's health as the CA meets it comes next
 * (chain_health): DNSSEC along the whole chain (dnssec.c: bogus names the zone and
 * the reason; unsigned zones make "insecure", information only), a resolver that
 * answers SERVFAIL or nothing (unresolvable, naming the server), and a target that
 * no zone holds (dangling: its SOA walk ends in a top-level zone, or nowhere).
 * Each record gets a short timeout per query and a time budget (cf_dns_limits_set),
 * so a dead server costs seconds, not a resolver timeout per hop.
 * Every JSON value built here is owned by the result array handed to the caller.
 */
#include "dns/alias_check.h"
#include "dns/dnssec.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define AUTH_MAX_HOPS 16
#define AUTH_MAX_SERVERS 4
/* Each query waits at most this long, and one record's checks together this long
 * (then the rest fail at once, and say so). */
#define CHECK_QUERY_MS 1000
#define CHECK_RECORD_BUDGET_MS 3000

/* What one challenge record looks like, in both views. */
typedef struct rec_view {
	const cf_challenge_target *t;
	cf_cname_chain res;     /* the resolvers' chain (names[0] = record) */
	bool res_ok;
	char res_error[1024];
	json_t *auth;           /* the authoritative hops */
	bool auth_ok, auth_loop, wildcard;
	char auth_error[1024];
	char **shadow;          /* zone-file lines of records at the record */
	size_t nshadow;
} rec_view;

/* A name that cannot be there in any zone (the sibling probed for a wildcard). */
static void probe_label(char out[32])
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	snprintf(out, 32, "cf-probe-%08lx",
		 (unsigned long)((ts.tv_nsec ^ (long)getpid() * 2654435761L) & 0xffffffffL));
}

/* The zone of name: its own SOA walk, or its parent's when that fails. */
static char *zone_of(const cf_dns_servers *resolvers, const char *name, cf_err *err)
{
	const char *parent = strchr(name, '.');
	char *zone = NULL;
	cf_err first = { 0 };

	if (cf_dns_find_zone(resolvers, name, &zone, &first) == 0 ||
	    (parent != NULL && cf_dns_find_zone(resolvers, parent + 1, &zone, err) == 0)) {
		cf_err_clear(&first);
		return zone;
	}
	if (parent == NULL)
		cf_err_set(err, first.cls, "%s", first.msg);
	cf_err_clear(&first);
	return NULL;
}

/* Asks each NS of one hop's zone for the CNAME at name: the hop object, and the
 * primary answer (the first server's) in *node. */
static json_t *ask_hop(const cf_dns_servers *ns, const char *name, bool first_hop,
		       cf_dns_node *node, bool *answered)
{
	json_t *servers = json_array(), *hop;
	bool consistent = true;
	size_t i;

	*answered = false;
	for (i = 0; i < ns->n && i < AUTH_MAX_SERVERS; i++) {
		cf_dns_servers one = { .n = 1 };
		cf_dns_node n = { 0 };
		cf_err e = { 0 };
		char who[CF_DNS_SERVER_STRLEN];

		one.s[0] = ns->s[i];
		cf_dns_server_str(&ns->s[i], who);
		if (cf_dns_node_at(&one, false, name, first_hop && !*answered, &n, &e) != 0) {
			json_array_append_new(servers, json_pack("{s:s, s:s}", "server", who,
								 "error", e.msg));
			cf_err_clear(&e);
			continue;
		}
		json_array_append_new(servers, json_pack("{s:s, s:s, s:b, s:s?}", "server", who,
							 "rcode", n.rcode_name, "authoritative",
							 n.aa, "cname", n.cname));
		if (!*answered) {
			*node = n;
			*answered = true;
			continue;
		}
		if ((n.cname == NULL) != (node->cname == NULL) ||
		    (n.cname != NULL && !cf_name_equal(n.cname, node->cname)))
			consistent = false;
		cf_dns_node_free(&n);
	}
	hop = json_pack("{s:s, s:s?, s:b, s:b, s:o}", "name", name, "cname",
			*answered ? node->cname : NULL, "wildcard", false, "consistent", consistent,
			"servers", servers);
	return hop;
}

/* Whether a random sibling of record gets the same CNAME from srv: a wildcard. */
static bool wildcard_answers(const cf_dns_servers *srv, const char *record, const char *cname)
{
	const char *parent = strchr(record, '.');
	char label[32], sibling[CF_NAME_MAX + 40];
	cf_dns_node n = { 0 };
	cf_err e = { 0 };
	bool same;

	if (parent == NULL)
		return false;
	probe_label(label);
	if ((size_t)snprintf(sibling, sizeof(sibling), "%s%s", label, parent) > CF_NAME_MAX)
		return false;
	if (cf_dns_node_at(srv, false, sibling, false, &n, &e) != 0) {
		cf_err_clear(&e);
		return false;
	}
	same = n.cname != NULL && cf_name_equal(n.cname, cname);
	cf_dns_node_free(&n);
	return same;
}

/* The authoritative view of the chain of v->t->record. */
static void auth_chain(const cf_dns_servers *resolvers, rec_view *v)
{
	char *name = strdup(v->t->record), *zone = NULL;
	cf_dns_servers ns;
	cf_err e = { 0 };
	json_t *seen = json_array();
	int hop;

	v->auth = json_array();
	for (hop = 0; name != NULL && hop < AUTH_MAX_HOPS; hop++) {
		cf_dns_node node = { 0 };
		bool answered = false;
		json_t *h;
		size_t i;

		json_array_append_new(seen, json_string(name));
		if ((zone = zone_of(resolvers, name, &e)) == NULL ||
		    cf_dns_zone_nameservers(resolvers, zone, &ns, &e) != 0) {
			json_array_append_new(v->auth, json_pack("{s:s, s:s?, s:s}", "name", name,
								 "zone", zone, "error", e.msg));
			snprintf(v->auth_error, sizeof(v->auth_error), "%s", e.msg);
			goto out;
		}
		h = ask_hop(&ns, name, hop == 0, &node, &answered);
		json_object_set_new(h, "zone", json_string(zone));
		json_array_append_new(v->auth, h);
		if (!answered) {
			snprintf(v->auth_error, sizeof(v->auth_error),
				 "no authoritative server of zone %s answered for %s", zone, name);
			json_object_set_new(h, "error", json_string(v->auth_error));
			goto out;
		}
		if (hop == 0 && node.cname != NULL && wildcard_answers(&ns, name, node.cname)) {
			v->wildcard = true;
			json_object_set_new(h, "wildcard", json_true());
		}
		v->auth_ok = true;
		free(name);
		name = NULL;
		if (node.cname != NULL) {
			for (i = 0; i < json_array_size(seen); i++)
				if (cf_name_equal(json_string_value(json_array_get(seen, i)),
						  node.cname))
					v->auth_loop = true;
			if (!v->auth_loop)
				name = strdup(node.cname);
		}
		cf_dns_node_free(&node);
		free(zone);
		zone = NULL;
	}
out:
	cf_err_clear(&e);
	json_decref(seen);
	free(zone);
	free(name);
}

/* The resolvers' view: the chain and, without a CNAME, what sits at the record. */
static void resolver_view(const cf_dns_servers *resolvers, rec_view *v)
{
	cf_dns_node node = { 0 };
	cf_err e = { 0 };

	if (cf_dns_cname_chain(resolvers, v->t->record, &v->res, &e) != 0) {
		snprintf(v->res_error, sizeof(v->res_error), "%s", e.msg);
		goto out;
	}
	v->res_ok = true;
	if (v->res.unresolved)
		snprintf(v->res_error, sizeof(v->res_error), "the chain stops at %s: %s",
			 v->res.names[v->res.n - 1], v->res.unresolved_why);
	if (v->res.n == 1 && cf_dns_node_at(resolvers, true, v->t->record, true, &node, &e) == 0) {
		v->shadow = node.records;
		v->nshadow = node.nrecords;
		node.records = NULL;
	}
out:
	cf_dns_node_free(&node);
	cf_err_clear(&e);
}

static void rec_view_free(rec_view *v)
{
	cf_cname_chain_free(&v->res);
	json_decref(v->auth);
	cf_strv_free(v->shadow);
	memset(v, 0, sizeof(*v));
}

/* The chain the verdict is made from (names), as a JSON array (new). */
static json_t *chain_names(const rec_view *v)
{
	json_t *a = json_array(), *h;
	size_t i;

	if (v->res_ok) {
		for (i = 0; i < v->res.n; i++)
			json_array_append_new(a, json_string(v->res.names[i]));
		return a;
	}
	json_array_foreach(v->auth, i, h) {
		json_array_append(a, json_object_get(h, "name"));
		if (json_is_string(json_object_get(h, "cname")) && i + 1 == json_array_size(v->auth))
			json_array_append(a, json_object_get(h, "cname"));
	}
	return a;
}

/* One problem's lines: "RECORD. CNAME TARGET." */
static void add_line(json_t *list, const char *record, const char *target)
{
	char line[2 * CF_NAME_MAX + 16];

	snprintf(line, sizeof(line), "%s. CNAME %s.", record, target);
	json_array_append_new(list, json_string(line));
}

typedef struct verdict {
	const char *name;
	char detail[1600];
	json_t *del, *create;
} verdict;

static void set_verdict(verdict *vd, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_verdict(verdict *vd, const char *name, const char *fmt, ...)
{
	va_list ap;

	vd->name = name;
	va_start(ap, fmt);
	vsnprintf(vd->detail, sizeof(vd->detail), fmt, ap);
	va_end(ap);
}

/* The verdict of one record, given its target (NULL: unknown, "auto" without a
 * chain) and whether the values go at the record itself (no alias). */
static void decide(const rec_view *v, const char *target, bool at_record, verdict *vd)
{
	json_t *chain = chain_names(v);
	const char *rec = v->t->record, *next;
	size_t n = json_array_size(chain), i;

	next = n > 1 ? json_string_value(json_array_get(chain, 1)) : NULL;
	if (!v->res_ok && !v->auth_ok) {
		set_verdict(vd, "error", "%s. could not be checked: %s", rec, v->res_error);
	} else if (v->res.loop || v->auth_loop) {
		set_verdict(vd, "loop", "the CNAME chain of %s. loops (%s. -> %s. -> ...)%s", rec,
			    rec, next ? next : "?",
			    target ? "; replace its CNAME" : "; point it at a name the provider "
							     "can write instead");
		json_array_append_new(vd->del, json_sprintf("%s. CNAME %s.", rec, next ? next : ""));
		if (target != NULL)
			add_line(vd->create, rec, target);
	} else if (at_record) {
		if (n > 1) {
			set_verdict(vd, "wrong_target", "%s. is a CNAME to %s., but no alias is "
				    "configured, so the TXT values would go at %s. itself, which the "
				    "CNAME forbids: set the alias (auto, or %s) or delete the CNAME",
				    rec, next, rec, json_string_value(json_array_get(chain, n - 1)));
			json_array_append_new(vd->del, json_sprintf("%s. CNAME %s.", rec, next));
		} else {
			set_verdict(vd, "ok", "no alias: the TXT values go at %s. itself", rec);
		}
	} else if (n == 1 && v->nshadow > 0) {
		set_verdict(vd, "shadowed", "%s has no CNAME but other records (%s%s) that shadow "
			    "the one the alias needs: delete them and create the CNAME", rec,
			    v->shadow[0], v->nshadow > 1 ? ", ..." : "");
		for (i = 0; i < v->nshadow; i++)
			json_array_append_new(vd->del, json_string(v->shadow[i]));
		if (target != NULL)
			add_line(vd->create, rec, target);
	} else if (n == 1) {
		if (target != NULL)
			set_verdict(vd, "missing", "%s. has no CNAME; create: %s. CNAME %s.", rec, rec,
				    target);
		else
			set_verdict(vd, "missing", "%s. has no CNAME, so \"auto\" finds no target: "
				    "create %s. CNAME <a name in a zone the provider can write>", rec,
				    rec);
		if (target != NULL)
			add_line(vd->create, rec, target);
	} else if (v->wildcard) {
		set_verdict(vd, "wildcard_cname", "the CNAME at %s. (to %s.) is synthesised from a "
			    "wildcard, not a record of its own: create the record so the alias "
			    "does not depend on the wildcard", rec, next);
		add_line(vd->create, rec, target);
	} else {
		for (i = 1; i < n; i++)
			if (cf_name_equal(json_string_value(json_array_get(chain, i)), target))
				break;
		if (i == n) {
			set_verdict(vd, "wrong_target", "%s. is a CNAME to %s., not to the alias "
				    "target %s.%s%.300s; replace it", rec, next, target,
				    v->res.unresolved ? " (the chain stops: " : "",
				    v->res.unresolved ? v->res_error : "");
			json_array_append_new(vd->del, json_sprintf("%s. CNAME %s.", rec, next));
			add_line(vd->create, rec, target);
		} else {
			set_verdict(vd, "ok", "%s. reaches %s. in %zu hop%s", rec, target, i,
				    i == 1 ? "" : "s");
		}
	}
	json_decref(chain);
}

/* Appends a note when the resolvers and the authoritative servers disagree. */
static void compare_views(const rec_view *v, verdict *vd)
{
	json_t *h;
	size_t i, n = 0;
	bool same = true;

	if (!v->res_ok || !v->auth_ok || v->res.loop || v->auth_loop)
		return;
	json_array_foreach(v->auth, i, h) {
		if (i >= v->res.n ||
		    !cf_name_equal(json_string_value(json_object_get(h, "name")), v->res.names[i]))
			same = false;
		n = i + 1;
		if (json_is_string(json_object_get(h, "error")))
			return; /* cut short: nothing to compare past it */
	}
	if (same && n == v->res.n)
		return;
	snprintf(vd->detail + strlen(vd->detail), sizeof(vd->detail) - strlen(vd->detail),
		 " (the authoritative servers show a chain of %zu name%s, the resolvers %zu: a "
		 "resolver may still cache an older answer)", n, n == 1 ? "" : "s", v->res.n);
}

/* The resolvers' chain as a JSON array (new). */
static json_t *res_names(const rec_view *v)
{
	json_t *a = json_array();

	for (size_t i = 0; i < v->res.n; i++)
		json_array_append_new(a, json_string(v->res.names[i]));
	return a;
}

/* The target of one record and where it comes from; *at_record when the values
 * go at the record itself. NULL when "auto" finds no chain to follow. */
static const char *target_of(const cf_alias_spec *spec, const rec_view *v, json_t *chain,
			     const char **from, bool *at_record)
{
	size_t n = json_array_size(chain);

	*at_record = false;
	if (spec->mode == CF_ALIAS_AUTO) {
		*from = "auto";
		if (n < 2 || v->res.loop || v->auth_loop)
			return NULL;
		return json_string_value(json_array_get(chain, n - 1));
	}
	if (spec->mode == CF_ALIAS_NONE || cf_name_equal(v->t->target, v->t->record)) {
		*from = "none";
		*at_record = true;
		return v->t->record;
	}
	*from = "dns_alias";
	return v->t->target;
}

/* Where the check found no target the provider can use, proposes one in the
 * provider's zone: the CNAME to create (replacing the current one, if any). */
static void suggest_target(const cf_alias_check_req *req, const cf_challenge_target *t,
			   const rec_view *v, verdict *vd)
{
	char name[CF_NAME_MAX + 1], sugg[CF_NAME_MAX + 1];
	const char *base = t->record + strlen("_acme-challenge.");

	if (req->suggest == NULL ||
	    req->suggest(req->arg, t->names[0], base, sugg, sizeof(sugg)) != 0)
		return;
	snprintf(name, sizeof(name), "%s", sugg);
	if (v->res.n > 1 && json_array_size(vd->del) == 0)
		json_array_append_new(vd->del,
				      json_sprintf("%s. CNAME %s.", t->record, v->res.names[1]));
	json_array_clear(vd->create);
	add_line(vd->create, t->record, name);
	snprintf(vd->detail + strlen(vd->detail), sizeof(vd->detail) - strlen(vd->detail),
		 "; a target the provider can write: %s.", name);
}

/* The health of an ok chain: DNSSEC, resolvability, a zone for the target. Sets
 * the verdict (dnssec_bogus, unresolvable, dangling) when one fails; *sec is the
 * DNSSEC state (for insecure and the result's "dnssec"); *dangling when no zone
 * holds the target. */
static void chain_health(const cf_alias_check_req *req, const rec_view *v,
			 const char *target, verdict *vd, cf_dnssec_result *sec, bool *dangling)
{
	const cf_challenge_target *t = v->t;
	char *zone = NULL;
	cf_err e = { 0 };

	*dangling = false;
	if (cf_dnssec_check(req->resolvers, t->record, sec, &e) != 0) {
		sec->state = CF_DNSSEC_UNRESOLVABLE;
		snprintf(sec->reason, sizeof(sec->reason), "%s", e.msg);
	}
	cf_err_clear(&e);
	/* where the resolvers already failed on the chain, that failure names the hop
	 * and the server (the budget may be spent by now) */
	if (sec->state == CF_DNSSEC_UNRESOLVABLE && v->res_ok && v->res.unresolved)
		snprintf(sec->reason, sizeof(sec->reason), "%s", v->res_error);
	if (sec->state == CF_DNSSEC_BOGUS) {
		set_verdict(vd, "dnssec_bogus", "DNSSEC validation fails in zone %s: %s; the CA's "
			    "resolvers answer SERVFAIL for %s. TXT, so no DNS-01 validation through "
			    "it can succeed", sec->zone, sec->reason, t->record);
		return;
	}
	if (sec->state == CF_DNSSEC_UNRESOLVABLE) {
		set_verdict(vd, "unresolvable", "%s. TXT cannot be resolved, as the CA would ask "
			    "for it: %s", t->record, sec->reason);
		return;
	}
	if (cf_dns_find_zone(req->resolvers, target, &zone, &e) != 0) {
		if (e.cls == CF_ERR_TRANSIENT) {
			set_verdict(vd, "unresolvable", "the zone of %s. cannot be found: %s", target,
				    e.msg);
		} else {
			*dangling = true;
			set_verdict(vd, "dangling", "no zone holds %s.: %s", target, e.msg);
		}
	} else if (strchr(zone, '.') == NULL) {
		*dangling = true;
		set_verdict(vd, "dangling", "no zone holds %s.: the nearest zone is the top-level "
			    "zone %s. (NXDOMAIN below it), so the CNAME points at nothing; point it "
			    "at a name in a zone the provider can write", target, zone);
	}
	cf_err_clear(&e);
	free(zone);
}

/* The result's "dnssec" member (new), or null when the chain was not examined. */
static json_t *dnssec_json(const cf_dnssec_result *sec, bool examined)
{
	if (!examined)
		return json_null();
	return json_pack("{s:s, s:s?, s:s?}", "state", cf_dnssec_state_name(sec->state),
			 "zone", sec->zone[0] ? sec->zone : NULL, "reason",
			 sec->reason[0] ? sec->reason : NULL);
}

/* Checks one record and fills the results of its names. */
static void check_record(const cf_alias_check_req *req, const cf_alias_spec *spec,
			 const cf_challenge_target *t, json_t **results)
{
	rec_view v = { .t = t };
	verdict vd = { .del = json_array(), .create = json_array() };
	json_t *chain;
	const char *target, *from;
	char name[CF_NAME_MAX + 1];
	cf_err e = { 0 };
	cf_dnssec_result sec = { 0 };
	bool at_record, examined = false, dangling = false;
	int writable = -1;

	cf_dns_limits_set(CHECK_QUERY_MS, CHECK_RECORD_BUDGET_MS);
	resolver_view(req->resolvers, &v);
	auth_chain(req->resolvers, &v);
	chain = chain_names(&v);
	target = target_of(spec, &v, chain, &from, &at_record);
	decide(&v, target, at_record, &vd);
	compare_views(&v, &vd);
	if (strcmp(vd.name, "ok") == 0 && target != NULL) {
		chain_health(req, &v, target, &vd, &sec, &dangling);
		examined = true;
	}
	if (req->writable != NULL && target != NULL && dangling) {
		/* a provider has no zone where no zone is */
		writable = 0;
		cf_err_set(&e, CF_ERR_PERMANENT, "no zone holds %s, so the provider has none to "
			   "write", target);
	} else if (req->writable != NULL && target != NULL && strcmp(vd.name, "unresolvable") == 0) {
		/* its zone does not answer: the provider's probe would only wait too */
		cf_err_set(&e, CF_ERR_TRANSIENT, "not asked: %s does not resolve", target);
	} else if (req->writable != NULL && target != NULL) {
		writable = req->writable(req->arg, t->names[0], target, &e);
		if (writable == 0 && strcmp(vd.name, "ok") == 0)
			set_verdict(&vd, "unwritable", "%s. reaches %s., but the DNS provider cannot "
				    "write there: %s", t->record, target, e.msg);
		else if (writable == 0)
			snprintf(vd.detail + strlen(vd.detail),
				 sizeof(vd.detail) - strlen(vd.detail),
				 "; besides, the DNS provider cannot write %s.", target);
	}
	if (strcmp(vd.name, "ok") == 0 && examined && sec.state == CF_DNSSEC_INSECURE)
		set_verdict(&vd, "insecure", "%s. reaches %s. (fine for issuance), but without "
			    "DNSSEC: %s", t->record, target, sec.reason);
	if (target == NULL || writable == 0)
		suggest_target(req, t, &v, &vd);
	for (size_t k = 0; k < t->nnames; k++) {
		json_t *r;

		if (cf_name_normalize(req->names[t->names[k]], true, name, NULL) != 0)
			snprintf(name, sizeof(name), "%s", req->names[t->names[k]]);
		r = json_pack("{s:s, s:s, s:s?, s:s, s:s, s:s, s:o, s:s?, s:O, s:s?, s:s?,"
			      " s:{s:O, s:O}}",
			      "name", name, "record", t->record, "target", target, "target_from",
			      from, "verdict", vd.name, "detail", vd.detail, "resolver_chain",
			      res_names(&v), "resolver_error", v.res_error[0] ? v.res_error : NULL,
			      "authoritative_chain", v.auth, "authoritative_error",
			      v.auth_error[0] ? v.auth_error : NULL, "writable_detail",
			      writable == 1 || req->writable == NULL || target == NULL ? NULL : e.msg,
			      "fix", "delete", vd.del, "create", vd.create);
		if (r != NULL) {
			json_object_set_new(r, "writable",
					    writable < 0 ? json_null() : json_boolean(writable));
			json_object_set_new(r, "dnssec", dnssec_json(&sec, examined));
		}
		results[t->names[k]] = r;
	}
	cf_err_clear(&e);
	json_decref(chain);
	json_decref(vd.del);
	json_decref(vd.create);
	rec_view_free(&v);
}

int cf_alias_check_run(const cf_alias_check_req *req, json_t **out, cf_err *err)
{
	cf_alias_spec none = { 0 };
	const cf_alias_spec *spec = req->spec != NULL ? req->spec : &none;
	cf_alias_plan plan = { 0 };
	json_t **results = NULL;
	size_t k;
	int rc = -1;

	*out = NULL;
	/* "auto" resolves here, per view, rather than in the plan (which would stop at
	 * the first record without a CNAME) */
	if (cf_alias_plan_build(req->names, req->n, spec->mode == CF_ALIAS_AUTO ? &none : spec,
				NULL, &plan, err) != 0)
		goto out;
	if ((results = calloc(req->n, sizeof(*results))) == NULL) {
		cf_err_oom(err, NULL);
		goto out;
	}
	for (k = 0; k < plan.n; k++)
		check_record(req, spec, &plan.t[k], results);
	cf_dns_limits_clear();
	*out = json_array();
	for (k = 0; k < req->n; k++) {
		if (results[k] == NULL || json_array_append_new(*out, results[k]) != 0) {
			results[k] = NULL;
			cf_err_oom(err, NULL);
			goto out;
		}
		results[k] = NULL;
	}
	rc = 0;
out:
	for (k = 0; results != NULL && k < req->n; k++)
		json_decref(results[k]);
	free(results);
	if (rc != 0) {
		json_decref(*out);
		*out = NULL;
	}
	cf_alias_plan_free(&plan);
	return rc;
}
