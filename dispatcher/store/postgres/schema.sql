-- The whole dispatcher schema on PostgreSQL, as a new schema (namespace) gets it: version 1 of
-- the PostgreSQL chain, which numbers its steps apart from SQLite's. Applied by
-- dispatcher.store.postgres.schema.apply_schema inside the dispatcher's own schema, with
-- search_path set to it: nothing here names the schema, so any name works, and every function
-- keeps that search_path (SET ... FROM CURRENT) whatever the session calling it has. A schema
-- holding an older version is brought up to date by the steps in migrations/ instead.
--
-- It mirrors ../../schema.sql (SQLite, the design card) table for table, column for column;
-- what differs is said where it does. Times are timestamptz; flags are boolean; durations
-- in ms are bigint (30 days of them overflow an integer).
--
-- The producer contract is one statement, in the application's own transaction, from any client:
--     INSERT INTO dispatcher.events (type, payload) VALUES ('lead.created', '{"id": 1}');
-- Everything else here exists to deliver that row.

CREATE TABLE config (
    key   text PRIMARY KEY,
    value text NOT NULL
);

-- SQLite's GLOB, which PostgreSQL lacks: ``pattern`` as an anchored regular expression that
-- matches what GLOB matches. Case-sensitive; `*` any run of characters, `?` exactly one;
-- `[...]` one character of a set, with ranges (`a-z`; a reversed range adds nothing), `^`
-- first for "none of", and `]` first as itself; every other character stands for itself
-- (`!` too: SQLite has no `[!...]`). A set without its `]` never matches: NULL here.
-- Every character but a letter or a digit goes in as a \uXXXX escape, so nothing in a
-- pattern is ever read as regular-expression syntax. The rule is written here only.
CREATE FUNCTION glob_regex(pattern text) RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
SET search_path FROM CURRENT
AS $$
DECLARE
    chars   text[] := string_to_array(pattern, NULL);
    literal text[] := ARRAY(
        SELECT CASE WHEN c ~ '^[A-Za-z0-9]$' OR ascii(c) > 127 THEN c
                    ELSE E'\\u' || lpad(to_hex(ascii(c)), 4, '0') END
        FROM unnest(chars) WITH ORDINALITY AS u (c, n) ORDER BY n
    );
    last    integer := cardinality(chars);
    i       integer := 1;
    regex   text := '^';
    members text;
    prior   integer;  -- the set's last single character, which a following `-` makes a range's start
BEGIN
    WHILE i <= last LOOP
        IF chars[i] = '*' THEN
            regex := regex || '.*';
        ELSIF chars[i] = '?' THEN
            regex := regex || '.';
        ELSIF chars[i] = '[' THEN
            i := i + 1;
            members := '';
            prior := NULL;
            IF chars[i] = '^' THEN
                members := '^';
                i := i + 1;
            END IF;
            IF chars[i] = ']' THEN
                members := members || literal[i];
                i := i + 1;
            END IF;
            WHILE i <= last AND chars[i] <> ']' LOOP
                IF chars[i] = '-' AND prior IS NOT NULL AND i < last AND chars[i + 1] <> ']' THEN
                    IF ascii(chars[i + 1]) >= ascii(chars[prior]) THEN
                        members := members || literal[prior] || '-' || literal[i + 1];
                    END IF;
                    prior := NULL;
                    i := i + 1;
                ELSE
                    members := members || literal[i];
                    prior := i;
                END IF;
                i := i + 1;
            END LOOP;
            IF i > last THEN
                RETURN NULL;
            END IF;
            regex := regex || '[' || members || ']';
        ELSE
            regex := regex || literal[i];
        END IF;
        i := i + 1;
    END LOOP;
    RETURN regex || '$';
END
$$;

-- `value GLOB pattern`, as SQLite answers it.
CREATE FUNCTION glob_match(pattern text, value text) RETURNS boolean
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path FROM CURRENT
AS $$ SELECT coalesce(value ~ glob_regex(pattern), false) $$;

-- An endpoint's JSON array of GLOB patterns as one regular expression matching what any of them
-- matches; NULL (matching nothing) for no patterns, or for text that is not a JSON array.
CREATE FUNCTION patterns_regex(patterns text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path FROM CURRENT
AS $$
    SELECT string_agg('(?:' || glob_regex(pattern) || ')', '|')
    FROM json_array_elements_text(CASE WHEN json_typeof(patterns::json) = 'array' THEN patterns::json END)
         AS p (pattern)
$$;

CREATE TABLE endpoints (
    id                   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name                 text,
    description          text,
    url                  text NOT NULL,
    secret               text NOT NULL,
    -- JSON array of GLOB patterns matched against events.type.
    events               text NOT NULL DEFAULT '["*"]' CHECK (json_typeof(events::json) = 'array'),
    -- Not in SQLite: the patterns translated once, when they are written, rather than for
    -- every endpoint on every event inserted.
    events_regex         text GENERATED ALWAYS AS (patterns_regex(events)) STORED,
    enabled              boolean NOT NULL DEFAULT true,
    disabled_reason      text,
    disabled_at          timestamptz,
    -- NULL means "use the global setting" (config table, then built-in).
    sort_order           text CHECK (sort_order IN ('asc', 'desc')),
    batch_size           integer CHECK (batch_size >= 1),
    timeout_ms           bigint CHECK (timeout_ms >= 1),
    max_attempts         integer CHECK (max_attempts >= 1),
    retry                text,
    max_age_ms           bigint CHECK (max_age_ms >= 1),
    disable_after        integer CHECK (disable_after >= 0),
    notify_command       text,
    body_format          text NOT NULL DEFAULT 'batch' CHECK (body_format IN ('batch', 'mautic', 'raw')),
    signature_scheme     text NOT NULL DEFAULT 'mautic'
                         CHECK (signature_scheme IN ('mautic', 'hex', 'timestamped', 'standard')),
    signature_header     text,
    signature_prefix     text NOT NULL DEFAULT '',
    headers              text NOT NULL DEFAULT '[]' CHECK (headers::json IS NOT NULL),
    success              text NOT NULL DEFAULT '2xx' CHECK (success IN ('2xx', '200')),
    retired_secrets      text NOT NULL DEFAULT '[]' CHECK (retired_secrets::json IS NOT NULL),
    concurrency          integer CHECK (concurrency >= 1),
    rate_limit           text,
    allow_private        boolean,
    ca_bundle            text,
    consecutive_failures integer NOT NULL DEFAULT 0,
    last_success_at      timestamptz,
    last_error           text,
    last_error_at        timestamptz,
    last_start_at        timestamptz,
    created_at           timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE events (
    -- An identity: an id is never handed out twice, even after pruning. Concurrent
    -- transactions get interleaved ids, so one transaction's events are not a contiguous range.
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    type       text NOT NULL CHECK (type <> ''),
    -- RFC 8259 JSON, an object or an array, kept as text: byte for byte what the producer
    -- sent (jsonb would re-serialize it). The cast to json only parses it. Checks run in
    -- the order of their names: the size before the parse.
    payload    text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    -- Not in SQLite: the bulk path's token. Rows inserted while the transaction has
    -- `SET LOCAL dispatcher.staging = '<token>'` are kept out of the fan-out, and queued
    -- later, all at once, by queue_staged('<token>').
    staged_as  text DEFAULT nullif(current_setting('dispatcher.staging', true), ''),
    CONSTRAINT events_payload_bytes CHECK (octet_length(payload) <= 1048576),
    CONSTRAINT events_payload_json CHECK (json_typeof(payload::json) IN ('object', 'array'))
);
CREATE INDEX events_staged ON events (staged_as) WHERE staged_as IS NOT NULL;

-- A batch is one request's worth of deliveries for one endpoint; its events are fixed when it
-- is formed, so every retry resends exactly the same body.
CREATE TABLE batches (
    id               text PRIMARY KEY,
    endpoint_id      bigint NOT NULL REFERENCES endpoints (id) ON DELETE CASCADE,
    -- JSON array of event ids in sending order.
    event_ids        text NOT NULL CHECK (json_typeof(event_ids::json) = 'array'),
    state            text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'dead')),
    attempts         integer NOT NULL DEFAULT 0,
    due_at           timestamptz NOT NULL,
    last_error       text,
    first_attempt_at timestamptz,
    created_at       timestamptz NOT NULL,
    finished_at      timestamptz,
    lease_id         text,
    lease_expires_at timestamptz
);
CREATE INDEX batches_open_by_endpoint ON batches (endpoint_id, due_at) WHERE state = 'pending';
CREATE INDEX batches_by_state_finished ON batches (state, finished_at) WHERE finished_at IS NOT NULL;

-- Each (event, subscribed endpoint) pair is in `pending` until it is put in a batch, then in
-- `deliveries`. Neither refers to events by a foreign key (see ../../schema.sql).
CREATE TABLE pending (
    endpoint_id bigint NOT NULL REFERENCES endpoints (id) ON DELETE CASCADE,
    event_id    bigint NOT NULL,
    PRIMARY KEY (endpoint_id, event_id)
);

CREATE TABLE deliveries (
    endpoint_id bigint NOT NULL REFERENCES endpoints (id) ON DELETE CASCADE,
    event_id    bigint NOT NULL,
    batch_id    text NOT NULL,
    PRIMARY KEY (endpoint_id, event_id)
);

-- Queue events for every endpoint whose patterns match their types, and wake the delivery runs
-- that LISTEN on '<schema>_events' (once: a notification is sent when the transaction commits).
-- The events come as two arrays, ids and types, so that the trigger's transition table and the
-- staged rows share this one statement. Each type is matched once, however many events have it.
-- The endpoints are locked FOR KEY SHARE, as the foreign key would lock them anyway: one deleted
-- meanwhile is skipped rather than failing the producer's insert on that key.
-- Returns how many (endpoint, event) pairs it queued.
CREATE FUNCTION fan_out(ids bigint[], types text[]) RETURNS bigint
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $$
DECLARE
    queued bigint;
BEGIN
    WITH new_events AS (
        SELECT id, type FROM unnest(ids, types) AS n (id, type)
    ), subscribed AS MATERIALIZED (
        SELECT t.type, e.id AS endpoint_id
        FROM (SELECT DISTINCT type FROM new_events) AS t
        JOIN endpoints AS e ON t.type ~ e.events_regex
        FOR KEY SHARE OF e
    )
    INSERT INTO pending (endpoint_id, event_id)
    SELECT s.endpoint_id, n.id FROM new_events AS n JOIN subscribed AS s USING (type);
    GET DIAGNOSTICS queued = ROW_COUNT;
    IF queued > 0 THEN
        PERFORM pg_notify(current_schema() || '_events', '');
    END IF;
    RETURN queued;
END
$$;

-- Fan-out in the database, in the producer's own transaction: whoever inserts the events, every
-- endpoint subscribed at that moment gets them queued. Once per statement, so a multi-row
-- INSERT or a COPY fans out (and notifies) in one go; staged rows wait for queue_staged.
CREATE FUNCTION events_fan_out() RETURNS trigger
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $$
DECLARE
    ids   bigint[];
    types text[];
BEGIN
    SELECT array_agg(id), array_agg(type) INTO ids, types FROM inserted WHERE staged_as IS NULL;
    PERFORM fan_out(ids, types);
    RETURN NULL;
END
$$;

CREATE TRIGGER events_fan_out AFTER INSERT ON events
REFERENCING NEW TABLE AS inserted
FOR EACH STATEMENT EXECUTE FUNCTION events_fan_out();

-- The bulk path's second half: queue the events staged under ``token`` and mark them staged no
-- more. Returns how many (endpoint, event) pairs it queued.
CREATE FUNCTION queue_staged(token text) RETURNS bigint
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $$
DECLARE
    ids   bigint[];
    types text[];
BEGIN
    WITH released AS (
        UPDATE events SET staged_as = NULL WHERE staged_as = token RETURNING id, type
    )
    SELECT array_agg(id), array_agg(type) INTO ids, types FROM released;
    RETURN fan_out(ids, types);
END
$$;

-- One row per HTTP request.
CREATE TABLE attempts (
    id                   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    endpoint_id          bigint NOT NULL REFERENCES endpoints (id) ON DELETE CASCADE,
    batch_id             text NOT NULL,
    started_at           timestamptz NOT NULL,
    duration_ms          bigint NOT NULL,
    ok                   boolean NOT NULL,
    status_code          integer,
    error                text,
    response_excerpt     text,
    test                 boolean NOT NULL DEFAULT false,
    body_format          text,
    signature_scheme     text,
    request_line         text,
    request_headers      text,
    body_sha256          text,
    response_headers     text,
    response_headers_cut integer
);
CREATE INDEX attempts_by_endpoint ON attempts (endpoint_id, id);
CREATE INDEX attempts_by_batch ON attempts (batch_id);
CREATE INDEX attempts_tests_by_time ON attempts (started_at) WHERE test;

-- How far prune has looked for old events that no endpoint needs. One row.
CREATE TABLE dispatcher_prune (
    events_checked_through bigint NOT NULL
);
INSERT INTO dispatcher_prune (events_checked_through) VALUES (0);

-- Keys for the HTTP API and the admin UI; only the SHA-256 of a key is kept.
CREATE TABLE api_keys (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name         text,
    key_sha256   text NOT NULL UNIQUE,
    read_only    boolean NOT NULL DEFAULT false,
    created_at   timestamptz NOT NULL,
    last_used_at timestamptz
);

CREATE TABLE web_sessions (
    token_sha256 text PRIMARY KEY,
    api_key_id   bigint NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
    csrf_token   text NOT NULL,
    created_at   timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL
);

CREATE TABLE idempotency_keys (
    api_key_id     bigint NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
    key            text NOT NULL,
    request_sha256 text NOT NULL,
    status         integer NOT NULL,
    response       text NOT NULL,
    created_at     timestamptz NOT NULL,
    PRIMARY KEY (api_key_id, key)
);
CREATE INDEX idempotency_keys_by_time ON idempotency_keys (created_at);

-- The version of the PostgreSQL chain this schema holds.
CREATE TABLE dispatcher_schema (
    version integer NOT NULL
);
INSERT INTO dispatcher_schema (version) VALUES (1);
