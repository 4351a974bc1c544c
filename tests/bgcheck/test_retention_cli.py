"""``bgcheck retention run``: a dry run by default, ``--apply`` to purge (both backends)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func
from sqlmodel import Session, col, select
from typer.testing import CliRunner

from bgcheck.cases import service as case_service
from bgcheck.cases.service import CaseContext
from bgcheck.cli import app
from bgcheck.crypto import Keyring
from bgcheck.identity.actors import Actor
from bgcheck.models import AuditEvent, Candidate, CaseKey, utcnow
from bgcheck.platform.db import session_scope
from bgcheck.platform.settings import get_settings
from workflow import Event, Role

from support.cases import CASE, CONSENT, case_context, new_case, to_pending_review
from support.factories import make_actor

runner = CliRunner()


@pytest.fixture
def operator(fresh_engine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Engine]:  # type: ignore[no-untyped-def]
    engine = fresh_engine()
    keyring_file = tmp_path / "keyring.json"
    Keyring.generate().save(keyring_file)
    monkeypatch.setenv("BGCHECK_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("BGCHECK_PUBLIC_URL", "https://bgcheck.example.edu")  # not embedded
    monkeypatch.setenv("BGCHECK_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("BGCHECK_KEYRING_FILE", str(keyring_file))
    monkeypatch.setenv("BGCHECK_RETENTION_CLOSED_DAYS", "30")
    get_settings.cache_clear()
    yield engine
    get_settings.cache_clear()


def fire(session: Session, ctx: CaseContext, who: Actor, case_id: uuid.UUID, event: Event,
         body: dict, at: datetime) -> None:  # fmt: skip
    case_service.fire(
        session, ctx, who, case_id=case_id, event=event, body=body, expected_version=None, now=at
    )


def seed(engine: Engine) -> tuple[set[uuid.UUID], set[uuid.UUID]]:
    """(due, not due): old decisions and cancellations vs recent ones and open cases."""
    ctx = case_context(get_settings())
    now = utcnow()
    with session_scope(engine) as session:
        hr, reviewer = make_actor(session, Role.HR), make_actor(session, Role.REVIEWER)

        def cleared(at: datetime) -> uuid.UUID:
            case_id = to_pending_review(session, ctx, hr, at, result="clear")
            fire(session, ctx, reviewer, case_id, Event.CLAIM, {}, at)
            fire(session, ctx, reviewer, case_id, Event.CLEAR, {}, at)
            return case_id

        def cancelled(at: datetime) -> uuid.UUID:
            case_id = new_case(session, ctx, hr, at)
            fire(session, ctx, hr, case_id, Event.CANCEL, {"reason": "withdrawn"}, at)
            return case_id

        due = {cleared(now - timedelta(days=8 * 366)), cancelled(now - timedelta(days=31))}
        kept = {
            cleared(now - timedelta(days=6 * 365)),
            cancelled(now - timedelta(days=29)),
            new_case(session, ctx, hr, now - timedelta(days=9 * 366)),
        }
    return due, kept


def pii_left(engine: Engine, case_ids: set[uuid.UUID]) -> int:
    with session_scope(engine, read_only=True) as session:
        keys = session.exec(select(func.count()).where(col(CaseKey.case_id).in_(case_ids))).one()
        indexed = session.exec(
            select(func.count()).where(
                col(Candidate.case_id).in_(case_ids), col(Candidate.email_index).is_not(None)
            )
        ).one()
    return keys + indexed


def test_dry_run_lists_ids_only_and_apply_purges(operator: Engine) -> None:
    due, kept = seed(operator)
    personal = [CASE["candidate"]["email"], CONSENT["ssn"], "Pat", CONSENT["date_of_birth"]]  # type: ignore[index]

    dry = runner.invoke(app, ["retention", "run"])
    assert dry.exit_code == 0, dry.output
    assert "2 cases due: 1 decided" in dry.stdout
    assert "1 cancelled or expired" in dry.stdout
    assert {str(case_id) for case_id in due} <= set(dry.stdout.split())
    assert not {str(case_id) for case_id in kept} & set(dry.stdout.split())
    assert "--apply" in dry.stdout
    assert not any(str(value) in dry.output for value in personal)
    assert pii_left(operator, due) == 4  # a dry run changes nothing

    applied = runner.invoke(app, ["retention", "run", "--apply"])
    assert applied.exit_code == 0, applied.output
    assert "purged 2 cases" in applied.stdout
    assert not any(str(value) in applied.output for value in personal)
    assert pii_left(operator, due) == 0
    assert pii_left(operator, kept) == 2 * len(kept)
    with session_scope(operator, read_only=True) as session:
        purged = session.exec(
            select(AuditEvent.target_id).where(AuditEvent.action == "retention.purged")
        ).all()
    assert set(purged) == {str(case_id) for case_id in due}

    again = runner.invoke(app, ["retention", "run", "--apply"])
    assert "0 cases due" in again.stdout
    assert "purged 0 cases" in again.stdout
