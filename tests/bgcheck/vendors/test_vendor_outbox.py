"""The vendor outbox: orders go out once, failures back off and end dead, news is applied.

The sandbox vendor is the real embedded adapter; ``Scripted`` wraps it to fail on cue,
for the paths the sandbox never takes (timeouts, refusals). The HTTP vendor and its
simulator, in separate processes, are tested end to end in ``tests/e2e``.
"""

from __future__ import annotations

import dataclasses
import threading
import uuid
from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import select

from bgcheck.cases import service as case_service
from bgcheck.cases.service import CaseContext
from bgcheck.models import (
    AuditEvent,
    Case,
    CaseDocument,
    DocumentKind,
    JobKind,
    JobStatus,
    OutboxJob,
    VendorWebhook,
    utcnow,
)
from bgcheck.platform import worker
from bgcheck.platform.db import session_scope
from bgcheck.platform.settings import Settings
from bgcheck.vendors import Order, OrderRequest, OrderStatus, VendorError, VendorRejected
from bgcheck.vendors import orders as vendor_orders
from bgcheck.vendors.orders import Desk, poll_quiet_orders, process_due
from bgcheck.vendors.sandbox import SandboxVendor
from workflow import Event, Role, State

from support.cases import ASSESSMENT, RECORD_SSN, case_context, sandbox_desk, to_submitted
from support.factories import make_actor


@dataclasses.dataclass
class Scripted(SandboxVendor):
    """The sandbox, failing its next calls with the given errors; counts orders placed."""

    failures: list[Exception] = dataclasses.field(default_factory=list)
    placed: dict[str, int] = dataclasses.field(default_factory=dict)
    calls: list[str] = dataclasses.field(default_factory=list)
    during_place: Callable[[], None] | None = None

    def _maybe_fail(self, call: str) -> None:
        self.calls.append(call)
        if self.failures:
            raise self.failures.pop(0)

    def place_order(self, request: OrderRequest) -> Order:
        self._maybe_fail("place")
        self.placed[request.external_id] = self.placed.get(request.external_id, 0) + 1
        if self.during_place is not None:
            self.during_place()
        return super().place_order(request)

    def cancel_order(self, reference: str, *, idempotency_key: str) -> Order:
        self._maybe_fail("cancel")
        return super().cancel_order(reference, idempotency_key=idempotency_key)

    def fetch(self, reference: str) -> Order:
        self._maybe_fail("fetch")
        return super().fetch(reference)


# The invitation queued an e-mail too (tests/bgcheck/mail); these tests count vendor jobs.
VENDOR_JOB = OutboxJob.kind != JobKind.MAIL


@pytest.fixture
def world(fresh_engine, tmp_path):  # type: ignore[no-untyped-def]
    engine: Engine = fresh_engine()
    ctx = case_context(Settings(data_dir=tmp_path))
    return engine, ctx


def submitted(engine: Engine, ctx: CaseContext, *, ssn: str = "123-45-6789") -> uuid.UUID:
    """A case whose vendor order waits; its invitation e-mail (tests/bgcheck/mail) is done."""
    with session_scope(engine) as session:
        case_id = to_submitted(session, ctx, make_actor(session, Role.HR), utcnow(), ssn=ssn)
        for job in session.exec(select(OutboxJob).where(OutboxJob.kind == JobKind.MAIL)):
            job.status = JobStatus.DONE
        return case_id


def desk_with(ctx: CaseContext, vendor: SandboxVendor, **changes: object) -> Desk:
    return dataclasses.replace(sandbox_desk(ctx), vendor=vendor, **changes)  # type: ignore[arg-type]


def case_of(engine: Engine, case_id: uuid.UUID) -> Case:
    with session_scope(engine, read_only=True) as session:
        case = session.get(Case, case_id)
        assert case is not None
        session.expunge(case)
        return case


def jobs_of(engine: Engine, case_id: uuid.UUID) -> list[OutboxJob]:
    with session_scope(engine, read_only=True) as session:
        rows = session.exec(select(OutboxJob).where(OutboxJob.case_id == case_id, VENDOR_JOB)).all()
        for row in rows:
            session.expunge(row)
        return list(rows)


def actions(engine: Engine, case_id: uuid.UUID) -> list[str]:
    with session_scope(engine, read_only=True) as session:
        return list(
            session.exec(
                select(AuditEvent.action)
                .where(AuditEvent.target_id == str(case_id))
                .order_by(AuditEvent.seq)  # type: ignore[arg-type]
            ).all()
        )


def cancel(engine: Engine, ctx: CaseContext, case_id: uuid.UUID) -> None:
    with session_scope(engine) as session:
        case_service.fire(
            session,
            ctx,
            make_actor(session, Role.MANAGER),
            case_id=case_id,
            event=Event.CANCEL,
            body={"reason": "the position was withdrawn"},
            expected_version=None,
            now=utcnow(),
        )


def drain(engine: Engine, desk: Desk) -> None:
    """Run the worker's two vendor jobs until nothing is due (the clock is real)."""
    for _ in range(20):
        with session_scope(engine) as session:
            poll_quiet_orders(session, desk, utcnow())
        if process_due(engine, desk) == 0:
            return
    raise AssertionError("the outbox never drained")


def test_a_consented_case_reaches_review_with_its_report_sealed(world) -> None:  # type: ignore[no-untyped-def]
    engine, ctx = world
    case_id = submitted(engine, ctx, ssn=RECORD_SSN)
    drain(engine, sandbox_desk(ctx))

    case = case_of(engine, case_id)
    assert case.state is State.PENDING_REVIEW
    assert (case.vendor_status, case.vendor_result) == ("complete", "consider")
    assert case.vendor_reference is not None
    assert actions(engine, case_id)[-2:] == ["case.order", "case.vendor_complete"]
    with session_scope(engine, read_only=True) as session:
        stored = session.exec(
            select(CaseDocument).where(
                CaseDocument.case_id == case_id, CaseDocument.kind == DocumentKind.REPORT
            )
        ).one()
        assert stored.sealed is not None
        assert b"Larceny" not in stored.sealed  # ciphertext, not the finding
        (report,) = ctx.vault.documents(session, case_id, DocumentKind.REPORT)
    assert report["result"] == "consider"
    assert any(check["findings"] for check in report["checks"])
    assert [job.status for job in jobs_of(engine, case_id)] == [JobStatus.DONE]


def test_a_slow_vendor_acknowledges_first_and_completes_when_polled(world) -> None:  # type: ignore[no-untyped-def]
    engine, ctx = world
    clock = [utcnow()]
    vendor = SandboxVendor(delay_seconds=60, clock=lambda: clock[0])
    desk = desk_with(ctx, vendor)
    case_id = submitted(engine, ctx)

    assert process_due(engine, desk) == 1
    case = case_of(engine, case_id)
    assert (case.state, case.vendor_status) == (State.IN_PROGRESS, "pending")
    with session_scope(engine) as session:  # news just came: nothing to poll yet
        assert poll_quiet_orders(session, desk, utcnow()) == 0

    clock[0] += timedelta(seconds=61)
    with session_scope(engine) as session:
        assert poll_quiet_orders(session, desk, utcnow() + timedelta(seconds=61)) == 1
        # A second poll before the first re-fetch ran queues nothing more.
        assert poll_quiet_orders(session, desk, utcnow() + timedelta(seconds=62)) == 0
    assert process_due(engine, desk, now=lambda: utcnow() + timedelta(seconds=62)) == 1
    assert case_of(engine, case_id).state is State.PENDING_REVIEW
    assert actions(engine, case_id)[-2:] == ["case.vendor_ack", "case.vendor_complete"]


def test_failures_back_off_then_the_job_succeeds_with_one_order(world) -> None:  # type: ignore[no-untyped-def]
    engine, ctx = world
    vendor = Scripted(delay_seconds=0, failures=[VendorError("503"), VendorError("timeout")])
    desk = desk_with(ctx, vendor, retry_seconds=30)
    case_id = submitted(engine, ctx)

    before = utcnow()
    process_due(engine, desk)
    (job,) = jobs_of(engine, case_id)
    assert (job.status, job.attempts, job.last_error) == (JobStatus.PENDING, 1, "503")
    # Backoff with jitter: between half and all of 30 s for the first retry.
    assert before + timedelta(seconds=14) <= job.available_at <= utcnow() + timedelta(seconds=31)
    assert process_due(engine, desk) == 0  # not due yet

    for _ in range(2):
        with session_scope(engine) as session:
            session.exec(select(OutboxJob).where(VENDOR_JOB)).one().available_at = utcnow()
        process_due(engine, desk)
    (job,) = jobs_of(engine, case_id)
    assert (job.status, job.attempts) == (JobStatus.DONE, 3)
    assert vendor.placed == {str(case_id): 1}
    assert case_of(engine, case_id).state is State.PENDING_REVIEW


def test_after_the_last_attempt_the_job_is_dead_and_an_admin_can_retry_it(world) -> None:  # type: ignore[no-untyped-def]
    engine, ctx = world
    vendor = Scripted(delay_seconds=0, failures=[VendorError("503")] * 3)
    desk = desk_with(ctx, vendor, max_attempts=3)
    case_id = submitted(engine, ctx)
    for _ in range(3):
        with session_scope(engine) as session:
            for job in session.exec(select(OutboxJob)).all():
                job.available_at = utcnow()
        process_due(engine, desk)
    (job,) = jobs_of(engine, case_id)
    assert (job.status, job.attempts) == (JobStatus.DEAD, 3)
    assert "vendor.job_dead" in actions(engine, case_id)
    assert case_of(engine, case_id).state is State.SUBMITTED
    with session_scope(engine, read_only=True) as session:
        assert vendor_orders.job_counts(session)["dead"] == 1

    with session_scope(engine) as session:
        vendor_orders.retry_dead(
            session, make_actor(session, Role.ADMIN).audit_actor, job.id, utcnow()
        )
    process_due(engine, desk)
    assert jobs_of(engine, case_id)[0].status is JobStatus.DONE
    assert case_of(engine, case_id).state is State.PENDING_REVIEW


def test_a_refusal_by_the_vendor_is_dead_at_once(world) -> None:  # type: ignore[no-untyped-def]
    engine, ctx = world
    vendor = Scripted(delay_seconds=0, failures=[VendorRejected("422 package unknown")])
    case_id = submitted(engine, ctx)
    process_due(engine, desk_with(ctx, vendor))
    (job,) = jobs_of(engine, case_id)
    assert (job.status, job.attempts) == (JobStatus.DEAD, 1)
    assert job.last_error == "refused: 422 package unknown"


def test_a_case_cancelled_before_its_order_went_out_is_never_ordered(world) -> None:  # type: ignore[no-untyped-def]
    engine, ctx = world
    vendor = Scripted(delay_seconds=0)
    case_id = submitted(engine, ctx)
    cancel(engine, ctx, case_id)
    drain(engine, desk_with(ctx, vendor))
    assert vendor.calls == []
    assert {job.kind: job.status for job in jobs_of(engine, case_id)} == {
        "vendor_order": JobStatus.DONE,
        "vendor_cancel": JobStatus.DONE,
    }


def test_a_cancel_while_the_order_is_in_flight_cancels_it_at_the_vendor(world) -> None:  # type: ignore[no-untyped-def]
    engine, ctx = world
    vendor = Scripted(delay_seconds=3600)
    desk = desk_with(ctx, vendor)
    case_id = submitted(engine, ctx)

    def cancel_and_let_another_worker_try() -> None:
        cancel(engine, ctx, case_id)
        vendor.during_place = None
        # A second worker takes the cancel job now: no reference yet, and the order is in
        # flight, so the cancel must wait rather than be dropped.
        assert process_due(engine, desk) == 1

    vendor.during_place = cancel_and_let_another_worker_try
    process_due(engine, desk)  # the order is placed while the case is cancelled
    case = case_of(engine, case_id)
    assert (case.state, case.vendor_status) == (State.CANCELLED, "pending")
    cancel_job = next(job for job in jobs_of(engine, case_id) if job.kind == "vendor_cancel")
    assert (cancel_job.status, cancel_job.attempts) == (JobStatus.PENDING, 0)
    # The cancel job waited for the order in flight; due again a few seconds later.
    with session_scope(engine) as session:
        for job in session.exec(select(OutboxJob)).all():
            job.available_at = utcnow()
    process_due(engine, desk)
    assert [call for call in vendor.calls if call != "fetch"] == ["place", "cancel"]
    assert case_of(engine, case_id).vendor_status == "cancelled"
    assert actions(engine, case_id)[-1] == "vendor.status_changed"


def test_two_workers_never_run_the_same_job(world, backend) -> None:  # type: ignore[no-untyped-def]
    engine, ctx = world
    vendor = Scripted(delay_seconds=3600)
    desk = desk_with(ctx, vendor)
    case_ids = [submitted(engine, ctx) for _ in range(12)]
    errors: list[BaseException] = []

    def work() -> None:
        try:
            while process_due(engine, desk):
                pass
        except BaseException as exc:  # reported below, not lost in the thread
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert vendor.placed == {str(case_id): 1 for case_id in case_ids}
    assert all(case_of(engine, c).state is State.IN_PROGRESS for c in case_ids)


def test_news_applied_twice_or_late_changes_nothing_more(world) -> None:  # type: ignore[no-untyped-def]
    engine, ctx = world
    desk = sandbox_desk(ctx)
    case_id = submitted(engine, ctx)
    drain(engine, desk)
    before = case_of(engine, case_id)
    with session_scope(engine) as session:
        reference = before.vendor_reference
        assert reference is not None
        complete = desk.vendor.fetch(reference)
        late_ack = Order(reference, OrderStatus.PENDING)
        vendor_orders.apply_order(session, desk, case_id, complete, utcnow())
        vendor_orders.apply_order(session, desk, case_id, late_ack, utcnow())
    after = case_of(engine, case_id)
    assert after.state is State.PENDING_REVIEW
    with session_scope(engine, read_only=True) as session:
        assert len(ctx.vault.documents(session, case_id, DocumentKind.REPORT)) == 1
    # The late "pending" is kept as the vendor's status, as a status change, not a transition.
    assert actions(engine, case_id).count("case.vendor_complete") == 1


def test_a_reinvestigation_stores_the_new_report(world) -> None:  # type: ignore[no-untyped-def]
    engine, ctx = world
    clock = [utcnow()]
    desk = desk_with(ctx, SandboxVendor(delay_seconds=10, clock=lambda: clock[0]))
    case_id = submitted(engine, ctx, ssn=RECORD_SSN)
    process_due(engine, desk)
    clock[0] += timedelta(seconds=11)
    with session_scope(engine) as session:
        poll_quiet_orders(session, desk, utcnow() + timedelta(seconds=11))
    process_due(engine, desk, now=lambda: utcnow() + timedelta(seconds=11))
    assert case_of(engine, case_id).state is State.PENDING_REVIEW
    token = _to_notice(engine, ctx, case_id)
    with session_scope(engine) as session:
        case_service.fire_as_candidate(
            session,
            ctx,
            token=token,
            event=Event.DISPUTE,
            body={"statement": "That record is not mine."},
            now=utcnow(),
        )
    process_due(engine, desk)  # asks the vendor to reinvestigate
    assert case_of(engine, case_id).vendor_status == "disputed"
    clock[0] += timedelta(seconds=11)
    with session_scope(engine) as session:
        assert poll_quiet_orders(session, desk, utcnow() + timedelta(seconds=22)) == 1
    process_due(engine, desk, now=lambda: utcnow() + timedelta(seconds=22))
    case = case_of(engine, case_id)
    assert (case.state, case.vendor_status) == (State.DISPUTED, "complete")
    with session_scope(engine, read_only=True) as session:
        assert len(ctx.vault.documents(session, case_id, DocumentKind.REPORT)) == 2


def _to_notice(engine: Engine, ctx: CaseContext, case_id: uuid.UUID) -> str:
    with session_scope(engine) as session:
        reviewer, manager = make_actor(session, Role.REVIEWER), make_actor(session, Role.MANAGER)
        token = None
        for who, event, body in (
            (reviewer, Event.CLAIM, {}),
            (reviewer, Event.PROPOSE_ADVERSE, ASSESSMENT),
            (manager, Event.APPROVE_ADVERSE, {}),
        ):
            token = case_service.fire(
                session,
                ctx,
                who,
                case_id=case_id,
                event=event,
                body=body,
                expected_version=None,
                now=utcnow(),
            ).portal_token
    assert token is not None
    return token


def test_old_inbox_entries_and_done_jobs_are_purged_but_dead_jobs_stay(world) -> None:  # type: ignore[no-untyped-def]
    engine, ctx = world
    desk = sandbox_desk(ctx)
    done_case = submitted(engine, ctx)
    drain(engine, desk)
    dead_case = submitted(engine, ctx)
    now = utcnow()
    with session_scope(engine) as session:
        (job,) = session.exec(
            select(OutboxJob).where(OutboxJob.case_id == dead_case, VENDOR_JOB)
        ).all()
        job.status = JobStatus.DEAD
        session.add(
            VendorWebhook(
                vendor="http", delivery_id="msg_old", received_at=now, kind="x", outcome="queued"
            )
        )
    with session_scope(engine) as session:
        assert vendor_orders.purge_done(session, now + timedelta(days=29)) == 0
    with session_scope(engine) as session:
        assert vendor_orders.purge_done(session, now + timedelta(days=31)) == 2
    assert jobs_of(engine, done_case) == []
    assert [job.status for job in jobs_of(engine, dead_case)] == [JobStatus.DEAD]


def test_a_stopping_worker_takes_no_job_after_the_call_in_flight(world) -> None:  # type: ignore[no-untyped-def]
    engine, ctx = world
    vendor = Scripted(delay_seconds=3600)
    case_ids = [submitted(engine, ctx) for _ in range(3)]
    stop = threading.Event()
    vendor.during_place = stop.set  # SIGTERM arrives during the first call
    worker._running.stop = stop
    try:
        assert process_due(engine, desk_with(ctx, vendor)) == 1
    finally:
        worker._running.stop = None
    assert len(vendor.placed) == 1
    waiting = [job for case_id in case_ids for job in jobs_of(engine, case_id)]
    assert sorted(
        (job.status, job.attempts, job.locked_until) for job in waiting if job.attempts == 0
    ) == [
        (JobStatus.PENDING, 0, None),
        (JobStatus.PENDING, 0, None),
    ]
