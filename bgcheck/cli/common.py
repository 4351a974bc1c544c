"""What every command shares: settings, the engine, and one-line failures."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import typer
from sqlalchemy import Engine

from bgcheck import audit
from bgcheck.platform import migrate
from bgcheck.platform.db import make_engine
from bgcheck.platform.logs import configure_logging
from bgcheck.platform.settings import Settings, SettingsError, get_settings

CLI_ACTOR = audit.AuditActor("system", "cli")


def fail(message: str, code: int = 2) -> NoReturn:
    typer.echo(f"bgcheck: {message}", err=True)
    raise typer.Exit(code)


def settings() -> Settings:
    try:
        return get_settings()
    except SettingsError as exc:
        fail(str(exc))


@contextmanager
def database(config: Settings | None = None, *, prepare: bool = True) -> Iterator[Engine]:
    """An engine for the configured database, disposed when the command ends.

    ``prepare``: on SQLite, migrate first; on PostgreSQL, refuse an old schema.
    """
    config = config or settings()
    configure_logging(config.log_level, config.log_format)
    engine = make_engine(config)
    try:
        if prepare:
            prepare_database(config, engine)
        yield engine
    finally:
        engine.dispose()


def prepare_database(config: Settings, engine: Engine) -> None:
    """Embedded mode migrates by itself; production refuses to run on an old schema."""
    if config.is_sqlite:
        migrate.upgrade(engine)
    elif migrate.current(engine) != migrate.head():
        fail("the database schema is not current: run `bgcheck db upgrade` first")
