"""Sequences of calls, as each signed-in role: schemathesis's stateful mode.

It follows the OpenAPI links, the declared ones (a created or read case → read it, its
history, fire the first event it allows with its ETag: api/routes/cases.py) and those it
infers (a listed user → read, re-role, disable it…), so ids come from earlier answers
and a case moves through its states. Same checks as test_fuzz_operations.py. Every
scenario starts from the same seeded database (its own, not the other module's).
"""

from __future__ import annotations

import hypothesis
import pytest

from support.fuzz import EXAMPLES, ROLES, Seeded

SCENARIOS = EXAMPLES * 4
STEPS = 10


@pytest.mark.parametrize("role", [role for role in ROLES if role != "anonymous"])
def test_linked_calls_as(role: str, seeded: Seeded) -> None:
    class FromTheSeed(seeded.schema(role).as_state_machine()):
        def setup(self) -> None:
            seeded.reset()

    FromTheSeed.run(
        settings=hypothesis.settings(
            max_examples=SCENARIOS,
            stateful_step_count=STEPS,
            derandomize=True,
            deadline=None,
            database=None,
        )
    )
    assert seeded.requests[role] >= SCENARIOS
