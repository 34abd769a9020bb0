-- Version 4 to 5: where prune's look for events no endpoint needs goes on
-- from; an endpoint's own allow_private switch and CA bundle; the fan-out trigger
-- refuses payloads over 1 MiB.

ALTER TABLE endpoints ADD COLUMN allow_private INTEGER CHECK (allow_private IN (0, 1));
ALTER TABLE endpoints ADD COLUMN ca_bundle TEXT;

CREATE TABLE dispatcher_prune (
    events_checked_through INTEGER NOT NULL
);
INSERT INTO dispatcher_prune (events_checked_through) VALUES (0);

DROP TRIGGER events_fan_out;
CREATE TRIGGER events_fan_out AFTER INSERT ON events
BEGIN
    SELECT RAISE(ABORT, 'payload over 1 MiB') WHERE length(CAST(NEW.payload AS BLOB)) > 1048576;
    INSERT INTO pending (endpoint_id, event_id)
    SELECT endpoints.id, NEW.id
    FROM endpoints
    WHERE EXISTS (
        SELECT 1 FROM json_each(endpoints.events) AS pattern
        WHERE NEW.type GLOB pattern.value
    );
END;

UPDATE dispatcher_schema SET version = 5;
