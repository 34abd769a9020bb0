-- Version 5 to 6: when an endpoint's last error happened, taken for the
-- existing ones from the attempt log (the last failed request that was not a test).

ALTER TABLE endpoints ADD COLUMN last_error_at TEXT;

UPDATE endpoints SET last_error_at = (
    SELECT max(a.started_at) FROM attempts AS a WHERE a.endpoint_id = endpoints.id AND a.ok = 0 AND a.test = 0
) WHERE last_error IS NOT NULL;

UPDATE dispatcher_schema SET version = 6;
