-- 0011_keys: who may grant a private key, and secrets that bind what they protect.
--
-- Tokens: a third role, 'keys': the only tokens that may create host tokens or
-- change a certificate's hosts or admin_keys (README "Who gets the key"). New
-- tokens keep an HMAC-SHA-256 of their secret keyed by a key derived from the
-- master key (secret_hmac); rows made before keep their plain SHA-256
-- (secret_sha256) and work; the service re-hashes such a row at the token's first
-- use (it needs the secret). Exactly one of the two is set.
ALTER TABLE tokens DROP CONSTRAINT tokens_role_check;
ALTER TABLE tokens ADD CONSTRAINT tokens_role_check CHECK (role IN ('admin','host','keys'));
ALTER TABLE tokens ALTER COLUMN secret_sha256 DROP NOT NULL;
ALTER TABLE tokens ADD COLUMN secret_hmac bytea CHECK (length(secret_hmac) = 32);
ALTER TABLE tokens ADD CONSTRAINT tokens_one_hash
    CHECK ((secret_sha256 IS NULL) <> (secret_hmac IS NULL));

-- Every audit event names the token that caused it by id as well as by name
-- (names are not unique); NULL for the CLI, the worker and database writers.
ALTER TABLE audit_events ADD COLUMN token_id text;

-- Idempotency records: the fingerprint (column body_sha256, name kept so that
-- replicas not yet upgraded keep working) is now an HMAC-SHA-256 keyed by a key
-- derived from the master key, so a copy of the table does not let anyone test
-- guesses of a request body (provider credentials travel in POST bodies). Records
-- with the old plain SHA-256 would no longer match their request: they are
-- forgotten (README "The API", Idempotency-Key). Records older than 24 hours are
-- purged by the workers' janitor.
DELETE FROM idempotency_keys;
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

-- Sealed provider secrets: version 2 binds the blob to the provider's name, type
-- and public settings (AAD "dns_providers:v2:<name>:<type>:<sha256 of the public
-- settings>"); version 1 rows (AAD "dns_providers:<name>") keep opening.
ALTER TABLE dns_providers ADD COLUMN secrets_aad smallint NOT NULL DEFAULT 1
    CHECK (secrets_aad IN (1, 2));

-- The fetch cache hears of a token's hash changing like of any other column.
DROP TRIGGER tokens_cache_notify ON tokens;
CREATE TRIGGER tokens_cache_notify
    AFTER INSERT OR DELETE OR UPDATE OF id, name, role, secret_sha256, secret_hmac, expires_at,
                                        revoked_at
    ON tokens FOR EACH ROW EXECUTE FUNCTION certfleet_cache_notify();
