-- 0005_txt_janitor: what the stale-TXT janitor needs beyond 0001/0003.
--
-- The janitor removes orphan TXT values (live in dns_records, but their job has
-- ended or is gone). A removal that fails is retried after a backoff that doubles
-- (next_attempt_at), and every failure is counted (janitor_failures), so a removal
-- that keeps failing shows: in the job's events (written by the janitor) and in
-- the fleet-wide numbers of the txt_cleanup_stats view, for metrics.
ALTER TABLE dns_records
    ADD COLUMN janitor_failures integer NOT NULL DEFAULT 0 CHECK (janitor_failures >= 0),
    ADD COLUMN next_attempt_at timestamptz;

-- The janitor's queue: live values, by when they may be tried next.
CREATE INDEX dns_records_orphan_due ON dns_records (next_attempt_at)
    WHERE state IN ('pending','present');

-- One row, fleet-wide (every replica reads the same):
--   janitor_failures  failed janitor removals, ever (a counter while rows are kept)
--   failing           live values whose last removal failed (the janitor retries)
--   abandoned         values the janitor gave up on: they may still be in DNS, and
--                     need removing by hand (last_error says why)
CREATE VIEW txt_cleanup_stats AS
SELECT coalesce(sum(janitor_failures), 0)::bigint AS janitor_failures,
       count(*) FILTER (WHERE state IN ('pending','present')
                        AND last_error IS NOT NULL) AS failing,
       count(*) FILTER (WHERE state = 'failed' AND janitor_failures > 0) AS abandoned
FROM dns_records;
