"""``bgcheck audit``, driven as an operator and an auditor would, on both backends."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine
from sqlmodel import Session, col, select
from typer.testing import CliRunner

from bgcheck import audit
from bgcheck.audit import dissemination, signatures
from bgcheck.cli import app
from bgcheck.crypto import Keyring
from bgcheck.models import AuditEvent, utcnow
from bgcheck.platform.db import session_scope
from bgcheck.platform.settings import Settings, get_settings
from workflow import Role

from support.cases import case_context, new_case
from support.factories import make_actor

Tamper = Callable[[Session], AbstractContextManager[None]]
runner = CliRunner()

COMMANDS = [
    ["audit", "verify"],
    ["audit", "export"],
    ["audit", "public-key"],
    ["audit", "checkpoint"],
    ["audit", "record-archive"],
    ["audit", "dissemination"],
]


@pytest.fixture
def keyring(monkeypatch: pytest.MonkeyPatch) -> Keyring:
    keyring = Keyring.generate()
    monkeypatch.setenv("BGCHECK_KEYRING", keyring.to_json())
    return keyring


@pytest.fixture
def cli_engine(
    fresh_engine: Callable[[], Engine],
    keyring: Keyring,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> Iterator[Engine]:
    """A fresh database and keyring that the CLI reaches through BGCHECK_* variables."""
    engine = fresh_engine()
    monkeypatch.setenv("BGCHECK_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("BGCHECK_PUBLIC_URL", "https://bgcheck.example.edu")  # not embedded
    monkeypatch.setenv("BGCHECK_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    yield engine
    get_settings.cache_clear()


def record(engine: Engine, count: int, **fields: object) -> None:
    with session_scope(engine) as session:
        for index in range(count):
            audit.record(
                session,
                audit.AuditActor("user", f"user-{index % 2}"),
                action=str(fields.get("action", "case.viewed")),
                target=audit.Target.of("case", f"case-{index % 3}"),
                data={"n": index},
            )


def invoke(*arguments: str) -> object:
    return runner.invoke(app, list(arguments), catch_exceptions=False)


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_audit_command_has_help_with_an_example(command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0
    assert "Example: bgcheck audit" in result.output


def test_an_auditor_exports_and_verifies_offline(cli_engine: Engine, tmp_path: Path) -> None:
    record(cli_engine, 5)
    signed = runner.invoke(app, ["audit", "checkpoint"])
    assert signed.exit_code == 0, signed.output
    assert signed.stdout == "signed a checkpoint at seq 5\n"
    again = runner.invoke(app, ["audit", "checkpoint"])
    assert "nothing new to sign" in again.stdout
    record(cli_engine, 2)

    key = runner.invoke(app, ["audit", "public-key"])
    assert key.exit_code == 0
    assert key.stdout.startswith("-----BEGIN PUBLIC KEY-----")
    pem = tmp_path / "audit-key.pem"
    pem.write_text(key.stdout)
    assert signatures.key_id(signatures.load_public_key_pem(key.stdout)) in key.stderr

    exported = tmp_path / "audit.jsonl"
    result = runner.invoke(app, ["audit", "export", "--output", str(exported)])
    assert result.exit_code == 0, result.output
    assert "exported 7 events and 1 checkpoint" in result.stderr
    assert exported.stat().st_mode & 0o777 == 0o600

    ok = runner.invoke(app, ["audit", "verify", "--file", str(exported), "--public-key", str(pem)])
    assert ok.exit_code == 0, ok.output
    assert ok.stdout == (
        "ok: 7 events (seq 1 to 7), 1 checkpoint, signatures valid through seq 5; "
        "events 6 to 7 are not signed yet\n"
    )

    lines = exported.read_text().splitlines(keepends=True)
    third = json.loads(lines[3])
    assert third["seq"] == 3
    lines[3] = lines[3].replace('"case.viewed"', '"case.cleared"')
    tampered = tmp_path / "tampered.jsonl"
    tampered.write_text("".join(lines))
    broken = runner.invoke(
        app, ["audit", "verify", "--file", str(tampered), "--public-key", str(pem)]
    )
    assert broken.exit_code == 1
    assert broken.stdout.startswith("broken at seq 3:")


def test_a_filtered_export_verifies_as_not_verifiable(cli_engine: Engine, tmp_path: Path) -> None:
    record(cli_engine, 6)
    invoke("audit", "checkpoint")
    pem = tmp_path / "key.pem"
    pem.write_text(runner.invoke(app, ["audit", "public-key"]).stdout)
    out = tmp_path / "case.jsonl"
    result = runner.invoke(app, ["audit", "export", "--case", "case-1", "--output", str(out)])
    assert result.exit_code == 0, result.output
    verdict = runner.invoke(app, ["audit", "verify", "--file", str(out), "--public-key", str(pem)])
    assert verdict.exit_code == 3
    assert verdict.stdout.startswith(
        "not verifiable as a chain: a filtered export (case_id=case-1)"
    )


def test_csv_goes_to_standard_output_and_the_export_is_audited(cli_engine: Engine) -> None:
    record(cli_engine, 3, action="=cmd|' /C calc'!A0")
    result = runner.invoke(
        app, ["audit", "export", "--format", "csv", "--type", "=cmd|' /C calc'!A0"]
    )
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout, newline="")))
    assert [row["seq"] for row in rows] == ["1", "2", "3"]
    assert {row["action"] for row in rows} == {"'=cmd|' /C calc'!A0"}
    with session_scope(cli_engine, read_only=True) as session:
        newest = session.exec(select(AuditEvent).order_by(col(AuditEvent.seq).desc())).first()
        assert newest is not None
        assert newest.action == "audit.exported"
        assert (newest.actor_kind, newest.actor_id) == ("system", "cli")
        assert newest.data["format"] == "csv"
        assert newest.data["events"] == 3


def test_online_verify_exits_1_naming_the_first_bad_seq(cli_engine: Engine, tamper: Tamper) -> None:
    record(cli_engine, 4)
    invoke("audit", "checkpoint")
    fine = runner.invoke(app, ["audit", "verify"])
    assert fine.exit_code == 0
    assert (
        fine.stdout
        == "ok: 4 events (seq 1 to 4), 1 checkpoint, every event covered by a valid signature\n"
    )
    with session_scope(cli_engine) as session, tamper(session):
        session.execute(sa.text("UPDATE audit_events SET data = '{}' WHERE seq = 2"))
    broken = runner.invoke(app, ["audit", "verify"])
    assert broken.exit_code == 1
    assert broken.stdout.startswith("broken at seq 2:")


def test_record_archive_then_the_owner_procedure_keeps_the_chain_verifiable(
    cli_engine: Engine, tmp_path: Path, tamper: Tamper
) -> None:
    record(cli_engine, 4)
    invoke("audit", "checkpoint")
    record(cli_engine, 2)
    archived = tmp_path / "archive.jsonl"
    invoke("audit", "export", "--output", str(archived))
    result = runner.invoke(
        app, ["audit", "record-archive", "--through", "4", "--file", str(archived)]
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("recorded the archive of seq 1 to 4")
    with session_scope(cli_engine) as session, tamper(session):
        session.execute(sa.text("DELETE FROM audit_events WHERE seq <= 4"))
    verdict = runner.invoke(app, ["audit", "verify"])
    assert verdict.exit_code == 0, verdict.output
    assert verdict.stdout.startswith("ok: 4 events (seq 5 to 8)")


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["audit", "verify", "--file", "{file}"], "--file needs --public-key"),
        (["audit", "verify", "--file", "{file}", "--public-key", "{file}"], "not a PEM"),
        (["audit", "export", "--since", "last tuesday"], "--since must be an ISO-8601"),
        (["audit", "export", "--case", "123-45-6789"], "looks like an SSN"),
        (["audit", "record-archive", "--through", "9", "--file", "{file}"], "no checkpoint"),
        (["audit", "dissemination", "--case", "case-1"], "--case must be a case id"),
        (["audit", "dissemination", "--until", "soon"], "--until must be an ISO-8601"),
    ],
)
def test_usage_errors_exit_2_with_one_line(
    cli_engine: Engine, tmp_path: Path, arguments: list[str], message: str
) -> None:
    file = tmp_path / "some.jsonl"
    file.write_text("{}\n")
    result = runner.invoke(app, [a.replace("{file}", str(file)) for a in arguments])
    assert result.exit_code == 2
    assert result.stdout == ""
    refusals = [line for line in result.stderr.splitlines() if line.startswith("bgcheck: ")]
    assert len(refusals) == 1  # one line (stderr also carries the JSON logs)
    assert message in refusals[0]


def test_a_failed_export_leaves_no_file_behind(cli_engine: Engine, tmp_path: Path) -> None:
    out = tmp_path / "exports" / "case.csv"
    out.parent.mkdir()
    result = runner.invoke(app, ["audit", "export", "--case", "123-45-6789", "--output", str(out)])
    assert result.exit_code == 2
    assert list(out.parent.iterdir()) == []


def test_the_dissemination_log_exports_to_a_file_and_is_audited(
    cli_engine: Engine, tmp_path: Path
) -> None:
    with session_scope(cli_engine) as session:
        hr = make_actor(session, Role.HR)
        case_id = new_case(session, case_context(Settings()), hr, utcnow())
        dissemination.record(
            session,
            audit.AuditActor.user(hr.user_id),
            case_id=case_id,
            recipient="candidate",
            relationship="subject of the record",
            purpose="FCRA pre adverse notice to the candidate",
            what="pre_adverse_notice",
            now=utcnow(),
        )
    out = tmp_path / "cori.csv"
    result = runner.invoke(
        app,
        ["audit", "dissemination", "--format", "csv", "--case", str(case_id), "--output", str(out)],
    )
    assert result.exit_code == 0, result.output
    assert "exported 1 dissemination log entry" in result.stderr
    assert out.stat().st_mode & 0o777 == 0o600
    [row] = list(csv.DictReader(io.StringIO(out.read_text(), newline="")))
    assert (row["case_id"], row["recipient"], row["what"]) == (
        str(case_id),
        "candidate",
        "pre_adverse_notice",
    )
    lines = runner.invoke(app, ["audit", "dissemination", "--since", "2000-01-01"]).stdout
    assert [json.loads(line)["case_id"] for line in lines.splitlines()] == [str(case_id)]
    with session_scope(cli_engine, read_only=True) as session:
        newest = session.exec(select(AuditEvent).order_by(col(AuditEvent.seq).desc())).first()
        assert newest is not None
        assert (newest.action, newest.actor_id) == ("cori.log_exported", "cli")
        assert newest.data["entries"] == 1
