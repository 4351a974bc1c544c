"""The candidate portal's API: no account, only the link's token (never logged: the access
log records route templates, not paths)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body

from api.deps import CaseCtx, DbSession, ReadSession
from api.errors import problems
from api.schemas.cases import PortalView
from bgcheck.cases import portal as portal_service
from bgcheck.cases import service as case_service
from bgcheck.models import utcnow
from workflow import Event

router = APIRouter(prefix="/api/v1/portal", tags=["candidate portal"])


@router.get("/{token}", responses=problems(404, 422))
def portal(token: str, db: ReadSession, ctx: CaseCtx) -> PortalView:
    """What the candidate may do now: sign the disclosure, or read a notice and dispute.

    Once the consent link was used, only `authorization_received: true`, without the
    case's `state`.
    """
    seen = portal_service.get(db, ctx, token=token, now=utcnow())
    return PortalView(
        purpose=seen.purpose.value,
        organisation=seen.organisation,
        position_title=seen.position_title,
        state=seen.state,
        authorization_received=seen.authorization_received,
        disclosure=dict(seen.disclosure) if seen.disclosure is not None else None,
        notices=list(seen.notices),
        dispute_deadline=seen.dispute_deadline,
        can_dispute=seen.can_dispute,
    )


@router.post("/{token}/consent", status_code=204, responses=problems(400, 404, 409, 422))
def consent(
    token: str, body: Annotated[dict[str, Any], Body()], db: DbSession, ctx: CaseCtx
) -> None:
    """The signed authorization, CORI acknowledgement and PII (see docs/workflow.md)."""
    case_service.fire_as_candidate(
        db, ctx, token=token, event=Event.CONSENT, body=body, now=utcnow()
    )


@router.post("/{token}/dispute", status_code=204, responses=problems(400, 404, 409, 422))
def dispute(
    token: str, body: Annotated[dict[str, Any], Body()], db: DbSession, ctx: CaseCtx
) -> None:
    """`{statement}`, before the deadline shown with the notice."""
    case_service.fire_as_candidate(
        db, ctx, token=token, event=Event.DISPUTE, body=body, now=utcnow()
    )
