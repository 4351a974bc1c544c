"""The staff's case pages: HR's requests and cases, the EM review desk.

Every page reads through the same read side as the API (``bgcheck.cases.views``:
the masked view, lists, the timeline, the audited reveal) and changes cases only through
``bgcheck.cases.service``. The actions on a
case are exactly its ``allowed_events``, so a page can never offer what the rules
refuse.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import timedelta
from typing import Any, Final

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse
from sqlmodel import Session

from api.deps import CaseCtx, DbSession, ReadSession
from api.errors import status_of
from api.pages.forms import EVENT_BODIES, FormErrors, create_body, event_body, form_errors
from api.pages.web import (
    PageActor,
    PageReader,
    PageRoute,
    SignedForm,
    render,
    templates,
)
from api.versions import parse_version
from bgcheck import policy
from bgcheck.cases import links, reports, resends
from bgcheck.cases import queries as case_queries
from bgcheck.cases import service as case_service
from bgcheck.cases import views as case_views
from bgcheck.cases.context import CaseContext
from bgcheck.cases.queries import CaseFilter
from bgcheck.identity.actors import Actor
from bgcheck.models import utcnow
from bgcheck.platform.errors import BgcheckError, InvalidInput, NotFound
from workflow import STAFF_EVENTS, Event, State

router = APIRouter(route_class=PageRoute, include_in_schema=False)

# The review desk's queue: the states in which a case waits for EM.
QUEUE_STATES: Final = (
    State.PENDING_REVIEW,
    State.UNDER_REVIEW,
    State.ADVERSE_PROPOSED,
    State.DISPUTED,
    State.PRE_ADVERSE_NOTICE,
)
# A case waiting on EM longer than this is highlighted as overdue (a display choice, not
# a rule: nothing is refused because of it). Finalizing is overdue once it is due.
REVIEW_TARGET: Final = timedelta(days=3)

EVENT_LABELS: Final[Mapping[Event, str]] = {
    Event.INVITE: "Send the invitation",
    Event.VERIFY_IDENTITY: "Record the identity check",
    Event.ORDER: "Order the background check",
    Event.CANCEL: "Cancel this request",
    Event.CLAIM: "Claim this case",
    Event.ASSIGN: "Assign to a reviewer",
    Event.CLEAR: "Clear the candidate",
    Event.PROPOSE_ADVERSE: "Propose adverse action",
    Event.APPROVE_ADVERSE: "Approve the adverse action",
    Event.REJECT_ADVERSE: "Reject the adverse action",
    Event.RESOLVE_DISPUTE: "Resolve the dispute",
    Event.FINALIZE_ADVERSE: "Finalize the adverse action",
}
DONE: Final[Mapping[Event | str, str]] = {
    Event.INVITE: "Invitation queued: the candidate gets it by e-mail.",
    Event.VERIFY_IDENTITY: "Identity check recorded.",
    Event.ORDER: "The background check was ordered.",
    Event.CANCEL: "The request was cancelled.",
    Event.CLAIM: "You claimed this case.",
    Event.ASSIGN: "The case was assigned.",
    Event.CLEAR: "The candidate was cleared.",
    Event.PROPOSE_ADVERSE: "Adverse action proposed; a manager must approve it.",
    Event.APPROVE_ADVERSE: "Approved: the pre-adverse notice was issued to the candidate.",
    Event.REJECT_ADVERSE: "The proposal was rejected; the case is back under review.",
    Event.RESOLVE_DISPUTE: "The dispute was resolved; the case is back under review.",
    Event.FINALIZE_ADVERSE: "Finalized: the adverse action notice was issued.",
    "create": "Request created. Invite the candidate when you are ready.",
}


def check_event_pages(
    labels: Mapping[Event, str] = EVENT_LABELS,
    done: Mapping[Event | str, str] = DONE,
    bodies: Mapping[Event, object] = EVENT_BODIES,
) -> None:
    """Raise ``TypeError`` unless every staff event has a button label, a confirmation
    and a form body (the template's fields are checked by a test)."""
    for name, table in (("EVENT_LABELS", labels), ("DONE", done), ("EVENT_BODIES", bodies)):
        if missing := set(STAFF_EVENTS) - table.keys():
            raise TypeError(f"staff events missing from {name}: {sorted(missing)}")


check_event_pages()

ID_TYPES: Final = (
    ("drivers_license", "Driver's licence"),
    ("state_id", "State ID card"),
    ("passport", "Passport"),
    ("military_id", "Military ID"),
    ("other", "Other government photo ID"),
)


# -- lists ---------------------------------------------------------------------------------


@router.get("/cases")
def case_list(
    request: Request,
    db: ReadSession,
    actor: PageReader,
    ctx: CaseCtx,
    state: str | None = None,
    department: str | None = None,
    cursor: str | None = None,
) -> Response:
    """HR: my departments' cases. Auditors: every case's metadata. EM: every case."""
    policy.require(actor, policy.Action.READ_CASE)
    chosen = State(state) if state is not None and state in State.__members__.values() else None
    department = (department or "").strip()[:32] or None
    try:
        page = _list(db, actor, ctx, state=chosen, department=department, cursor=cursor)
    except InvalidInput:
        page, cursor = _list(db, actor, ctx, state=chosen, department=department), None
    return render(
        request,
        "cases.html",
        {
            "page": page,
            "states": list(State),
            "state": chosen,
            "department": department,
            "departments": case_queries.visible_departments(db, actor),
            "sees_contact": bool(policy.granted(actor, policy.Action.READ_CASE_CONTACT)),
        },
        actor=actor,
    )


def _list(
    db: Session,
    actor: Actor,
    ctx: CaseContext,
    *,
    state: State | None,
    department: str | None = None,
    cursor: str | None = None,
    oldest_first: bool = False,
    limit: int = 50,
) -> case_views.SeenPage:
    filters = CaseFilter(state=state, department=department, oldest_first=oldest_first)
    return case_views.listing(db, ctx, actor, filters, limit=limit, cursor=cursor, now=utcnow())


@router.get("/review")
def review_queue(request: Request, db: ReadSession, actor: PageReader, ctx: CaseCtx) -> Response:
    """The EM desk: every case waiting on EM, oldest first, overdue ones highlighted."""
    policy.require(actor, policy.Action.READ_REPORT)
    now = utcnow()
    items = [
        item
        for state in QUEUE_STATES
        for item in _list(db, actor, ctx, state=state, oldest_first=True, limit=100).items
    ]
    items.sort(key=lambda item: (item.created_at, str(item.id)))
    rows = [
        {
            "case": item,
            "overdue": item.ready_to_finalize
            or (
                item.state is not State.PRE_ADVERSE_NOTICE and now - item.updated_at > REVIEW_TARGET
            ),
            "mine": item.assigned_to == actor.user_id,
        }
        for item in items
    ]
    return render(
        request,
        "review.html",
        {"rows": rows, "labels": EVENT_LABELS, "target_days": REVIEW_TARGET.days},
        actor=actor,
    )


# -- a new request -------------------------------------------------------------------------


@router.get("/cases/new")
def new_request(request: Request, db: ReadSession, actor: PageReader) -> Response:
    policy.require(actor, policy.Action.CREATE_CASE)
    return _new_page(request, db, actor, {"package": "standard"}, FormErrors())


def _new_page(
    request: Request,
    db: Session,
    actor: Actor,
    values: dict[str, Any],
    errors: FormErrors,
    status: int = 200,
) -> Response:
    return render(
        request,
        "new_case.html",
        {
            "values": values,
            "errors": errors,
            "departments": case_queries.visible_departments(db, actor),
        },
        status=status,
        actor=actor,
    )


@router.post("/cases/new")
def create_request(
    request: Request, db: DbSession, actor: PageActor, ctx: CaseCtx, form: SignedForm
) -> Response:
    policy.require(actor, policy.Action.CREATE_CASE)
    try:
        case = case_service.create_case(db, ctx, actor, body=create_body(form), now=utcnow())
    except BgcheckError as exc:
        db.rollback()
        values = {key: value for key, value in form.items() if key != "csrf_token"}
        return _new_page(request, db, actor, values, form_errors(exc), status=status_of(exc))
    return RedirectResponse(f"/cases/{case.id}?done=create", status_code=303)


# -- one case ------------------------------------------------------------------------------


def _case_page(
    request: Request,
    db: Session,
    ctx: CaseContext,
    actor: Actor,
    case_id: uuid.UUID,
    *,
    status: int = 200,
    notice: str | None = None,
    errors: FormErrors | None = None,
    failed_event: Event | None = None,
    values: dict[str, Any] | None = None,
    portal_link: tuple[Event | str, str] | None = None,
    pii: dict[str, Any] | None = None,
    report: dict[str, Any] | None = None,
    report_missing: bool = False,
) -> Response:
    now = utcnow()
    _, view = case_views.get(db, ctx, actor, case_id, now)
    timeline = case_views.history(db, ctx, actor, case_id, with_mail=True)
    events = [event for event in view.allowed_events if event in EVENT_LABELS]
    return render(
        request,
        "case.html",
        {
            "case": view,
            "timeline": timeline,
            "events": events,
            "labels": EVENT_LABELS,
            "id_types": ID_TYPES,
            "notice": notice,
            "errors": errors or FormErrors(),
            "failed_event": failed_event,
            "values": values or {},
            "portal_link": portal_link,
            "pii": pii,
            "report": report,
            "report_missing": report_missing,
            "may_reveal": policy.may(actor, policy.Action.REVEAL_PII),
            "may_read_report": policy.may(actor, policy.Action.READ_REPORT),
            # The notice whose link this actor may send again now (its kind), else None.
            "resend_notice": _resendable(view.state, actor),
            "actor_id": actor.user_id,
        },
        status=status,
        actor=actor,
    )


def _resendable(state: State, actor: Actor) -> str | None:
    notice = resends.NOTICE_IN.get(state)
    return notice.value if notice and policy.may(actor, policy.Action.RESEND_NOTICE) else None


@router.get("/cases/{case_id}")
def case_page(
    request: Request,
    case_id: uuid.UUID,
    db: ReadSession,
    actor: PageReader,
    ctx: CaseCtx,
    done: str | None = None,
) -> Response:
    known = done is not None and done in Event.__members__.values()
    notice = DONE.get(Event(done)) if known and done is not None else DONE.get(done or "")
    return _case_page(request, db, ctx, actor, case_id, notice=notice)


@router.post("/cases/{case_id}/events/{event}")
def fire_event(
    request: Request,
    case_id: uuid.UUID,
    event: str,
    db: DbSession,
    actor: PageActor,
    ctx: CaseCtx,
    form: SignedForm,
) -> Response:
    if event not in Event.__members__.values() or Event(event) not in EVENT_LABELS:
        raise NotFound("no such action")
    chosen = Event(event)
    sent = str(form.get("version") or "")
    version = parse_version(sent)
    if sent and version is None:  # only a tampered form: the page writes the case's version
        raise InvalidInput("This form's case version is not valid. Reload the case and retry.")
    try:
        outcome = case_service.fire(
            db,
            ctx,
            actor,
            case_id=case_id,
            event=chosen,
            body=event_body(chosen, form),
            expected_version=version,
            now=utcnow(),
        )
    except NotFound:
        raise
    except BgcheckError as exc:
        db.rollback()
        values = {key: value for key, value in form.items() if key != "csrf_token"}
        return _case_page(
            request,
            db,
            ctx,
            actor,
            case_id,
            status=status_of(exc),
            errors=form_errors(exc),
            failed_event=chosen,
            values=values,
        )
    if outcome.portal_token:
        # The candidate's new link (the invitation, or a notice): shown once, in this
        # answer only, never put in a URL or stored in clear. The e-mail carries it too
        # (sealed in its outbox job).
        url = links.portal_url(ctx.settings, outcome.portal_token)
        return _case_page(
            request, db, ctx, actor, case_id, notice=DONE[chosen], portal_link=(chosen, url)
        )
    return RedirectResponse(f"/cases/{case_id}?done={chosen.value}", status_code=303)


@router.post("/cases/{case_id}/notice-link")
def resend_notice(
    request: Request,
    case_id: uuid.UUID,
    db: DbSession,
    actor: PageActor,
    ctx: CaseCtx,
    form: SignedForm,
) -> Response:
    """A new link to the candidate's notice (``bgcheck.cases.resends``), shown once here."""
    resent = resends.resend_notice(db, ctx, actor, case_id=case_id, now=utcnow())
    url = links.portal_url(ctx.settings, resent.token)
    notice = "A new link to the notice was made; the earlier one no longer works."
    return _case_page(
        request, db, ctx, actor, case_id, notice=notice,
        portal_link=("resend_notice" if resent.emailed else "resend_notice_unmailed", url),
    )  # fmt: skip


@router.post("/cases/{case_id}/pii")
def reveal(
    request: Request,
    case_id: uuid.UUID,
    db: DbSession,
    actor: PageActor,
    ctx: CaseCtx,
    form: SignedForm,
) -> Response:
    """The candidate's full PII, after an explicit click; audited by ``case_views.reveal_pii``."""
    revealed = case_views.reveal_pii(db, ctx, actor, case_id)
    return _case_page(request, db, ctx, actor, case_id, pii=revealed)


@router.post("/cases/{case_id}/report")
def show_report(
    request: Request,
    case_id: uuid.UUID,
    db: DbSession,
    actor: PageActor,
    ctx: CaseCtx,
    form: SignedForm,
) -> Response:
    """The vendor report, after an explicit click: a CORI release, audited and logged.

    With it: the individualized assessment of a pending proposal (what a manager
    approves) and the candidate's dispute statements (what a reviewer resolves).
    """
    now = utcnow()
    case = case_service.get_visible(db, ctx, actor, case_id, action=policy.Action.READ_REPORT)
    try:
        report = reports.read_report(db, ctx, actor, case.id, now=now)
    except NotFound:
        return _case_page(request, db, ctx, actor, case_id, report_missing=True)
    return _case_page(request, db, ctx, actor, case_id, report=report)


def finding_label(finding: dict[str, Any]) -> str:
    """One line per finding, as the propose-adverse form lists them."""
    parts = [finding.get("offense"), finding.get("jurisdiction"), finding.get("disposition")]
    when = finding.get("offense_date")
    text = ", ".join(str(part) for part in parts if part)
    return f"{text} ({when})" if when else text


templates.filters["finding_label"] = finding_label
