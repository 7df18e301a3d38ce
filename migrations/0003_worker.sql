-- 0003_worker: what the worker pool needs beyond the core schema.
--
-- jobs.attempt counts claims (it fences every state change); a job also goes back
-- to the queue for reasons that are not failures (waiting for the TXT budget, a
-- replica shutting down), so the transient failures that CERTFLEET_MAX_ATTEMPTS
-- limits are counted apart, in jobs.failures.
ALTER TABLE jobs ADD COLUMN failures integer NOT NULL DEFAULT 0 CHECK (failures >= 0);

-- The state machine starts with the preflight (checking the CNAMEs costs nothing at
-- the CA); a job inserted without a step starts there.
ALTER TABLE jobs ALTER COLUMN step SET DEFAULT 'preflight';

-- The live TXT values of one job (cleanup, resume after a crash).
CREATE INDEX dns_records_job_live ON dns_records (job_id) WHERE state IN ('pending','present');
