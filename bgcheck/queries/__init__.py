"""Read-only queries: ``get_``/``list_`` functions, no side effects."""
