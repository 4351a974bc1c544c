"""``bgcheck db``: the schema, through the Alembic migrations shipped in the package."""

from __future__ import annotations

from typing import Annotated

import typer

from bgcheck.cli.common import database
from bgcheck.platform import migrate

app = typer.Typer(help="Database schema (Alembic migrations shipped in the package).")


@app.command(
    "upgrade",
    epilog="Example: BGCHECK_DATABASE_URL=postgresql+psycopg://app@db/bgcheck bgcheck db upgrade",
)
def upgrade(revision: Annotated[str, typer.Argument(help="Target revision.")] = "head") -> None:
    """Apply the migrations up to REVISION (default: the newest)."""
    with database(prepare=False) as engine:
        migrate.upgrade(engine, revision)
        typer.echo(f"database at revision {migrate.current(engine)}")


@app.command("current", epilog="Example: bgcheck db current")
def current() -> None:
    """Print the revision the database is at."""
    with database(prepare=False) as engine:
        typer.echo(migrate.current(engine) or "empty (no migration applied)")


@app.command("revision", epilog='Example: bgcheck db revision -m "add invitations"')
def revision(
    message: Annotated[str, typer.Option("--message", "-m", help="What the revision does.")],
) -> None:
    """Autogenerate a migration from the models (developers; the database must be current)."""
    with database(prepare=False) as engine:
        migrate.revision(engine, message)
