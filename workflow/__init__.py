"""The case lifecycle as pure Python: states, the transition table, and decisions.

No I/O: the service passes a ``CaseView``, an ``ActorView``, the body and the time to
``decide`` and applies the ``Decision`` it gets back (or shows the ``Refusal``). See
docs/workflow.md.
"""

from workflow.calendar import add_business_days, is_business_day
from workflow.decisions import Decision, Refusal, RefusalCode
from workflow.diagram import mermaid
from workflow.machine import allowed_events, decide, decide_create, evolve, validate_payload
from workflow.payloads import (
    AssignBody,
    Body,
    ConsentBody,
    CreateBody,
    DisputeBody,
    NoteBody,
    ProposeAdverseBody,
    ReasonBody,
    ResolveDisputeBody,
    VendorAckBody,
    VendorCompleteBody,
    VerifyIdentityBody,
)
from workflow.states import EFFECT_MEANINGS, FINAL_STATES, Effect, Event, Role, State
from workflow.table import PAYLOADS, STAFF_EVENTS, TABLE, Transition
from workflow.views import DEFAULT_RULES, ActorView, CaseView, Rules

__all__ = [
    "DEFAULT_RULES",
    "EFFECT_MEANINGS",
    "FINAL_STATES",
    "PAYLOADS",
    "STAFF_EVENTS",
    "TABLE",
    "ActorView",
    "AssignBody",
    "Body",
    "CaseView",
    "ConsentBody",
    "CreateBody",
    "Decision",
    "DisputeBody",
    "Effect",
    "Event",
    "NoteBody",
    "ProposeAdverseBody",
    "ReasonBody",
    "Refusal",
    "RefusalCode",
    "ResolveDisputeBody",
    "Role",
    "Rules",
    "State",
    "Transition",
    "VendorAckBody",
    "VendorCompleteBody",
    "VerifyIdentityBody",
    "add_business_days",
    "allowed_events",
    "decide",
    "decide_create",
    "evolve",
    "is_business_day",
    "mermaid",
    "validate_payload",
]
