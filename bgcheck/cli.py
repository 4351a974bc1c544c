"""The ``bgcheck`` command line (Typer). Every command's ``--help`` ends with an example."""

from __future__ import annotations

import sys
import threading
from typing import Annotated, NoReturn

import typer
from sqlalchemy import Engine
from sqlmodel import select

from bgcheck import audit, demo, migrate
from bgcheck import worker as background
from bgcheck.db import make_engine, session_scope
from bgcheck.errors import BgcheckError
from bgcheck.logs import configure_logging
from bgcheck.models import User
from bgcheck.services import users as user_service
from bgcheck.settings import Settings, SettingsError, get_settings
from workflow.states import Role

app = typer.Typer(
    help="bgcheck: employee background checks. Settings come from BGCHECK_* variables.",
    no_args_is_help=True,
    add_completion=False,
)
db_app = typer.Typer(help="Database schema (Alembic migrations shipped in the package).")
users_app = typer.Typer(help="Staff accounts.")
app.add_typer(db_app, name="db", no_args_is_help=True)
app.add_typer(users_app, name="users", no_args_is_help=True)

CLI_ACTOR = audit.AuditActor("system", "cli")


def fail(message: str, code: int = 2) -> NoReturn:
    typer.echo(f"bgcheck: {message}", err=True)
    raise typer.Exit(code)


def settings() -> Settings:
    try:
        return get_settings()
    except SettingsError as exc:
        fail(str(exc))


def engine_for(config: Settings) -> Engine:
    configure_logging(config.log_level, config.log_format)
    return make_engine(config)


def prepare_database(config: Settings, engine: Engine) -> None:
    """Embedded mode migrates by itself; production refuses to run on an old schema."""
    if config.is_sqlite:
        migrate.upgrade(engine)
    elif migrate.current(engine) != migrate.head():
        fail("the database schema is not current: run `bgcheck db upgrade` first")


@app.command(epilog="Example: BGCHECK_DATA_DIR=./var bgcheck serve --port 8000")
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    reload: Annotated[bool, typer.Option(help="Restart on code changes (development).")] = False,
) -> None:
    """Serve the HTTP API. On SQLite (embedded mode) the migrations are applied first."""
    import uvicorn

    config = settings()
    engine = engine_for(config)
    try:
        prepare_database(config, engine)
    finally:
        engine.dispose()
    # The API is named by import string, as a process manager would name it, so the
    # core package never imports the HTTP layer.
    uvicorn.run(
        "api.app:create_app",
        factory=True,
        host=host,
        port=port,
        reload=reload,
        access_log=False,
        log_config=None,
        proxy_headers=False,
    )


@app.command(
    epilog="Example: BGCHECK_DATABASE_URL=postgresql+psycopg://bgcheck@db/bgcheck bgcheck worker"
)
def worker(
    tick: Annotated[float, typer.Option(help="Seconds between looks for due jobs.")] = 1.0,
) -> None:
    """Run the background jobs until SIGTERM or Ctrl-C (production: one or more workers)."""
    config = settings()
    engine = engine_for(config)
    prepare_database(config, engine)
    stop = threading.Event()
    background.stop_on_signals(stop)
    try:
        background.run(engine, stop, tick_seconds=tick)
    finally:
        engine.dispose()


@db_app.command(
    "upgrade",
    epilog="Example: BGCHECK_DATABASE_URL=postgresql+psycopg://app@db/bgcheck bgcheck db upgrade",
)
def db_upgrade(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
) -> None:
    """Apply the migrations up to REVISION (default: the newest)."""
    engine = engine_for(settings())
    try:
        migrate.upgrade(engine, revision)
        typer.echo(f"database at revision {migrate.current(engine)}")
    finally:
        engine.dispose()


@db_app.command("current", epilog="Example: bgcheck db current")
def db_current() -> None:
    """Print the revision the database is at."""
    engine = engine_for(settings())
    try:
        typer.echo(migrate.current(engine) or "empty (no migration applied)")
    finally:
        engine.dispose()


@db_app.command("revision", epilog='Example: bgcheck db revision -m "add invitations"')
def db_revision(
    message: Annotated[str, typer.Option("--message", "-m", help="What the revision does.")],
) -> None:
    """Autogenerate a migration from the models (developers; the database must be current)."""
    engine = engine_for(settings())
    try:
        migrate.revision(engine, message)
    finally:
        engine.dispose()


@users_app.command(
    "create",
    epilog="Example: printf '%s' \"$PW\" | bgcheck users create --email ana@example.edu "
    "--role hr --department FAC --password-stdin",
)
def users_create(
    email: Annotated[str, typer.Option(help="Login email (unique, case-insensitive).")],
    role: Annotated[list[Role], typer.Option(help="A role; repeat for several.")],
    department: Annotated[
        list[str] | None, typer.Option(help="A department code (needed for hr); repeatable.")
    ] = None,
    display_name: Annotated[str, typer.Option(help="Name shown in the app.")] = "",
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
) -> None:
    """Create a staff account. Without --password-stdin the user can sign in by SSO only."""
    password = sys.stdin.read().rstrip("\r\n") if password_stdin else None
    engine = engine_for(settings())
    try:
        with session_scope(engine) as session:
            user = user_service.create_user(
                session,
                CLI_ACTOR,
                email=email,
                display_name=display_name,
                roles=role,
                department_codes=department or (),
                password=password,
            )
        typer.echo(f"created user {user.id} ({', '.join(sorted(role))})")
    except BgcheckError as exc:
        fail(exc.public_detail)
    finally:
        engine.dispose()


@users_app.command("list", epilog="Example: bgcheck users list")
def users_list() -> None:
    """List staff accounts: id, email, active."""
    engine = engine_for(settings())
    try:
        with session_scope(engine, read_only=True) as session:
            for user in session.exec(select(User).order_by(User.email)):
                state = "active" if user.is_active else "disabled"
                typer.echo(f"{user.id}  {user.email}  {state}")
    finally:
        engine.dispose()


@app.command("demo", epilog="Example: bgcheck demo")
def demo_command(
    allow_non_embedded: Annotated[
        bool, typer.Option(help="Seed a non-SQLite database too (never in production).")
    ] = False,
) -> None:
    """Seed demo departments and one user per role (known passwords!), then say how to log in."""
    config = settings()
    if not config.is_sqlite and not allow_non_embedded:
        fail("demo users have published passwords: refusing on a non-embedded database")
    engine = engine_for(config)
    try:
        migrate.upgrade(engine)
        with session_scope(engine) as session:
            created = demo.seed(session, CLI_ACTOR)
        typer.echo(demo.instructions(created, config))
    finally:
        engine.dispose()


def main() -> None:
    app()
