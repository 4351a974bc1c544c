"""The views reject the inputs that would make a guard silently wrong."""

import uuid
from datetime import UTC, datetime

import pytest

from workflow import ActorView, CaseView, Role, Rules, State


def test_ids_must_be_strings_so_proposer_and_approver_compare_equal() -> None:
    user = uuid.uuid4()
    with pytest.raises(TypeError, match="str"):
        ActorView(user, "m@university.edu", {Role.MANAGER})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="str"):
        CaseView(state=State.ADVERSE_PROPOSED, department="p", proposed_by=user)  # type: ignore[arg-type]


def test_roles_and_states_may_be_given_as_their_names() -> None:
    actor = ActorView("u1", None, ["hr", Role.MANAGER], ["physics"])
    assert actor.roles == frozenset({Role.HR, Role.MANAGER})
    assert actor.departments == frozenset({"physics"})
    assert CaseView(state="ready", department="p").state is State.READY
    with pytest.raises(ValueError, match="janitor"):
        ActorView("u1", None, ["janitor"])


def test_times_must_be_timezone_aware() -> None:
    with pytest.raises(ValueError, match="consent_at"):
        CaseView(state=State.READY, department="p", consent_at=datetime(2026, 1, 1))  # noqa: DTZ001
    CaseView(state=State.READY, department="p", consent_at=datetime(2026, 1, 1, tzinfo=UTC))


def test_rules_refuse_impossible_settings() -> None:
    assert Rules(adverse_wait_business_days=0).adverse_wait_business_days == 0
    with pytest.raises(ValueError, match="negative"):
        Rules(adverse_wait_business_days=-1)
    with pytest.raises(ValueError, match="consent_ttl_days"):
        Rules(consent_ttl_days=0)
