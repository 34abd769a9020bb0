-- Version 3 to 4, for speed (bench/): fewer b-trees written per event and
-- per request. deliveries loses its batch index and foreign key. Queued deliveries move to their own table, `pending`, and
-- `deliveries` keeps only batched ones; both keyed (endpoint, event) without
-- a rowid. `batches` loses its rowid, `attempts` its AUTOINCREMENT. Tables
-- are rebuilt the way SQLite documents (apply_schema turns foreign keys off
-- around a migration and checks them before it commits).

CREATE TABLE pending (
    endpoint_id INTEGER NOT NULL REFERENCES endpoints (id) ON DELETE CASCADE,
    event_id    INTEGER NOT NULL,
    PRIMARY KEY (endpoint_id, event_id)
) WITHOUT ROWID;
INSERT INTO pending (endpoint_id, event_id)
    SELECT endpoint_id, event_id FROM deliveries WHERE batch_id IS NULL;

CREATE TABLE deliveries_v4 (
    endpoint_id INTEGER NOT NULL REFERENCES endpoints (id) ON DELETE CASCADE,
    event_id    INTEGER NOT NULL,
    batch_id    TEXT NOT NULL,
    PRIMARY KEY (endpoint_id, event_id)
) WITHOUT ROWID;
INSERT INTO deliveries_v4 (endpoint_id, event_id, batch_id)
    SELECT endpoint_id, event_id, batch_id FROM deliveries WHERE batch_id IS NOT NULL;

DROP TRIGGER events_fan_out;
DROP TABLE deliveries;
ALTER TABLE deliveries_v4 RENAME TO deliveries;

CREATE TRIGGER events_fan_out AFTER INSERT ON events
BEGIN
    INSERT INTO pending (endpoint_id, event_id)
    SELECT endpoints.id, NEW.id
    FROM endpoints
    WHERE EXISTS (
        SELECT 1 FROM json_each(endpoints.events) AS pattern
        WHERE NEW.type GLOB pattern.value
    );
END;

CREATE TABLE batches_v4 (
    id          TEXT PRIMARY KEY NOT NULL,
    endpoint_id INTEGER NOT NULL REFERENCES endpoints (id) ON DELETE CASCADE,
    event_ids   TEXT NOT NULL,
    state       TEXT NOT NULL DEFAULT 'pending'
                CHECK (state IN ('pending', 'delivered', 'dead')),
    attempts    INTEGER NOT NULL DEFAULT 0,
    due_at      TEXT NOT NULL,
    last_error  TEXT,
    first_attempt_at TEXT,
    created_at  TEXT NOT NULL,
    finished_at TEXT
) WITHOUT ROWID;
INSERT INTO batches_v4 (id, endpoint_id, event_ids, state, attempts, due_at, last_error, first_attempt_at,
                        created_at, finished_at)
    SELECT id, endpoint_id, event_ids, state, attempts, due_at, last_error, first_attempt_at, created_at, finished_at
    FROM batches;
DROP TABLE batches;
ALTER TABLE batches_v4 RENAME TO batches;
CREATE UNIQUE INDEX batches_one_open_per_endpoint ON batches (endpoint_id) WHERE state = 'pending';
CREATE INDEX batches_by_state_finished ON batches (state, finished_at) WHERE finished_at IS NOT NULL;

CREATE TABLE attempts_v4 (
    id               INTEGER PRIMARY KEY,
    endpoint_id      INTEGER NOT NULL REFERENCES endpoints (id) ON DELETE CASCADE,
    batch_id         TEXT NOT NULL,
    started_at       TEXT NOT NULL,
    duration_ms      INTEGER NOT NULL,
    ok               INTEGER NOT NULL CHECK (ok IN (0, 1)),
    status_code      INTEGER,
    error            TEXT,
    response_excerpt TEXT,
    test             INTEGER NOT NULL DEFAULT 0 CHECK (test IN (0, 1))
);
INSERT INTO attempts_v4 SELECT id, endpoint_id, batch_id, started_at, duration_ms, ok, status_code, error,
                               response_excerpt, test FROM attempts;
DROP TABLE attempts;
ALTER TABLE attempts_v4 RENAME TO attempts;
CREATE INDEX attempts_by_endpoint ON attempts (endpoint_id, id);
CREATE INDEX attempts_by_batch ON attempts (batch_id);
CREATE INDEX attempts_tests_by_time ON attempts (started_at) WHERE test = 1;

UPDATE dispatcher_schema SET version = 4;
