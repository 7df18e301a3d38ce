-- 0014_alerts: alerts a person receives (issue 14).
--
-- A rule (alert_rules, /v1/alerts) names a channel (email over SMTP, a Slack or
-- a Teams incoming webhook, or a signed webhook), the events it wants and filters.
-- Its secrets (the SMTP password, the Slack/Teams URL, the webhook's HMAC key) are
-- sealed in channel_sealed (AES-256-GCM, AAD "alert_rules:<id>:channel") and never
-- returned; channel holds the public settings.
--
-- An alert that fires is a row of alert_events, unique per (rule, kind, subject,
-- day): one per certificate and cause per UTC day, whichever replica or job sees
-- it first (INSERT ... ON CONFLICT DO NOTHING decides). The daily digest is the
-- same row with subject '' (once per rule and day across replicas).
--
-- Delivery reuses the webhook outbox: each new alert_events row gets one
-- webhook_deliveries row (event 'alert', alert_event set), written in the same
-- statement, claimed, retried and recorded by the same sender as the webhooks.
CREATE TABLE alert_rules (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name            text NOT NULL UNIQUE CHECK (name ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
    channel_type    text NOT NULL CHECK (channel_type IN ('email','slack','teams','webhook')),
    channel         jsonb NOT NULL DEFAULT '{}'::jsonb,   -- public settings
    channel_sealed  bytea,                                -- secret settings, sealed
    events          text[] NOT NULL CHECK (cardinality(events) >= 1 AND events <@
                    ARRAY['issuance_failed','expiring','issuer_paused','rollout_paused',
                          'digest']::text[]),
    certificate_ids text[] NOT NULL DEFAULT '{}',         -- empty: every certificate
    name_suffix     text,                                 -- a name of the certificate ends so
    issuer          text,                                 -- the certificate uses it / it paused
    expiring_within_days integer NOT NULL DEFAULT 14
                    CHECK (expiring_within_days BETWEEN 1 AND 365),
    digest_hour     integer NOT NULL DEFAULT 8 CHECK (digest_hour BETWEEN 0 AND 23),
    enabled         boolean NOT NULL DEFAULT true,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE alert_events (
    id              bigserial PRIMARY KEY,
    rule_id         uuid NOT NULL REFERENCES alert_rules(id) ON DELETE CASCADE,
    kind            text NOT NULL,
    subject         text NOT NULL,          -- certificate id, issuer name, rollout id, ''
    day             date NOT NULL,          -- UTC
    payload         jsonb NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (rule_id, kind, subject, day)
);

ALTER TABLE webhook_deliveries ADD COLUMN alert_event bigint
    REFERENCES alert_events(id) ON DELETE CASCADE;
CREATE INDEX webhook_deliveries_alert ON webhook_deliveries (alert_event)
    WHERE alert_event IS NOT NULL;
ALTER TABLE webhook_deliveries DROP CONSTRAINT webhook_deliveries_event_check;
ALTER TABLE webhook_deliveries ADD CONSTRAINT webhook_deliveries_event_check
    CHECK (event IN ('issued','failed','expiring_soon','revoked','paused','alert'));
