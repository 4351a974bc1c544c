"""Refusals turned into exceptions for callers that raise."""

import pytest

from workflow import (
    IllegalTransition,
    InvalidPayload,
    Refusal,
    RefusalCode,
    TransitionForbidden,
    WorkflowError,
    require,
)
from workflow.errors import ERROR_FOR


@pytest.mark.parametrize(
    ("code", "error"),
    [
        (RefusalCode.WRONG_STATE, IllegalTransition),
        (RefusalCode.GUARD, IllegalTransition),
        (RefusalCode.FORBIDDEN_ROLE, TransitionForbidden),
        (RefusalCode.OUT_OF_SCOPE, TransitionForbidden),
        (RefusalCode.CONFLICT_OF_INTEREST, TransitionForbidden),
        (RefusalCode.NOT_ASSIGNED, TransitionForbidden),
        (RefusalCode.INVALID_PAYLOAD, InvalidPayload),
    ],
)
def test_require_raises_the_error_of_each_refusal(
    code: RefusalCode, error: type[WorkflowError]
) -> None:
    refusal = Refusal(code, "identity not verified")
    with pytest.raises(error) as caught:
        require(refusal)
    assert caught.value.public_detail == "identity not verified"
    assert caught.value.refusal is refusal


def test_every_refusal_code_has_an_error() -> None:
    assert set(ERROR_FOR) == set(RefusalCode)
