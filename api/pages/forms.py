"""From HTML forms to the services' JSON bodies, and from refusals back to the fields.

Nothing here validates: the workflow's payload models do (one copy of every rule). This
module only reshapes form fields into the body the API would have received, and maps
the errors the models give back onto the form's fields.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from starlette.datastructures import FormData

from bgcheck.cases.service import Refused
from bgcheck.platform.errors import BgcheckError, InvalidInput
from workflow import Event

Body = dict[str, Any]


def text(form: FormData, name: str) -> str | None:
    """The field's text, or None when absent or blank (so optional fields stay unset)."""
    value = form.get(name)
    if not isinstance(value, str):
        return None
    return value if value.strip() else None


def lines(form: FormData, name: str) -> list[str]:
    """A textarea of one item per line."""
    return [line.strip() for line in (text(form, name) or "").splitlines() if line.strip()]


def optional(**fields: Any) -> Body:
    return {key: value for key, value in fields.items() if value is not None}


def checked(form: FormData, name: str) -> bool:
    return form.get(name) in ("yes", "on", "true")


# -- the staff's events --------------------------------------------------------------------


def _note(form: FormData) -> Body:
    return optional(note=text(form, "note"))


def _reason(form: FormData) -> Body:
    return {"reason": text(form, "reason")}


def _verify_identity(form: FormData) -> Body:
    return {
        "id_type": text(form, "id_type"),
        "id_last4": text(form, "id_last4"),
        "attested": checked(form, "attested"),
    }


def _assign(form: FormData) -> Body:
    return {"assignee": text(form, "assignee")}


def _propose_adverse(form: FormData) -> Body:
    findings = [value for value in form.getlist("finding") if isinstance(value, str)]
    return optional(
        findings=[*findings, *lines(form, "other_findings")],
        nature_and_gravity=text(form, "nature_and_gravity"),
        time_elapsed=text(form, "time_elapsed"),
        job_relevance=text(form, "job_relevance"),
        note=text(form, "note"),
    )


def _resolve_dispute(form: FormData) -> Body:
    return {"outcome": text(form, "outcome"), "note": text(form, "note")}


EVENT_BODIES: Final[Mapping[Event, Callable[[FormData], Body]]] = {
    Event.INVITE: _note,
    Event.VERIFY_IDENTITY: _verify_identity,
    Event.ORDER: _note,
    Event.CLAIM: _note,
    Event.ASSIGN: _assign,
    Event.CLEAR: _note,
    Event.PROPOSE_ADVERSE: _propose_adverse,
    Event.APPROVE_ADVERSE: _note,
    Event.REJECT_ADVERSE: _reason,
    Event.RESOLVE_DISPUTE: _resolve_dispute,
    Event.FINALIZE_ADVERSE: _note,
    Event.CANCEL: _reason,
}


def event_body(event: Event, form: FormData) -> Body:
    """The JSON body of ``event`` from its form; None values are left for the model to
    refuse ("field required"), so the page shows the same rule the API applies."""
    return {key: value for key, value in EVENT_BODIES[event](form).items() if value is not None}


# -- staff's new request -------------------------------------------------------------------


def create_body(form: FormData) -> Body:
    return optional(
        department=text(form, "department"),
        position_title=text(form, "position_title"),
        package=text(form, "package"),
        candidate=optional(
            given_name=text(form, "candidate.given_name"),
            family_name=text(form, "candidate.family_name"),
            email=text(form, "candidate.email"),
        ),
    )


# -- the candidate's consent ---------------------------------------------------------------

ADDRESS_FIELDS: Final = ("line1", "line2", "city", "state", "postal_code", "from", "to")
MAX_ADDRESS_ROWS: Final = 30


def address_rows(form: FormData) -> int:
    """How many address rows the form had (the candidate may have added some)."""
    try:
        count = int(str(form.get("address_rows") or "3"))
    except ValueError:
        count = 3
    return max(1, min(count, MAX_ADDRESS_ROWS))


def consent_body(form: FormData) -> tuple[Body, list[int]]:
    """The consent body, and for each address in it the form row it came from (blank rows
    are skipped, so an error about ``addresses.1`` may be about the third row)."""
    addresses, rows = [], []
    for row in range(address_rows(form)):
        values = {name: text(form, f"addresses-{row}-{name}") for name in ADDRESS_FIELDS}
        if any(values.values()):
            addresses.append(optional(**values))
            rows.append(row)
    licence = optional(number=text(form, "dl_number"), state=text(form, "dl_state"))
    body = optional(
        disclosure_version=text(form, "disclosure_version"),
        signature=text(form, "signature"),
        cori_acknowledged=checked(form, "cori_acknowledged"),
        given_name=text(form, "given_name"),
        family_name=text(form, "family_name"),
        other_names=lines(form, "other_names"),
        date_of_birth=text(form, "date_of_birth"),
        other_dates_of_birth=lines(form, "other_dates_of_birth"),
        ssn=text(form, "ssn"),
        addresses=addresses,
        phone=text(form, "phone"),
        drivers_license=licence or None,
    )
    return body, rows


# -- errors back onto fields ---------------------------------------------------------------

FRIENDLY: Final = {
    "missing": "This is required.",
    "literal_error": "Please tick this box.",
    "too_short": "This is required.",
}


@dataclass
class FormErrors:
    """Messages by form field name, and those that belong to no one field."""

    fields: dict[str, str] = field(default_factory=dict)
    general: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.fields or self.general)


def _message(error: Mapping[str, Any]) -> str:
    kind = str(error.get("type", ""))
    if kind in FRIENDLY:
        return FRIENDLY[kind]
    return str(error.get("msg", "is not valid")).removeprefix("Value error, ")


def form_errors(
    exc: BgcheckError, *, rename: Callable[[list[Any]], str] | None = None
) -> FormErrors:
    """What to show next to each field for a refused body.

    ``rename`` turns an error's location (``["addresses", 1, "city"]``) into the form's
    field name; by default the parts joined with dots.
    """
    found = FormErrors()
    errors = getattr(exc, "errors", None) if isinstance(exc, Refused) else None
    if errors:
        for error in errors:
            loc = list(error.get("loc") or [])
            name = (rename or _dotted)(loc) if loc else ""
            if name:
                found.fields.setdefault(name, _message(error))
            else:
                found.general.append(_message(error))
        return found
    detail = exc.public_detail
    head, _, rest = detail.partition(": ")
    if isinstance(exc, InvalidInput) and rest and " " not in head:
        found.fields[head] = rest
    else:
        found.general.append(detail)
    return found


def _dotted(loc: list[Any]) -> str:
    return ".".join(str(part) for part in loc if not isinstance(part, int))
