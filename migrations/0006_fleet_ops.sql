-- 0006_fleet_ops: renewal scheduling, revocation jobs, webhooks.
--
-- A revocation is a job like an issuance (kind 'revoke', run by a worker, never by
-- an HTTP thread); it ends in the new state 'done', which, like 'issued' and
-- 'failed', is not active (jobs_one_active counts queued, running and waiting only).
ALTER TABLE jobs DROP CONSTRAINT jobs_kind_check;
ALTER TABLE jobs ADD CONSTRAINT jobs_kind_check CHECK (kind IN ('issue','renew','revoke'));
ALTER TABLE jobs DROP CONSTRAINT jobs_state_check;
ALTER TABLE jobs ADD CONSTRAINT jobs_state_check
    CHECK (state IN ('queued','running','waiting','issued','failed','done'));

-- The renewal scheduler's backoff counts the failed renewals of a certificate.
CREATE INDEX jobs_cert_kind ON jobs (certificate_id, kind, created_at);

-- The scheduler's plan per certificate, for its current version: when to renew
-- (renew_at: the fraction of the lifetime minus jitter, or a random time inside
-- the CA's ARI window, chosen once and kept so the jitter is not re-drawn at every
-- pass), and ARI's state (the window last seen, when the CA allows the next look,
-- RFC 9773 Retry-After). Kept in the database so a scheduler on another replica
-- continues the same plan and respects the same Retry-After.
CREATE TABLE renewal_plans (
    certificate_id  text PRIMARY KEY REFERENCES certificates(id) ON DELETE CASCADE,
    version         integer NOT NULL,
    source          text NOT NULL CHECK (source IN ('fraction','ari')),
    renew_fraction  real NOT NULL,          -- the fraction renew_at was computed from
    renew_at        timestamptz NOT NULL,
    ari_cert_id     text,                   -- RFC 9773 certID of the version
    window_start    timestamptz,
    window_end      timestamptz,
    explanation_url text,
    ari_next_fetch  timestamptz,            -- no renewalInfo request before this
    ari_error       text,                   -- the last failed look-up, for operators
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- expiring_soon is announced once per version.
ALTER TABLE certificate_versions ADD COLUMN expiring_notified_at timestamptz;

-- Webhook deliveries: one row per event and configured URL, written in the
-- transaction of the event itself (the job's final write, the scheduler's pass),
-- so an event is never lost between the change and its announcement, and sent by
-- a worker-side thread of any replica (claimed with SKIP LOCKED; next_attempt_at
-- doubles as the claim's lease), retried with exponential backoff until delivered
-- or given up.
CREATE TABLE webhook_deliveries (
    id              bigserial PRIMARY KEY,
    event_id        uuid NOT NULL,          -- the same for every URL of one event
    event           text NOT NULL CHECK (event IN ('issued','failed','expiring_soon','revoked')),
    certificate_id  text,                   -- no foreign key: outlives a deletion
    payload         jsonb NOT NULL,
    url             text NOT NULL,
    state           text NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending','delivered','failed')),
    attempts        integer NOT NULL DEFAULT 0,
    last_status     integer,                -- HTTP status of the last attempt, NULL: none
    last_error      text,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    created_at      timestamptz NOT NULL DEFAULT now(),
    delivered_at    timestamptz
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at)
    WHERE state = 'pending';
CREATE INDEX webhook_deliveries_event ON webhook_deliveries (event_id);
