-- Version 8 to 9: the fan-out rule written once (the event_routes view), and bulk imports that
-- no longer drop and recreate the trigger: a row in dispatcher_staging, inside the import's
-- transaction only, tells the trigger to leave the fan-out to the import.

CREATE VIEW IF NOT EXISTS event_routes (event_id, endpoint_id) AS
SELECT events.id, endpoints.id
FROM events JOIN endpoints
WHERE EXISTS (SELECT 1 FROM json_each(endpoints.events) AS pattern WHERE events.type GLOB pattern.value);

CREATE TABLE IF NOT EXISTS dispatcher_staging (
    staging INTEGER NOT NULL
);

DROP TRIGGER IF EXISTS events_fan_out;
CREATE TRIGGER IF NOT EXISTS events_fan_out AFTER INSERT ON events
WHEN NOT EXISTS (SELECT 1 FROM dispatcher_staging)
BEGIN
    SELECT RAISE(ABORT, 'payload over 1 MiB') WHERE length(CAST(NEW.payload AS BLOB)) > 1048576;
    INSERT INTO pending (endpoint_id, event_id)
    SELECT endpoint_id, event_id FROM event_routes WHERE event_id = NEW.id;
END;

UPDATE dispatcher_schema SET version = 9;
