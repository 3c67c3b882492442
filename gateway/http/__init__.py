"""Cross-cutting HTTP pieces: request ids, auth, pagination, idempotency, rate limits, logs."""
