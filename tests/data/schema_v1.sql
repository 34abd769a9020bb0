-- The whole dispatcher schema. Applied by dispatcher.store (Connection.apply_schema)
-- when dispatcher_schema holds a lower version than the one at the bottom of this file.
--
-- The producer contract is one statement:
--     INSERT INTO events (type, payload) VALUES ('lead.created', '{"id": 1}');
-- Everything else here exists to deliver that row.
--
-- Times are UTC ISO 8601 text with milliseconds ('2026-11-22T10:00:00.000Z'),
-- so they compare correctly as strings. Only producer inserts use SQLite's
-- clock; the dispatcher passes every other time in from its own clock.

CREATE TABLE IF NOT EXISTS config (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS endpoints (
    id                   INTEGER PRIMARY KEY AUTOINCREMENT,
    name                 TEXT,
    url                  TEXT NOT NULL,
    secret               TEXT NOT NULL,
    -- JSON array of GLOB patterns matched against events.type.
    events               TEXT NOT NULL DEFAULT '["*"]'
                         CHECK (json_valid(events) AND json_type(events) = 'array'),
    enabled              INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    disabled_reason      TEXT,
    disabled_at          TEXT,
    -- NULL means "use the global setting" (config table, then built-in).
    sort_order           TEXT CHECK (sort_order IN ('asc', 'desc')),
    batch_size           INTEGER CHECK (batch_size >= 1),
    timeout_ms           INTEGER CHECK (timeout_ms >= 1),
    max_attempts         INTEGER CHECK (max_attempts >= 1),
    -- Health.
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    last_success_at      TEXT,
    last_error           TEXT,
    -- The lease: one run, one worker per endpoint at a time.
    lease_id             TEXT,
    lease_expires_at     TEXT,
    created_at           TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

CREATE TABLE IF NOT EXISTS events (
    -- AUTOINCREMENT: an id is never handed out twice, even after pruning.
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    type       TEXT NOT NULL CHECK (typeof(type) = 'text' AND length(type) > 0),
    -- RFC 8259 JSON, an object or an array; refused here so that rows written
    -- around the dispatcher's own API cannot poison a batch.
    payload    TEXT NOT NULL CHECK (
                   typeof(payload) = 'text'
                   AND json_valid(payload)
                   AND json_type(payload) IN ('object', 'array')
               ),
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

-- A batch is one request's worth of deliveries for one endpoint. Its events
-- are fixed when it is formed, so every retry resends exactly the same body.
CREATE TABLE IF NOT EXISTS batches (
    id          TEXT PRIMARY KEY,
    endpoint_id INTEGER NOT NULL REFERENCES endpoints (id) ON DELETE CASCADE,
    -- JSON array of event ids in sending order: what every retry resends and
    -- what the attempt log shows. deliveries.batch_id is the same membership
    -- seen from the other side, indexed for claims and counts.
    event_ids   TEXT NOT NULL,
    state       TEXT NOT NULL DEFAULT 'pending'
                CHECK (state IN ('pending', 'delivered', 'dead')),
    attempts    INTEGER NOT NULL DEFAULT 0,
    due_at      TEXT NOT NULL,
    last_error  TEXT,
    created_at  TEXT NOT NULL,
    finished_at TEXT
);
-- Per endpoint in order, one batch at a time: a failed batch blocks the
-- endpoint until its retry succeeds or it dies.
CREATE UNIQUE INDEX IF NOT EXISTS batches_one_open_per_endpoint
    ON batches (endpoint_id) WHERE state = 'pending';
CREATE INDEX IF NOT EXISTS batches_by_endpoint_state
    ON batches (endpoint_id, state);

-- One row per (event, subscribed endpoint). batch_id is NULL until the
-- delivery is put into a batch; its state is then the batch's state.
CREATE TABLE IF NOT EXISTS deliveries (
    id          INTEGER PRIMARY KEY,
    event_id    INTEGER NOT NULL REFERENCES events (id),
    endpoint_id INTEGER NOT NULL REFERENCES endpoints (id) ON DELETE CASCADE,
    batch_id    TEXT REFERENCES batches (id),
    UNIQUE (event_id, endpoint_id)
);
-- Serves the claim (endpoint, batch_id IS NULL, in event order) as an
-- index-only range that never touches delivered history, and the status counts.
CREATE INDEX IF NOT EXISTS deliveries_by_endpoint_batch
    ON deliveries (endpoint_id, batch_id, event_id);
CREATE INDEX IF NOT EXISTS deliveries_by_batch
    ON deliveries (batch_id) WHERE batch_id IS NOT NULL;

-- Fan-out in the database, in the producer's own transaction: whoever
-- inserts the event, every endpoint subscribed at that moment gets a delivery.
CREATE TRIGGER IF NOT EXISTS events_fan_out AFTER INSERT ON events
BEGIN
    INSERT INTO deliveries (event_id, endpoint_id)
    SELECT NEW.id, endpoints.id
    FROM endpoints
    WHERE EXISTS (
        SELECT 1 FROM json_each(endpoints.events) AS pattern
        WHERE NEW.type GLOB pattern.value
    );
END;

-- One row per HTTP request.
CREATE TABLE IF NOT EXISTS attempts (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    endpoint_id      INTEGER NOT NULL REFERENCES endpoints (id) ON DELETE CASCADE,
    batch_id         TEXT NOT NULL,
    started_at       TEXT NOT NULL,
    duration_ms      INTEGER NOT NULL,
    ok               INTEGER NOT NULL CHECK (ok IN (0, 1)),
    status_code      INTEGER,
    error            TEXT,
    response_excerpt TEXT
);
CREATE INDEX IF NOT EXISTS attempts_by_endpoint ON attempts (endpoint_id, id);
CREATE INDEX IF NOT EXISTS attempts_by_batch ON attempts (batch_id);

-- The version of this file the database holds: a table of our own, because an
-- application sharing the file may already use PRAGMA user_version.
CREATE TABLE IF NOT EXISTS dispatcher_schema (
    version INTEGER NOT NULL
);
DELETE FROM dispatcher_schema;
INSERT INTO dispatcher_schema (version) VALUES (1);
