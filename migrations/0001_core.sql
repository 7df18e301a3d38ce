-- 0001_core: the core schema of certfleet.
--
-- Secrets (certificate private keys, ACME account keys, provider credentials) are
-- stored only sealed (AES-256-GCM, bytea); the master key never enters the database.
-- Every sealed blob is bound by its AAD to the row that holds it.

-- DNS providers: a named, typed configuration; credentials sealed apart from the
-- settings that may be shown.
CREATE TABLE dns_providers (
    name            text PRIMARY KEY CHECK (name ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
    type            text NOT NULL,
    settings        jsonb NOT NULL DEFAULT '{}'::jsonb,   -- non-secret settings only
    secrets_sealed  bytea,                                -- sealed JSON of the secret ones
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- ACME accounts, one per (directory, contact); the key is sealed.
CREATE TABLE acme_accounts (
    id              bigserial PRIMARY KEY,
    directory_url   text NOT NULL,
    email           text NOT NULL DEFAULT '',
    key_type        text NOT NULL,
    key_sealed      bytea NOT NULL,
    account_url     text,                                 -- the kid, once registered
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (directory_url, email)
);

-- Managed certificates: what to issue and who may fetch it.
CREATE TABLE certificates (
    id              text PRIMARY KEY CHECK (id ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
    domains         text[] NOT NULL CHECK (cardinality(domains) >= 1),
    dns_alias       jsonb,            -- null | "auto" | "fqdn" | {"name": "fqdn", ...}
    provider        jsonb NOT NULL,   -- "name" | {"name": "provider", ...}
    key_type        text NOT NULL CHECK (key_type IN ('ec256','ec384','rsa2048','rsa3072','rsa4096')),
    hosts           text[] NOT NULL DEFAULT '{}',
    status          text NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending','valid','failed','revoked')),
    current_version integer,
    renew_fraction  real NOT NULL DEFAULT 0.6667 CHECK (renew_fraction > 0 AND renew_fraction < 1),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- Issued versions of a managed certificate.
CREATE TABLE certificate_versions (
    certificate_id  text NOT NULL REFERENCES certificates(id) ON DELETE CASCADE,
    version         integer NOT NULL CHECK (version >= 1),
    serial          text NOT NULL,
    not_before      timestamptz NOT NULL,
    not_after       timestamptz NOT NULL,
    cert_pem        text NOT NULL,
    chain_pem       text NOT NULL,
    key_sealed      bytea NOT NULL,
    etag            text NOT NULL,
    job_id          uuid,
    issuer_cn       text,
    revoked_at      timestamptz,
    revocation_reason integer,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (certificate_id, version)
);

-- Issuance jobs: a persisted state machine that any worker of any replica resumes.
-- (id, attempt) fences every state change: a worker that lost its lease changes nothing.
CREATE TABLE jobs (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    certificate_id  text NOT NULL REFERENCES certificates(id) ON DELETE CASCADE,
    kind            text NOT NULL DEFAULT 'issue' CHECK (kind IN ('issue','renew')),
    state           text NOT NULL DEFAULT 'queued'
                    CHECK (state IN ('queued','running','waiting','issued','failed')),
    step            text NOT NULL DEFAULT 'account',
    attempt         integer NOT NULL DEFAULT 0,
    run_after       timestamptz NOT NULL DEFAULT now(),
    lease_owner     text,
    lease_expires_at timestamptz,
    account_id      bigint REFERENCES acme_accounts(id),
    order_url       text,
    data            jsonb NOT NULL DEFAULT '{}'::jsonb,   -- step state (authz URLs, ...)
    problem         jsonb,                                -- the final problem, verbatim
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz
);
-- At most one active job per certificate.
CREATE UNIQUE INDEX jobs_one_active ON jobs (certificate_id)
    WHERE state IN ('queued','running','waiting');
CREATE INDEX jobs_runnable ON jobs (run_after) WHERE state IN ('queued','waiting','running');

-- The timeline of a job, as the user sees it.
CREATE TABLE job_events (
    id              bigserial PRIMARY KEY,
    job_id          uuid NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    at              timestamptz NOT NULL DEFAULT clock_timestamp(),
    attempt         integer NOT NULL,
    step            text NOT NULL,
    message         text NOT NULL,
    duration_ms     integer,
    problem         jsonb
);
CREATE INDEX job_events_job ON job_events (job_id, id);

-- API tokens: only a SHA-256 of the secret is kept; id is the public prefix.
CREATE TABLE tokens (
    id              text PRIMARY KEY,
    name            text NOT NULL,
    role            text NOT NULL CHECK (role IN ('admin','host')),
    secret_sha256   bytea NOT NULL CHECK (length(secret_sha256) = 32),
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz,
    revoked_at      timestamptz,
    last_used_at    timestamptz
);
CREATE INDEX tokens_name ON tokens (name);

-- Every TXT value certfleet writes, recorded BEFORE the provider is called, so that
-- it is cleaned up even after a crash, and counted per target for the TXT budget.
CREATE TABLE dns_records (
    id              bigserial PRIMARY KEY,
    job_id          uuid REFERENCES jobs(id) ON DELETE SET NULL,
    provider        text NOT NULL,
    fqdn            text NOT NULL,
    value           text NOT NULL,
    state           text NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending','present','removed','failed')),
    attempts        integer NOT NULL DEFAULT 0,
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    removed_at      timestamptz,
    UNIQUE (fqdn, value)
);
CREATE INDEX dns_records_live ON dns_records (fqdn) WHERE state IN ('pending','present');

-- Audit trail: who did what, when, from where. Never holds a secret.
CREATE TABLE audit_events (
    id              bigserial PRIMARY KEY,
    at              timestamptz NOT NULL DEFAULT now(),
    actor           text NOT NULL,
    action          text NOT NULL,
    target          text,
    address         text,
    detail          jsonb
);
CREATE INDEX audit_events_at ON audit_events (at);

-- Idempotency-Key records of POSTs: the same key with the same body replays the
-- stored response; a different body is refused.
CREATE TABLE idempotency_keys (
    token_id        text NOT NULL,
    key             text NOT NULL,
    method          text NOT NULL,
    path            text NOT NULL,
    body_sha256     bytea NOT NULL,
    status          integer NOT NULL,
    response        text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (token_id, key)
);
