"""Deciding transitions: ``decide``, ``decide_create``, ``allowed_events`` and ``evolve``.

All pure: the caller passes the case, the actor, the body and the time, and gets back a
``Decision`` to apply or a ``Refusal`` to show. Nothing here reads a clock or a database.

``decide`` checks, in this order, and answers with the first refusal:

1. ``forbidden_role``: none of the actor's roles may fire the event at all;
2. ``wrong_state``: the event does not leave the case's current state;
3. ``forbidden_role``: the roles allowed from *this* state do not include the actor's;
4. ``out_of_scope``: the actor acts only as hr, and the case is another department's;
5. ``conflict_of_interest``: a staff actor whose email is the candidate's;
6. ``invalid_payload``: the body does not match the event's schema (returned, not
   raised, with PII-free field errors in ``Refusal.errors``);
7. the row's guards, in order (``guard``, ``conflict_of_interest``, ``not_assigned``).

``allowed_events`` runs steps 1-5 and 7 without a body, so an event it lists is accepted
by ``decide`` with any valid body that passes the body-dependent guards, and an event it
leaves out is refused whatever the body.
"""

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ValidationError

from workflow.calendar import add_business_days
from workflow.decisions import Decision, Refusal, RefusalCode
from workflow.effects import changes
from workflow.guards import Context, same_email, when
from workflow.payloads import AssignBody, Body, CreateBody
from workflow.states import STAFF_ROLES, Effect, Event, Role, State
from workflow.table import Transition, row_for, rows_of
from workflow.views import DEFAULT_RULES, ActorView, CaseView, Rules


def _aware(now: datetime) -> datetime:
    if now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    return now


def _names(roles: frozenset[Role]) -> str:
    return " or ".join(sorted(roles))


def _acting_roles(actor: ActorView, row: Transition) -> frozenset[Role]:
    return actor.roles & frozenset(row.by)


def _in_scope(
    actor: ActorView, acting: frozenset[Role], department: str, candidate_email: str | None
) -> Refusal | None:
    """The two rules of every event: hr stays in its departments; nobody checks themselves."""
    if acting <= {Role.HR} and department not in actor.departments:
        return Refusal(
            RefusalCode.OUT_OF_SCOPE, "this case belongs to a department you do not serve"
        )
    if acting & STAFF_ROLES and same_email(actor.email, candidate_email):
        return Refusal(
            RefusalCode.CONFLICT_OF_INTEREST,
            "you are the candidate of this case; someone else must act",
        )
    return None


def _permitted(case: CaseView, event: Event, actor: ActorView) -> Transition | Refusal:
    """Steps 1-5 of ``decide``: the row the actor may fire, or why not."""
    rows = rows_of(event)
    anyone: frozenset[Role] = frozenset().union(*(row.by for row in rows))
    if not actor.roles & anyone:
        return Refusal(RefusalCode.FORBIDDEN_ROLE, f"`{event}` is for the {_names(anyone)} role")
    row = row_for(event, case.state)
    if row is None:
        return Refusal(
            RefusalCode.WRONG_STATE, f"`{event}` is not possible while the case is `{case.state}`"
        )
    acting = _acting_roles(actor, row)
    if not acting:
        return Refusal(
            RefusalCode.FORBIDDEN_ROLE,
            f"in `{case.state}`, `{event}` is for the {_names(frozenset(row.by))} role",
        )
    return _in_scope(actor, acting, case.department, case.candidate_email) or row


def _location(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc) or "body"


def validate_payload(event: Event, schema: type[Body], payload: object) -> Body | Refusal:
    """The body as ``schema``, or an ``invalid_payload`` refusal naming fields, not values.

    ``payload`` may be a mapping (parsed JSON), None (an empty body), an instance of
    ``schema`` (taken as is) or another pydantic model (re-validated from its fields).
    """
    if isinstance(payload, schema):
        return payload
    if isinstance(payload, BaseModel):
        payload = payload.model_dump(by_alias=True)
    if payload is None:
        payload = {}
    if not isinstance(payload, Mapping):
        return Refusal(RefusalCode.INVALID_PAYLOAD, f"the body of `{event}` must be a JSON object")
    try:
        return schema.model_validate(payload)
    except ValidationError as exc:
        errors = tuple(
            {"loc": list(error["loc"]), "msg": error["msg"], "type": error["type"]}
            for error in exc.errors(include_url=False, include_input=False, include_context=False)
        )
        detail = "; ".join(f"{_location(tuple(error['loc']))}: {error['msg']}" for error in errors)
        return Refusal(RefusalCode.INVALID_PAYLOAD, f"invalid `{event}` body: {detail}", errors)


def _decision(
    row: Transition,
    from_state: State | None,
    actor: ActorView,
    body: Body,
    now: datetime,
    rules: Rules,
) -> Decision:
    expires = deadline = assignee = None
    if Effect.ISSUE_INVITATION in row.effects:
        expires = now + timedelta(days=rules.consent_ttl_days)
    if Effect.START_WAITING_PERIOD in row.effects:
        deadline = add_business_days(now, rules.adverse_wait_business_days)
    if Effect.RECORD_ASSIGNMENT in row.effects:
        assignee = body.assignee if isinstance(body, AssignBody) else actor.id
    audit: dict[str, Any] = {
        "event": row.event.value,
        "from": from_state.value if from_state is not None else None,
        "to": row.target.value,
        "effects": [effect.value for effect in row.effects],
        "payload": body.audit_summary(),
    }
    if expires:
        audit["invitation_expires_at"] = when(expires)
    if deadline:
        audit["adverse_deadline"] = when(deadline)
    return Decision(
        event=row.event, from_state=from_state, to_state=row.target, effects=row.effects,
        payload=body, actor_id=actor.id, at=now, audit_data=audit,
        invitation_expires_at=expires, adverse_deadline=deadline, assignee=assignee,
    )  # fmt: skip


def decide(
    case: CaseView | None,
    event: Event,
    actor: ActorView,
    payload: object,
    now: datetime,
    *,
    rules: Rules = DEFAULT_RULES,
) -> Decision | Refusal:
    """The transition ``actor`` asks for, or a Refusal saying why not (see module doc).

    ``case`` is None only for ``create`` (handled by ``decide_create``).
    """
    now, event = _aware(now), Event(event)
    if case is None:
        if event is not Event.CREATE:
            return Refusal(RefusalCode.WRONG_STATE, f"`{event}` needs an existing case")
        return decide_create(actor, payload, now, rules=rules)
    if event is Event.CREATE:
        return Refusal(RefusalCode.WRONG_STATE, "the case already exists")
    row = _permitted(case, event, actor)
    if isinstance(row, Refusal):
        return row
    body = validate_payload(event, row.payload, payload)
    if isinstance(body, Refusal):
        return body
    context = Context(case=case, actor=actor, now=now, rules=rules, payload=body)
    for guard in row.guards:
        if refusal := guard(context):
            return refusal
    return _decision(row, case.state, actor, body, now, rules)


def decide_create(
    actor: ActorView, payload: object, now: datetime, *, rules: Rules = DEFAULT_RULES
) -> Decision | Refusal:
    """A new case in ``draft`` from HR's request body (``CreateBody``), or why not."""
    now = _aware(now)
    (row,) = rows_of(Event.CREATE)
    acting = _acting_roles(actor, row)
    if not acting:
        return Refusal(
            RefusalCode.FORBIDDEN_ROLE, f"`create` is for the {_names(frozenset(row.by))} role"
        )
    body = validate_payload(Event.CREATE, row.payload, payload)
    if isinstance(body, Refusal):
        return body
    assert isinstance(body, CreateBody)
    if refusal := _in_scope(actor, acting, body.department, body.candidate.email):
        return refusal
    return _decision(row, None, actor, body, now, rules)


def allowed_events(
    case: CaseView, actor: ActorView, now: datetime, *, rules: Rules = DEFAULT_RULES
) -> list[Event]:
    """The events ``actor`` may fire on ``case`` now, in the table's event order.

    The same verdict as ``decide``'s steps 1-6 for each event (a property test checks it),
    without writing out the reasons of the refusals: a page of cases asks this of every
    case, and most events are refused in most states.
    """
    context = Context(case=case, actor=actor, now=_aware(now), rules=rules)
    allowed: list[Event] = []
    for event in Event:
        row = row_for(event, case.state)
        if row is None or event is Event.CREATE:
            continue
        acting = _acting_roles(actor, row)
        if not acting or _in_scope(actor, acting, case.department, case.candidate_email):
            continue
        if not any(guard(context) for guard in row.guards):
            allowed.append(event)
    return allowed


def evolve(case: CaseView, decision: Decision) -> CaseView:
    """The case as the guards will see it once ``decision`` is applied.

    The field changes come from ``workflow.effects.CHANGES``; the service stores the same
    values in its row.
    """
    if decision.from_state is not case.state:
        raise ValueError(f"the decision was made for `{decision.from_state}`, not `{case.state}`")
    return replace(case, **changes(decision))
