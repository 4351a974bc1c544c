"""``bgcheck keys``, driven as an operator would, including a rotation killed half-way."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import select
from typer.testing import CliRunner

from bgcheck.cases.service import CaseContext
from bgcheck.cli import app
from bgcheck.crypto import Keyring
from bgcheck.models import AuditEvent, CaseKey, utcnow
from bgcheck.platform.db import session_scope
from bgcheck.platform.settings import get_settings
from bgcheck.vault.store import Vault
from workflow import Role

from support.cases import CASE, case_context, new_case
from support.factories import make_actor

runner = CliRunner()
CASES = 12

# Runs the real command line in a child process that dies (SIGKILL, no cleanup) just
# before it commits its third re-wrap batch: two batches are committed, one is in flight.
KILL_MID_ROTATION = textwrap.dedent(
    """
    import os, signal, sys
    from sqlalchemy import Engine, event

    batches = 0
    touched = False

    @event.listens_for(Engine, "before_cursor_execute")
    def note(conn, cursor, statement, params, context, executemany):
        global touched
        if statement.lstrip().upper().startswith("UPDATE CASE_KEYS"):
            touched = True

    @event.listens_for(Engine, "commit")
    def die_before_third_batch(conn):
        global batches, touched
        if touched:
            batches += 1
            touched = False
            if batches == 3:
                os.kill(os.getpid(), signal.SIGKILL)

    from bgcheck.cli import app
    app(sys.argv[1:])
    """
)


@pytest.fixture
def operator(fresh_engine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Engine]:  # type: ignore[no-untyped-def]
    """A fresh database and a keyring file that the CLI reaches through the environment."""
    engine = fresh_engine()
    keyring_file = tmp_path / "keyring.json"
    Keyring.generate().save(keyring_file)
    monkeypatch.setenv("BGCHECK_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("BGCHECK_PUBLIC_URL", "https://bgcheck.example.edu")  # not embedded
    monkeypatch.setenv("BGCHECK_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("BGCHECK_KEYRING_FILE", str(keyring_file))
    monkeypatch.delenv("BGCHECK_KEYRING", raising=False)
    get_settings.cache_clear()
    yield engine
    get_settings.cache_clear()


def context() -> CaseContext:
    return case_context(get_settings())


def seed(engine: Engine, count: int = CASES) -> list[uuid.UUID]:
    ctx = context()
    with session_scope(engine) as session:
        hr = make_actor(session, Role.HR)
        return [new_case(session, ctx, hr, utcnow()) for _ in range(count)]


def all_readable(engine: Engine, vault: Vault, case_ids: list[uuid.UUID]) -> None:
    with session_scope(engine, read_only=True) as session:
        for case_id in case_ids:
            assert vault.contact(session, case_id).email == CASE["candidate"]["email"]  # type: ignore[index]


def kek_counts(engine: Engine) -> dict[str, int]:
    with session_scope(engine, read_only=True) as session:
        counts: dict[str, int] = {}
        for kek_id in session.exec(select(CaseKey.kek_id)).all():
            counts[kek_id] = counts.get(kek_id, 0) + 1
        return counts


def invoke(*arguments: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(arguments))
    return result.exit_code, result.stdout, result.stderr


def test_init_prints_a_keyring_or_writes_a_0600_file_and_never_overwrites(tmp_path: Path) -> None:
    code, out, err = invoke("keys", "init")
    assert code == 0
    printed = Keyring.from_json(out)
    assert "secret store" in err

    target = tmp_path / "new-keyring.json"
    code, out, _ = invoke("keys", "init", "--file", str(target))
    assert code == 0
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    written = Keyring.load(target)
    assert written.active_kek_id != printed.active_kek_id
    assert written.active_kek_id in out
    assert target.read_text() not in out  # no key material on the terminal

    before = target.read_bytes()
    code, _, err = invoke("keys", "init", "--file", str(target))
    assert code == 2
    assert "already exists" in err
    assert target.read_bytes() == before


def test_status_shows_ids_and_counts_but_no_key_material(operator: Engine) -> None:
    seed(operator, count=3)
    code, out, _ = invoke("keys", "status")
    assert code == 0, out
    keyring = Keyring.load(os.environ["BGCHECK_KEYRING_FILE"])
    assert f"active KEK: {keyring.active_kek_id}" in out
    assert f"{keyring.active_kek_id}" in out
    assert "3 (active)" in " ".join(out.split())
    document = json.loads(keyring.to_json())
    for secret in [k["key"] for k in document["keks"]] + [
        document["blind_index_root_key"],
        document["audit_signing_key"],
    ]:
        assert secret not in out


def test_rotate_then_rewrap_moves_every_case_key_and_is_audited(operator: Engine) -> None:
    case_ids = seed(operator)
    before = Keyring.load(os.environ["BGCHECK_KEYRING_FILE"]).active_kek_id
    code, out, err = invoke("keys", "rotate", "--batch-size", "5")
    assert code == 0, err
    after = Keyring.load(os.environ["BGCHECK_KEYRING_FILE"])
    assert after.active_kek_id != before
    assert f"re-wrapped {CASES} case keys" in out
    assert "3 batches" in out
    assert kek_counts(operator) == {after.active_kek_id: CASES}
    all_readable(operator, Vault(after), case_ids)
    with session_scope(operator, read_only=True) as session:
        actions = session.exec(select(AuditEvent.action, AuditEvent.data)).all()
    rotated = [data for action, data in actions if action == "keys.rotated"]
    assert rotated == [
        {"kek_id": after.active_kek_id, "previous_kek_id": before, "keks": 2, "keyring": "file"}
    ]
    assert [data["rewrapped"] for action, data in actions if action == "keys.rewrapped"] == [CASES]

    code, out, _ = invoke("keys", "rotate", "--no-rewrap")
    assert code == 0
    assert "bgcheck keys rewrap" in out
    newest = Keyring.load(os.environ["BGCHECK_KEYRING_FILE"]).active_kek_id
    code, out, _ = invoke("keys", "status")
    assert f"{CASES} case keys under an older KEK" in out
    code, out, _ = invoke("keys", "rewrap")
    assert code == 0
    assert kek_counts(operator) == {newest: CASES}


def test_a_rotation_killed_half_way_resumes_with_rewrap(operator: Engine, tmp_path: Path) -> None:
    case_ids = seed(operator)
    old = Keyring.load(os.environ["BGCHECK_KEYRING_FILE"])
    script = tmp_path / "kill_mid_rotation.py"
    script.write_text(KILL_MID_ROTATION)
    child = subprocess.run(
        [sys.executable, str(script), "keys", "rotate", "--batch-size", "3"],
        env={**os.environ, "BGCHECK_LOG_LEVEL": "WARNING"},
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert child.returncode == -9, child.stderr.decode()

    rotated = Keyring.load(os.environ["BGCHECK_KEYRING_FILE"])  # the file was rotated first
    assert rotated.active_kek_id != old.active_kek_id
    # Two batches of three committed; the third died with its transaction.
    assert kek_counts(operator) == {rotated.active_kek_id: 6, old.active_kek_id: CASES - 6}
    all_readable(operator, Vault(rotated), case_ids)
    code, out, _ = invoke("keys", "status")
    assert f"{CASES - 6} case keys under an older KEK" in out

    code, out, err = invoke("keys", "rewrap", "--batch-size", "4")
    assert code == 0, err
    assert f"re-wrapped {CASES - 6} case keys" in out
    assert kek_counts(operator) == {rotated.active_kek_id: CASES}
    all_readable(operator, Vault(rotated.retire(old.active_kek_id)), case_ids)
    with session_scope(operator, read_only=True) as session:
        actions = session.exec(select(AuditEvent.action)).all()
    assert actions.count("keys.rotated") == 1
    assert actions.count("keys.rewrapped") == 1  # the killed run recorded none


def test_a_keyring_from_the_environment_is_rotated_by_the_operator(
    operator: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(operator, count=2)
    current = Keyring.load(os.environ["BGCHECK_KEYRING_FILE"])
    monkeypatch.setenv("BGCHECK_KEYRING", current.to_json())
    get_settings.cache_clear()

    code, _, err = invoke("keys", "rotate")
    assert code == 2
    assert "BGCHECK_KEYRING" in err
    assert "--print" in err

    code, out, err = invoke("keys", "rotate", "--print")
    assert code == 0, err
    printed = Keyring.from_json(out)
    assert {kek.id for kek in printed.keks} > {kek.id for kek in current.keks}
    assert "restart" in err
    assert kek_counts(operator) == {current.active_kek_id: 2}  # nothing re-wrapped yet

    monkeypatch.setenv("BGCHECK_KEYRING", printed.to_json())
    get_settings.cache_clear()
    code, out, _ = invoke("keys", "rewrap")
    assert code == 0
    assert kek_counts(operator) == {printed.active_kek_id: 2}


def test_rewrap_reports_keys_it_cannot_open(
    operator: Engine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    seed(operator, count=2)
    stranger = tmp_path / "other-keyring.json"
    Keyring.generate().save(stranger)
    monkeypatch.setenv("BGCHECK_KEYRING_FILE", str(stranger))
    get_settings.cache_clear()
    code, _, err = invoke("keys", "rewrap")
    assert code == 1
    assert "2 case keys did not open" in err
    code, _, err = invoke("keys", "status")
    assert code == 1
    assert "missing" in err


def test_keys_status_on_a_settings_problem_is_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("BGCHECK_KEYRING_FILE", str(tmp_path / "absent.json"))
    monkeypatch.setenv("BGCHECK_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    try:
        code, _, err = invoke("keys", "status")
    finally:
        get_settings.cache_clear()
    assert code == 2
    assert err.strip().count("\n") == 0
    assert "BGCHECK_KEYRING_FILE" in err
