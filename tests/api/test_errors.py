"""One map from domain errors and workflow refusals to HTTP, for the API and the pages.

Moved from tests/workflow/test_errors.py when workflow/errors.py (exceptions per refusal
that nothing raised) went: the API's REFUSAL_STATUS is the one map from refusal codes.
"""

import pytest

from api.errors import REFUSAL_STATUS, status_of
from bgcheck.cases.service import Refused
from bgcheck.platform.errors import (
    BgcheckError,
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    PreconditionFailed,
    TooManyAttempts,
    Unauthenticated,
    Unavailable,
)
from workflow import Refusal, RefusalCode


def test_every_refusal_code_has_a_status() -> None:
    assert set(REFUSAL_STATUS) == set(RefusalCode)


@pytest.mark.parametrize(
    ("code", "status"),
    [
        (RefusalCode.WRONG_STATE, 409),
        (RefusalCode.GUARD, 409),
        (RefusalCode.FORBIDDEN_ROLE, 403),
        (RefusalCode.OUT_OF_SCOPE, 404),
        (RefusalCode.CONFLICT_OF_INTEREST, 403),
        (RefusalCode.NOT_ASSIGNED, 403),
        (RefusalCode.INVALID_PAYLOAD, 422),
    ],
)
def test_a_refusal_gets_the_status_of_its_code(code: RefusalCode, status: int) -> None:
    refused = Refused(Refusal(code, "identity not verified"))
    assert status_of(refused) == status
    assert refused.public_detail == "identity not verified"


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (Unauthenticated, 401),
        (TooManyAttempts, 429),
        (NotFound, 404),
        (Forbidden, 403),
        (Conflict, 409),
        (PreconditionFailed, 412),
        (InvalidInput, 422),
        (Unavailable, 503),
        (BgcheckError, 400),
    ],
)
def test_a_domain_error_gets_the_status_of_its_class(
    error: type[BgcheckError], status: int
) -> None:
    exc = TooManyAttempts("no", retry_after_seconds=1) if error is TooManyAttempts else error("no")
    assert status_of(exc) == status
