"""The case: its service (every transition), the caller's view of it, its effects, links,
notices, timers, reports, search, idempotent writes and the one scope query."""
