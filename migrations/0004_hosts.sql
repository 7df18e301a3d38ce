-- 0004_hosts: what host fetches need: the admin grant of a certificate's key, the
-- NOTIFY that keeps every replica's fetch cache exact, and the audit event of an
-- issuance, written by the database itself so that no writer can skip them.

-- An admin token receives a certificate's private key only when the certificate
-- says so (hosts named in certificates.hosts always may).
ALTER TABLE certificates ADD COLUMN admin_keys boolean NOT NULL DEFAULT false;

-- GET /v1/audit?actor=...&since=...
CREATE INDEX audit_events_actor ON audit_events (actor, at);

-- The fetch cache (service/http/cache.c) of every `serve` LISTENs on
-- certfleet_cache. A payload names what changed: 'token:<id>',
-- 'certificate:<id>', or 'flush' (everything, after a TRUNCATE). NOTIFY is sent
-- at commit, so a rolled-back change notifies nobody, and identical payloads of
-- one transaction arrive once.
CREATE FUNCTION certfleet_cache_notify() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    kind text := CASE TG_TABLE_NAME WHEN 'tokens' THEN 'token' ELSE 'certificate' END;
    old_id text;
    new_id text;
BEGIN
    IF TG_LEVEL = 'STATEMENT' THEN
        PERFORM pg_notify('certfleet_cache', 'flush');
        RETURN NULL;
    END IF;
    IF TG_TABLE_NAME = 'certificate_versions' THEN
        IF TG_OP <> 'INSERT' THEN old_id := OLD.certificate_id; END IF;
        IF TG_OP <> 'DELETE' THEN new_id := NEW.certificate_id; END IF;
    ELSE
        IF TG_OP <> 'INSERT' THEN old_id := OLD.id; END IF;
        IF TG_OP <> 'DELETE' THEN new_id := NEW.id; END IF;
    END IF;
    IF old_id IS NOT NULL THEN
        PERFORM pg_notify('certfleet_cache', kind || ':' || old_id);
    END IF;
    IF new_id IS NOT NULL AND new_id IS DISTINCT FROM old_id THEN
        PERFORM pg_notify('certfleet_cache', kind || ':' || new_id);
    END IF;
    RETURN NULL;
END
$$;

-- Tokens: everything the cache holds of a token. last_used_at is left out on
-- purpose: recording a use must not invalidate every replica's cache.
CREATE TRIGGER tokens_cache_notify
    AFTER INSERT OR DELETE OR UPDATE OF id, name, role, secret_sha256, expires_at, revoked_at
    ON tokens FOR EACH ROW EXECUTE FUNCTION certfleet_cache_notify();
CREATE TRIGGER tokens_cache_flush
    AFTER TRUNCATE ON tokens FOR EACH STATEMENT EXECUTE FUNCTION certfleet_cache_notify();

-- Certificates: the policy (hosts, admin_keys) and the pointer to the current
-- version. An INSERT matters too: the cache remembers ids that did not exist.
CREATE TRIGGER certificates_cache_notify
    AFTER INSERT OR DELETE OR UPDATE OF id, hosts, admin_keys, current_version
    ON certificates FOR EACH ROW EXECUTE FUNCTION certfleet_cache_notify();
CREATE TRIGGER certificates_cache_flush
    AFTER TRUNCATE ON certificates FOR EACH STATEMENT EXECUTE FUNCTION certfleet_cache_notify();

-- Versions: any change (a new version, a revocation, a repaired row).
CREATE TRIGGER certificate_versions_cache_notify
    AFTER INSERT OR DELETE OR UPDATE
    ON certificate_versions FOR EACH ROW EXECUTE FUNCTION certfleet_cache_notify();
CREATE TRIGGER certificate_versions_cache_flush
    AFTER TRUNCATE ON certificate_versions FOR EACH STATEMENT
    EXECUTE FUNCTION certfleet_cache_notify();

-- Every stored version is an issuance, and an audit event: actor 'worker' for a
-- version a job stored (the worker's lease owner in the detail), otherwise the
-- database user that inserted it. address: the writer as the database sees it.
-- Nothing secret: the key stays sealed in its row.
CREATE FUNCTION certfleet_audit_issued() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    owner text;
BEGIN
    IF NEW.job_id IS NOT NULL THEN
        SELECT lease_owner INTO owner FROM jobs WHERE id = NEW.job_id;
    END IF;
    INSERT INTO audit_events (actor, action, target, address, detail)
    VALUES (CASE WHEN NEW.job_id IS NOT NULL THEN 'worker' ELSE 'db:' || session_user END,
            'certificate.issued', NEW.certificate_id, host(inet_client_addr()),
            jsonb_strip_nulls(jsonb_build_object(
                'version', NEW.version, 'serial', NEW.serial,
                'not_after', to_char(NEW.not_after AT TIME ZONE 'UTC',
                                     'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
                'job', NEW.job_id, 'worker', owner)));
    RETURN NULL;
END
$$;
CREATE TRIGGER certificate_versions_audit
    AFTER INSERT ON certificate_versions FOR EACH ROW EXECUTE FUNCTION certfleet_audit_issued();
