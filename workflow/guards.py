"""The conditions of the transition table, one plain function each.

A guard gets a ``Context`` and returns ``None`` when the event may happen, or a
``Refusal`` whose reason tells the user what is missing. Guards that read the body skip
that part when ``ctx.payload`` is None: ``allowed_events`` asks before any body exists,
so it checks only what does not depend on the body. The first line of each docstring is
shown in docs/workflow.md.

Two rules hold for every event and live in ``workflow.machine`` rather than here, so no
row can forget them: staff never act on a case whose candidate they are, and hr acts only
on its own departments' cases.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from pydantic import BaseModel

from workflow.decisions import Refusal, RefusalCode
from workflow.payloads import AssignBody, ConsentBody
from workflow.states import Role
from workflow.views import ActorView, CaseView, Rules


@dataclass(frozen=True)
class Context:
    """What a guard sees. ``payload`` is the validated body, or None when none is known."""

    case: CaseView
    actor: ActorView
    now: datetime
    rules: Rules
    payload: BaseModel | None = None


Guard = Callable[[Context], Refusal | None]


def when(moment: datetime) -> str:
    """A time as users read it in a refusal: ISO 8601, UTC, to the second."""
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def mailbox(email: str) -> str:
    """The mailbox an address delivers to, for "is this the same person?" checks only.

    Trimmed and case-folded, without a "+tag" (``pat+bg@`` reaches ``pat@``) and without
    the domain's trailing dot (``example.org.`` is ``example.org`` in DNS). Never used to
    find an address: for some providers ``pat+bg`` is another mailbox, and a false
    "same person" only keeps someone off a case.
    """
    local, at, domain = email.strip().casefold().rpartition("@")
    if not at:
        return domain
    return f"{local.partition('+')[0] or local}@{domain.rstrip('.')}"


def same_email(one: str | None, other: str | None) -> bool:
    """Two addresses of the same mailbox (see ``mailbox``): nobody acts on their own case."""
    if not one or not other:
        return False
    return mailbox(one) == mailbox(other)


def acknowledgement_valid_until(signed_at: datetime) -> datetime:
    """One year after signing; a 29 February signature lapses on 28 February."""
    try:
        return signed_at.replace(year=signed_at.year + 1)
    except ValueError:
        return signed_at.replace(year=signed_at.year + 1, day=28)


def _refuse(reason: str, code: RefusalCode = RefusalCode.GUARD) -> Refusal:
    return Refusal(code, reason)


def candidate_email_set(ctx: Context) -> Refusal | None:
    """The candidate's email is known: the invitation is sent there."""
    if not ctx.case.candidate_email:
        return _refuse("candidate email not set")
    return None


def invitation_open(ctx: Context) -> Refusal | None:
    """The invitation has not expired."""
    expires = ctx.case.invitation_expires_at
    if expires is not None and ctx.now >= expires:
        return _refuse(f"the invitation expired at {when(expires)}; ask HR for a new one")
    return None


def current_disclosure(ctx: Context) -> Refusal | None:
    """The candidate accepted the FCRA disclosure version the portal shows now."""
    expected = ctx.rules.disclosure_version
    if not isinstance(ctx.payload, ConsentBody) or expected is None:
        return None
    if ctx.payload.disclosure_version != expected:
        return _refuse(f"the disclosure has changed; read and accept version {expected}")
    return None


def acknowledgement_current(ctx: Context) -> Refusal | None:
    """Consent was given, and its CORI acknowledgement is less than one year old."""
    signed_at = ctx.case.consent_at
    if signed_at is None:
        return _refuse("consent not recorded")
    if ctx.now >= acknowledgement_valid_until(signed_at):
        return _refuse(
            "CORI acknowledgement older than one year; a new one is needed "
            "(invite the candidate again)"
        )
    return None


def acknowledgement_lapsed(ctx: Context) -> Refusal | None:
    """After consent, a new invitation only replaces an acknowledgement over a year old."""
    signed_at = ctx.case.consent_at
    if signed_at is not None and ctx.now < (until := acknowledgement_valid_until(signed_at)):
        return _refuse(
            f"the CORI acknowledgement is valid until {when(until)}; no new invitation is needed"
        )
    return None


def consented_and_verified(ctx: Context) -> Refusal | None:
    """A current consent, and the candidate's identity verified after it."""
    if refusal := acknowledgement_current(ctx):
        return refusal
    verified_at, signed_at = ctx.case.identity_verified_at, ctx.case.consent_at
    if verified_at is None or (signed_at is not None and verified_at < signed_at):
        return _refuse("identity not verified")
    return None


def assignee_is_not_candidate(ctx: Context) -> Refusal | None:
    """Nobody is assigned a case whose candidate they are."""
    if isinstance(ctx.payload, AssignBody) and same_email(
        ctx.payload.assignee, ctx.case.candidate_email
    ):
        return _refuse(
            "the assignee is the candidate of this case", RefusalCode.CONFLICT_OF_INTEREST
        )
    return None


def assigned_or_manager(ctx: Context) -> Refusal | None:
    """Reviewers act on the cases assigned to them; managers on any."""
    if Role.MANAGER in ctx.actor.roles:
        return None
    if ctx.case.assigned_to is None:
        return _refuse("nobody is assigned to this case; ask a manager to assign it")
    if ctx.case.assigned_to != ctx.actor.id:
        return _refuse(
            "this case is assigned to another reviewer; a manager can reassign it",
            RefusalCode.NOT_ASSIGNED,
        )
    return None


def approver_is_not_proposer(ctx: Context) -> Refusal | None:
    """The manager who approves an adverse action is not the one who proposed it."""
    if ctx.case.proposed_by is None:
        return _refuse("no adverse action has been proposed")
    if ctx.case.proposed_by == ctx.actor.id:
        return _refuse(
            "you proposed this adverse action; another manager must approve it",
            RefusalCode.CONFLICT_OF_INTEREST,
        )
    return None


def before_dispute_deadline(ctx: Context) -> Refusal | None:
    """The waiting period has not ended yet."""
    deadline = ctx.case.adverse_deadline
    if deadline is None:
        return _refuse("no dispute deadline has been set")
    if ctx.now >= deadline:
        return _refuse(f"the dispute period ended {when(deadline)}")
    return None


def waiting_period_over(ctx: Context) -> Refusal | None:
    """The waiting period has ended and no dispute is open."""
    deadline = ctx.case.adverse_deadline
    if deadline is None:
        return _refuse("no waiting period has been started")
    if ctx.now < deadline:
        return _refuse(f"the waiting period ends {when(deadline)}")
    if ctx.case.open_dispute:
        return _refuse("a dispute is open; resolve it first")
    return None


def invitation_lapsed(ctx: Context) -> Refusal | None:
    """The invitation is past its expiry."""
    expires = ctx.case.invitation_expires_at
    if expires is None:
        return _refuse("the invitation has no expiry recorded")
    if ctx.now < expires:
        return _refuse(f"the invitation is valid until {when(expires)}")
    return None
