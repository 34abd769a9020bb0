-- Version 5 to 6: each attempt keeps its request and response besides the body excerpt, for
-- `dispatcher attempts show`. NULL in attempts made before: "not recorded".

ALTER TABLE attempts ADD COLUMN body_format TEXT;
ALTER TABLE attempts ADD COLUMN signature_scheme TEXT;
ALTER TABLE attempts ADD COLUMN request_line TEXT;
ALTER TABLE attempts ADD COLUMN request_headers TEXT;
ALTER TABLE attempts ADD COLUMN body_sha256 TEXT;
ALTER TABLE attempts ADD COLUMN response_headers TEXT;
ALTER TABLE attempts ADD COLUMN response_headers_cut INTEGER;

UPDATE dispatcher_schema SET version = 6;
