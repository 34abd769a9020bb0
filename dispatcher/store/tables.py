"""The tables every backend's schema creates for the dispatcher's data, besides its own bookkeeping."""

DATA_TABLES = (
    "config",
    "endpoints",
    "events",
    "batches",
    "pending",
    "deliveries",
    "attempts",
    "api_keys",
    "web_sessions",
    "idempotency_keys",
)
