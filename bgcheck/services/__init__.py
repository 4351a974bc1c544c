"""Domain services: they change state, record audit events, and never commit."""
