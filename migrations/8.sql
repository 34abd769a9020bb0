-- Version 7 to 8: several batches of an endpoint in flight at once (its concurrency), each
-- under a lease of its own, and a limit on how often the endpoint's requests may start.

ALTER TABLE endpoints ADD COLUMN concurrency INTEGER CHECK (concurrency >= 1);
ALTER TABLE endpoints ADD COLUMN rate_limit TEXT;
ALTER TABLE endpoints ADD COLUMN last_start_at TEXT;

ALTER TABLE batches ADD COLUMN lease_id TEXT;
ALTER TABLE batches ADD COLUMN lease_expires_at TEXT;
-- A run of the old version still sending keeps its lease: it moves from the endpoint to the
-- endpoint's one open batch, the one it is sending.
UPDATE batches
SET lease_id = (SELECT e.lease_id FROM endpoints AS e WHERE e.id = batches.endpoint_id),
    lease_expires_at = (SELECT e.lease_expires_at FROM endpoints AS e WHERE e.id = batches.endpoint_id)
WHERE state = 'pending';

DROP INDEX IF EXISTS batches_one_open_per_endpoint;
CREATE INDEX IF NOT EXISTS batches_open_by_endpoint ON batches (endpoint_id, due_at) WHERE state = 'pending';

ALTER TABLE endpoints DROP COLUMN lease_id;
ALTER TABLE endpoints DROP COLUMN lease_expires_at;

UPDATE dispatcher_schema SET version = 8;
