"""A used consent link tells nothing of the case (issue 15).

The link stays readable for its 14 days, and whoever holds it (a shared mailbox, a
forwarded message) could follow the case to ``cleared`` or ``not_cleared``. Once used, it
says only that the authorization arrived, in the API and on the page. Notice links
still show the case's notices and state, as before.
"""

from __future__ import annotations

import re

from bgcheck.cases import service as case_service
from bgcheck.models import utcnow
from bgcheck.platform.db import session_scope
from workflow import Event, State

from support.cases import CONSENT, IDENTITY
from support.pages import Office

# What would tell where the case is: the words of the states after consent.
PROGRESS = re.compile(
    r"\b(ready|submitted|progress|review|cleared|adverse|disputed|cancelled|expired)\b",
    re.IGNORECASE,
)


def cleared(office: Office) -> str:
    """A case cleared after its candidate used the consent link; that link."""
    case_id, token = office.invited()
    with session_scope(office.engine) as session:
        case_service.fire_as_candidate(
            session, office.ctx, token=token, event=Event.CONSENT, body=CONSENT, now=utcnow()
        )
    office.fire("hr", case_id, Event.VERIFY_IDENTITY, IDENTITY)
    office.fire("hr", case_id, Event.ORDER)
    office.vendor_reports(case_id)
    office.fire("reviewer", case_id, Event.CLAIM)
    office.fire("reviewer", case_id, Event.CLEAR)
    assert office.state(case_id) is State.CLEARED
    return token


def test_the_api_says_only_that_the_authorization_arrived(office: Office) -> None:
    token = cleared(office)
    response = office.anonymous().get(f"/api/v1/portal/{token}")
    assert response.status_code == 200
    view = response.json()
    assert view["purpose"] == "consent"
    assert view["authorization_received"] is True
    assert view["state"] is None
    assert view["disclosure"] is None
    assert "cleared" not in response.text


def test_the_page_says_only_that_the_authorization_arrived(office: Office) -> None:
    token = cleared(office)
    page = office.anonymous().get(f"/portal/{token}")
    assert page.status_code == 200
    assert "received your authorization" in page.text
    assert PROGRESS.findall(page.text) == []
    authorize = office.anonymous().get(f"/portal/{token}/authorize", follow_redirects=False)
    assert authorize.status_code == 303  # nothing to sign any more


def test_an_unused_consent_link_still_shows_the_disclosure(office: Office) -> None:
    _, token = office.invited()
    view = office.anonymous().get(f"/api/v1/portal/{token}").json()
    assert view["state"] == "awaiting_consent"
    assert view["authorization_received"] is False
    assert view["disclosure"]["version"]


def test_notice_links_work_as_before(office: Office) -> None:
    _, notice = office.in_notice()
    view = office.anonymous().get(f"/api/v1/portal/{notice}").json()
    assert view["purpose"] == "notice"
    assert view["state"] == "pre_adverse_notice"
    assert view["can_dispute"] is True
    assert [n["kind"] for n in view["notices"]] == ["pre_adverse_notice"]
    assert "dispute" in office.anonymous().get(f"/portal/{notice}").text.lower()
