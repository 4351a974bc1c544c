"""Retention: destroy a closed case's PII by crypto-shredding, keep what is PII-free.

A case is due when its decision (cleared, not cleared) is older than
``retention_years``, or when it was cancelled or expired longer than
``retention_closed_days`` ago; never while a dispute is open. Purging deletes the wrapped
data key (every ciphertext of the case, in the database and in backups, becomes noise
once no kept KEK can open an old copy of it), nulls the sealed candidate columns and the
blind indexes (an SSN index plus the root key gives the SSN back by guessing), and
deletes the sealed documents. The case row, its states and its audit trail stay; one
``retention.purged`` event per case records the purge. See docs/vault.md, "Retention".
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

import sqlalchemy as sa
from sqlmodel import Session, col, select

from bgcheck import audit
from bgcheck.models import (
    Candidate,
    Case,
    CaseDocument,
    CaseKey,
    IdempotentResponse,
    table_of,
    utcnow,
)
from bgcheck.platform.logs import get_logger
from bgcheck.platform.settings import Settings, get_settings
from bgcheck.vault import store as pii
from workflow import State

DECIDED: Final = frozenset({State.CLEARED, State.NOT_CLEARED})
CLOSED: Final = frozenset({State.CANCELLED, State.EXPIRED})
JOB_NAME: Final = "retention-purge"
JOB_EVERY_SECONDS: Final = 24 * 60 * 60.0
# One worker transaction purges at most this many cases; the next day's run takes the
# rest (a large first backlog is better cleared with `bgcheck retention run --apply`).
JOB_MAX_CASES: Final = 1000

log = get_logger(__name__)
PURGER: Final = audit.AuditActor.system("retention")

_SEALED_COLUMNS: Final = (
    "contact",
    "details",
    "email_index",
    "mailbox_index",
    "ssn_index",
    "name_dob_index",
)


@dataclass(frozen=True, slots=True)
class Policy:
    """How long PII is kept after a decision, and after a cancellation or expiry."""

    decided_years: int
    closed_days: int

    @classmethod
    def from_settings(cls, settings: Settings) -> Policy:
        return cls(settings.retention_years, settings.retention_closed_days)

    def cutoffs(self, now: datetime) -> tuple[datetime, datetime]:
        """Cases decided before the first, or closed before the second, are due."""
        return _years_before(now, self.decided_years), now - timedelta(days=self.closed_days)


@dataclass(frozen=True, slots=True)
class Due:
    """A case whose PII is due for destruction (ids, states and dates only)."""

    case_id: uuid.UUID
    state: State
    decided_at: datetime

    @property
    def rule(self) -> str:
        return _rule(self.state)


def list_due(
    session: Session, *, policy: Policy, now: datetime, limit: int | None = None
) -> list[Due]:
    """The cases due for purging that still hold any PII, oldest decision first."""
    decided_before, closed_before = policy.cutoffs(now)
    candidate = table_of(Candidate).c
    holds_pii = sa.or_(
        sa.exists().where(col(CaseKey.case_id) == col(Case.id)),
        sa.exists().where(col(CaseDocument.case_id) == col(Case.id)),
        sa.exists().where(
            candidate.case_id == col(Case.id),
            sa.or_(*(candidate[name].is_not(None) for name in _SEALED_COLUMNS)),
        ),
    )
    statement = (
        select(col(Case.id), col(Case.state), col(Case.decided_at))
        .where(
            col(Case.open_dispute).is_(False),
            col(Case.decided_at).is_not(None),
            sa.or_(
                col(Case.state).in_(DECIDED) & (col(Case.decided_at) < decided_before),
                col(Case.state).in_(CLOSED) & (col(Case.decided_at) < closed_before),
            ),
            holds_pii,
        )
        .order_by(col(Case.decided_at), col(Case.id))
    )
    if limit is not None:
        statement = statement.limit(limit)
    return [
        Due(case_id, state, decided_at)
        for case_id, state, decided_at in session.exec(statement)
        if decided_at is not None  # the query already excludes NULL: this narrows the type
    ]


def purge_case(
    session: Session,
    actor: audit.AuditActor,
    *,
    case_id: uuid.UUID,
    policy: Policy,
    now: datetime,
) -> bool:
    """Shred one case's PII if it is (still) due; False when it no longer is.

    The case row is locked and the rule checked again, so a dispute opened since the
    listing, or a second worker purging the same case, is respected.
    """
    case = session.exec(select(Case).where(Case.id == case_id).with_for_update()).first()
    if case is None or not _is_due(case, policy, now):
        return False
    had_key = session.get(CaseKey, case_id) is not None
    session.execute(sa.delete(CaseKey).where(col(CaseKey.case_id) == case_id))
    # This process's vaults stop keeping the key now, not when their cache would drop it.
    # Safe before the commit: forgetting a key only costs a rollback one unwrap later.
    pii.forget_keys([case_id])
    documents = session.exec(
        sa.delete(CaseDocument).where(col(CaseDocument.case_id) == case_id)
    ).rowcount
    # Sealed with the destroyed key already; deleted so nothing of the case's PII remains.
    session.execute(sa.delete(IdempotentResponse).where(col(IdempotentResponse.case_id) == case_id))
    candidate = session.get(Candidate, case_id)
    had_candidate_pii = candidate is not None and any(
        getattr(candidate, name) is not None for name in _SEALED_COLUMNS
    )
    if candidate is not None and had_candidate_pii:
        for name in _SEALED_COLUMNS:
            setattr(candidate, name, None)
        candidate.updated_at = now
        session.add(candidate)
    if not (had_key or documents or had_candidate_pii):
        return False
    session.flush()
    audit.record(
        session,
        actor,
        action="retention.purged",
        target=audit.Target.of("case", case_id),
        data={
            "state": case.state.value,
            "rule": _rule(case.state),
            "retention_years": policy.decided_years,
            "retention_closed_days": policy.closed_days,
            "data_key_destroyed": had_key,
            "documents_deleted": documents,
        },
        now=now,
    )
    return True


def _rule(state: State) -> str:
    return "decided" if state in DECIDED else "closed"


def _is_due(case: Case, policy: Policy, now: datetime) -> bool:
    if case.open_dispute or case.decided_at is None:
        return False
    decided_before, closed_before = policy.cutoffs(now)
    if case.state in DECIDED:
        return case.decided_at < decided_before
    return case.state in CLOSED and case.decided_at < closed_before


def _years_before(moment: datetime, years: int) -> datetime:
    """The same calendar day ``years`` earlier (29 February becomes the 28th)."""
    try:
        return moment.replace(year=moment.year - years)
    except ValueError:
        return moment.replace(year=moment.year - years, day=28)


def purge_due_cases(session: Session) -> int:
    """The daily job: purge due cases, or only report them with ``retention_dry_run``."""
    settings = get_settings()
    policy = Policy.from_settings(settings)
    now = utcnow()
    due = list_due(session, policy=policy, now=now, limit=JOB_MAX_CASES)
    if settings.retention_dry_run:
        if due:
            log.warning(
                "cases are due for destruction; BGCHECK_RETENTION_DRY_RUN is on, so they are "
                "kept: run `bgcheck retention run --apply`",
                due=len(due),
            )
        return 0
    purged = 0
    for item in due:
        try:
            with session.begin_nested():  # one bad case must not hold back the others
                purged += purge_case(session, PURGER, case_id=item.case_id, policy=policy, now=now)
        except Exception:
            log.exception("could not purge a case", case_id=str(item.case_id))
    log.info("retention purge", purged=purged, more=len(due) == JOB_MAX_CASES)
    return purged
