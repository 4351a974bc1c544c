"""``bgcheck audit``: export, verify and sign the audit trail; hand auditors the public key;
export the CORI dissemination log.

``verify`` exits 0 when the chain and every checkpoint hold, 1 when something is broken
(the line names the first bad sequence number), 2 on a usage error, and 3 for an export
file that cannot be verified: a filtered one, or one no checkpoint signs (docs/audit.md).
"""

from __future__ import annotations

import os
import sys
import tempfile
import uuid
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager, redirect_stdout, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Literal, TextIO

import typer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import Engine

from bgcheck import audit
from bgcheck.audit import archive, checkpoints, dissemination, signatures
from bgcheck.audit import export as exports
from bgcheck.audit.dissemination_queries import DisseminationFilter
from bgcheck.audit.offline import verify_export
from bgcheck.audit.verification import counted, describe
from bgcheck.cli.common import CLI_ACTOR, database, fail, settings
from bgcheck.crypto import Keyring
from bgcheck.crypto.loading import load_keyring
from bgcheck.models import utcnow
from bgcheck.platform.db import session_scope
from bgcheck.platform.errors import BgcheckError
from bgcheck.platform.logs import configure_logging
from bgcheck.platform.settings import Settings, SettingsError

app = typer.Typer(help="The tamper-evident audit trail: export, verify, sign.")

PublicKeyFiles = Annotated[
    list[Path] | None,
    typer.Option(
        "--public-key",
        help="PEM public key (from `bgcheck audit public-key`); repeat for several. "
        "Default: the keyring's.",
        exists=True,
        dir_okay=False,
    ),
]


@app.command(
    "verify",
    epilog="Example: bgcheck audit verify --file audit.jsonl --public-key audit-key.pem",
)
def verify(
    file: Annotated[
        Path | None,
        typer.Option(
            "--file", help="Verify this JSONL export offline (no database).", dir_okay=False
        ),
    ] = None,
    public_key: PublicKeyFiles = None,
) -> None:
    """Recompute the chain and check every checkpoint signature; print one line.

    Without --file, the database's chain is verified. Exit code: 0 ok, 1 broken,
    3 an export that cannot be verified (filtered, or signed by no checkpoint).
    """
    if file is not None:
        if not public_key:
            fail("--file needs --public-key: offline verification uses no keyring")
        keys = _read_public_keys(public_key)
        try:
            with file.open(encoding="utf-8") as lines:
                report = verify_export(lines, public_keys=keys)
        except (OSError, UnicodeDecodeError) as exc:
            fail(f"cannot read {file}: {exc}")
        typer.echo(report.summary)
        raise typer.Exit(report.exit_code)
    config = settings()
    keys = _read_public_keys(public_key) if public_key else [_keyring_public_key()]
    with _database(config) as engine, session_scope(engine, read_only=True) as session:
        chain = audit.verify(session, public_keys=keys)
    typer.echo(describe(chain))
    raise typer.Exit(0 if chain.ok else 1)


@app.command(
    "export",
    epilog="Example: bgcheck audit export --format csv --since 2026-01-01 --output jan.csv",
)
def export(
    format: Annotated[
        Literal["csv", "jsonl"], typer.Option("--format", help="csv or jsonl.")
    ] = "jsonl",
    since: Annotated[
        str | None, typer.Option(help="From this ISO-8601 time (inclusive; no zone: UTC).")
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="Before this ISO-8601 time (exclusive; no zone: UTC).")
    ] = None,
    case: Annotated[str | None, typer.Option(help="Only events about this case id.")] = None,
    actor: Annotated[str | None, typer.Option(help="Only events by this actor id.")] = None,
    type: Annotated[
        str | None, typer.Option("--type", help="Only this event type (e.g. case.clear).")
    ] = None,
    output: Annotated[
        Path | None, typer.Option(help="Write here (mode 0600) instead of standard output.")
    ] = None,
) -> None:
    """Stream the audit trail as CSV or JSON Lines; the export is itself audited.

    --case, --actor and --type make a filtered export, which cannot be verified as a
    chain; --since/--until alone keep it verifiable.
    """
    try:
        filters = exports.ExportFilters(
            since=_moment(since, "--since"),
            until=_moment(until, "--until"),
            case_id=case,
            actor=actor,
            type=type,
        )
    except BgcheckError as exc:
        fail(exc.public_detail)
    stats = exports.ExportStats()
    with _database(settings()) as engine:
        try:
            # The file takes its name only after the transaction (and its audit event)
            # committed: session_scope is left first.
            with _destination(output) as handle, session_scope(engine) as session:
                chunks = exports.export(
                    session, CLI_ACTOR, fmt=format, filters=filters, stats=stats
                )
                handle.writelines(chunks)
        except (BgcheckError, audit.AuditDataError) as exc:
            fail(getattr(exc, "public_detail", str(exc)))
        except OSError as exc:
            fail(f"cannot write {output}: {exc.strerror or exc}")
    where = f" to {output}" if output else ""
    typer.echo(
        f"exported {counted(stats.events, 'event')} and "
        f"{counted(stats.checkpoints, 'checkpoint')}{where}",
        err=True,
    )


@app.command(
    "dissemination",
    epilog="Example: bgcheck audit dissemination --format csv --since 2026-01-01 --output cori.csv",
)
def dissemination_log(
    format: Annotated[
        Literal["csv", "jsonl"], typer.Option("--format", help="csv or jsonl.")
    ] = "jsonl",
    since: Annotated[
        str | None, typer.Option(help="From this ISO-8601 time (inclusive; no zone: UTC).")
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="Before this ISO-8601 time (exclusive; no zone: UTC).")
    ] = None,
    case: Annotated[
        str | None, typer.Option(help="Only releases of this case's record (case id).")
    ] = None,
    output: Annotated[
        Path | None, typer.Option(help="Write here (mode 0600) instead of standard output.")
    ] = None,
) -> None:
    """Stream the CORI secondary dissemination log; the export is itself audited.

    One row per release of criminal-record information: when, whose record (case id),
    what, to whom, their relationship, why, and who released it. No PII.
    """
    try:
        case_id = uuid.UUID(case) if case is not None else None
    except ValueError:
        fail("--case must be a case id (a UUID)")
    try:
        filters = DisseminationFilter(
            since=_moment(since, "--since"), until=_moment(until, "--until"), case_id=case_id
        )
    except BgcheckError as exc:
        fail(exc.public_detail)
    stats = dissemination.ExportedEntries()
    with _database(settings()) as engine:
        try:
            with _destination(output) as handle, session_scope(engine) as session:
                handle.writelines(
                    dissemination.export(
                        session, CLI_ACTOR, fmt=format, filters=filters, stats=stats
                    )
                )
        except BgcheckError as exc:
            fail(exc.public_detail)
        except OSError as exc:
            fail(f"cannot write {output}: {exc.strerror or exc}")
    where = f" to {output}" if output else ""
    noun = "entry" if stats.entries == 1 else "entries"
    typer.echo(f"exported {stats.entries} dissemination log {noun}{where}", err=True)


@app.command("public-key", epilog="Example: bgcheck audit public-key > audit-key.pem")
def public_key() -> None:
    """Print the audit signing key's public half (PEM) for auditors; its id goes to stderr."""
    _logs_to_stderr(settings())
    key = _keyring_public_key()
    typer.echo(signatures.public_key_pem(key), nl=False)
    typer.echo(f"key id {signatures.key_id(key)}", err=True)


@app.command("checkpoint", epilog="Example: bgcheck audit checkpoint")
def checkpoint() -> None:
    """Sign a checkpoint now (the worker also does it on its own), e.g. before an export."""
    config = settings()
    signing_key = _keyring(config).audit_signing_key()
    with _database(config) as engine:
        try:
            with session_scope(engine) as session:
                made = checkpoints.sign_checkpoint(session, signing_key, utcnow())
                last = made or checkpoints.latest_checkpoint(session)
        except checkpoints.ChainBroken as exc:
            fail(exc.public_detail, code=1)
    if made is not None:
        typer.echo(f"signed a checkpoint at seq {made.seq}")
    else:
        at = f" (seq {last.seq})" if last is not None else ""
        typer.echo(f"nothing new to sign since the last checkpoint{at}")


@app.command(
    "record-archive",
    epilog="Example: bgcheck audit record-archive --through 120000 --file archive-2019.jsonl",
)
def record_archive(
    through: Annotated[int, typer.Option(help="The last seq to archive: a checkpoint's seq.")],
    file: Annotated[
        Path,
        typer.Option(
            "--file", help="The JSONL export that holds those events.", exists=True, dir_okay=False
        ),
    ],
    public_key: PublicKeyFiles = None,
) -> None:
    """Record in the chain that events up to --through are archived in --file.

    The export must verify and hold every stored event up to --through. Run this before
    the table owner's deletion procedure (docs/audit.md), which refuses without it.
    """
    config = settings()
    keys = _read_public_keys(public_key) if public_key else [_keyring_public_key()]
    with _database(config) as engine:
        try:
            with session_scope(engine) as session, file.open(encoding="utf-8", newline="") as lines:
                event = archive.record_archive(
                    session, CLI_ACTOR, through=through, export_lines=lines, public_keys=keys
                )
        except BgcheckError as exc:
            fail(exc.public_detail)
    typer.echo(
        f"recorded the archive of seq {event.data['from']} to {through} "
        f"(sha256 {event.data['export_sha256']}) as event {event.seq}"
    )


@contextmanager
def _database(config: Settings) -> Iterator[Engine]:
    """``database()``, logging to stderr: these commands' stdout carries the data.

    ``configure_logging`` binds its handler to whatever ``sys.stdout`` is when it runs,
    and ``database()`` logs (migrations) as it opens, so stdout is redirected meanwhile.
    """
    with ExitStack() as stack:
        with redirect_stdout(sys.stderr):
            engine = stack.enter_context(database(config))
        yield engine


def _logs_to_stderr(config: Settings) -> None:
    """Logs go to stdout elsewhere; here stdout is a PEM key (see ``_database``)."""
    with redirect_stdout(sys.stderr):
        configure_logging(config.log_level, config.log_format)


def _keyring(config: Settings | None = None) -> Keyring:
    try:
        return load_keyring(config or settings())
    except SettingsError as exc:
        fail(str(exc))


def _keyring_public_key() -> Ed25519PublicKey:
    return _keyring().audit_signing_key().public_key()


def _read_public_keys(paths: Iterable[Path]) -> list[Ed25519PublicKey]:
    keys = []
    for path in paths:
        try:
            keys.append(signatures.load_public_key_pem(path.read_bytes()))
        except (OSError, signatures.PublicKeyError) as exc:
            fail(f"{path}: {exc}")
    return keys


def _moment(text: str | None, option: str) -> datetime | None:
    """ISO-8601 date or time; without a zone it is UTC."""
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        fail(f"{option} must be an ISO-8601 date or time, e.g. 2026-01-31T17:00:00Z")
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


@contextmanager
def _destination(output: Path | None) -> Iterator[TextIO]:
    """Stdout, or a 0600 file that appears under its name only once complete."""
    if output is None:
        yield sys.stdout
        sys.stdout.flush()
        return
    fd, temporary = tempfile.mkstemp(
        dir=output.resolve().parent, prefix=f".{output.name}.", suffix=".part"
    )
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            yield handle
        os.replace(temporary, output)
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
