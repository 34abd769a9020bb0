-- Version 5 to 6.

-- When an endpoint's last error happened, taken for the existing ones from the attempt log
-- (the last failed request that was not a test).
ALTER TABLE endpoints ADD COLUMN last_error_at TEXT;

UPDATE endpoints SET last_error_at = (
    SELECT max(a.started_at) FROM attempts AS a WHERE a.endpoint_id = endpoints.id AND a.ok = 0 AND a.test = 0
) WHERE last_error IS NOT NULL;

-- Each attempt keeps its request and response besides the body excerpt, for
-- `dispatcher attempts show`. NULL in attempts made before: "not recorded".
ALTER TABLE attempts ADD COLUMN body_format TEXT;
ALTER TABLE attempts ADD COLUMN signature_scheme TEXT;
ALTER TABLE attempts ADD COLUMN request_line TEXT;
ALTER TABLE attempts ADD COLUMN request_headers TEXT;
ALTER TABLE attempts ADD COLUMN body_sha256 TEXT;
ALTER TABLE attempts ADD COLUMN response_headers TEXT;
ALTER TABLE attempts ADD COLUMN response_headers_cut INTEGER;

UPDATE dispatcher_schema SET version = 6;
