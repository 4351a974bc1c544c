"""Cases: HR's requests, the workflow's events, history and the audited PII reveal."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from sqlmodel import Session

from api.deps import (
    CaseCtx,
    CurrentActor,
    CurrentReader,
    DbSession,
    JsonObject,
    ReadSession,
    permit,
)
from api.errors import problems
from api.openapi import json_body, link_to
from api.schemas.cases import (
    CasePage,
    CaseRead,
    CaseSearch,
    EventResult,
    HistoryEntry,
    NoticeLinkRead,
    ReportRead,
    RevealedPii,
)
from api.schemas.times import IsoTime
from api.versions import etag, parse_if_match
from bgcheck import policy
from bgcheck.cases import idempotency, links, reports, resends
from bgcheck.cases import search as search_service
from bgcheck.cases import service as case_service
from bgcheck.cases import views as case_views
from bgcheck.cases.context import CaseContext
from bgcheck.cases.queries import CaseFilter
from bgcheck.identity.actors import Actor
from bgcheck.models import utcnow
from bgcheck.platform.errors import InvalidInput
from workflow import PAYLOADS, STAFF_EVENTS, CreateBody, Event, State

router = APIRouter(prefix="/api/v1/cases", tags=["cases"])

IdempotencyKey = Annotated[
    str | None,
    Header(description="Send the same key to retry safely: the first answer is replayed."),
]
IfMatch = Annotated[
    str | None,
    Header(description='The `ETag` you read (e.g. `"3"`): a stale one gets 412.'),
]

CASE_ID = "$response.body#/id"
# From an answer that carries a case: read it, its history, and fire the first event the
# caller may fire now (with the ETag just received).
CASE_LINKS = {
    "GetCase": link_to("get", "/api/v1/cases/{case_id}", "Read the case.", case_id=CASE_ID),
    "GetHistory": link_to(
        "get", "/api/v1/cases/{case_id}/history", "Its transitions.", case_id=CASE_ID
    ),
    "FireAllowedEvent": link_to(
        "post",
        "/api/v1/cases/{case_id}/events/{event}",
        "Fire the first of `allowed_events`.",
        case_id=CASE_ID,
        event="$response.body#/allowed_events/0",
        **{"header.if-match": "$response.header.ETag"},
    ),
}


def once(
    db: Session,
    ctx: CaseContext,
    actor: Actor,
    request: Request,
    key: str | None,
    body: Any,
    status: int,
    change: Callable[[], tuple[CaseRead, dict[str, str]]],
) -> Response:
    """Run ``change``, or replay the answer it gave the first time this key was sent."""
    if key is None:
        result, headers = change()
        return JSONResponse(jsonable_encoder(result), status_code=status, headers=headers)
    slot = idempotency.slot(
        principal=str(actor.user_id),
        method=request.method,
        path=request.url.path,
        key=key,
        body=body,
    )
    stored = idempotency.replay(db, slot)
    if stored is not None:
        # The caller as they are now: a replay is refused ("not found") once they lost the
        # case, and shows the candidate and the result only if they may still see them.
        _, now_seen = case_views.get(db, ctx, actor, stored.case_id, utcnow())
        body = idempotency.body_of(db, ctx.vault, stored) | CaseRead.of(now_seen).model_dump(
            mode="json", include={"candidate", "vendor_result"}
        )
        replayed = {**stored.headers, "Idempotent-Replayed": "true"}
        return JSONResponse(body, status_code=stored.status, headers=replayed)
    result, headers = change()
    encoded = jsonable_encoder(result)
    idempotency.remember(
        db,
        ctx.vault,
        slot,
        case_id=result.id,
        status=status,
        body=encoded,
        headers=headers,
        now=utcnow(),
    )
    return JSONResponse(encoded, status_code=status, headers=headers)


@router.post(
    "",
    status_code=201,
    response_model=CaseRead,
    responses={**problems(400, 401, 403, 404, 409, 422), 201: {"links": CASE_LINKS}},
    openapi_extra=json_body(CreateBody, description="HR's request (validated by the workflow)."),
)
def create_case(
    body: JsonObject,
    request: Request,
    db: DbSession,
    actor: CurrentActor,
    ctx: CaseCtx,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """HR requests a check: `{department, position_title, package, candidate}`."""

    def create() -> tuple[CaseRead, dict[str, str]]:
        now = utcnow()
        case = case_service.create_case(db, ctx, actor, body=body, now=now)
        headers = {"ETag": etag(case), "Location": f"/api/v1/cases/{case.id}"}
        return CaseRead.of(case_views.seen(db, ctx, actor, case, now)), headers

    return once(db, ctx, actor, request, idempotency_key, body, 201, create)


@router.get(
    "",
    dependencies=[permit(policy.Action.READ_CASE, read_only=True)],
    responses=problems(401, 403, 422),
)
def list_all(
    request: Request,
    db: ReadSession,
    actor: CurrentReader,
    ctx: CaseCtx,
    state: State | None = None,
    department: str | None = Query(default=None, max_length=32),
    assigned_to: uuid.UUID | None = None,
    created_after: IsoTime | None = None,
    created_before: IsoTime | None = None,
    oldest_first: bool = Query(default=False, description="The review queue's order."),
    limit: int = Query(default=50, ge=1, le=100),
    cursor: str | None = Query(default=None, max_length=200),
) -> CasePage:
    """The cases you may see, newest first (or oldest first), a page at a time.

    Filters that hold no personal data only: to find a candidate by email, SSN or name and
    date of birth, use `POST /api/v1/cases/search` (the key goes in the body, not the URL).
    """
    if "q" in request.query_params:
        # Searching here once put an SSN or a date of birth in the URL (and access logs).
        raise InvalidInput(
            "q: searching moved out of the address; send the key to POST /api/v1/cases/search"
        )
    filters = CaseFilter(
        state=state,
        department=department,
        assigned_to=assigned_to,
        created_after=created_after,
        created_before=created_before,
        oldest_first=oldest_first,
    )
    return CasePage.of(
        case_views.listing(db, ctx, actor, filters, limit=limit, cursor=cursor, now=utcnow())
    )


@router.post("/search", responses=problems(400, 401, 403, 422, 429))
def search(body: CaseSearch, db: DbSession, actor: CurrentActor, ctx: CaseCtx) -> CasePage:
    """Exact match through the blind indexes: `{email}`, `{ssn}` or `{family_name,
    date_of_birth}`. hr may search by email only. Each search is recorded (the kind of key,
    never its value) and limited per user (429 with `Retry-After`)."""
    found = search_service.search_cases(
        db,
        ctx,
        actor,
        email=body.email,
        ssn=body.ssn,
        family_name=body.family_name,
        date_of_birth=body.date_of_birth,
        limit=body.limit,
        cursor=body.cursor,
        now=utcnow(),
    )
    return CasePage.of(found)


@router.get("/{case_id}", responses={**problems(401, 403, 404, 422), 200: {"links": CASE_LINKS}})
def get_case(
    case_id: uuid.UUID, response: Response, db: ReadSession, actor: CurrentReader, ctx: CaseCtx
) -> CaseRead:
    case, seen = case_views.get(db, ctx, actor, case_id, utcnow())
    response.headers["ETag"] = etag(case)
    return CaseRead.of(seen)


@router.post(
    "/{case_id}/events/{event}",
    response_model=EventResult,
    responses={**problems(400, 401, 403, 404, 409, 412, 422), 200: {"links": CASE_LINKS}},
    openapi_extra=json_body(
        *dict.fromkeys(PAYLOADS[event] for event in STAFF_EVENTS),
        description="Depends on the event: "
        + "; ".join(f"`{event}`: {PAYLOADS[event].__name__}" for event in STAFF_EVENTS)
        + ". Checked after your role and the case's state (403, 409 before 422).",
        required=False,
    ),
)
def fire_event(
    case_id: uuid.UUID,
    event: Event,
    request: Request,
    db: DbSession,
    actor: CurrentActor,
    ctx: CaseCtx,
    body: JsonObject,
    if_match: IfMatch = None,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Fire a workflow event; the body depends on the event (see docs/workflow.md)."""
    expected_version = parse_if_match(if_match)

    def fire() -> tuple[EventResult, dict[str, str]]:
        now = utcnow()
        outcome = case_service.fire(
            db,
            ctx,
            actor,
            case_id=case_id,
            event=event,
            body=body,
            expected_version=expected_version,
            now=now,
        )
        new_links: dict[str, str] = {}
        if outcome.portal_token:
            url = links.portal_url(ctx.settings, outcome.portal_token)
            new_links["invitation_url" if event is Event.INVITE else "notice_url"] = url
        seen = case_views.page(db, ctx, actor, [outcome.case], now)[0]
        result = EventResult.of(seen, **new_links)
        return result, {"ETag": etag(outcome.case)}

    return once(db, ctx, actor, request, idempotency_key, body, 200, fire)


@router.post("/{case_id}/notice-link", responses=problems(401, 403, 404, 409, 422))
def resend_notice(
    case_id: uuid.UUID, db: DbSession, actor: CurrentActor, ctx: CaseCtx
) -> NoticeLinkRead:
    """Send the candidate's notice again: a new link (the old one revoked), while the case
    is in its waiting period or after the final notice; 409 otherwise. Audited as
    `case.notice_link_reissued`. Reviewers and managers, on a case they can reach."""
    resent = resends.resend_notice(db, ctx, actor, case_id=case_id, now=utcnow())
    return NoticeLinkRead(
        case_id=resent.case.id,
        notice=resent.notice.value,
        notice_url=links.portal_url(ctx.settings, resent.token),
        expires_at=resent.expires_at,
        emailed=resent.emailed,
    )


@router.get("/{case_id}/history", responses=problems(401, 403, 404, 422))
def history(
    case_id: uuid.UUID, db: ReadSession, actor: CurrentReader, ctx: CaseCtx
) -> list[HistoryEntry]:
    """Every transition: event, from, to, who and when (from the audit trail)."""
    return [
        HistoryEntry.model_validate(item, from_attributes=True)
        for item in case_views.history(db, ctx, actor, case_id)
    ]


@router.get("/{case_id}/pii", responses=problems(401, 403, 404, 422))
def reveal_pii(case_id: uuid.UUID, db: DbSession, actor: CurrentActor, ctx: CaseCtx) -> RevealedPii:
    """The candidate's full PII, unmasked. Every call is recorded with the fields shown."""
    return RevealedPii(fields=case_views.reveal_pii(db, ctx, actor, case_id))


@router.get("/{case_id}/report", responses=problems(401, 403, 404, 422))
def read_report(case_id: uuid.UUID, db: DbSession, actor: CurrentActor, ctx: CaseCtx) -> ReportRead:
    """The vendor report: each check run, with its findings. Every read is recorded, in
    the audit trail and in the CORI dissemination log; 404 until the vendor has answered."""
    return ReportRead.model_validate(reports.read_report(db, ctx, actor, case_id, now=utcnow()))


@router.get("/{case_id}/notices", responses=problems(401, 403, 404, 422))
def read_notices(
    case_id: uuid.UUID, db: DbSession, actor: CurrentActor, ctx: CaseCtx
) -> list[dict[str, Any]]:
    """The adverse-action notices sent to the candidate. Reading them is a CORI release,
    recorded in the dissemination log."""
    return case_views.notices(db, ctx, actor, case_id, utcnow())
