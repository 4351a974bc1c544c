"""Retention: which cases are due, and what a purge destroys and keeps (both backends)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from bgcheck.cases import service as case_service
from bgcheck.cases.service import CaseContext
from bgcheck.identity.actors import Actor
from bgcheck.models import AuditEvent, Candidate, Case, CaseDocument, CaseKey
from bgcheck.platform.db import session_scope
from bgcheck.platform.settings import Settings, get_settings
from bgcheck.vault import retention
from bgcheck.vault.store import Contact, Shredded, Vault
from workflow import Event, Role, State

from support.cases import ASSESSMENT, CONSENT, case_context, invite, new_case, to_pending_review
from support.factories import TEST_ACTOR, make_actor

NOW = datetime(2030, 6, 15, 12, 0, tzinfo=UTC)
POLICY = retention.Policy(decided_years=7, closed_days=365)


@dataclass
class Staff:
    hr: Actor
    reviewer: Actor
    manager: Actor


def staff(session: Session) -> Staff:
    return Staff(*(make_actor(session, role) for role in (Role.HR, Role.REVIEWER, Role.MANAGER)))


def fire(session: Session, ctx: CaseContext, who: Actor, case_id: uuid.UUID, event: Event,
         body: dict, now: datetime) -> None:  # fmt: skip
    case_service.fire(
        session, ctx, who, case_id=case_id, event=event, body=body, expected_version=None, now=now
    )


def cleared(session: Session, ctx: CaseContext, people: Staff, at: datetime) -> uuid.UUID:
    case_id = to_pending_review(session, ctx, people.hr, at, result="clear")
    fire(session, ctx, people.reviewer, case_id, Event.CLAIM, {}, at)
    fire(session, ctx, people.reviewer, case_id, Event.CLEAR, {}, at)
    return case_id


def not_cleared(session: Session, ctx: CaseContext, people: Staff, at: datetime) -> uuid.UUID:
    """Through the adverse path: assessment, pre-adverse and final notices are documents."""
    case_id = to_pending_review(session, ctx, people.hr, at)
    fire(session, ctx, people.reviewer, case_id, Event.CLAIM, {}, at)
    fire(session, ctx, people.reviewer, case_id, Event.PROPOSE_ADVERSE, ASSESSMENT, at)
    fire(session, ctx, people.manager, case_id, Event.APPROVE_ADVERSE, {}, at)
    case = session.get(Case, case_id)
    assert case is not None
    assert case.adverse_deadline is not None
    fire(session, ctx, people.reviewer, case_id, Event.FINALIZE_ADVERSE, {}, case.adverse_deadline)
    return case_id


def cancelled(session: Session, ctx: CaseContext, people: Staff, at: datetime) -> uuid.UUID:
    case_id = new_case(session, ctx, people.hr, at)
    fire(session, ctx, people.hr, case_id, Event.CANCEL, {"reason": "position withdrawn"}, at)
    return case_id


def expired(session: Session, ctx: CaseContext, people: Staff, at: datetime) -> uuid.UUID:
    case_id = new_case(session, ctx, people.hr, at - timedelta(days=30))
    invite(session, ctx, people.hr, case_id, at - timedelta(days=30))
    case_service.fire_as_system(session, ctx, case_id=case_id, event=Event.EXPIRE, body={}, now=at)
    return case_id


@pytest.fixture
def ctx(tmp_path) -> CaseContext:  # type: ignore[no-untyped-def]
    return case_context(Settings(data_dir=tmp_path, adverse_wait_business_days=5))


def pii_rows(session: Session, case_id: uuid.UUID) -> tuple[int, int, Candidate | None]:
    keys = session.exec(select(func.count()).where(col(CaseKey.case_id) == case_id)).one()
    documents = session.exec(select(func.count()).where(col(CaseDocument.case_id) == case_id)).one()
    return keys, documents, session.get(Candidate, case_id)


def test_due_cases_follow_both_periods_and_skip_open_disputes(
    db: Session, ctx: CaseContext
) -> None:
    people = staff(db)
    years_ago = lambda n: NOW.replace(year=NOW.year - n)  # noqa: E731
    expected_due = {
        cleared(db, ctx, people, years_ago(8)),
        not_cleared(db, ctx, people, years_ago(9)),
        cancelled(db, ctx, people, NOW - timedelta(days=400)),
        expired(db, ctx, people, NOW - timedelta(days=366)),
    }
    not_due = {
        cleared(db, ctx, people, years_ago(6)),
        cancelled(db, ctx, people, NOW - timedelta(days=300)),
        # Open for 8 years without a decision: no retention clock has started.
        to_pending_review(db, ctx, people.hr, years_ago(8)),
    }
    disputed = cleared(db, ctx, people, years_ago(8))
    # No workflow path leaves a final case under dispute today; the rule must hold anyway
    # (a dispute after the decision is an FCRA right), so the flag is set by hand.
    case = db.get(Case, disputed)
    assert case is not None
    case.open_dispute = True
    db.add(case)
    db.flush()

    due = retention.list_due(db, policy=POLICY, now=NOW)
    found = {item.case_id for item in due}
    assert expected_due <= found
    assert not found & (not_due | {disputed})
    assert {item.rule for item in due if item.case_id in expected_due} == {"decided", "closed"}


def test_the_year_boundary_is_exact(db: Session, ctx: CaseContext) -> None:
    people = staff(db)
    cutoff = NOW.replace(year=NOW.year - 7)
    just_due = cleared(db, ctx, people, cutoff - timedelta(seconds=1))
    not_yet = cleared(db, ctx, people, cutoff)
    found = {item.case_id for item in retention.list_due(db, policy=POLICY, now=NOW)}
    assert just_due in found
    assert not_yet not in found


def test_leap_day_counts_back_to_the_28th() -> None:
    leap = datetime(2032, 2, 29, tzinfo=UTC)
    decided_before, _ = retention.Policy(7, 365).cutoffs(leap)
    assert decided_before == datetime(2025, 2, 28, tzinfo=UTC)


def test_purge_shreds_the_pii_and_keeps_the_case_and_its_history(
    db: Session, ctx: CaseContext
) -> None:
    people = staff(db)
    case_id = not_cleared(db, ctx, people, NOW.replace(year=NOW.year - 8))
    keys, stored_documents, candidate = pii_rows(db, case_id)
    assert keys == 1
    assert stored_documents >= 4  # identity, assessment, pre-adverse and final notices
    assert candidate is not None
    assert candidate.ssn_index
    assert candidate.details
    assert candidate.contact
    history_before = db.exec(
        select(func.count()).where(col(AuditEvent.target_id) == str(case_id))
    ).one()

    assert retention.purge_case(db, TEST_ACTOR, case_id=case_id, policy=POLICY, now=NOW)
    db.expire_all()

    keys, documents, candidate = pii_rows(db, case_id)
    assert (keys, documents) == (0, 0)
    assert candidate is not None
    for column in ("contact", "details"):
        assert getattr(candidate, column) is None
    for column in ("email_index", "mailbox_index", "ssn_index", "name_dob_index"):
        assert getattr(candidate, column) is None
    case = db.get(Case, case_id)
    assert case is not None
    assert case.state is State.NOT_CLEARED
    assert ctx.vault.contact(db, case_id) == Contact(None, None, None)
    with pytest.raises(Shredded):
        ctx.vault.details(db, case_id)
    assert ctx.vault.ssn_index(CONSENT["ssn"])  # the search term still has an index…
    assert not retention.list_due(db, policy=POLICY, now=NOW + timedelta(days=1))  # …not stored

    events = db.exec(
        select(AuditEvent)
        .where(col(AuditEvent.target_id) == str(case_id))
        .order_by(col(AuditEvent.seq))
    ).all()
    assert len(events) == history_before + 1
    assert events[-1].action == "retention.purged"
    assert events[-1].data == {
        "state": "not_cleared",
        "rule": "decided",
        "retention_years": 7,
        "retention_closed_days": 365,
        "data_key_destroyed": True,
        "documents_deleted": stored_documents,
    }
    # Purging again changes nothing and records nothing.
    assert not retention.purge_case(db, TEST_ACTOR, case_id=case_id, policy=POLICY, now=NOW)


def test_purge_drops_the_case_key_from_every_key_cache_of_this_process(
    db: Session, ctx: CaseContext
) -> None:
    people = staff(db)
    case_id = cancelled(db, ctx, people, NOW - timedelta(days=400))
    kept = cancelled(db, ctx, people, NOW - timedelta(days=10))  # not due
    other = Vault(ctx.vault.keyring)  # e.g. the embedded worker's, beside the API's
    stored: dict[uuid.UUID, bytes] = {}
    for some_id in (case_id, kept):
        row = db.get(CaseKey, some_id)
        assert row is not None
        stored[some_id] = row.wrapped
    for vault in (ctx.vault, other):
        vault.contacts(db, [case_id, kept])
        assert vault.key_cache.get(case_id, stored[case_id]) is not None

    assert retention.purge_case(db, TEST_ACTOR, case_id=case_id, policy=POLICY, now=NOW)
    for vault in (ctx.vault, other):
        assert vault.key_cache.get(case_id, stored[case_id]) is None
        assert vault.key_cache.get(kept, stored[kept]) is not None
    db.expire_all()
    assert ctx.vault.contact(db, case_id) == Contact(None, None, None)


def test_purge_rechecks_the_rule_under_the_lock(db: Session, ctx: CaseContext) -> None:
    people = staff(db)
    case_id = cleared(db, ctx, people, NOW.replace(year=NOW.year - 8))
    case = db.get(Case, case_id)
    assert case is not None
    case.open_dispute = True  # opened between the listing and the purge
    db.add(case)
    db.flush()
    assert not retention.purge_case(db, TEST_ACTOR, case_id=case_id, policy=POLICY, now=NOW)
    assert pii_rows(db, case_id)[0] == 1


def test_the_job_destroys_due_cases_unless_dry_run_is_on(
    fresh_engine: Callable[[], Engine], tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    engine = fresh_engine()
    settings = Settings(data_dir=tmp_path, adverse_wait_business_days=5)
    ctx = case_context(settings)
    with session_scope(engine) as session:
        people = staff(session)
        old = cleared(session, ctx, people, datetime.now(UTC) - timedelta(days=9 * 366))

    def run_job(*, dry_run: bool | None) -> int:
        if dry_run is None:
            monkeypatch.delenv("BGCHECK_RETENTION_DRY_RUN", raising=False)  # the default
        else:
            monkeypatch.setenv("BGCHECK_RETENTION_DRY_RUN", "true" if dry_run else "false")
        get_settings.cache_clear()
        try:
            with session_scope(engine) as session:
                return retention.purge_due_cases(session)
        finally:
            get_settings.cache_clear()

    assert run_job(dry_run=True) == 0
    with session_scope(engine, read_only=True) as session:
        assert pii_rows(session, old)[0] == 1
    assert run_job(dry_run=None) == 1  # destroying is the default
    with session_scope(engine, read_only=True) as session:
        assert pii_rows(session, old)[:2] == (0, 0)
        actions = session.exec(
            select(AuditEvent.actor_id).where(AuditEvent.action == "retention.purged")
        ).all()
    assert actions == ["retention"]
    assert run_job(dry_run=False) == 0  # nothing left to destroy


def test_the_job_is_registered() -> None:
    from bgcheck.jobs import PERIODIC

    jobs = {job.name: job for job in PERIODIC}
    assert jobs[retention.JOB_NAME].every_seconds == 24 * 60 * 60
