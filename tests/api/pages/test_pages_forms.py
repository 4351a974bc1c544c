"""Every form with bad input: a page that says what is wrong, and nothing changed."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlmodel import func, select

from bgcheck.models import AuditEvent, Case
from bgcheck.platform.db import session_scope
from workflow import Event, State

from support.cases import ASSESSMENT, CONSENT
from support.pages import Office, csrf_of, error_messages


def counts(office: Office) -> tuple[int, int]:
    with session_scope(office.engine, read_only=True) as session:
        cases = session.exec(select(func.count()).select_from(Case)).one()
        events = session.exec(select(func.count()).select_from(AuditEvent)).one()
    return cases, events


def test_a_bad_new_request_shows_each_problem_and_creates_nothing(office: Office) -> None:
    hr = office.staff("hr")
    before = counts(office)
    response = hr.post(
        "/cases/new",
        {"department": "FAC", "package": "standard", "candidate.email": "not-an-email"},
    )
    assert response.status_code == 422
    messages = error_messages(response.text)
    assert "This is required." in messages  # the position title and the names
    assert any("email address" in message for message in messages)
    assert 'aria-invalid="true"' in response.text
    assert 'value="not-an-email"' in response.text  # kept for correcting
    assert counts(office) == before


STAFF_FORMS: list[tuple[str, str, Event, dict[str, Any], str]] = [
    # (who, case in, event, form, a message the page must show)
    ("hr", "consented", Event.VERIFY_IDENTITY, {"id_last4": "12"}, "last 4"),
    (
        "hr",
        "consented",
        Event.VERIFY_IDENTITY,
        {"id_type": "passport", "id_last4": "1234"},
        "Please tick this box.",
    ),
    ("hr", "draft", Event.CANCEL, {}, "This is required."),
    (
        "manager",
        "pending",
        Event.ASSIGN,
        {"assignee": "nobody@example.edu"},
        "not an active reviewer or manager",
    ),
    ("reviewer", "review", Event.PROPOSE_ADVERSE, {"nature_and_gravity": "x"}, "This is required."),
    ("manager", "proposed", Event.REJECT_ADVERSE, {}, "This is required."),
    ("reviewer", "disputed", Event.RESOLVE_DISPUTE, {"note": "checked"}, "This is required."),
    ("hr", "draft", Event.CLAIM, {}, "is for the manager or reviewer role"),
    ("reviewer", "draft", Event.CLAIM, {}, "is not possible while the case is"),
]


def case_in(office: Office, where: str) -> uuid.UUID:
    if where == "draft":
        return office.new_case()
    if where == "consented":
        return office.consented()
    if where == "pending":
        return office.in_review(claim=False)
    if where == "review":
        return office.in_review()
    case_id, token = office.in_notice()
    if where == "proposed":
        case_id = office.in_review()
        office.fire("reviewer", case_id, Event.PROPOSE_ADVERSE, ASSESSMENT)
        return case_id
    client = office.anonymous()
    csrf = csrf_of(client.get(f"/portal/{token}").text)
    answer = client.post(
        f"/portal/{token}/dispute", data={"csrf_token": csrf, "statement": "Not mine."}
    )
    assert answer.status_code == 200
    return case_id


@pytest.mark.parametrize(
    ("who", "where", "event", "form", "message"),
    STAFF_FORMS,
    ids=[f"{who}-{event.value}-{where}" for who, where, event, _, _ in STAFF_FORMS],
)
def test_a_bad_action_says_why_and_changes_nothing(
    office: Office, who: str, where: str, event: Event, form: dict[str, Any], message: str
) -> None:
    case_id = case_in(office, where)
    before = office.case(case_id)
    _, events_before = counts(office)
    staff = office.staff(who)
    response = staff.post(
        f"/cases/{case_id}/events/{event.value}", {**form, "version": str(before.version)}
    )
    assert response.status_code in (403, 409, 422), response.text[:1500]
    assert message.lower() in response.text.lower(), response.text[:3000]
    assert 'class="error-summary"' in response.text
    after = office.case(case_id)
    assert (after.state, after.version) == (before.state, before.version)
    assert counts(office)[1] == events_before


def test_a_stale_form_is_refused_with_the_current_case(office: Office) -> None:
    case_id = office.new_case()
    office.fire("hr", case_id, Event.INVITE)  # someone else acted meanwhile
    response = office.staff("hr").post(
        f"/cases/{case_id}/events/cancel", {"reason": "withdrawn", "version": "1"}
    )
    assert response.status_code == 412
    assert "changed since you loaded it" in response.text
    assert office.state(case_id) is State.AWAITING_CONSENT


HOSTILE_VERSIONS = {
    "5000 digits": "9" * 5000,
    "10 digits": "1" * 10,
    "superscript two": "\u00b2",
    "circled one": "\u2460",
    "Arabic-Indic digits": "\u0661\u0662",
    "negative": "-1",
    "letters": "abc",
}


@pytest.mark.parametrize("version", HOSTILE_VERSIONS.values(), ids=HOSTILE_VERSIONS.keys())
def test_a_form_version_that_is_not_one_is_an_error_page_and_changes_nothing(
    office: Office, version: str
) -> None:
    case_id = office.new_case()
    _, events_before = counts(office)
    response = office.staff("hr").post(
        f"/cases/{case_id}/events/cancel", {"reason": "withdrawn", "version": version}
    )
    assert response.status_code == 422, response.text[:300]
    assert response.headers["content-type"].startswith("text/html")
    assert "Reload the case and retry" in response.text
    assert office.state(case_id) is State.DRAFT
    assert counts(office)[1] == events_before


def consent_form(token_page: str, **changes: str) -> dict[str, str]:
    form = {
        "csrf_token": csrf_of(token_page),
        "disclosure_version": CONSENT["disclosure_version"],
        "address_rows": "3",
        "given_name": "Pat",
        "family_name": "Candidate",
        "date_of_birth": "1990-04-01",
        "ssn": "123-45-6789",
        "phone": "617-555-0100",
        "addresses-0-line1": "1 Main St",
        "addresses-0-city": "Boston",
        "addresses-0-state": "MA",
        "addresses-0-postal_code": "02115",
        "addresses-0-from": "2020-06-01",
        "addresses-2-line1": "9 Old Rd",
        "addresses-2-city": "Lowell",
        "addresses-2-state": "MA",
        "addresses-2-postal_code": "01850",
        "addresses-2-from": "2010-01-01",
        "addresses-2-to": "2020-05-31",
        "cori_acknowledged": "yes",
        "signature": "Pat Candidate",
    }
    return form | changes


def test_a_bad_consent_names_the_fields_keeps_the_link_and_never_echoes_the_ssn(
    office: Office,
) -> None:
    case_id, token = office.invited()
    client = office.anonymous()
    page = client.get(f"/portal/{token}/authorize").text
    bad = consent_form(
        page,
        ssn="666-12-3456",
        **{"addresses-2-postal_code": "ABCDE", "cori_acknowledged": "", "signature": "Someone"},
    )
    response = client.post(f"/portal/{token}/consent", data=bad)
    assert response.status_code == 422
    assert "not a valid Social Security number" in response.text
    assert 'id="f-addresses-2-postal_code"' in response.text
    assert "must be a ZIP code" in response.text
    assert "Please tick this box." in response.text
    assert "666-12-3456" not in response.text
    assert 'value="9 Old Rd"' in response.text  # the rest is kept
    assert office.state(case_id) is State.AWAITING_CONSENT
    # The link still works: the refusal gave it back.
    good = client.post(f"/portal/{token}/consent", data=consent_form(page))
    assert good.status_code == 200, good.text[:2000]
    assert office.state(case_id) is State.CONSENT_RECEIVED
    again = client.post(f"/portal/{token}/consent", data=consent_form(page))
    assert again.status_code == 404


def test_the_portal_form_grows_an_address_row_without_submitting(office: Office) -> None:
    case_id, token = office.invited()
    client = office.anonymous()
    page = client.get(f"/portal/{token}/authorize").text
    grown = client.post(f"/portal/{token}/consent", data=consent_form(page, more_addresses="1"))
    assert grown.status_code == 200
    assert 'id="f-addresses-3"' in grown.text
    assert office.state(case_id) is State.AWAITING_CONSENT


def test_portal_forms_need_their_csrf_token(office: Office) -> None:
    case_id, token = office.invited()
    client = office.anonymous()
    page = client.get(f"/portal/{token}/authorize").text
    response = client.post(f"/portal/{token}/consent", data=consent_form(page, csrf_token="x"))
    assert response.status_code == 403
    assert office.state(case_id) is State.AWAITING_CONSENT


def test_an_empty_dispute_is_refused_and_the_case_stays(office: Office) -> None:
    case_id, token = office.in_notice()
    client = office.anonymous()
    csrf = csrf_of(client.get(f"/portal/{token}").text)
    response = client.post(f"/portal/{token}/dispute", data={"csrf_token": csrf, "statement": ""})
    assert response.status_code == 422
    assert "This is required." in response.text
    assert office.state(case_id) is State.PRE_ADVERSE_NOTICE


def test_an_unknown_portal_link_is_a_plain_not_found(office: Office) -> None:
    response = office.anonymous().get("/portal/" + "A" * 43)
    assert response.status_code == 404
    assert "invalid" in response.text
    assert office.anonymous().get("/portal/é").status_code == 404


@pytest.mark.parametrize(
    ("form", "field"),
    [
        ({"since": "yesterday"}, "since"),
        ({"case_id": "12"}, "case_id"),
        ({"format": "xml"}, "format"),
    ],
)
def test_bad_export_filters_show_an_error_and_export_nothing(
    office: Office, form: dict[str, str], field: str
) -> None:
    _, before = counts(office)
    response = office.staff("auditor").post("/audit/events", {"format": "csv", **form})
    assert response.status_code == 422
    assert f'id="f-ev-{field}"' in response.text
    assert error_messages(response.text)
    assert counts(office)[1] == before
