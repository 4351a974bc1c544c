"""``bgcheck serve``, ``bgcheck worker`` and ``bgcheck demo``: running the service."""

from __future__ import annotations

import enum
import threading
from typing import Annotated

import typer

from bgcheck import demo as demo_data
from bgcheck import jobs
from bgcheck.cases.context import CaseContext
from bgcheck.cli.common import CLI_ACTOR, database, fail, settings
from bgcheck.identity import mfa
from bgcheck.models import utcnow
from bgcheck.platform import worker as background
from bgcheck.platform.db import session_scope
from bgcheck.platform.settings import SettingsError
from bgcheck.vault.store import Vault


def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    reload: Annotated[bool, typer.Option(help="Restart on code changes (development).")] = False,
) -> None:
    """Serve the HTTP API. On SQLite (embedded mode) the migrations are applied first."""
    import uvicorn

    with database():
        pass  # migrated (SQLite) or checked to be current (PostgreSQL)
    limit = settings().max_concurrent_requests
    # The API is named by import string, as a process manager would name it, so the
    # core package never imports the HTTP layer.
    uvicorn.run(
        "api.app:serve_app",
        factory=True,
        host=host,
        port=port,
        reload=reload,
        access_log=False,
        log_config=None,
        # Else uvicorn applies X-Forwarded-For/-Proto from its own trust list (127.0.0.1
        # and ::1 by default, or $FORWARDED_ALLOW_IPS): any local caller could choose its
        # address. The app applies BGCHECK_FORWARDED_ALLOW_IPS itself (api/app.py).
        proxy_headers=False,
        # More at once get 503 at once; the app has a thread for each (api/app.py).
        limit_concurrency=limit,
    )


def worker(
    tick: Annotated[float, typer.Option(help="Seconds between looks for due jobs.")] = 1.0,
) -> None:
    """Run the background jobs until SIGTERM or Ctrl-C (production: one or more workers)."""
    with database() as engine:
        stop = threading.Event()
        background.stop_on_signals(stop)
        background.run(engine, stop, jobs.PERIODIC, tick_seconds=tick)


class DemoAction(enum.StrEnum):
    CODE = "code"


def demo(
    action: Annotated[
        DemoAction | None,
        typer.Argument(
            help="`code`: print the 6-digit code the demo accounts' authenticator shows now."
        ),
    ] = None,
    allow_non_embedded: Annotated[
        bool, typer.Option(help="Seed a non-SQLite database too (never in production).")
    ] = False,
) -> None:
    """Seed demo departments, one user per role (known passwords and second factor!) and a
    dozen cases. `bgcheck demo code` prints the code to sign in with."""
    if action is DemoAction.CODE:
        code, left = demo_data.current_code(utcnow())
        typer.echo(f"{code}  (the demo accounts' code; a new one in {left} s)")
        return
    config = settings()
    if not config.is_sqlite and not allow_non_embedded:
        fail("demo users have published passwords: refusing on a non-embedded database")
    try:
        vault = Vault.from_settings(config)
        context = CaseContext.from_settings(config, vault)
    except SettingsError as exc:
        fail(str(exc))
    with database(config) as engine, session_scope(engine) as session:
        box = mfa.SecretBox.for_keyring(vault.keyring)
        created = demo_data.seed(session, CLI_ACTOR, box, utcnow())
        cases = demo_data.seed_cases(session, context, utcnow())
    typer.echo(demo_data.instructions(created, config))
    if cases:
        typer.echo(f"Seeded {cases} demo cases in the Facilities department.")
