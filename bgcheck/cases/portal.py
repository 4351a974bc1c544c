"""What a candidate's link lets them see and do now: the read side of the portal, for the
API's ``GET /api/v1/portal/{token}`` and the portal pages alike."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from sqlmodel import Session

from bgcheck.cases import links
from bgcheck.cases import service as case_service
from bgcheck.cases.service import CANDIDATE, CaseContext
from bgcheck.models import Case, DocumentKind, LinkPurpose
from workflow import Event, State, allowed_events

DISCLOSURE_TEXT: Final = (
    "{org} may obtain a consumer report about you, which may include criminal offender "
    "record information (CORI), from a consumer reporting agency for employment purposes. "
    "This disclosure is a document of its own, as the Fair Credit Reporting Act requires."
)


@dataclass(frozen=True, slots=True)
class PortalSeen:
    """What the holder of a link sees (the API's ``PortalView``, the portal's pages)."""

    purpose: LinkPurpose
    organisation: str
    position_title: str
    state: State | None = None  # left out once a consent link was used
    authorization_received: bool = False
    disclosure: Mapping[str, str] | None = None
    notices: Sequence[dict[str, Any]] = field(default_factory=tuple)
    dispute_deadline: datetime | None = None
    can_dispute: bool = False


def get(session: Session, ctx: CaseContext, *, token: str, now: datetime) -> PortalSeen:
    """What the link allows now; an unknown or expired link is ``NotFound``.

    Once the consent link was used, only that the authorization arrived, without the
    case's state.
    """
    link = links.resolve(session, token, now=now)
    case = session.get(Case, link.case_id)
    assert case is not None
    shown: dict[str, Any] = {
        "purpose": link.purpose,
        "organisation": ctx.settings.org_name,
        "position_title": case.position_title,
    }
    if link.purpose is LinkPurpose.CONSENT and link.used_at is not None:
        # The link stays readable until it expires, and whoever holds it (a shared inbox,
        # a forwarded mail) would see the case go to "cleared" or "not_cleared": a used
        # link says only that the authorization arrived.
        return PortalSeen(**shown, authorization_received=True)
    if link.purpose is LinkPurpose.CONSENT:
        disclosure = {
            "version": ctx.settings.disclosure_version,
            "text": DISCLOSURE_TEXT.format(org=ctx.settings.org_name),
        }
        return PortalSeen(**shown, state=case.state, disclosure=disclosure)
    notices: list[dict[str, Any]] = []
    for kind in (DocumentKind.PRE_ADVERSE_NOTICE, DocumentKind.FINAL_NOTICE):
        notices += ctx.vault.documents(session, case.id, kind)
    return PortalSeen(
        **shown,
        state=case.state,
        notices=notices,
        dispute_deadline=case.adverse_deadline,
        can_dispute=link.used_at is None and _may_dispute(session, ctx, case, now),
    )


def _may_dispute(session: Session, ctx: CaseContext, case: Case, now: datetime) -> bool:
    """The workflow's own verdict: the dispute row's source state and deadline guard."""
    view = case_service.view(session, ctx, case, actor=None)
    return Event.DISPUTE in allowed_events(view, CANDIDATE, now, rules=ctx.rules)
