-- Version 4 to 5: where prune's look for events no endpoint needs goes on from.

CREATE TABLE dispatcher_prune (
    events_checked_through INTEGER NOT NULL
);
INSERT INTO dispatcher_prune (events_checked_through) VALUES (0);

UPDATE dispatcher_schema SET version = 5;
