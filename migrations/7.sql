-- Version 6 to 7: the HTTP API and admin UI (`dispatcher serve`).

ALTER TABLE endpoints ADD COLUMN description TEXT;

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

UPDATE dispatcher_schema SET version = 7;
