"""Exceptions for callers that prefer raising to checking a Refusal.

Shaped like ``bgcheck.platform.errors.BgcheckError`` (``slug``, ``title``, ``public_detail``) so the
API can render them as problem+json; HTTP codes are the API's business, not ours.
"""

from typing import Final

from workflow.decisions import Decision, Refusal, RefusalCode


class WorkflowError(Exception):
    """Base of the workflow's errors; ``public_detail`` is the refusal's reason."""

    slug = "workflow"
    title = "Not allowed"

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.reason)
        self.refusal = refusal
        self.public_detail = refusal.reason


class IllegalTransition(WorkflowError):
    """The event does not fit the case now (its state, or a guard such as a deadline)."""

    slug = "illegal-transition"
    title = "Not possible in the case's current state"


class TransitionForbidden(WorkflowError):
    """The actor may not fire this event on this case (role, department, own case)."""

    slug = "forbidden"
    title = "Not allowed for you"


class InvalidPayload(WorkflowError):
    """The body does not match the event's schema; ``refusal.errors`` lists the fields."""

    slug = "validation"
    title = "Invalid request"


ERROR_FOR: Final[dict[RefusalCode, type[WorkflowError]]] = {
    RefusalCode.WRONG_STATE: IllegalTransition,
    RefusalCode.GUARD: IllegalTransition,
    RefusalCode.FORBIDDEN_ROLE: TransitionForbidden,
    RefusalCode.OUT_OF_SCOPE: TransitionForbidden,
    RefusalCode.CONFLICT_OF_INTEREST: TransitionForbidden,
    RefusalCode.NOT_ASSIGNED: TransitionForbidden,
    RefusalCode.INVALID_PAYLOAD: InvalidPayload,
}


def require(result: Decision | Refusal) -> Decision:
    """The decision, or raise the WorkflowError matching the refusal's code."""
    if isinstance(result, Refusal):
        raise ERROR_FOR[result.code](result)
    return result
