"""Every operation of the OpenAPI, fuzzed by schemathesis as each role and as nobody.

For each role, each operation gets about ``BGCHECK_FUZZ_EXAMPLES`` (default 5)
generated requests of each kind: schema-valid, schema-valid with path ids that name
seeded objects, and schema-invalid (fewer where the inputs allow fewer). Every answer
must be below 500 and match what the OpenAPI declares: the status code, the content
type, the body's schema and the headers; and schema-invalid input must be refused.
Generation is derandomized, so a CI failure reproduces locally. One operation's failure
is a subtest failure; the others still run.
"""

from __future__ import annotations

from typing import Any

import hypothesis
import pytest

from support.fuzz import EXAMPLES, ROLES, Seeded

# At least 1,000 generated requests a run (six roles), whatever the operations allow.
MIN_REQUESTS_PER_ROLE = 1000 // len(ROLES) + 1


@pytest.mark.parametrize("role", ROLES)
def test_every_operation_as(role: str, seeded: Seeded, subtests: pytest.Subtests) -> None:
    schema = seeded.schema(role)
    for result in schema.get_all_operations():
        operation = result.ok()

        @hypothesis.settings(
            max_examples=EXAMPLES * 3, derandomize=True, deadline=None, database=None
        )
        @hypothesis.given(case=seeded.cases_for(operation))
        def fuzz(case: Any) -> None:
            case.call_and_validate()

        with subtests.test(msg=operation.label):
            fuzz()
    assert seeded.requests[role] >= MIN_REQUESTS_PER_ROLE
