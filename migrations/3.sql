-- Version 2 to 3: per-endpoint retry policy, maximum age, auto-disable and
-- notification; a batch's first attempt time; indexes for pruning, the
-- dead-letter list and attempt filters. Column for column what schema.sql declares.

ALTER TABLE endpoints ADD COLUMN retry TEXT;
ALTER TABLE endpoints ADD COLUMN max_age_ms INTEGER CHECK (max_age_ms >= 1);
ALTER TABLE endpoints ADD COLUMN disable_after INTEGER CHECK (disable_after >= 0);
ALTER TABLE endpoints ADD COLUMN notify_command TEXT;

ALTER TABLE batches ADD COLUMN first_attempt_at TEXT;
-- Batches already retried: the oldest attempt is their first.
UPDATE batches SET first_attempt_at = (
    SELECT min(started_at) FROM attempts WHERE attempts.batch_id = batches.id
);

CREATE INDEX IF NOT EXISTS batches_by_state_finished ON batches (state, finished_at);
CREATE INDEX IF NOT EXISTS attempts_by_time ON attempts (started_at);

UPDATE dispatcher_schema SET version = 3;
