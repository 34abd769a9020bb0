-- Version 1 to 2: per-endpoint wire contract (body format, signature scheme,
-- fixed headers, what counts as success), secret rotation, test sends.
-- Column for column what schema.sql declares.

ALTER TABLE endpoints ADD COLUMN body_format TEXT NOT NULL DEFAULT 'batch'
    CHECK (body_format IN ('batch', 'mautic', 'raw'));
ALTER TABLE endpoints ADD COLUMN signature_scheme TEXT NOT NULL DEFAULT 'mautic'
    CHECK (signature_scheme IN ('mautic', 'hex', 'timestamped', 'standard'));
ALTER TABLE endpoints ADD COLUMN signature_header TEXT;
ALTER TABLE endpoints ADD COLUMN signature_prefix TEXT NOT NULL DEFAULT '';
ALTER TABLE endpoints ADD COLUMN headers TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(headers));
ALTER TABLE endpoints ADD COLUMN success TEXT NOT NULL DEFAULT '2xx' CHECK (success IN ('2xx', '200'));
ALTER TABLE endpoints ADD COLUMN retired_secrets TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(retired_secrets));

ALTER TABLE attempts ADD COLUMN test INTEGER NOT NULL DEFAULT 0 CHECK (test IN (0, 1));

UPDATE dispatcher_schema SET version = 2;
