"""Demo data for the embedded mode: departments and one account per role.

The passwords, and the one TOTP secret every demo account's second factor uses, are
published in the README, so ``bgcheck demo`` refuses to run against anything but the
embedded SQLite database unless told otherwise. ``bgcheck demo code`` prints the code an
authenticator app with that secret shows now.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlmodel import Session, select

from bgcheck import audit
from bgcheck.cases import service as case_service
from bgcheck.cases.context import CaseContext
from bgcheck.identity import mfa
from bgcheck.identity import users as user_service
from bgcheck.identity.actors import Actor, load_actor
from bgcheck.models import Case, User
from bgcheck.platform.settings import Settings
from workflow import ConsentBody, Event, Role, State

# One published password for every demo account; never seed these outside a demo.
DEMO_PASSWORD: Final = "demo-password-2026"  # noqa: S105
# One published TOTP secret for every demo account's second factor (README): add it to an
# authenticator app, or run `bgcheck demo code`.
DEMO_TOTP_SECRET: Final = "BGCHECKDEMOSECRETPUBLISHEDREADME"  # noqa: S105

DEPARTMENTS: Final = (
    ("FAC", "Facilities"),
    ("ATH", "Athletics"),
    ("LIB", "University Libraries"),
)


@dataclass(frozen=True)
class DemoUser:
    email: str
    display_name: str
    roles: tuple[Role, ...]
    departments: tuple[str, ...] = ()

    @property
    def password(self) -> str:
        return DEMO_PASSWORD


USERS: Final = (
    DemoUser("hr@demo.bgcheck.test", "Harper Reyes (HR, Facilities)", (Role.HR,), ("FAC",)),
    DemoUser("hr.athletics@demo.bgcheck.test", "Sam Ortiz (HR, Athletics)", (Role.HR,), ("ATH",)),
    DemoUser("reviewer@demo.bgcheck.test", "Riley Chen (EM reviewer)", (Role.REVIEWER,)),
    DemoUser("manager@demo.bgcheck.test", "Morgan Patel (EM manager)", (Role.MANAGER,)),
    DemoUser("auditor@demo.bgcheck.test", "Avery Brooks (auditor)", (Role.AUDITOR,)),
    DemoUser("admin@demo.bgcheck.test", "Alex Kim (administrator)", (Role.ADMIN,)),
)


def seed(
    session: Session, actor: audit.AuditActor, box: mfa.SecretBox, now: datetime
) -> list[DemoUser]:
    """Create what is missing; running it twice changes nothing the second time.

    Every demo account gets ``DEMO_TOTP_SECRET`` as its authenticator (an account from an
    older demo without one gets it too).
    """
    for code, name in DEPARTMENTS:
        user_service.ensure_department(session, actor, code=code, name=name)
    existing = {user.email: user for user in session.exec(select(User)).all()}
    created = []
    for demo_user in USERS:
        user = existing.get(demo_user.email)
        if user is None:
            user = user_service.create_user(
                session,
                actor,
                email=demo_user.email,
                display_name=demo_user.display_name,
                roles=demo_user.roles,
                department_codes=demo_user.departments,
                password=demo_user.password,
            )
            created.append(demo_user)
        if not mfa.is_enrolled(user):
            # Enrolled with the code of the step before now: the one `bgcheck demo code`
            # prints right after is still fresh.
            step = mfa.step_at(now) - 1
            mfa.enroll(
                session,
                actor,
                box,
                user_id=user.id,
                secret=DEMO_TOTP_SECRET,
                code=mfa.code_at(DEMO_TOTP_SECRET, step),
                now=now,
            )
    return created


def current_code(now: datetime) -> tuple[str, int]:
    """The demo accounts' code now, and for how many more seconds it is the newest."""
    step = mfa.step_at(now)
    left = (step + 1) * mfa.STEP_SECONDS - int(now.timestamp())
    return mfa.code_at(DEMO_TOTP_SECRET, step), left


# (candidate, position, how far the case goes): a dozen cases over the lifecycle.
DEMO_CASES: Final = (
    ("Ada", "Lovelace", "Groundskeeper", "draft"),
    ("Alan", "Turing", "Custodian", "awaiting_consent"),
    ("Grace", "Hopper", "Electrician", "consent_received"),
    ("Katherine", "Johnson", "Shuttle Driver", "ready"),
    ("Edsger", "Dijkstra", "Locksmith", "submitted"),
    ("Barbara", "Liskov", "HVAC Technician", "pending_review"),
    ("Donald", "Knuth", "Plumber", "under_review"),
    ("Frances", "Allen", "Carpenter", "cleared"),
    ("John", "Backus", "Painter", "adverse_proposed"),
    ("Margaret", "Hamilton", "Mason", "pre_adverse_notice"),
    ("Dennis", "Ritchie", "Roofer", "not_cleared"),
    ("Radia", "Perlman", "Mechanic", "cancelled"),
)
ADVERSE_TARGETS: Final = frozenset({"adverse_proposed", "pre_adverse_notice", "not_cleared"})
ASSESSMENT: Final = {
    "findings": ["2019 conviction, larceny over $1,200 (sandbox finding)"],
    "nature_and_gravity": "Felony theft from an employer.",
    "time_elapsed": "Six years; no later record.",
    "job_relevance": "The position has keys to every building.",
}


def seed_cases(session: Session, ctx: CaseContext, now: datetime) -> int:
    """A dozen cases spread over the states, made through the real services (once)."""
    if session.exec(select(Case)).first() is not None:
        return 0
    staff = {
        name: load_actor(session, user_id)
        for name in ("hr", "reviewer", "manager")
        for user_id in session.exec(
            select(User.id).where(User.email == f"{name}@demo.bgcheck.test")
        )
    }
    for given, family, position, target in DEMO_CASES:
        _walk(session, ctx, staff, given, family, position, State(target), now)
    return len(DEMO_CASES)


def _walk(
    session: Session,
    ctx: CaseContext,
    staff: dict[str, Actor | None],
    given: str,
    family: str,
    position: str,
    target: State,
    now: datetime,
) -> None:
    """Create the case, then take the next step of the happy (or adverse) path until
    ``target``; a step the rules refuse now (finalizing before the deadline) ends it."""
    email = f"{given.lower()}.{family.lower()}@example.org"
    body = {
        "department": "FAC",
        "position_title": position,
        "package": "standard",
        "candidate": {"given_name": given, "family_name": family, "email": email},
    }
    hr = staff["hr"]
    assert hr is not None
    case = case_service.create_case(session, ctx, hr, body=body, now=now)
    adverse = target.value in ADVERSE_TARGETS
    consent = ConsentBody.example() | {
        "given_name": given,
        "family_name": family,
        "signature": f"{given} {family}",
        "disclosure_version": ctx.settings.disclosure_version,
        # The sandbox vendor's rule: an SSN ending in 0000 has a criminal-record finding.
        "ssn": "123-45-0000" if adverse else "123-45-6789",
    }
    steps: dict[State, tuple[str, Event, dict[str, Any]]] = {
        State.DRAFT: ("hr", Event.CANCEL, {"reason": "The position was withdrawn."})
        if target is State.CANCELLED
        else ("hr", Event.INVITE, {}),
        State.AWAITING_CONSENT: ("candidate", Event.CONSENT, consent),
        State.CONSENT_RECEIVED: (
            "hr",
            Event.VERIFY_IDENTITY,
            {"id_type": "drivers_license", "id_last4": "4321", "attested": True},
        ),
        State.READY: ("hr", Event.ORDER, {}),
        State.SUBMITTED: (
            "vendor",
            Event.VENDOR_COMPLETE,
            {"result": "consider" if adverse else "clear"},
        ),
        State.PENDING_REVIEW: ("reviewer", Event.CLAIM, {}),
        State.UNDER_REVIEW: ("reviewer", Event.PROPOSE_ADVERSE, ASSESSMENT)
        if adverse
        else ("reviewer", Event.CLEAR, {"note": "No findings."}),
        State.ADVERSE_PROPOSED: ("manager", Event.APPROVE_ADVERSE, {}),
        State.PRE_ADVERSE_NOTICE: ("reviewer", Event.FINALIZE_ADVERSE, {}),
    }
    token = None
    while case.state is not target and case.state in steps:
        who, event, payload = steps[case.state]
        try:
            if who == "candidate":
                assert token is not None
                outcome = case_service.fire_as_candidate(
                    session, ctx, token=token, event=event, body=payload, now=now
                )
            elif who == "vendor":
                outcome = case_service.fire_as_system(
                    session,
                    ctx,
                    case_id=case.id,
                    event=event,
                    body=payload,
                    now=now,
                    as_role=Role.VENDOR,
                )
            else:
                actor = staff[who]
                assert actor is not None
                outcome = case_service.fire(
                    session,
                    ctx,
                    actor,
                    case_id=case.id,
                    event=event,
                    body=payload,
                    expected_version=None,
                    now=now,
                )
        except case_service.Refused:
            return  # e.g. not_cleared needs the waiting period to pass first
        case, token = outcome.case, outcome.portal_token or token


def instructions(created: list[DemoUser], settings: Settings) -> str:
    lines = [
        f"Demo accounts ({len(created)} new) — sign in at {settings.public_url}/ "
        f"(the API: {settings.public_url}/docs):"
    ]
    lines += [f"  {u.email:<34} {u.password:<26} {', '.join(u.roles)}" for u in USERS]
    lines += [
        "Each sign-in also asks for a 6-digit code: run `bgcheck demo code` in another",
        f"terminal, or add the demo secret {mfa.grouped(DEMO_TOTP_SECRET)} to an",
        "authenticator app (time-based, 6 digits, 30 seconds).",
    ]
    return "\n".join(lines)
