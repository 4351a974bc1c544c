"""Vendor orders: the outbox delivered, the vendor's news applied, lost webhooks found.

Three paths lead to the vendor and back, and all end in ``apply_order``, which compares
the case with the order as the vendor sees it *now* and fires what the difference calls
for (``vendor_ack``, ``vendor_complete``), so news that arrives twice, late or out of
order changes nothing the second time:

- **the outbox** (``process_due``): jobs written by transitions (``vendor_order``,
  ``vendor_cancel``, ``vendor_reinvestigation``) and by webhooks and polls
  (``vendor_sync``). A worker leases due jobs in one short transaction (``FOR UPDATE
  SKIP LOCKED`` on PostgreSQL, so workers on several machines share them; SQLite has a
  single writer), calls the vendor outside any transaction, then applies the answer in
  another. Failures back off exponentially with jitter; after the last attempt a job is
  ``dead`` (admins see it in ``GET /api/v1/admin/jobs`` and in metrics). The same loop
  sends e-mail (``mail`` jobs, built by ``bgcheck.cases.mailings``; docs/notifications.md):
  each kind's ``Prepare`` returns the call to make and what to write once it answered.
- **webhooks** (``receive_webhook``): authenticated, deduplicated in an inbox, and
  turned into a ``vendor_sync`` job: a webhook is only ever a hint to re-fetch.
- **polling** (``poll_quiet_orders``): an open order with no news for the vendor's
  ``poll_after_seconds`` is re-fetched, so a case never waits forever on a lost webhook.

Idempotency: a job's key (``vendor_order:<case id>``) is also the vendor's idempotency
key, so a worker killed after the vendor answered but before the answer was stored
retries into the same order, never a second one.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cache
from types import MappingProxyType
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy import Engine, exists, func, or_
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from bgcheck import audit, mail
from bgcheck.cases import mailings
from bgcheck.cases import service as case_service
from bgcheck.cases.context import CaseContext
from bgcheck.cases.service import Refused
from bgcheck.models import (
    Case,
    DocumentKind,
    JobKind,
    JobStatus,
    OutboxJob,
    VendorWebhook,
    utcnow,
)
from bgcheck.platform import worker
from bgcheck.platform.db import session_scope
from bgcheck.platform.errors import NotFound, Unauthenticated
from bgcheck.platform.logs import get_logger
from bgcheck.platform.settings import Settings, get_settings
from bgcheck.vendors import (
    Order,
    OrderRequest,
    OrderStatus,
    Subject,
    Vendor,
    VendorError,
    VendorRejected,
    WebhookRejected,
    make_vendor,
)
from bgcheck.vendors.base import Address
from workflow import Event, Role, State

log = get_logger(__name__)

ORDER, CANCEL, REINVESTIGATE, SYNC = (
    JobKind.VENDOR_ORDER,
    JobKind.VENDOR_CANCEL,
    JobKind.VENDOR_REINVESTIGATION,
    JobKind.VENDOR_SYNC,
)
# States in which an order is open and news from the vendor may move the case.
OPEN_ORDER_STATES = (State.SUBMITTED, State.IN_PROGRESS)
BATCH = 20
MAX_BACKOFF_SECONDS = 3600.0
# A cancel waits this long for an order still in flight, so it can cancel what it placed.
WAIT_FOR_ORDER = timedelta(seconds=5)
_jitter = secrets.SystemRandom()
# Unauthenticated refusals are folded into one audit event per vendor and window.
REFUSAL_WINDOW = timedelta(minutes=1)


class WebhookUnauthenticated(Unauthenticated):
    """A refused webhook: 401, and the audit event of the refusal still commits."""

    keeps_changes = True


@dataclass(frozen=True, slots=True)
class Desk:
    """What delivering orders needs: the case context, the vendor and its settings."""

    ctx: CaseContext
    vendor: Vendor
    vendor_id: str  # the ``{vendor}`` of the webhook URL, and the audit actor's id
    max_attempts: int
    retry_seconds: float
    lease: timedelta

    @property
    def actor(self) -> audit.AuditActor:
        return audit.AuditActor("vendor", self.vendor_id)

    @classmethod
    def from_settings(cls, settings: Settings, ctx: CaseContext) -> Desk:
        return cls(
            ctx=ctx,
            vendor=make_vendor(settings),
            vendor_id=settings.vendor,
            max_attempts=settings.vendor_max_attempts,
            retry_seconds=settings.vendor_retry_seconds,
            # Longer than one call with its quick retries (three attempts), so a live
            # worker keeps its job; short, so a dead worker's jobs come back soon.
            lease=timedelta(seconds=settings.vendor_timeout_seconds * 4 + 5),
        )


@cache
def default_desk() -> Desk:
    """The process's desk, from the environment (the worker's jobs)."""
    return Desk.from_settings(get_settings(), case_service.default_context())


def job_counts(session: Session) -> dict[str, int]:
    """Outbox jobs by status, for metrics: a growing ``dead`` count needs a person."""
    rows = session.exec(
        select(OutboxJob.status, func.count()).group_by(col(OutboxJob.status))
    ).all()
    counts = {status.value: 0 for status in JobStatus}
    counts.update({JobStatus(status).value: int(n) for status, n in rows})
    return counts


def jobs(session: Session, status: JobStatus | None, limit: int) -> list[OutboxJob]:
    """Outbox jobs, oldest first: those not done (waiting, retrying, dead), or one status."""
    statement = select(OutboxJob)
    if status is None:
        statement = statement.where(OutboxJob.status != JobStatus.DONE)
    else:
        statement = statement.where(OutboxJob.status == status)
    return list(session.exec(statement.order_by(col(OutboxJob.created_at)).limit(limit)).all())


# -- the outbox ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Claimed:
    id: uuid.UUID
    kind: JobKind
    case_id: uuid.UUID
    key: str
    attempts: int
    lease: datetime  # our claim: another worker's later claim changes it


def claim(engine: Engine, desk: Desk, now: datetime) -> Claimed | None:
    """Lease the next due job to this worker, if any; one short transaction."""
    with session_scope(engine) as session:
        job = session.exec(
            select(OutboxJob)
            .where(
                OutboxJob.status == JobStatus.PENDING,
                col(OutboxJob.available_at) <= now,
                or_(col(OutboxJob.locked_until).is_(None), col(OutboxJob.locked_until) <= now),
            )
            .order_by(col(OutboxJob.available_at))
            .limit(1)
            .with_for_update(skip_locked=True)
        ).first()
        if job is None:
            return None
        job.attempts += 1
        job.locked_until = now + desk.lease
        session.add(job)
        return Claimed(
            job.id, job.kind, job.case_id, job.idempotency_key, job.attempts, job.locked_until
        )


def process_due(engine: Engine, desk: Desk, *, now: Callable[[], datetime] = utcnow) -> int:
    """Deliver up to ``BATCH`` due jobs, one lease at a time; return how many were handled.

    One at a time, so a lease covers one call, not a batch of them, and a worker that
    dies (or is told to stop) holds back no job but the one in flight.
    """
    handled = 0
    while handled < BATCH and not worker.stopping():
        job = claim(engine, desk, now())
        if job is None:
            break
        handle(engine, desk, job, now=now)
        handled += 1
    return handled


def handle(
    engine: Engine, desk: Desk, job: Claimed, *, now: Callable[[], datetime] = utcnow
) -> None:
    """One job: prepare (read), make the call (no transaction open), finish (write).

    The call is the vendor's or the mail server's; its answer is applied, and the job
    marked done, in one transaction.
    """
    try:
        with session_scope(engine, read_only=True) as session:
            call = _prepare(session, desk, job, now())
        if call is None:
            _settle(engine, job, JobStatus.DONE, now())
            return
        if call is _LATER:
            _settle(engine, job, JobStatus.PENDING, now(), retry_in=WAIT_FOR_ORDER)
            return
        finish = call()
        with session_scope(engine) as session:
            row = _ours(session, job)
            if row is not None:
                finish(session, now())
                _mark(row, JobStatus.DONE, now())
    except (VendorRejected, mail.MailRejected) as exc:
        log.warning("the job was refused", job=job.kind, job_id=str(job.id), error=str(exc))
        _settle(engine, job, JobStatus.DEAD, now(), error=f"refused: {exc}", failure=exc)
    except Exception as exc:
        # A bug or a database hiccup is retried like a vendor failure, and logged in full
        # (our own tracebacks hold no PII: ``Subject`` redacts itself).
        if isinstance(exc, VendorError | mail.MailError):
            log.warning("outbox call failed", job=job.kind, job_id=str(job.id), error=str(exc))
            reason = str(exc)
        else:
            log.exception("job failed", job=job.kind, job_id=str(job.id))
            reason = type(exc).__name__
        if job.attempts >= desk.max_attempts:
            _settle(engine, job, JobStatus.DEAD, now(), error=reason, failure=exc)
        else:
            retry_in = _backoff(desk, job.attempts)
            _settle(engine, job, JobStatus.PENDING, now(), error=reason, retry_in=retry_in)


_LATER: Any = object()  # _prepare's answer for "not yet: try again shortly"


def _prepare(session: Session, desk: Desk, job: Claimed, now: datetime) -> Call | None:
    """The call this job needs now, or ``None`` when there is nothing left to do."""
    case = session.get(Case, job.case_id)
    if case is None:
        return None
    prepare = OUTBOX.get(job.kind)
    if prepare is None:
        raise ValueError(f"unknown outbox job kind {job.kind!r}")
    return prepare(session, desk, job, case)


# What a job's answer does, in the transaction that marks the job done.
Finish = Callable[[Session, datetime], None]
# The call a job makes outside any transaction (to the vendor, to the mail server).
Call = Callable[[], Finish]
# The call a job of one kind needs for ``case`` now, None when nothing is left to do.
Prepare = Callable[[Session, "Desk", Claimed, Case], Call | None]
# The vendor call of a vendor job, whose answer ``apply_order`` applies.
VendorPrepare = Callable[[Session, "Desk", Claimed, Case], Callable[[], Order] | None]


def _vendor(prepare: VendorPrepare) -> Prepare:
    """A vendor job: the order the vendor answers with is applied to the case."""

    def prepared(session: Session, desk: Desk, job: Claimed, case: Case) -> Call | None:
        call = prepare(session, desk, job, case)
        if call is None or call is _LATER:
            return call

        def run() -> Finish:
            order = call()
            return lambda session, now: apply_order(session, desk, job.case_id, order, now)

        return run

    return prepared


def _prepare_mail(session: Session, desk: Desk, job: Claimed, case: Case) -> Call | None:
    """An e-mail (``bgcheck.cases.mailings``): built now, sent, then recorded as sent."""
    row = session.get(OutboxJob, job.id)
    assert row is not None
    outgoing = mailings.prepare(session, desk.ctx, job=row, case=case, now=utcnow())
    if outgoing is None:
        return None
    transport, case_id = mail.make_transport(desk.ctx.settings), case.id

    def run() -> Finish:
        outgoing.send(transport)
        return lambda session, now: mailings.record_sent(session, case_id, outgoing.facts, now)

    return run


def _prepare_order(
    session: Session, desk: Desk, job: Claimed, case: Case
) -> Callable[[], Order] | None:
    if case.vendor_reference is not None:
        return None  # placed already (a retry after the answer was stored)
    # A case cancelled before its order went out needs no order, unless an earlier
    # attempt may have reached the vendor: then place again (idempotent: the same
    # order comes back) so the waiting cancel job can cancel it.
    if case.state is not State.SUBMITTED and job.attempts == 1:
        return None
    request = OrderRequest(
        idempotency_key=job.key,
        external_id=str(case.id),
        package=case.package,
        subject=subject_of(desk.ctx.vault.details(session, case.id)),
    )
    return lambda: desk.vendor.place_order(request)


def _prepare_cancel(
    session: Session, desk: Desk, job: Claimed, case: Case
) -> Callable[[], Order] | None:
    reference = case.vendor_reference
    if reference is None:
        return _LATER if _pending(session, case.id, ORDER) else None
    return lambda: desk.vendor.cancel_order(reference, idempotency_key=job.key)


def _prepare_reinvestigation(
    session: Session, desk: Desk, job: Claimed, case: Case
) -> Callable[[], Order] | None:
    reference = case.vendor_reference
    if reference is None:
        return None
    disputes = desk.ctx.vault.documents(session, case.id, DocumentKind.DISPUTE)
    statement = disputes[-1].get("statement", "") if disputes else ""
    return lambda: desk.vendor.request_reinvestigation(
        reference, idempotency_key=job.key, statement=statement
    )


def _prepare_sync(
    session: Session, desk: Desk, job: Claimed, case: Case
) -> Callable[[], Order] | None:
    reference = case.vendor_reference
    if reference is None:
        return None
    return lambda: desk.vendor.fetch(reference)


# One handler per job kind; ``bgcheck.jobs.check_registry`` checks none is missing.
OUTBOX: Final[Mapping[JobKind, Prepare]] = MappingProxyType(
    {
        JobKind.VENDOR_ORDER: _vendor(_prepare_order),
        JobKind.VENDOR_CANCEL: _vendor(_prepare_cancel),
        JobKind.VENDOR_REINVESTIGATION: _vendor(_prepare_reinvestigation),
        JobKind.VENDOR_SYNC: _vendor(_prepare_sync),
        JobKind.MAIL: _prepare_mail,
    }
)


def _pending(session: Session, case_id: uuid.UUID, kind: JobKind) -> bool:
    """Whether the case has a job of this kind waiting or running."""
    return session.exec(
        select(
            exists().where(
                col(OutboxJob.case_id) == case_id,
                col(OutboxJob.kind) == kind,
                col(OutboxJob.status) == JobStatus.PENDING,
            )
        )
    ).one()


def _ours(session: Session, job: Claimed) -> OutboxJob | None:
    """The job's row, locked; None when our lease ran out and another worker claimed it."""
    row = session.exec(select(OutboxJob).where(OutboxJob.id == job.id).with_for_update()).one()
    return row if row.status is JobStatus.PENDING and row.locked_until == job.lease else None


def _mark(row: OutboxJob, status: JobStatus, now: datetime, *, error: str | None = None) -> None:
    row.status = status
    row.locked_until = None
    row.last_error = error[:500] if error else row.last_error
    if status is JobStatus.DONE:
        row.done_at = now


def _settle(
    engine: Engine,
    job: Claimed,
    status: JobStatus,
    now: datetime,
    *,
    error: str | None = None,
    retry_in: timedelta | None = None,
    failure: Exception | None = None,
) -> None:
    """End our lease on the job: done, dead (audited), or pending again after ``retry_in``."""
    with session_scope(engine) as session:
        row = _ours(session, job)
        if row is None:
            return
        _mark(row, status, now, error=error)
        if retry_in is not None:
            row.available_at = now + retry_in
            if error is None:
                row.attempts -= 1  # waiting for another job is not a failed attempt
        session.add(row)
        if status is JobStatus.DEAD and job.kind is JobKind.MAIL:
            facts = failure.facts if isinstance(failure, mail.MailError) else {"job": str(job.id)}
            mailings.record_failed(session, job.case_id, facts, error or "failed", now)
        elif status is JobStatus.DEAD:
            audit.record(
                session,
                audit.AuditActor.system("worker"),
                action="vendor.job_dead",
                target=audit.Target.of("case", job.case_id),
                data={"job": str(job.id), "kind": job.kind, "attempts": job.attempts},
                now=now,
            )


def _backoff(desk: Desk, attempts: int) -> timedelta:
    """Exponential backoff with jitter: base * 2^(n-1), capped, times 0.5 to 1."""
    ceiling = min(MAX_BACKOFF_SECONDS, desk.retry_seconds * 2.0 ** (attempts - 1))
    return timedelta(seconds=ceiling * _jitter.uniform(0.5, 1.0))


def retry_dead(
    session: Session, who: audit.AuditActor, job_id: uuid.UUID, now: datetime
) -> OutboxJob:
    """An admin sends a dead job back to the queue, with a fresh set of attempts."""
    job = session.exec(select(OutboxJob).where(OutboxJob.id == job_id).with_for_update()).first()
    if job is None or job.status is not JobStatus.DEAD:
        raise NotFound("no dead job with that id")
    job.status, job.attempts, job.available_at, job.locked_until = JobStatus.PENDING, 0, now, None
    session.add(job)
    audit.record(
        session,
        who,
        action="vendor.job_retried",
        target=audit.Target.of("case", job.case_id),
        data={"job": str(job.id), "kind": job.kind},
        now=now,
    )
    return job


# -- applying what the vendor says ---------------------------------------------------------


def apply_order(
    session: Session, desk: Desk, case_id: uuid.UUID, order: Order, now: datetime
) -> None:
    """Bring the case in line with the order as the vendor sees it now (idempotent)."""
    case = session.exec(select(Case).where(Case.id == case_id).with_for_update()).one()
    before = case.vendor_status
    reinvestigated = before == OrderStatus.DISPUTED and order.reinvestigated_at is not None
    event = _event_for(case.state, order)
    case.vendor_reference = case.vendor_reference or order.reference
    if event is not None:
        # The reference goes into the audited payload only when it is plainly an id (a
        # vendor's nine-digit order number would look like an SSN to the audit trail).
        safe = _printable(order.reference) == order.reference
        body: dict[str, Any] = {"vendor_reference": order.reference if safe else None}
        if event is Event.VENDOR_COMPLETE:
            body["result"] = order.result.value if order.result else None
        else:
            body["vendor_status"] = order.status.value
        try:
            with session.begin_nested():
                case_service.fire_as_system(
                    session,
                    desk.ctx,
                    case_id=case.id,
                    event=event,
                    body=body,
                    now=now,
                    who=desk.actor,
                    as_role=Role.VENDOR,
                )
                if event is Event.VENDOR_COMPLETE:
                    _store_report(session, desk, case.id, order)
        except Refused as refusal:
            # The case moved on (cancelled, say); the vendor's status is still kept below.
            log.info(
                "vendor news refused by the workflow", case_id=str(case.id), reason=str(refusal)
            )
            event = None
    elif reinvestigated and order.report is not None:
        _store_report(session, desk, case.id, order)
    case.vendor_ordered_at = case.vendor_ordered_at or now
    case.vendor_news_at = now
    if event is None and before != order.status.value:
        case.vendor_status = order.status.value
        case.version += 1  # the case as shown changed: its ETag must too
        case.updated_at = now
        audit.record(
            session,
            desk.actor,
            action="vendor.status_changed",
            target=audit.Target.of("case", case.id),
            data={
                "from": before,
                "to": order.status.value,
                "reinvestigated": reinvestigated,
                "case_state": case.state.value,
            },
            now=now,
        )
    session.add(case)
    session.flush()


def _event_for(state: State, order: Order) -> Event | None:
    if state not in OPEN_ORDER_STATES:
        return None
    if order.status is OrderStatus.COMPLETE and order.report is not None:
        return Event.VENDOR_COMPLETE  # from submitted too: the workflow allows it
    if state is State.SUBMITTED and order.status in (OrderStatus.PENDING, OrderStatus.SUSPENDED):
        return Event.VENDOR_ACK
    return None


def _store_report(session: Session, desk: Desk, case_id: uuid.UUID, order: Order) -> None:
    assert order.report is not None
    desk.ctx.vault.add_document(
        session, case_id, DocumentKind.REPORT, order.report.model_dump(mode="json")
    )


def subject_of(details: Mapping[str, Any]) -> Subject:
    """The consent form's fields, as the vendor needs them."""
    licence = details.get("drivers_license")
    return Subject(
        given_name=details["given_name"],
        family_name=details["family_name"],
        other_names=tuple(details.get("other_names") or ()),
        date_of_birth=date.fromisoformat(details["date_of_birth"]),
        ssn=re.sub(r"\D", "", details["ssn"]),
        addresses=tuple(
            Address(
                line1=a["line1"],
                line2=a.get("line2"),
                city=a["city"],
                state=a["state"],
                postal_code=a["postal_code"],
                from_=date.fromisoformat(a["from"]),
                to=date.fromisoformat(a["to"]) if a.get("to") else None,
            )
            for a in details.get("addresses") or ()
        ),
        email=details.get("email"),
        phone=details.get("phone"),
        drivers_license=(licence["number"], licence["state"]) if licence else None,
    )


# -- webhooks ------------------------------------------------------------------------------


def receive_webhook(
    session: Session,
    desk: Desk,
    *,
    headers: Mapping[str, str],
    body: bytes,
    now: datetime,
) -> str:
    """Authenticate, dedupe and queue a re-fetch; return what was made of it.

    ``duplicate`` and ``unknown_order`` are answered with success all the same, so the
    vendor stops retrying; only a failed authentication is an error (401).
    """
    try:
        notice = desk.vendor.verify_webhook(headers, body)
    except WebhookRejected as exc:
        # Anyone can send these: one event per vendor and minute, the rest counted in it.
        audit.record_folded(
            session,
            desk.actor,
            action="vendor.webhook_refused",
            source=desk.vendor_id,
            data={"reason": str(exc)},
            window=REFUSAL_WINDOW,
            now=now,
        )
        raise WebhookUnauthenticated(f"webhook refused: {exc}") from None
    delivery = _printable(notice.delivery_id)
    reference = _printable(notice.reference) if notice.reference else None
    summary = {"delivery_id": delivery, "type": _printable(notice.kind), "reference": reference}
    if session.get(VendorWebhook, (desk.vendor_id, delivery)) is not None:
        audit.record(
            session,
            desk.actor,
            action="vendor.webhook_refused",
            data={**summary, "reason": "duplicate delivery"},
            now=now,
        )
        return "duplicate"
    case = (
        session.exec(select(Case).where(Case.vendor_reference == notice.reference)).first()
        if notice.reference
        else None
    )
    outcome = "queued" if case is not None else "unknown_order"
    try:
        with session.begin_nested():
            session.add(
                VendorWebhook(
                    vendor=desk.vendor_id,
                    delivery_id=delivery,
                    received_at=now,
                    reference=reference,
                    kind=summary["type"] or "unknown",
                    outcome=outcome,
                )
            )
            session.flush()
    except IntegrityError:  # the same delivery, concurrently: the other one handles it
        return "duplicate"
    if case is not None:
        queue_sync(session, case.id, now)
    audit.record(
        session,
        desk.actor,
        action="vendor.webhook_accepted",
        target=audit.Target.of("case", case.id) if case else None,
        data={**summary, "outcome": outcome},
        now=now,
    )
    return outcome


_SAFE = re.compile(r"[A-Za-z0-9._:/+=-]{1,100}")


def _printable(value: str) -> str:
    """A vendor-supplied id as we keep it: itself when plainly an id, else its digest."""
    if _SAFE.fullmatch(value) and not re.search(r"\d{3}-?\d{2}-?\d{4}", value):
        return value
    return "sha256:" + hashlib.sha256(value.encode("utf-8", "replace")).hexdigest()[:32]


def queue_sync(session: Session, case_id: uuid.UUID, now: datetime) -> bool:
    """Ask the worker to re-fetch the case's order, unless a re-fetch is already queued."""
    if _pending(session, case_id, SYNC):
        return False
    session.add(
        OutboxJob(
            case_id=case_id,
            kind=SYNC,
            idempotency_key=f"{SYNC}:{case_id}:{uuid.uuid4().hex}",
            created_at=now,
            available_at=now,
        )
    )
    return True


# -- polling -------------------------------------------------------------------------------


def poll_quiet_orders(session: Session, desk: Desk, now: datetime, limit: int = 500) -> int:
    """Queue a re-fetch of every open order the vendor has said nothing about lately."""
    cutoff = now - timedelta(seconds=desk.vendor.poll_after_seconds)
    open_order = or_(
        col(Case.state).in_(OPEN_ORDER_STATES),
        # A reinvestigation under way while the case waits in ``disputed``.
        (col(Case.state) == State.DISPUTED) & (col(Case.vendor_status) == OrderStatus.DISPUTED),
    )
    quiet = session.exec(
        select(Case.id)
        .where(
            col(Case.vendor_reference).is_not(None),
            open_order,
            or_(col(Case.vendor_news_at).is_(None), col(Case.vendor_news_at) <= cutoff),
        )
        .limit(limit)
    ).all()
    return sum(queue_sync(session, case_id, now) for case_id in quiet)


# -- housekeeping --------------------------------------------------------------------------

# Far past the 5-minute replay window and any vendor's retries (about a day): an inbox
# entry older than this can no longer meet its delivery again.
KEEP_DONE = timedelta(days=30)


def purge_done(session: Session, now: datetime) -> int:
    """Forget old inbox entries and finished jobs; dead jobs stay until a person acts."""
    cutoff = now - KEEP_DONE
    inbox = session.exec(
        sa.delete(VendorWebhook).where(col(VendorWebhook.received_at) < cutoff)
    ).rowcount
    jobs = session.exec(
        sa.delete(OutboxJob).where(
            col(OutboxJob.status) == JobStatus.DONE, col(OutboxJob.done_at) < cutoff
        )
    ).rowcount
    return int(inbox or 0) + int(jobs or 0)


# -- the worker's jobs ---------------------------------------------------------------------


# Listed in ``bgcheck.jobs.PERIODIC``.


def deliver_due(engine: Engine) -> None:
    process_due(engine, default_desk())


def poll_due(session: Session) -> None:
    poll_quiet_orders(session, default_desk(), utcnow())


def purge_old(session: Session) -> None:
    purge_done(session, utcnow())
