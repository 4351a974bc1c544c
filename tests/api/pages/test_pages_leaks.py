"""No page shows a role more than the API shows the same role.

One case with distinctive PII and a report goes through the services. Every page a
role can open (without the explicit reveal clicks) is compared with the API's JSON for
the same role: a known value on the page must be in that JSON too; the SSN (beyond the
last 4), the date of birth, the address, the licence and the report's text are on no
such page. Then the explicit, audited clicks show them to reviewers, and only to them.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from bgcheck.cases import service as case_service
from bgcheck.models import utcnow
from bgcheck.platform.db import session_scope
from workflow import ConsentBody, Event

from support.cases import IDENTITY
from support.pages import OFFENSE, Office

GIVEN, FAMILY, EMAIL = "Zephyrine", "Quackenbush-Oyelaran", "zephyrine.q@example.org"
SSN, DOB, STREET, LICENCE = "531-86-2047", "1979-03-14", "77 Marlowe Terrace", "S98765432"
CONTACT = {GIVEN, FAMILY, EMAIL}
SENSITIVE = {SSN, SSN.replace("-", ""), DOB, STREET, LICENCE, OFFENSE, "Suffolk County, MA"}
ROLES = ("hr", "other_hr", "reviewer", "manager", "auditor", "admin")


def found_in(text: str, values: set[str]) -> set[str]:
    return {value for value in values if value.lower() in text.lower()}


@pytest.fixture(scope="module")
def zephyrine(office: Office) -> uuid.UUID:
    consent = ConsentBody.example() | {
        "disclosure_version": office.ctx.settings.disclosure_version,
        "given_name": GIVEN,
        "family_name": FAMILY,
        "signature": f"{GIVEN} {FAMILY}",
        "date_of_birth": DOB,
        "ssn": SSN,
        "drivers_license": {"number": LICENCE, "state": "MA"},
    }
    consent["addresses"] = [{**consent["addresses"][0], "line1": STREET}]
    case_id = office.new_case(
        {
            "department": "FAC",
            "position_title": "Groundskeeper",
            "package": "standard",
            "candidate": {"given_name": GIVEN, "family_name": FAMILY, "email": EMAIL},
        }
    )
    token = office.fire("hr", case_id, Event.INVITE)
    assert token
    with session_scope(office.engine) as session:
        case_service.fire_as_candidate(
            session, office.ctx, token=token, event=Event.CONSENT, body=consent, now=utcnow()
        )
    office.fire("hr", case_id, Event.VERIFY_IDENTITY, IDENTITY)
    office.fire("hr", case_id, Event.ORDER)
    office.vendor_reports(case_id)
    return case_id


def api_text(office: Office, role: str, case_id: uuid.UUID) -> str:
    staff = office.staff(role)
    parts: list[Any] = [
        staff.api("GET", f"/api/v1/cases/{case_id}").text,
        staff.api("GET", "/api/v1/cases").text,
        staff.api("GET", f"/api/v1/cases/{case_id}/history").text,
    ]
    return "\n".join(parts)


@pytest.mark.parametrize("role", ROLES)
def test_no_page_shows_more_than_the_api(office: Office, zephyrine: uuid.UUID, role: str) -> None:
    staff = office.staff(role)
    pages = {
        path: staff.get(path)
        for path in ("/", "/cases", f"/cases/{zephyrine}", "/review", "/audit", "/cases/new")
    }
    api = api_text(office, role, zephyrine)
    problems = []
    for path, page in pages.items():
        assert page.status_code < 500, path
        if shown := found_in(page.text, CONTACT) - found_in(api, CONTACT):
            problems.append(f"{role} {path}: {sorted(shown)} not in the API's answer")
        if shown := found_in(page.text, SENSITIVE):
            problems.append(f"{role} {path}: {sorted(shown)} without the reveal")
    assert not problems, "\n".join(problems)
    if role in ("hr", "reviewer", "manager"):  # positive control: the name is on the case page
        assert found_in(pages[f"/cases/{zephyrine}"].text, CONTACT) == CONTACT
        assert found_in(api, CONTACT) == CONTACT


@pytest.mark.parametrize("role", ROLES)
def test_the_reveals_are_for_reviewers_only(
    office: Office, zephyrine: uuid.UUID, role: str
) -> None:
    staff = office.staff(role)
    pii = staff.post(f"/cases/{zephyrine}/pii")
    report = staff.post(f"/cases/{zephyrine}/report")
    if role in ("reviewer", "manager"):
        assert pii.status_code == 200
        assert found_in(pii.text, {SSN.replace("-", ""), DOB, STREET, LICENCE}) == {
            SSN.replace("-", ""),
            DOB,
            STREET,
            LICENCE,
        }
        api_pii = staff.api("GET", f"/api/v1/cases/{zephyrine}/pii").json()["fields"]
        assert api_pii["ssn"] == SSN.replace("-", "")
        assert report.status_code == 200
        assert OFFENSE in report.text
    else:
        for answer in (pii, report):
            assert answer.status_code in (403, 404)
            assert not found_in(answer.text, SENSITIVE | CONTACT)
