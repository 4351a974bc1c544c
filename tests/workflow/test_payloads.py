"""Event bodies: shapes from SPEC's request-body table, normalization, and no PII leaks."""

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from workflow import (
    PAYLOADS,
    AssignBody,
    Body,
    ConsentBody,
    CreateBody,
    Event,
    NoteBody,
    ProposeAdverseBody,
    ReasonBody,
    ResolveDisputeBody,
    VerifyIdentityBody,
)


def consent(**changes: Any) -> dict[str, Any]:
    return ConsentBody.example() | changes


def refused(model: type[Body], data: dict[str, Any]) -> list[tuple[Any, ...]]:
    """The locations of the errors ``model`` reports for ``data`` (fails if it accepts)."""
    with pytest.raises(ValidationError) as caught:
        model.model_validate(data)
    return [tuple(error["loc"]) for error in caught.value.errors()]


@pytest.mark.parametrize("event", list(PAYLOADS), ids=str)
def test_every_event_example_is_valid_and_unknown_fields_are_refused(event: Event) -> None:
    model = PAYLOADS[event]
    model.model_validate(model.example())
    assert refused(model, model.example() | {"is_criminal": True}) == [("is_criminal",)]


def test_the_spec_body_of_each_event() -> None:
    fields = {event: set(model.model_fields) for event, model in PAYLOADS.items()}
    assert fields[Event.VERIFY_IDENTITY] == {"id_type", "id_last4", "attested"}
    assert fields[Event.ASSIGN] == {"assignee"}
    assert fields[Event.PROPOSE_ADVERSE] == {
        "findings", "nature_and_gravity", "time_elapsed", "job_relevance", "note"
    }  # fmt: skip
    assert fields[Event.RESOLVE_DISPUTE] == {"outcome", "note"}
    assert fields[Event.DISPUTE] == {"statement"}
    for event in (Event.CLAIM, Event.APPROVE_ADVERSE, Event.FINALIZE_ADVERSE, Event.INVITE,
                  Event.CLEAR):  # fmt: skip
        assert PAYLOADS[event] is NoteBody
    assert PAYLOADS[Event.REJECT_ADVERSE] is PAYLOADS[Event.CANCEL] is ReasonBody


@pytest.mark.parametrize(
    ("model", "data", "where"),
    [
        (VerifyIdentityBody, {"attested": False}, ("attested",)),
        (VerifyIdentityBody, {"attested": "true"}, ("attested",)),
        (VerifyIdentityBody, {"attested": 1}, ("attested",)),
        (VerifyIdentityBody, {"attested": 1.0}, ("attested",)),
        (VerifyIdentityBody, {"attested": "yes"}, ("attested",)),
        (VerifyIdentityBody, {"id_type": "library_card"}, ("id_type",)),
        (VerifyIdentityBody, {"id_last4": "12345"}, ("id_last4",)),
        (ResolveDisputeBody, {"outcome": "dismissed"}, ("outcome",)),
        (ResolveDisputeBody, {"note": "  "}, ("note",)),
        (ProposeAdverseBody, {"findings": []}, ("findings",)),
        (ProposeAdverseBody, {"findings": [""]}, ("findings", 0)),
        (ProposeAdverseBody, {"job_relevance": ""}, ("job_relevance",)),
        (ReasonBody, {"reason": "\t "}, ("reason",)),
        (ReasonBody, {"reason": "x" * 2001}, ("reason",)),
        (NoteBody, {"note": "ok\x00"}, ("note",)),
        (AssignBody, {"assignee": ""}, ("assignee",)),
        (CreateBody, {"candidate": {"given_name": "Pat", "family_name": "C", "email": "pat"}},
         ("candidate", "email")),
    ],
)  # fmt: skip
def test_bodies_refuse_what_the_spec_rules_out(
    model: type[Body], data: dict[str, Any], where: tuple[Any, ...]
) -> None:
    assert refused(model, model.example() | data) == [where]


def test_a_missing_required_field_is_refused() -> None:
    assert refused(ReasonBody, {}) == [("reason",)]
    assert refused(ResolveDisputeBody, {"outcome": "upheld"}) == [("note",)]


# --- SSN ----------------------------------------------------------------------------------


def ssn_is_issuable(digits: str) -> bool:
    area, group = digits[:3], digits[3:5]
    return area not in {"000", "666"} and not area.startswith("9") and group != "00"


@given(st.from_regex(r"[0-9]{9}", fullmatch=True))
def test_ssn_accepts_issuable_numbers_in_both_forms(digits: str) -> None:
    dashed = f"{digits[:3]}-{digits[3:5]}-{digits[5:]}"
    if ssn_is_issuable(digits):
        assert ConsentBody.model_validate(consent(ssn=digits)).ssn == digits
        assert ConsentBody.model_validate(consent(ssn=dashed)).ssn == digits
    else:
        assert refused(ConsentBody, consent(ssn=dashed)) == [("ssn",)]


@pytest.mark.parametrize("ssn", ["000-12-3456", "666-12-3456", "912-34-5678", "123-00-4567"])
def test_never_issued_ssns_are_refused(ssn: str) -> None:
    assert refused(ConsentBody, consent(ssn=ssn)) == [("ssn",)]


def test_serial_0000_is_accepted_for_the_sandbox_vendor() -> None:
    assert ConsentBody.model_validate(consent(ssn="123-45-0000")).ssn == "123450000"


@pytest.mark.parametrize("ssn", ["12345678", "1234-56-789", "123 45 6789", "١٢٣٤٥٦٧٨٩", "abc"])
def test_malformed_ssns_are_refused(ssn: str) -> None:
    assert refused(ConsentBody, consent(ssn=ssn)) == [("ssn",)]


def test_validation_errors_never_echo_the_submitted_pii() -> None:
    data = consent(ssn="666-12-3456", date_of_birth="2990-01-01", phone="12")
    with pytest.raises(ValidationError) as caught:
        ConsentBody.model_validate(data)
    # str() is what ends up in a log or traceback; decide() also drops "input" from errors().
    text = str(caught.value)
    assert "ssn" in text
    assert "666" not in text
    assert "3456" not in text
    assert "2990" not in text


def test_repr_and_audit_summary_hold_no_pii() -> None:
    body = ConsentBody.model_validate(consent(ssn="123-45-6789"))
    assert "6789" not in repr(body)
    assert "Candidate" not in str(body)
    assert body.audit_summary() == {"disclosure_version": "2025-01", "cori_acknowledged": True}
    proposal = ProposeAdverseBody.model_validate(ProposeAdverseBody.example())
    assert proposal.audit_summary() == {"findings_count": 1}
    assert "larceny" not in repr(proposal)


# --- the rest of the consent body ---------------------------------------------------------


def years_ago(years: int, days: int = 0) -> str:
    today = datetime.now(UTC).date()
    return (
        today.replace(year=today.year - years, day=min(today.day, 28)) - timedelta(days)
    ).isoformat()


@pytest.mark.parametrize(
    ("dob", "ok"),
    [
        (years_ago(30), True),
        (years_ago(15), True),
        (years_ago(10), False),
        (years_ago(-1), False),
        (years_ago(130), False),
    ],
)
def test_date_of_birth_must_be_plausible(dob: str, ok: bool) -> None:
    addresses = [{"line1": "1 Main St", "city": "Boston", "state": "MA", "postal_code": "02115",
                  "from": datetime.now(UTC).date().isoformat()}]  # fmt: skip
    data = consent(date_of_birth=dob, addresses=addresses)
    if ok:
        assert ConsentBody.model_validate(data).date_of_birth == date.fromisoformat(dob)
    else:
        assert refused(ConsentBody, data) == [("date_of_birth",)]


def address(**changes: Any) -> dict[str, Any]:
    return ConsentBody.example()["addresses"][0] | changes


def test_addresses_are_normalized_and_keep_the_from_name() -> None:
    data = consent(
        addresses=[
            address(state="ma", postal_code="021151234"),
            address(line2="Apt 2", **{"from": "2015-01-01", "to": "2020-05-31"}),
        ]
    )
    body = ConsentBody.model_validate(data)
    current = body.addresses[0]
    assert (current.state, current.postal_code) == ("MA", "02115-1234")
    assert body.model_dump(mode="json")["addresses"][1]["from"] == "2015-01-01"
    assert "from" in ConsentBody.model_json_schema()["$defs"]["Address"]["properties"]


@pytest.mark.parametrize(
    ("addresses", "where"),
    [
        ([], ("addresses",)),
        ([address(state="XX")], ("addresses", 0, "state")),
        ([address(postal_code="0211")], ("addresses", 0, "postal_code")),
        ([address(**{"from": "2020-01-01", "to": "2019-01-01"})], ("addresses", 0)),
        ([address(**{"from": "2999-01-01"})], ("addresses", 0)),
        ([address(**{"to": "2024-01-01"})], ()),  # the current address comes first
        ([address(**{"from": "1980-01-01"})], ()),  # before the date of birth
    ],
)
def test_addresses_must_make_sense(addresses: list[dict[str, Any]], where: tuple[Any, ...]) -> None:
    assert refused(ConsentBody, consent(addresses=addresses)) == [where]


@pytest.mark.parametrize(
    ("phone", "stored"),
    [
        ("617-555-0100", "+16175550100"),
        ("(617) 555 0100", "+16175550100"),
        ("+1 617.555.0100", "+16175550100"),
        ("+44 20 7946 0958", "+442079460958"),
        ("555-0100", None),
        ("017-555-0100", None),
        ("call me", None),
    ],
)
def test_phone_numbers_are_stored_as_e164(phone: str, stored: str | None) -> None:
    if stored:
        assert ConsentBody.model_validate(consent(phone=phone)).phone == stored
    else:
        assert refused(ConsentBody, consent(phone=phone)) == [("phone",)]


def test_the_signature_is_the_typed_full_name() -> None:
    assert ConsentBody.model_validate(consent(signature="  pat   q. CANDIDATE ")).signature
    assert refused(ConsentBody, consent(signature="Someone Else")) == [()]


def test_names_allow_real_names_but_not_digits() -> None:
    body = ConsentBody.model_validate(
        consent(
            given_name="José  María",
            family_name="O\u2019Neil-Smith",
            signature="José María O\u2019Neil-Smith",
        )
    )
    assert body.given_name == "José María"
    assert refused(ConsentBody, consent(other_names=["R2D2"])) == [("other_names", 0)]


def test_cori_acknowledgement_and_drivers_license() -> None:
    assert refused(ConsentBody, consent(cori_acknowledged=False)) == [("cori_acknowledged",)]
    for almost in (1, 1.0, "true", [True]):
        assert refused(ConsentBody, consent(cori_acknowledged=almost)) == [("cori_acknowledged",)]
    without = consent()
    del without["drivers_license"]
    assert ConsentBody.model_validate(without).drivers_license is None
    licence = ConsentBody.model_validate(
        consent(drivers_license={"number": "s 123", "state": "nh"})
    )
    assert licence.drivers_license is not None
    assert (licence.drivers_license.number, licence.drivers_license.state) == ("S123", "NH")


# --- one-line fields (issue 15) ------------------------------------------------------------

CONTROLS = [chr(code) for code in (*range(0x20), 0x7F, 0x85)] + ["\u2028", "\u2029"]


def candidate(**changes: str) -> dict[str, Any]:
    return CreateBody.example() | {"candidate": CreateBody.example()["candidate"] | changes}


@given(
    control=st.sampled_from(CONTROLS),
    where=st.sampled_from(["start", "middle", "end"]),
    field=st.sampled_from(["email", "given_name", "family_name"]),
)
def test_control_characters_in_the_candidates_email_and_names_are_refused(
    control: str, where: str, field: str
) -> None:
    value = CreateBody.example()["candidate"][field]
    value = {"start": control + value, "middle": value[:2] + control + value[2:]}.get(
        where, value + control
    )
    with pytest.raises(ValidationError) as caught:
        CreateBody.model_validate(candidate(**{field: value}))
    [error] = caught.value.errors()
    assert tuple(error["loc"]) == ("candidate", field)
    assert "remove tabs, line breaks and control characters" in error["msg"]


def test_header_injection_in_a_position_title_is_refused() -> None:
    title = "Clerk\r\nBcc: everyone@example.org"
    assert refused(CreateBody, CreateBody.example() | {"position_title": title}) == [
        ("position_title",)
    ]
