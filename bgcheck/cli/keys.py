"""``bgcheck keys``: create the keyring, show which KEK wraps what, rotate, re-wrap.

Key material is printed only where it is the point of the command (``init`` without
``--file``, ``rotate --print``), always to stdout, with logs and messages on stderr so the
JSON can be piped straight into a secret store. See docs/vault.md, "Operations".
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, redirect_stdout
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from sqlalchemy import Engine

from bgcheck.audit.verification import counted
from bgcheck.cli.common import CLI_ACTOR, database, fail, settings
from bgcheck.crypto import Keyring, KeyringError, rotate_keyring_file
from bgcheck.crypto.loading import keyring_path, load_keyring
from bgcheck.platform.db import session_scope
from bgcheck.platform.settings import Settings, SettingsError
from bgcheck.vault import rotation as key_service

app = typer.Typer(help="The PII keyring: create, inspect, rotate; re-wrap case keys.")

BatchSize = Annotated[
    int,
    typer.Option(min=1, max=100_000, help="Case keys re-wrapped per transaction."),
]
SHOWN_FAILURES = 20


@app.command("init", epilog="Example: bgcheck keys init --file /etc/bgcheck/keyring.json")
def init(
    file: Annotated[
        Path | None,
        typer.Option(
            "--file", help="Write it here (mode 0600) instead of standard output.", dir_okay=False
        ),
    ] = None,
) -> None:
    """Create a new keyring: printed as JSON (for BGCHECK_KEYRING) or written to --file.

    An existing file is never overwritten. Back the keyring up apart from the database.
    """
    keyring = Keyring.generate()
    if file is None:
        typer.echo(keyring.to_json(), nl=False)
        typer.echo(
            "bgcheck: this JSON holds every key; put it in your secret store and back it up "
            "apart from the database",
            err=True,
        )
        return
    try:
        keyring.save(file)
    except KeyringError as exc:
        fail(str(exc))
    typer.echo(f"wrote a new keyring to {file} (mode 0600), active KEK {keyring.active_kek_id}")
    typer.echo(
        f"bgcheck: back it up apart from the database; set BGCHECK_KEYRING_FILE={file}", err=True
    )


@app.command("status", epilog="Example: bgcheck keys status")
def status() -> None:
    """The active KEK, and every KEK with how many case keys it wraps (no key material).

    Exit code 1 when some case keys are wrapped by a KEK the keyring does not have.
    """
    config = settings()
    keyring = _keyring(config)
    with _database(config) as engine, session_scope(engine, read_only=True) as session:
        report = key_service.kek_usage(session, keyring)
    typer.echo(f"keyring: {_source(config)}")
    typer.echo(f"active KEK: {report.active_kek_id}")
    typer.echo(f"{'KEK':<28} {'created':<10} {'case keys':>9}")
    for usage in report.keks:
        created = usage.created_at.date().isoformat() if usage.created_at else "-"
        mark = " (active)" if usage.active else "" if usage.in_keyring else " NOT IN KEYRING"
        typer.echo(f"{usage.kek_id:<28} {created:<10} {usage.case_keys:>9}{mark}")
    if report.pending:
        typer.echo(
            f"{counted(report.pending, 'case key')} under an older KEK: "
            "run `bgcheck keys rewrap` to finish the rotation"
        )
    if report.unopenable:
        typer.echo(
            f"bgcheck: {counted(report.unopenable, 'case key')} wrapped by a KEK missing from "
            "this keyring: those cases cannot be read; restore the KEK from the keyring backup",
            err=True,
        )
        raise typer.Exit(1)


@app.command(
    "rotate",
    epilog="Example: BGCHECK_KEYRING_FILE=/etc/bgcheck/keyring.json bgcheck keys rotate",
)
def rotate(
    print_: Annotated[
        bool,
        typer.Option(
            "--print",
            help="With BGCHECK_KEYRING: print the rotated keyring instead (nothing re-wrapped).",
        ),
    ] = False,
    rewrap: Annotated[
        bool,
        typer.Option(
            "--rewrap/--no-rewrap",
            help="Re-wrap every case key now (default), or later with `bgcheck keys rewrap`.",
        ),
    ] = True,
    batch_size: BatchSize = key_service.DEFAULT_BATCH_SIZE,
) -> None:
    """Make a new KEK active in the keyring file, then re-wrap every case's data key.

    Online: old KEKs stay in the keyring, so reads keep working. If it stops half-way,
    `bgcheck keys rewrap` continues where it stopped.
    """
    config = settings()
    previous = _keyring(config)
    path = keyring_path(config)
    if config.keyring is not None and not print_:
        fail(
            "the keyring comes from BGCHECK_KEYRING, which this command cannot change: run "
            "`bgcheck keys rotate --print`, store the printed JSON as BGCHECK_KEYRING for every "
            "process, restart them, then run `bgcheck keys rewrap`"
        )
    if print_ and config.keyring is None:
        fail(f"--print is for a keyring in BGCHECK_KEYRING; this one is the file {path}")
    with _database(config) as engine:
        if print_:
            rotated = previous.rotate()
            where = "printed"
        else:
            assert path is not None  # load_keyring succeeded without BGCHECK_KEYRING
            try:
                rotated = rotate_keyring_file(path)
            except KeyringError as exc:
                fail(str(exc))
            where = "file"
        with session_scope(engine) as session:
            key_service.record_rotation(
                session, CLI_ACTOR, previous=previous, rotated=rotated, where=where
            )
        if print_:
            typer.echo(rotated.to_json(), nl=False)
            typer.echo(
                f"bgcheck: new active KEK {rotated.active_kek_id}; store this JSON as "
                "BGCHECK_KEYRING for every process, restart them, then run "
                "`bgcheck keys rewrap`. Back it up again: old backups cannot open re-wrapped keys.",
                err=True,
            )
            return
        typer.echo(
            f"new active KEK {rotated.active_kek_id} in {path} "
            f"(previous {previous.active_kek_id}); back the keyring up again"
        )
        if rewrap:
            _rewrap(engine, rotated, batch_size)
        else:
            typer.echo("case keys not re-wrapped yet: run `bgcheck keys rewrap`")


@app.command("rewrap", epilog="Example: bgcheck keys rewrap --batch-size 500")
def rewrap_command(batch_size: BatchSize = key_service.DEFAULT_BATCH_SIZE) -> None:
    """Re-wrap the case keys not yet under the active KEK (resumes a stopped rotation).

    Exit code 1 when some keys could not be re-wrapped (their KEK is missing).
    """
    config = settings()
    keyring = _keyring(config)
    with _database(config) as engine:
        _rewrap(engine, keyring, batch_size)


def _rewrap(engine: Engine, keyring: Keyring, batch_size: int) -> None:
    console = Console(stderr=True)
    columns = (
        TextColumn("re-wrapping"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("rewrap", total=None)
        try:
            report = key_service.rewrap_all(
                engine,
                keyring,
                CLI_ACTOR,
                batch_size=batch_size,
                on_start=lambda total: progress.update(task, total=total),
                on_batch=lambda batch: progress.advance(task, batch.rewrapped + len(batch.failed)),
            )
        except KeyboardInterrupt:
            progress.stop()
            fail("interrupted; run `bgcheck keys rewrap` to continue where it stopped", code=130)
    batches = f"{report.batches} {'batch' if report.batches == 1 else 'batches'}"
    typer.echo(
        f"re-wrapped {counted(report.rewrapped, 'case key')} under {report.kek_id} in {batches}"
    )
    stale = report.remaining - len(report.failed)
    if stale > 0:
        typer.echo(
            f"{counted(stale, 'case key')} written under an older KEK meanwhile, by a process "
            "that had not loaded the new keyring yet: run `bgcheck keys rewrap` again later"
        )
    if report.failed:
        shown = ", ".join(str(case_id) for case_id in report.failed[:SHOWN_FAILURES])
        extra = len(report.failed) - SHOWN_FAILURES
        more = f" and {extra} more" if extra > 0 else ""
        fail(
            f"{counted(len(report.failed), 'case key')} did not open and stayed as they were "
            f"(cases {shown}{more}); `bgcheck keys status` names the missing KEKs",
            code=1,
        )


def _keyring(config: Settings) -> Keyring:
    try:
        return load_keyring(config)
    except SettingsError as exc:
        fail(str(exc))


def _source(config: Settings) -> str:
    if config.keyring is not None:
        return "BGCHECK_KEYRING"
    return f"file {keyring_path(config)}"


@contextmanager
def _database(config: Settings) -> Iterator[Engine]:
    """``database()`` with its logs on stderr: stdout may carry the keyring JSON.

    ``configure_logging`` binds its handler to whatever ``sys.stdout`` is when it runs.
    """
    with ExitStack() as stack:
        with redirect_stdout(sys.stderr):
            engine = stack.enter_context(database(config))
        yield engine
