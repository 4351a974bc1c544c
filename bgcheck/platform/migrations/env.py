"""Alembic environment: run by ``bgcheck db upgrade`` (and by ``serve`` in embedded mode).

Batch mode lets SQLite alter tables (it copies them); the metadata's naming convention
gives every constraint a name so that batch mode and PostgreSQL can both drop it.
"""

from __future__ import annotations

from typing import Literal

from alembic import context
from sqlalchemy import Connection, Engine
from sqlmodel import SQLModel

import bgcheck.models  # noqa: F401  (registers every table on the metadata)
from bgcheck.models.base import UTCDateTime
from bgcheck.platform.db import make_engine
from bgcheck.platform.settings import get_settings

target_metadata = SQLModel.metadata


def render_item(type_: str, obj: object, autogen_context: object) -> str | Literal[False]:
    """Render our column types as plain SQLAlchemy ones: migrations must not import models."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        render_item=render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


def main() -> None:
    if context.is_offline_mode():
        raise SystemExit("bgcheck migrations run online only: use `bgcheck db upgrade`")
    given = context.config.attributes.get("connection")
    if isinstance(given, Connection):
        run(given)
        return
    if isinstance(given, Engine):  # pytest-alembic hands over an engine
        with given.connect() as connection:
            run(connection)
            connection.commit()
        return
    url = context.config.get_main_option("sqlalchemy.url") or None
    engine = make_engine(get_settings(), url=url)
    try:
        with engine.connect() as connection:
            run(connection)
    finally:
        engine.dispose()


main()
