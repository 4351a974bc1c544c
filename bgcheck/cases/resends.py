"""Sending a candidate's link again: a new link, the old one revoked, on the record.

HR sends an invitation again by firing ``invite`` again (the workflow allows it in
``awaiting_consent``; ``ISSUE_INVITATION`` issues a new link and queues its e-mail). A
notice is not a transition: the case stays where it is, so ``resend_notice`` is a
service of its own. A reviewer or manager who can reach the case issues a new link to
the notice the candidate has now (the pre-adverse notice while the case waits in
``pre_adverse_notice``, the final notice once it is ``not_cleared``); ``links.issue``
revokes the previous one. Recorded as ``case.notice_link_reissued``.

The new link is e-mailed to the candidate (``mailings.queue_link``: one message per
link, so each resend is a message of its own) and also returned, to be shown once to the
person who asked.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from sqlmodel import Session

from bgcheck import audit, policy
from bgcheck.cases import links, mailings
from bgcheck.cases.context import CaseContext
from bgcheck.cases.service import get_visible
from bgcheck.identity.actors import Actor
from bgcheck.models import Case, DocumentKind, LinkPurpose
from bgcheck.platform.errors import Conflict
from workflow import State

# The notice a candidate has in each state where one can be sent again.
NOTICE_IN: Final = {
    State.PRE_ADVERSE_NOTICE: DocumentKind.PRE_ADVERSE_NOTICE,
    State.NOT_CLEARED: DocumentKind.FINAL_NOTICE,  # reached only by finalize_adverse
}
TEMPLATE: Final = {
    DocumentKind.PRE_ADVERSE_NOTICE: mailings.PRE_ADVERSE_NOTICE,
    DocumentKind.FINAL_NOTICE: mailings.FINAL_NOTICE,
}
# As when first issued (``effects.NOTICE_LINK_LIFETIME``): readable at least 60 days (the
# final notice promises a free copy of the report within 60 days), and until the
# dispute deadline of a pre-adverse notice if that is later.
LIFETIME: Final = timedelta(days=60)


@dataclass(frozen=True, slots=True)
class ResentNotice:
    case: Case
    notice: DocumentKind
    token: str  # shown once to the person who asked, never stored in clear
    expires_at: datetime
    emailed: bool  # True only when an e-mail with the link was queued


def notice_to_resend(case: Case) -> DocumentKind | None:
    """The notice whose link can be sent again in the case's state, if any."""
    return NOTICE_IN.get(case.state)


def resend_notice(
    session: Session, ctx: CaseContext, actor: Actor, *, case_id: uuid.UUID, now: datetime
) -> ResentNotice:
    """A new link to the case's current notice; the old link stops working."""
    case = get_visible(
        session, ctx, actor, case_id, action=policy.Action.RESEND_NOTICE, for_update=True
    )
    notice = notice_to_resend(case)
    if notice is None:
        raise Conflict(
            "this case has no notice to send again: a notice link can be sent again while "
            "the case is in its waiting period (pre-adverse notice) or after the final notice"
        )
    until = max(now + LIFETIME, case.adverse_deadline or now)
    link, token = links.issue(
        session, case_id=case.id, purpose=LinkPurpose.NOTICE, now=now, lifetime=until - now
    )
    emailed = mailings.queue_link(
        session, ctx, case_id=case.id, template=TEMPLATE[notice], link_id=link.id,
        token=token, now=now,
    )  # fmt: skip
    audit.record(
        session,
        actor.audit_actor,
        action="case.notice_link_reissued",
        target=audit.Target.of("case", case.id),
        data={"notice": notice.value, "link": str(link.id), "emailed": emailed},
        now=now,
    )
    return ResentNotice(case, notice, token, link.expires_at, emailed)
