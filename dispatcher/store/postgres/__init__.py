"""The PostgreSQL store, for several dispatcher hosts draining one queue: its schema and connections."""
