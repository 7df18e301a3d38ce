-- 0007_issuers: several CAs (issuers), their rate limits as budgets shared by
-- every worker of every replica, pauses when a CA refuses or fails, and ACME
-- profiles.
--
-- An issuer is a named ACME directory with its contact, trust, optional External
-- Account Binding (the HMAC key sealed: cf_seal(master key, aad
-- "issuers:<name>:eab"), never returned), default profile, limits and whether ARI
-- renewals are exempt. CERTFLEET_ACME_DIRECTORY defines the issuer "default",
-- created or updated when serve starts.
CREATE TABLE issuers (
    name            text PRIMARY KEY CHECK (name ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
    directory       text NOT NULL,
    email           text NOT NULL DEFAULT '',
    ca_pem          text,                   -- trust for the CA's TLS, NULL: system
    eab_kid         text,
    eab_hmac_sealed bytea,
    profile         text,                   -- default profile, NULL: the CA's
    limits          jsonb NOT NULL DEFAULT '{}'::jsonb,
    renewals_exempt boolean NOT NULL DEFAULT true,
    -- the pause: no request goes to the CA before paused_until (every replica)
    paused_until    timestamptz,
    pause_reason    text,
    pause_problem   jsonb,                  -- the CA's problem document, verbatim
    pause_streak    integer NOT NULL DEFAULT 0, -- failures in a row (backoff)
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CHECK ((eab_kid IS NULL) = (eab_hmac_sealed IS NULL))
);

-- One row per unit of a budget taken (limit orders: key ''; certificates_per_domain:
-- the registered domain; duplicate_sets: the sorted names joined by ' ';
-- failed_authorizations_per_name: the name), and per order sent or failure seen
-- (limit 'orders_sent' / 'failures': the activity of the last hour), and per ARI
-- certID sent as "replaces" (limit 'replaced': once ever). Taking a unit
-- counts the window under an advisory lock of (issuer, limit, key), so replicas
-- never over-take.
CREATE TABLE issuer_usage (
    id              bigserial PRIMARY KEY,
    issuer          text NOT NULL REFERENCES issuers(name) ON DELETE CASCADE,
    limit_name      text NOT NULL,
    key             text NOT NULL DEFAULT '',
    at              timestamptz NOT NULL DEFAULT now(),
    job_id          uuid
);
CREATE INDEX issuer_usage_window ON issuer_usage (issuer, limit_name, key, at);

-- A certificate names its issuers in order (fallback) and a profile.
ALTER TABLE certificates ADD COLUMN issuers text[] NOT NULL DEFAULT '{default}'
    CHECK (cardinality(issuers) >= 1);
ALTER TABLE certificates ADD COLUMN profile text;
-- Consecutive failed validations, and the pause they lead to (status 'paused').
ALTER TABLE certificates ADD COLUMN validation_failures integer NOT NULL DEFAULT 0;
ALTER TABLE certificates DROP CONSTRAINT certificates_status_check;
ALTER TABLE certificates ADD CONSTRAINT certificates_status_check
    CHECK (status IN ('pending','valid','failed','revoked','paused'));

-- Which issuer and profile issued a version.
ALTER TABLE certificate_versions ADD COLUMN issuer text;
ALTER TABLE certificate_versions ADD COLUMN profile text;

ALTER TABLE webhook_deliveries DROP CONSTRAINT webhook_deliveries_event_check;
ALTER TABLE webhook_deliveries ADD CONSTRAINT webhook_deliveries_event_check
    CHECK (event IN ('issued','failed','expiring_soon','revoked','paused'));
