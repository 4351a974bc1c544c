"""Twenty reviewers claim one case at the same moment: one wins, nobody's update is lost."""

from __future__ import annotations

import threading
from collections import Counter

from sqlalchemy import Engine
from sqlmodel import select

from bgcheck.cases import service as case_service
from bgcheck.identity.actors import Actor
from bgcheck.models import AuditEvent, Case, utcnow
from bgcheck.platform.db import session_scope
from bgcheck.platform.errors import BgcheckError, PreconditionFailed
from bgcheck.platform.settings import Settings
from workflow import Event, Role

from support.cases import case_context, to_pending_review
from support.factories import make_actor

RACERS = 20


def test_twenty_simultaneous_claims_give_one_success(fresh_engine, tmp_path) -> None:  # type: ignore[no-untyped-def]
    engine: Engine = fresh_engine()
    ctx = case_context(Settings(data_dir=tmp_path))
    with session_scope(engine) as session:
        hr = make_actor(session, Role.HR)
        reviewers: list[Actor] = [make_actor(session, Role.REVIEWER) for _ in range(RACERS)]
        case_id = to_pending_review(session, ctx, hr, utcnow())
    with session_scope(engine, read_only=True) as session:
        version = session.get(Case, case_id).version  # type: ignore[union-attr]

    start = threading.Barrier(RACERS)
    outcomes: list[str] = []
    lock = threading.Lock()

    def claim(reviewer: Actor) -> None:
        start.wait()
        try:
            with session_scope(engine) as session:
                case_service.fire(
                    session,
                    ctx,
                    reviewer,
                    case_id=case_id,
                    event=Event.CLAIM,
                    body={},
                    expected_version=version,
                    now=utcnow(),
                )
            result = "ok"
        except PreconditionFailed:
            result = "412"
        except BgcheckError as exc:
            result = f"refused:{type(exc).__name__}"
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=claim, args=(reviewer,)) for reviewer in reviewers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    counts = Counter(outcomes)
    assert counts["ok"] == 1, counts
    assert counts["412"] + counts["refused:Refused"] == RACERS - 1, counts
    with session_scope(engine, read_only=True) as session:
        case = session.get(Case, case_id)
        assert case is not None
        assert case.version == version + 1
        assert case.assigned_to in {reviewer.user_id for reviewer in reviewers}
        claims = session.exec(select(AuditEvent).where(AuditEvent.action == "case.claim")).all()
        assert len(claims) == 1
