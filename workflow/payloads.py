"""The JSON body of every event, as the request-body table of SPEC.md says.

Every model refuses unknown fields (SPEC: "an unknown field is a 422"), never echoes a
submitted value in an error (``hide_input_in_errors``; our own messages name the rule,
not the value) and redacts everything but its ``AUDIT_FIELDS`` from ``repr``, so a body
that ends up in a log or a traceback leaks no PII. ``audit_summary()`` is the PII-free
part that goes into the audit trail.

The table (``workflow.table``) says which model belongs to which event; ``PAYLOADS`` is
derived from it there.
"""

import copy
import re
import unicodedata
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Annotated, Any, ClassVar, Final, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)
from pydantic_core import PydanticCustomError

# --- field types --------------------------------------------------------------------------


def _plain_text(value: str) -> str:
    if any(unicodedata.category(ch) == "Cc" and ch not in "\n\t" for ch in value):
        raise ValueError("must not contain control characters")
    return value


# Unicode's line and paragraph separators end a line too (JavaScript, some mail clients).
_LINE_BREAKS: Final = frozenset("\u2028\u2029")
ONE_LINE: Final = "must be one line of text: remove tabs, line breaks and control characters"


def has_control_characters(value: str) -> bool:
    """Whether ``value`` holds a control character (C0, DEL, C1) or a line separator."""
    return any(unicodedata.category(ch) == "Cc" or ch in _LINE_BREAKS for ch in value)


def _one_line(value: object) -> object:
    # Before stripping, which would hide a trailing CR or LF; a name or an address may
    # reach an email header one day, where a line break starts a header of its own.
    if isinstance(value, str) and has_control_characters(value):
        raise ValueError(ONE_LINE)
    return value


def _text(max_length: int) -> StringConstraints:
    return StringConstraints(strip_whitespace=True, min_length=1, max_length=max_length)


OneLine = BeforeValidator(_one_line)
Code = Annotated[str, OneLine, _text(100)]  # versions, packages, codes
Title = Annotated[str, OneLine, _text(200)]
Note = Annotated[str, _text(2_000), AfterValidator(_plain_text)]
Finding = Annotated[str, _text(1_000), AfterValidator(_plain_text)]
Assessment = Annotated[str, _text(4_000), AfterValidator(_plain_text)]
Statement = Annotated[str, _text(10_000), AfterValidator(_plain_text)]

_NAME_MARKS: Final = frozenset(" '\u2019-.,")  # \u2019: the typographic apostrophe


def _person_name(value: str) -> str:
    value = " ".join(value.split())
    allowed = all(
        ch.isalpha() or ch in _NAME_MARKS or unicodedata.category(ch) == "Mn" for ch in value
    )
    if not allowed or not any(ch.isalpha() for ch in value):
        raise ValueError("use letters, spaces, apostrophes, hyphens and periods only")
    return value


PersonName = Annotated[str, OneLine, _text(100), AfterValidator(_person_name)]

_EMAIL: Final = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def _email(value: str) -> str:
    if not _EMAIL.fullmatch(value):
        raise ValueError("must be an email address such as name@example.org")
    return value


Email = Annotated[
    str,
    OneLine,
    StringConstraints(strip_whitespace=True, max_length=254),
    AfterValidator(_email),
]

_SSN: Final = re.compile(r"[0-9]{3}-[0-9]{2}-[0-9]{4}|[0-9]{9}")


def _ssn(value: str) -> str:
    """Nine digits, with or without the dashes; stored as nine digits.

    Refuses numbers the SSA never issues: area 000, 666 or 900-999, group 00. Serial 0000
    is never issued either, but the sandbox vendor uses SSNs ending in 0000 to produce a
    criminal-record finding, so it is accepted here; the real vendor rejects it.
    """
    if not _SSN.fullmatch(value):
        raise ValueError("must be 9 digits, written 123-45-6789 or 123456789")
    digits = value.replace("-", "")
    area, group = digits[:3], digits[3:5]
    if area in {"000", "666"} or area.startswith("9") or group == "00":
        raise ValueError("is not a valid Social Security number")
    return digits


Ssn = Annotated[str, StringConstraints(strip_whitespace=True), AfterValidator(_ssn)]

_PHONE_SEPARATORS: Final = re.compile(r"[\s().-]")
_NANP: Final = re.compile(r"(?:\+?1)?([2-9][0-9]{2}[2-9][0-9]{6})")
_INTERNATIONAL: Final = re.compile(r"\+[2-9][0-9]{7,14}")


def _phone(value: str) -> str:
    """A US number (10 digits, optional +1) or an international one; stored as E.164."""
    compact = _PHONE_SEPARATORS.sub("", value)
    if match := _NANP.fullmatch(compact):
        return "+1" + match.group(1)
    if _INTERNATIONAL.fullmatch(compact):
        return compact
    raise ValueError("must be a US number (10 digits) or an international one starting with +")


Phone = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=30), AfterValidator(_phone)
]

_STATES_AND_TERRITORIES: Final = """
    AL AK AZ AR CA CO CT DE DC FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV
    NH NJ NM NY NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY AS GU MP PR VI AA AE AP
"""
US_STATES: Final = frozenset(_STATES_AND_TERRITORIES.split())


def _us_state(value: str) -> str:
    if value.upper() not in US_STATES:
        raise ValueError("must be a two-letter US state or territory code, such as MA")
    return value.upper()


UsState = Annotated[str, StringConstraints(strip_whitespace=True), AfterValidator(_us_state)]

_ZIP: Final = re.compile(r"([0-9]{5})(?:-?([0-9]{4}))?")


def _zip(value: str) -> str:
    if not (match := _ZIP.fullmatch(value)):
        raise ValueError("must be a ZIP code: 12345 or 12345-6789")
    return "-".join(part for part in match.groups() if part)


PostalCode = Annotated[str, StringConstraints(strip_whitespace=True), AfterValidator(_zip)]

_LICENCE: Final = re.compile(r"[A-Z0-9-]{1,20}")


def _licence_number(value: str) -> str:
    value = value.upper().replace(" ", "")
    if not _LICENCE.fullmatch(value):
        raise ValueError("use up to 20 letters, digits and hyphens")
    return value


LicenceNumber = Annotated[
    str, StringConstraints(strip_whitespace=True), AfterValidator(_licence_number)
]

_LAST4: Final = re.compile(r"[A-Z0-9]{4}")


def _last4(value: str) -> str:
    if not _LAST4.fullmatch(value.upper()):
        raise ValueError("must be the last 4 letters or digits of the ID number")
    return value.upper()


Last4 = Annotated[str, StringConstraints(strip_whitespace=True), AfterValidator(_last4)]

MIN_AGE_YEARS: Final = 14  # the youngest a Massachusetts employee can be (work permit)
MAX_AGE_YEARS: Final = 120


def today() -> date:
    """Today in UTC; validation is about plausibility, a day either way does not matter."""
    return datetime.now(UTC).date()


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February in a year without one
        return day.replace(year=day.year - years, day=28)


def _plausible_birth_date(value: date) -> date:
    now = today()
    if value > now:
        raise ValueError("must not be in the future")
    if value > _years_before(now, MIN_AGE_YEARS):
        raise ValueError(f"the candidate must be at least {MIN_AGE_YEARS} years old")
    if value < _years_before(now, MAX_AGE_YEARS):
        raise ValueError(f"must be within the last {MAX_AGE_YEARS} years")
    return value


BirthDate = Annotated[date, AfterValidator(_plausible_birth_date)]


def _only_true(value: object) -> object:
    # Literal[True] alone takes 1 and 1.0, which equal True in Python: an attestation or
    # an acknowledgement is the JSON boolean true, nothing that happens to compare equal.
    if value is not True:
        raise PydanticCustomError("literal_error", "Input should be true (the JSON boolean)")
    return value


# A box the person must tick: only ``true``. The error keeps Literal's type (the pages
# show "Please tick this box.").
Ticked = Annotated[Literal[True], BeforeValidator(_only_true)]


# --- bodies -------------------------------------------------------------------------------


class Body(BaseModel):
    """Base of every event body: strict about shape, silent about values."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, hide_input_in_errors=True, str_strip_whitespace=True
    )

    # The fields that may go into the audit trail and show in repr: never PII, never free
    # text (a note may name the candidate).
    AUDIT_FIELDS: ClassVar[frozenset[str]] = frozenset()

    def audit_summary(self) -> dict[str, Any]:
        """The PII-free part of the body, as JSON-ready values."""
        return self.model_dump(mode="json", include=set(self.AUDIT_FIELDS))

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        for name, value in super().__repr_args__():
            yield name, value if name in self.AUDIT_FIELDS else "<redacted>"

    @classmethod
    def example(cls) -> dict[str, Any]:
        """A valid body, as shown in the OpenAPI docs (a fresh copy each call)."""
        extra = cls.model_config.get("json_schema_extra")
        assert isinstance(extra, dict), f"{cls.__name__} has no example"
        examples = extra["examples"]
        assert isinstance(examples, list), f"{cls.__name__}'s examples are not a list"
        example = examples[0]
        assert isinstance(example, dict), f"{cls.__name__}'s example is not an object"
        return copy.deepcopy(example)


class NoteBody(Body):
    """``{}`` or ``{"note": …}``: the events that need nothing else."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"note": "Looks complete."}]})

    note: Note | None = None


class CandidateRef(Body):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"given_name": "Pat", "family_name": "Candidate", "email": "pat@example.org"}
            ]
        }
    )

    given_name: PersonName
    family_name: PersonName
    email: Email


class CreateBody(Body):
    """HR's request. It never asks about criminal history (Massachusetts "ban the box")."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "department": "physics",
                    "position_title": "Research Technician",
                    "package": "standard",
                    "candidate": CandidateRef.example(),
                }
            ]
        }
    )
    AUDIT_FIELDS: ClassVar = frozenset({"department", "position_title", "package"})

    department: Code
    position_title: Title
    package: Code
    candidate: CandidateRef


class Address(Body):
    model_config = ConfigDict(
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        json_schema_extra={
            "examples": [
                {
                    "line1": "1 Main St",
                    "city": "Boston",
                    "state": "MA",
                    "postal_code": "02115",
                    "from": "2020-06-01",
                }
            ]
        },
    )

    line1: Title
    line2: Title | None = None
    city: Code
    state: UsState
    postal_code: PostalCode
    from_: date = Field(alias="from")
    to: date | None = None

    @model_validator(mode="after")
    def _dates_in_order(self) -> Self:
        if self.from_ > today():
            raise ValueError("`from` must not be in the future")
        if self.to is not None and self.to < self.from_:
            raise ValueError("`to` must not be before `from`")
        return self


class DriversLicense(Body):
    number: LicenceNumber
    state: UsState


class ConsentBody(Body):
    """The candidate's authorization, CORI acknowledgement and PII, sent from the portal.

    Beyond the SPEC table, ``other_dates_of_birth`` is optional: the CORI acknowledgement
    lists every name *and date of birth* the candidate has used.
    """

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "disclosure_version": "2025-01",
                    "signature": "Pat Q. Candidate",
                    "cori_acknowledged": True,
                    "given_name": "Pat",
                    "family_name": "Candidate",
                    "other_names": ["Pat Example"],
                    "date_of_birth": "1990-04-01",
                    "ssn": "123-45-6789",
                    "addresses": [Address.example()],
                    "phone": "617-555-0100",
                    "drivers_license": {"number": "S12345678", "state": "MA"},
                }
            ]
        }
    )
    AUDIT_FIELDS: ClassVar = frozenset({"disclosure_version", "cori_acknowledged"})

    disclosure_version: Code
    signature: Title  # the typed full name
    cori_acknowledged: Ticked
    given_name: PersonName
    family_name: PersonName
    other_names: list[PersonName] = Field(default_factory=list, max_length=20)
    date_of_birth: BirthDate
    other_dates_of_birth: list[BirthDate] = Field(default_factory=list, max_length=5)
    ssn: Ssn
    addresses: list[Address] = Field(min_length=1, max_length=30)  # current first
    phone: Phone
    drivers_license: DriversLicense | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        signed = " ".join(self.signature.split()).casefold()
        if self.given_name.casefold() not in signed or self.family_name.casefold() not in signed:
            raise ValueError("the signature must be your full name as entered above")
        if self.addresses[0].to is not None:
            raise ValueError("list the current address first, without `to`")
        if any(address.from_ < self.date_of_birth for address in self.addresses):
            raise ValueError("an address cannot start before the date of birth")
        return self


class VerifyIdentityBody(Body):
    """HR saw a government photo ID (803 CMR 2.11); who and when come from the request."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"id_type": "drivers_license", "id_last4": "5678", "attested": True}]
        }
    )
    AUDIT_FIELDS: ClassVar = frozenset({"id_type", "attested"})

    id_type: Literal["drivers_license", "state_id", "passport", "military_id", "other"]
    id_last4: Last4
    attested: Ticked


class VendorAckBody(Body):
    """The vendor accepted the order (from the signed webhook, parsed by the adapter)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"vendor_reference": "SBX-1001", "vendor_status": "pending"}]
        }
    )
    AUDIT_FIELDS: ClassVar = frozenset({"vendor_reference", "vendor_status"})

    vendor_reference: Code | None = None
    vendor_status: Code | None = None


class VendorCompleteBody(Body):
    """The vendor finished; the report itself is stored by the service, not carried here."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"vendor_reference": "SBX-1001", "result": "consider"}]}
    )
    AUDIT_FIELDS: ClassVar = frozenset({"vendor_reference", "result"})

    vendor_reference: Code | None = None
    result: Literal["clear", "consider"]


class AssignBody(Body):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"assignee": "reviewer@example.org"}]}
    )
    AUDIT_FIELDS: ClassVar = frozenset({"assignee"})  # a staff member, not the candidate

    assignee: Annotated[str, _text(254), AfterValidator(_plain_text)]  # user id or email


class ProposeAdverseBody(Body):
    """The individualized assessment: what was relied on and why it matters for this job."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "findings": ["2019 conviction, larceny over $1,200"],
                    "nature_and_gravity": "Felony theft from an employer.",
                    "time_elapsed": "Six years; no later record.",
                    "job_relevance": "The position handles cash and controlled inventory.",
                }
            ]
        }
    )

    findings: list[Finding] = Field(min_length=1, max_length=50)
    nature_and_gravity: Assessment
    time_elapsed: Assessment
    job_relevance: Assessment
    note: Note | None = None

    def audit_summary(self) -> dict[str, Any]:
        return {"findings_count": len(self.findings)}  # the findings themselves are CORI


class ReasonBody(Body):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"reason": "The offer was withdrawn."}]}
    )

    reason: Note


class ResolveDisputeBody(Body):
    """The vendor's reinvestigation outcome and what the reviewer made of it."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"outcome": "corrected", "note": "The vendor removed the record."}]
        }
    )
    AUDIT_FIELDS: ClassVar = frozenset({"outcome"})

    outcome: Literal["corrected", "upheld"]
    note: Note


class DisputeBody(Body):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"statement": "That record belongs to someone else."}]}
    )

    statement: Statement
