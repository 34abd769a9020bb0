-- The whole dispatcher schema, as a new database gets it. Applied by
-- dispatcher.store (Connection.apply_schema) to a file without dispatcher_schema;
-- a file holding an older version is brought up to date by the steps in
-- migrations/ instead. A change here needs a step there.
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
    -- For people: what the endpoint is for (the API's and the admin UI's description).
    description          TEXT,
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
    -- A retry policy spec (schedule:..., exponential:..., fixed:...).
    retry                TEXT,
    -- Retries stop this long after a batch's first attempt.
    max_age_ms           INTEGER CHECK (max_age_ms >= 1),
    -- Consecutive failed requests that disable the endpoint; 0 never does.
    disable_after        INTEGER CHECK (disable_after >= 0),
    -- Run with /bin/sh when the endpoint is disabled (or starts failing).
    notify_command       TEXT,
    -- The wire contract, so a receiver written for another sender accepts
    -- our requests unchanged (README, "Receiver compatibility").
    body_format          TEXT NOT NULL DEFAULT 'batch' CHECK (body_format IN ('batch', 'mautic', 'raw')),
    signature_scheme     TEXT NOT NULL DEFAULT 'mautic'
                         CHECK (signature_scheme IN ('mautic', 'hex', 'timestamped', 'standard')),
    -- NULL means the scheme's own header name.
    signature_header     TEXT,
    signature_prefix     TEXT NOT NULL DEFAULT '',
    -- Fixed headers as a JSON array of [name, value], names in the case they are sent.
    headers              TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(headers)),
    success              TEXT NOT NULL DEFAULT '2xx' CHECK (success IN ('2xx', '200')),
    -- Secrets replaced by a rotation, still signed with during their grace
    -- period: a JSON array of {"secret", "until"}, newest first.
    retired_secrets      TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(retired_secrets)),
    -- Batches in flight at once (README, "Order or throughput"); 1 keeps strict order.
    -- NULL follows the global setting, like the settings above.
    concurrency          INTEGER CHECK (concurrency >= 1),
    -- At most N request starts per second or per minute, 'N/s' or 'N/m', evenly spaced.
    rate_limit           TEXT,
    -- Where requests may go (README, "Outbound requests"): NULL follows the
    -- global allow_private setting; a private CA's certificates for https.
    allow_private        INTEGER CHECK (allow_private IN (0, 1)),
    ca_bundle            TEXT,
    -- Health.
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    last_success_at      TEXT,
    last_error           TEXT,
    -- When last_error happened: status tells an old refusal from a new one.
    last_error_at        TEXT,
    -- When its last request was claimed to start, for its rate limit: kept here, so every
    -- worker of every run on the database keeps to the same limit.
    last_start_at        TEXT,
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
-- Keyed by its id (a time-ordered UUID) without a rowid: one b-tree less to
-- write for every batch.
CREATE TABLE IF NOT EXISTS batches (
    id          TEXT PRIMARY KEY NOT NULL,
    endpoint_id INTEGER NOT NULL REFERENCES endpoints (id) ON DELETE CASCADE,
    -- JSON array of event ids in sending order: what every retry resends and
    -- what the attempt log shows. deliveries.batch_id is the same membership
    -- seen from the other side, indexed for counts, prune and replay.
    event_ids   TEXT NOT NULL,
    state       TEXT NOT NULL DEFAULT 'pending'
                CHECK (state IN ('pending', 'delivered', 'dead')),
    attempts    INTEGER NOT NULL DEFAULT 0,
    due_at      TEXT NOT NULL,
    last_error  TEXT,
    -- When its first request started: max_age counts from here.
    first_attempt_at TEXT,
    created_at  TEXT NOT NULL,
    finished_at TEXT,
    -- Who is sending it, until when: each batch in flight has a lease of its own, so up to
    -- the endpoint's concurrency are sent at once, by any workers of any runs, and a batch
    -- whose sender was killed is sent again once its lease has run out.
    lease_id         TEXT,
    lease_expires_at TEXT
) WITHOUT ROWID;
-- An endpoint's open batches: in flight, or waiting for their retry. With concurrency 1
-- there is at most one, and a failed batch holds back the endpoint until it is delivered
-- or dead; with more, a waiting retry still holds back every new batch.
CREATE INDEX IF NOT EXISTS batches_open_by_endpoint
    ON batches (endpoint_id, due_at) WHERE state = 'pending';
-- Finished batches by age: what prune deletes, and the dead-letter list.
CREATE INDEX IF NOT EXISTS batches_by_state_finished
    ON batches (state, finished_at) WHERE finished_at IS NOT NULL;

-- Each (event, subscribed endpoint) pair is in exactly one of two tables:
-- `pending` until it is put in a batch, then `deliveries`, whose state is its
-- batch's. Both are keyed (endpoint, event) without a rowid, so queueing an
-- event writes one b-tree per endpoint, and a claim reads one index range.
-- Neither refers to events by a foreign key: the dispatcher deletes an event
-- only when neither table holds it, and a key would need another index.
CREATE TABLE IF NOT EXISTS pending (
    endpoint_id INTEGER NOT NULL REFERENCES endpoints (id) ON DELETE CASCADE,
    event_id    INTEGER NOT NULL,
    PRIMARY KEY (endpoint_id, event_id)
) WITHOUT ROWID;

-- batch_id has no foreign key nor an index of its own: each would cost a
-- write per delivery, and a batch's deliveries are found from its event_ids.
CREATE TABLE IF NOT EXISTS deliveries (
    endpoint_id INTEGER NOT NULL REFERENCES endpoints (id) ON DELETE CASCADE,
    event_id    INTEGER NOT NULL,
    batch_id    TEXT NOT NULL,
    PRIMARY KEY (endpoint_id, event_id)
) WITHOUT ROWID;

-- Fan-out in the database, in the producer's own transaction: whoever
-- inserts the event, every endpoint subscribed at that moment gets it queued.
-- (The dispatcher's own bulk insert drops it for its transaction and fans the
-- whole range out in one statement; see store.insert_events.)
-- It also refuses a payload over 1 MiB (payloads.MAX_PAYLOAD_BYTES): here rather
-- than in a trigger of its own, which would cost every insert a second one.
-- The fan-out rule, written once: an endpoint gets every event whose type matches one of its
-- patterns (GLOB: case-sensitive, *, ?, [...]). The trigger applies it to each event a producer
-- inserts; a bulk import applies it to its staged events at the end.
CREATE VIEW IF NOT EXISTS event_routes (event_id, endpoint_id) AS
SELECT events.id, endpoints.id
FROM events JOIN endpoints
WHERE EXISTS (SELECT 1 FROM json_each(endpoints.events) AS pattern WHERE events.type GLOB pattern.value);

-- A row here only inside a bulk insert's transaction (inserted at its start, deleted before its
-- commit, under the write lock): the trigger then leaves the fan-out to the bulk insert, which
-- has checked each payload itself. No other connection ever sees the row, and the trigger
-- itself is never dropped.
CREATE TABLE IF NOT EXISTS dispatcher_staging (
    staging INTEGER NOT NULL
);

CREATE TRIGGER IF NOT EXISTS events_fan_out AFTER INSERT ON events
WHEN NOT EXISTS (SELECT 1 FROM dispatcher_staging)
BEGIN
    SELECT RAISE(ABORT, 'payload over 1 MiB') WHERE length(CAST(NEW.payload AS BLOB)) > 1048576;
    INSERT INTO pending (endpoint_id, event_id)
    SELECT endpoint_id, event_id FROM event_routes WHERE event_id = NEW.id;
END;

-- One row per HTTP request. Ids are not AUTOINCREMENT: nothing refers to an
-- attempt by its id, and sqlite_sequence would be one more page per request.
CREATE TABLE IF NOT EXISTS attempts (
    id               INTEGER PRIMARY KEY,
    endpoint_id      INTEGER NOT NULL REFERENCES endpoints (id) ON DELETE CASCADE,
    batch_id         TEXT NOT NULL,
    started_at       TEXT NOT NULL,
    duration_ms      INTEGER NOT NULL,
    ok               INTEGER NOT NULL CHECK (ok IN (0, 1)),
    status_code      INTEGER,
    error            TEXT,
    response_excerpt TEXT,
    -- 1 for `endpoint test` sends: logged, but never part of a batch or the endpoint's health.
    test             INTEGER NOT NULL DEFAULT 0 CHECK (test IN (0, 1)),
    -- What `dispatcher attempts show` tells, NULL in attempts made before schema 6 ("not
    -- recorded"). The endpoint's body format and signature scheme then (set even when nothing
    -- was sent); the request line (the URL without its login) and headers (a compact JSON array
    -- of [name, value] as sent, Authorization redacted), NULL when nothing was sent; the SHA-256
    -- of the body, which is rebuilt from the batch's events rather than kept; the response
    -- headers (JSON as well, cut to 16 KiB) and how many of them did not fit.
    body_format      TEXT,
    signature_scheme TEXT,
    request_line     TEXT,
    request_headers  TEXT,
    body_sha256      TEXT,
    response_headers TEXT,
    response_headers_cut INTEGER
);
CREATE INDEX IF NOT EXISTS attempts_by_endpoint ON attempts (endpoint_id, id);
CREATE INDEX IF NOT EXISTS attempts_by_batch ON attempts (batch_id);
-- Old test sends, for prune; other attempts go with their batch.
CREATE INDEX IF NOT EXISTS attempts_tests_by_time ON attempts (started_at) WHERE test = 1;

-- How far prune has looked for old events that no endpoint needs (they never
-- got a delivery, or their endpoint was deleted): each run goes on from there
-- instead of re-reading every old event still queued. One row.
CREATE TABLE IF NOT EXISTS dispatcher_prune (
    events_checked_through INTEGER NOT NULL
);
INSERT INTO dispatcher_prune (events_checked_through) SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM dispatcher_prune);

-- Keys for the HTTP API and the admin UI (`dispatcher api-key`, `dispatcher serve`).
-- Only the SHA-256 of a key is kept: a key is random, so no slow hash is needed.
CREATE TABLE IF NOT EXISTS api_keys (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    name         TEXT,
    key_sha256   TEXT NOT NULL UNIQUE,
    read_only    INTEGER NOT NULL DEFAULT 0 CHECK (read_only IN (0, 1)),
    created_at   TEXT NOT NULL,
    last_used_at TEXT
);

-- Admin UI logins: the cookie holds a random token, kept here as its SHA-256;
-- revoking the key ends its sessions.
CREATE TABLE IF NOT EXISTS web_sessions (
    token_sha256 TEXT PRIMARY KEY,
    api_key_id   INTEGER NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
    csrf_token   TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    expires_at   TEXT NOT NULL
);

-- `POST /api/v1/events` with an Idempotency-Key: the first answer, replayed to a
-- repeat of the same request for 24 hours.
CREATE TABLE IF NOT EXISTS idempotency_keys (
    api_key_id     INTEGER NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
    key            TEXT NOT NULL,
    request_sha256 TEXT NOT NULL,
    status         INTEGER NOT NULL,
    response       TEXT NOT NULL,
    created_at     TEXT NOT NULL,
    PRIMARY KEY (api_key_id, key)
);
CREATE INDEX IF NOT EXISTS idempotency_keys_by_time ON idempotency_keys (created_at);

-- The version of this file the database holds: a table of our own, because an
-- application sharing the file may already use PRAGMA user_version.
CREATE TABLE IF NOT EXISTS dispatcher_schema (
    version INTEGER NOT NULL
);
DELETE FROM dispatcher_schema;
INSERT INTO dispatcher_schema (version) VALUES (9);
