"""The case: its service (every transition), the caller's view of it, its effects, links,
notices, timers, reports, search, idempotent writes, the portal's read side and the one
scope query (``queries.visible_cases``)."""
