-- Version 4 to 5: where prune's look for events no endpoint needs goes on
-- from; an endpoint's own allow_private switch and CA bundle; payloads over 1 MiB refused.

ALTER TABLE endpoints ADD COLUMN allow_private INTEGER CHECK (allow_private IN (0, 1));
ALTER TABLE endpoints ADD COLUMN ca_bundle TEXT;

CREATE TABLE dispatcher_prune (
    events_checked_through INTEGER NOT NULL
);
INSERT INTO dispatcher_prune (events_checked_through) VALUES (0);

CREATE TRIGGER events_payload_size BEFORE INSERT ON events
WHEN length(CAST(NEW.payload AS BLOB)) > 1048576
BEGIN
    SELECT RAISE(ABORT, 'payload over 1 MiB');
END;

UPDATE dispatcher_schema SET version = 5;
