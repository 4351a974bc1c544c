"""The candidate portal's API: no account, only the link's token (never logged: the access
log records route templates, not paths)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body

from api.deps import CaseCtx, DbSession, ReadSession
from api.errors import problems
from api.schemas.cases import PortalView
from bgcheck.cases import links
from bgcheck.cases import service as case_service
from bgcheck.models import Case, DocumentKind, LinkPurpose, utcnow
from workflow import Event, State

router = APIRouter(prefix="/api/v1/portal", tags=["candidate portal"])

DISCLOSURE_TEXT = (
    "{org} may obtain a consumer report about you, which may include criminal offender "
    "record information (CORI), from a consumer reporting agency for employment purposes. "
    "This disclosure is a document of its own, as the Fair Credit Reporting Act requires."
)


@router.get("/{token}", responses=problems(404, 422))
def portal(token: str, db: ReadSession, ctx: CaseCtx) -> PortalView:
    """What the candidate may do now: sign the disclosure, or read a notice and dispute.

    Once the consent link was used, only `authorization_received: true`, without the
    case's `state`.
    """
    now = utcnow()
    link = links.resolve(db, token, now=now)
    case = db.get(Case, link.case_id)
    assert case is not None
    view = PortalView(
        purpose=link.purpose.value,
        organisation=ctx.settings.org_name,
        position_title=case.position_title,
    )
    if link.purpose is LinkPurpose.CONSENT and link.used_at is not None:
        # The link stays readable until it expires, and whoever holds it (a shared inbox,
        # a forwarded mail) would see the case go to "cleared" or "not_cleared": a used
        # link says only that the authorization arrived.
        view.authorization_received = True
        return view
    view.state = case.state
    if link.purpose is LinkPurpose.CONSENT:
        view.disclosure = {
            "version": ctx.settings.disclosure_version,
            "text": DISCLOSURE_TEXT.format(org=ctx.settings.org_name),
        }
        return view
    notices: list[dict[str, Any]] = []
    for kind in (DocumentKind.PRE_ADVERSE_NOTICE, DocumentKind.FINAL_NOTICE):
        notices += ctx.vault.documents(db, case.id, kind)
    view.notices = notices
    view.dispute_deadline = case.adverse_deadline
    view.can_dispute = (
        case.state is State.PRE_ADVERSE_NOTICE
        and case.adverse_deadline is not None
        and now < case.adverse_deadline
        and link.used_at is None
    )
    return view


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
