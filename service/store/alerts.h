/*
 * alerts.h: alert rules and the alerts they fire (tables alert_rules and
 * alert_events, migration 0014_alerts), for the API (/v1/alerts), the worker's
 * hooks and the sender.
 *
 * A rule document ("doc", the normalised object of h_alerts.c) is
 *   {"name", "channel": {"type", public settings...}, "events": [kinds],
 *    "filters": {"certificate_ids": [ids], "name_suffix": text|null,
 *                "issuer": text|null},
 *    "expiring_within_days", "digest_hour", "enabled"}.
 * The channel's secrets (email: password; slack, teams: url; webhook: secret)
 * travel apart as a JSON object sealed with cf_seal(master key, aad
 * "alert_rules:<name>:channel"), and are never returned: the representation says
 * "<secret>_set": true.
 *
 * Firing: every function that fires inserts alert_events rows ON CONFLICT DO
 * NOTHING on (rule, kind, subject, UTC day), and for each row it inserted one
 * webhook_deliveries row (event 'alert'), in the same statement: the webhook
 * sender (worker/webhooks.c) delivers, retries and records it. So an alert is
 * one per certificate and cause per day, whichever job or replica fires it, and
 * it is recorded exactly when the statement (or the caller's transaction)
 * commits. Each returns the number of alerts fired, or -1.
 */
#ifndef CERTFLEET_STORE_ALERTS_H
#define CERTFLEET_STORE_ALERTS_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdint.h>

#include "util/buf.h"
#include "util/err.h"

/* The event kinds a rule can name, in the order they are listed. rollout_paused
 * fires once rollouts exist (issue 13); a rule may name it already. */
typedef enum cf_alert_kind {
	CF_ALERT_ISSUANCE_FAILED,
	CF_ALERT_EXPIRING,
	CF_ALERT_ISSUER_PAUSED,
	CF_ALERT_ROLLOUT_PAUSED,
	CF_ALERT_DIGEST,
	CF_ALERT__MAX
} cf_alert_kind;
/* Its name ("issuance_failed", ...), or NULL out of range. */
const char *cf_alert_kind_name(cf_alert_kind k);
/* The kind called name, or CF_ALERT__MAX. */
cf_alert_kind cf_alert_kind_parse(const char *name);

/* Longest AAD: "alert_rules:" + a 63-character name + ":channel" + NUL. */
#define CF_ALERT_AAD_MAX 96
/* The AAD of a rule's sealed channel secrets into out; -1 when name is too long. */
int cf_alert_aad(const char *name, char out[CF_ALERT_AAD_MAX]);

/* ---- rules (HTTP side; conn in the caller's transaction) ---- */
/* Inserts doc with the sealed secrets (NULL/empty: none). 1 inserted, 0 the name is
 * taken, -1 on error. *id (37 bytes) gets the new rule's id. */
CF_MUST_CHECK int cf_alert_rule_insert(PGconn *c, const json_t *doc, const cf_buf *sealed,
				       char id[40], cf_err *err);
/* Replaces rule id's doc; sealed NULL keeps the secrets. 1, 0 no such rule, -1. */
CF_MUST_CHECK int cf_alert_rule_update(PGconn *c, const char *id, const json_t *doc,
				       const cf_buf *sealed, cf_err *err);
/* The doc of rule id (row locked until the transaction ends) and its sealed
 * secrets (sealed may be NULL); *doc NULL when there is none. */
CF_MUST_CHECK int cf_alert_rule_get_locked(PGconn *c, const char *id, json_t **doc,
					   cf_buf *sealed, cf_err *err);
/* The API representation: {"id", doc..., channel with "<secret>_set",
 * "deliveries": {"pending","delivered","failed","last_error"|null,"last_at"|null},
 * "created_at","updated_at"}; *out NULL when none. */
CF_MUST_CHECK int cf_alert_rule_get_json(PGconn *c, const char *id, json_t **out, cf_err *err);
/* {"alerts": [...]} sorted by name. */
CF_MUST_CHECK int cf_alert_rule_list_json(PGconn *c, json_t **out, cf_err *err);
/* 1 deleted (its pending deliveries with it), 0 none, -1 on error. */
CF_MUST_CHECK int cf_alert_rule_delete(PGconn *c, const char *id, cf_err *err);

/* ---- firing ---- */
/* The job job_id of certificate cert_id failed (inside the job's final
 * transaction, after the job row holds its problem): issuance_failed, with the
 * job's problem (which carries the alias check's verdict). */
CF_MUST_CHECK int cf_alert_job_failed(PGconn *c, const char *job_id, const char *cert_id,
				      cf_err *err);
/* Issuer name paused until until_s seconds from now, for reason. */
CF_MUST_CHECK int cf_alert_issuer_paused(PGconn *c, const char *name, double until_s,
					 const char *reason, cf_err *err);
/* The periodic pass (any replica, any number of times): expiring (the current
 * version ends within the rule's expiring_within_days: no renewal succeeded),
 * and the digest of each rule whose digest_hour (UTC) has come today. */
CF_MUST_CHECK int cf_alert_sweep(PGconn *c, cf_err *err);

/* ---- the sender ---- */
typedef struct cf_alert_channel {
	char rule[64];
	char type[16];
	json_t *settings; /* owned: the public settings merged with the unsealed secrets */
} cf_alert_channel;
/* The channel of the rule that fired alert_event (secrets unsealed with key).
 * 1 found, 0 none (the rule is gone), -1 on error. */
CF_MUST_CHECK int cf_alert_channel_load(PGconn *c, const uint8_t key[32], long long alert_event,
					cf_alert_channel *out, cf_err *err);
/* Wipes the secrets' strings and frees. */
void cf_alert_channel_free(cf_alert_channel *ch);

#endif
