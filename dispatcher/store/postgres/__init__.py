"""The store on PostgreSQL: tables in a schema of their own (default ``dispatcher``), claims with
FOR UPDATE SKIP LOCKED, runs woken by LISTEN/NOTIFY; its schema is schema.sql in this folder."""
