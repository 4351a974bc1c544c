"""The scheduler's sweep: expiry of invitations and the end of waiting periods."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session

from bgcheck.cases import service as case_service
from bgcheck.cases.timers import sweep
from bgcheck.models import Case, utcnow
from bgcheck.platform.settings import Settings
from workflow import Event, Role, State

from support.cases import ASSESSMENT, case_context, invite, new_case, to_pending_review
from support.factories import make_actor


def test_invitations_past_their_ttl_expire_and_others_do_not(db: Session, tmp_path) -> None:  # type: ignore[no-untyped-def]
    ctx = case_context(Settings(data_dir=tmp_path, consent_ttl_days=14))
    hr = make_actor(db, Role.HR)
    start = utcnow()
    old = new_case(db, ctx, hr, start)
    invite(db, ctx, hr, old, start)
    fresh = new_case(db, ctx, hr, start)
    invite(db, ctx, hr, fresh, start + timedelta(days=10))

    result = sweep(db, ctx, start + timedelta(days=14, seconds=1))
    assert result.expired == 1
    assert db.get(Case, old).state is State.EXPIRED  # type: ignore[union-attr]
    assert db.get(Case, fresh).state is State.AWAITING_CONSENT  # type: ignore[union-attr]
    assert sweep(db, ctx, start + timedelta(days=14, seconds=2)).expired == 0


def test_a_passed_deadline_marks_the_case_ready_to_finalize_once(db: Session, tmp_path) -> None:  # type: ignore[no-untyped-def]
    ctx = case_context(Settings(data_dir=tmp_path, adverse_wait_business_days=5))
    hr, reviewer, manager = (
        make_actor(db, role) for role in (Role.HR, Role.REVIEWER, Role.MANAGER)
    )
    now = utcnow()
    case_id = to_pending_review(db, ctx, hr, now)
    for who, event, body in (
        (reviewer, Event.CLAIM, {}),
        (reviewer, Event.PROPOSE_ADVERSE, ASSESSMENT),
        (manager, Event.APPROVE_ADVERSE, {}),
    ):
        case_service.fire(
            db, ctx, who, case_id=case_id, event=event, body=body, expected_version=None, now=now
        )
    case = db.get(Case, case_id)
    assert case is not None
    assert case.adverse_deadline is not None
    deadline = case.adverse_deadline

    assert sweep(db, ctx, deadline - timedelta(seconds=1)).due == 0
    assert not case.ready_to_finalize
    assert sweep(db, ctx, deadline).due == 1
    assert case.ready_to_finalize
    assert case.adverse_deadline == deadline  # stored, never recomputed
    assert sweep(db, ctx, deadline + timedelta(hours=1)).due == 0
    assert Event.FINALIZE_ADVERSE in case_service.allowed(db, ctx, reviewer, case, deadline)
