"""What each effect changes in the fields of a ``CaseView``: one table, read by both sides.

``evolve`` predicts the case from it; the service stores the same changes in its row
(``bgcheck.cases.effects``). A value is a constant or ``From(attribute)`` of the decision.
Checked on import: every ``Effect`` has an entry (empty when it changes no field the
guards read), every name is a ``CaseView`` field and every ``From`` a ``Decision`` field.
"""

from collections.abc import Mapping
from dataclasses import dataclass, fields
from types import MappingProxyType
from typing import Any, Final

from workflow.decisions import Decision
from workflow.states import Effect
from workflow.views import CaseView


@dataclass(frozen=True, slots=True)
class From:
    """The value the decision carries: ``From("at")`` is ``decision.at``."""

    attribute: str


FieldChanges = Mapping[str, object]

CHANGES: Final[Mapping[Effect, FieldChanges]] = MappingProxyType(
    {
        Effect.ISSUE_INVITATION: {"invitation_expires_at": From("invitation_expires_at")},
        Effect.RECORD_CONSENT: {"consent_at": From("at")},
        Effect.RECORD_IDENTITY_VERIFICATION: {"identity_verified_at": From("at")},
        Effect.QUEUE_VENDOR_ORDER: {},
        Effect.RECORD_VENDOR_STATUS: {},
        Effect.STORE_REPORT: {},
        Effect.RECORD_ASSIGNMENT: {"assigned_to": From("assignee")},
        Effect.RECORD_ASSESSMENT: {"proposed_by": From("actor_id")},
        Effect.ISSUE_PRE_ADVERSE_NOTICE: {},
        Effect.START_WAITING_PERIOD: {"adverse_deadline": From("adverse_deadline")},
        Effect.WITHDRAW_PROPOSAL: {"proposed_by": None, "adverse_deadline": None},
        Effect.RECORD_DISPUTE: {"open_dispute": True},
        Effect.REQUEST_REINVESTIGATION: {},
        Effect.CLOSE_DISPUTE: {"open_dispute": False},
        Effect.ISSUE_FINAL_NOTICE: {},
        Effect.CANCEL_VENDOR_ORDER: {},
        Effect.REVOKE_PORTAL_LINKS: {},
        Effect.CLOSE_CASE: {},
        Effect.ANNOUNCE_COMPLETION: {},
    }
)


def values(spec: FieldChanges, decision: Decision) -> dict[str, Any]:
    """``spec`` with each ``From`` replaced by the decision's value."""
    return {
        name: getattr(decision, value.attribute) if isinstance(value, From) else value
        for name, value in spec.items()
    }


def changes(decision: Decision) -> dict[str, Any]:
    """Every field ``decision`` changes in the case: the state, then each effect's, in order."""
    result: dict[str, Any] = {"state": decision.to_state}
    for effect in decision.effects:
        result |= values(CHANGES[effect], decision)
    return result


_CASE_FIELDS: Final = frozenset(each.name for each in fields(CaseView))


def check_changes(
    table: Mapping[Effect, FieldChanges], *, targets: frozenset[str] = _CASE_FIELDS
) -> None:
    """Raise ``TypeError`` unless ``table`` covers every effect with known names only."""
    if missing := set(Effect) - table.keys():
        raise TypeError(f"effects without field changes: {sorted(missing)}")
    sources = {each.name for each in fields(Decision)}
    for effect, spec in table.items():
        if unknown := set(spec) - targets:
            raise TypeError(f"{effect} changes unknown fields: {sorted(unknown)}")
        for value in spec.values():
            if isinstance(value, From) and value.attribute not in sources:
                raise TypeError(f"{effect} reads `{value.attribute}`, not a Decision field")


check_changes(CHANGES)
