"""Stepping around the audit tables' append-only triggers, as only the table owner (or a
superuser) could: for tests that prove verification catches tampering."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from sqlmodel import Session


@contextmanager
def bypassing_triggers(session: Session) -> Iterator[None]:
    """Switch the append-only triggers off inside the session's current transaction.

    PostgreSQL: ``session_replication_role = replica`` (the test role is a superuser)
    skips ordinary triggers until the transaction ends. SQLite: the triggers are dropped
    and created again from their stored SQL; DDL is transactional there.
    """
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("SET LOCAL session_replication_role = replica")
        yield
        connection.exec_driver_sql("SET LOCAL session_replication_role = origin")
        return
    triggers = connection.execute(
        sa.text(
            "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' "
            "AND tbl_name IN ('audit_events', 'audit_checkpoints')"
        )
    ).all()
    assert triggers, "the append-only triggers are missing"
    for name, _ in triggers:
        connection.exec_driver_sql(f'DROP TRIGGER "{name}"')
    yield
    for _, sql in triggers:
        connection.exec_driver_sql(sql)
