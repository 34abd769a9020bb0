"""The store on SQLite: one file, WAL, writers queued on a lock file; its schema is dispatcher/schema.sql."""
