"""Who may do what, by role and by object."""

from __future__ import annotations

import uuid

import pytest

from bgcheck.identity.actors import Actor
from bgcheck.platform.errors import Forbidden, NotFound
from bgcheck.policy import GRANTS, Action, CaseScope, Identity, may, require, require_case
from workflow import Role

FAC, ATH = uuid.uuid4(), uuid.uuid4()
# The reader's identity, when the case is not their own.
SOMEONE = Identity(email="idx-of-someone-else")


def actor(*roles: Role, departments: frozenset[uuid.UUID] = frozenset()) -> Actor:
    return Actor(
        user_id=uuid.uuid4(),
        email="someone@example.edu",
        display_name="Someone",
        roles=frozenset(roles),
        department_ids=departments,
    )


HR_FAC = actor(Role.HR, departments=frozenset({FAC}))
REVIEWER = actor(Role.REVIEWER)
MANAGER = actor(Role.MANAGER)
AUDITOR = actor(Role.AUDITOR)
ADMIN = actor(Role.ADMIN)
NOBODY = actor()


def test_hr_reads_their_departments_cases_only() -> None:
    assert may(HR_FAC, Action.READ_CASE, CaseScope(FAC), identity=SOMEONE)
    assert not may(HR_FAC, Action.READ_CASE, CaseScope(ATH), identity=SOMEONE)


def test_another_departments_case_is_not_found_for_hr_not_forbidden() -> None:
    with pytest.raises(NotFound):
        require_case(HR_FAC, Action.READ_CASE, CaseScope(ATH), identity=SOMEONE)


def test_reviewers_and_managers_see_every_department() -> None:
    for who in (REVIEWER, MANAGER):
        assert may(who, Action.REVEAL_PII, CaseScope(ATH), identity=SOMEONE)
        assert may(who, Action.READ_REPORT, CaseScope(FAC), identity=SOMEONE)


def test_hr_never_reads_reports_or_full_pii() -> None:
    assert not may(HR_FAC, Action.READ_REPORT, CaseScope(FAC), identity=SOMEONE)
    assert not may(HR_FAC, Action.REVEAL_PII, CaseScope(FAC), identity=SOMEONE)
    with pytest.raises(Forbidden):
        require_case(HR_FAC, Action.READ_REPORT, CaseScope(FAC), identity=SOMEONE)


@pytest.mark.parametrize(
    "action", [Action.REVEAL_PII, Action.READ_REPORT, Action.READ_CASE_CONTACT, Action.READ_CASE]
)
def test_admin_never_gets_pii_or_cases(action: Action) -> None:
    assert not may(ADMIN, action, CaseScope(FAC), identity=SOMEONE)


def test_auditors_read_metadata_without_pii() -> None:
    assert may(AUDITOR, Action.READ_CASE, CaseScope(FAC), identity=SOMEONE)
    assert not may(AUDITOR, Action.READ_CASE_CONTACT, CaseScope(FAC), identity=SOMEONE)
    assert not may(AUDITOR, Action.REVEAL_PII, CaseScope(FAC), identity=SOMEONE)


def test_nobody_reads_their_own_background_check() -> None:
    own = CaseScope(FAC, candidate=Identity(email="idx-of-my-email"))
    assert not may(REVIEWER, Action.REVEAL_PII, own, identity=Identity(email="idx-of-my-email"))
    assert may(REVIEWER, Action.REVEAL_PII, own, identity=Identity(email="idx-of-another"))
    with pytest.raises(NotFound):
        require_case(MANAGER, Action.READ_CASE, own, identity=Identity(email="idx-of-my-email"))


@pytest.mark.parametrize("index", ["email", "mailbox", "ssn", "name_dob"])
def test_any_shared_identity_index_makes_it_ones_own_case(index: str) -> None:
    candidate = Identity(email="c-email", mailbox="c-box", ssn="c-ssn", name_dob="c-dob")
    reader = Identity(**{index: getattr(candidate, index)})
    assert candidate.same_person(reader)
    assert reader.same_person(candidate)
    assert not may(REVIEWER, Action.READ_CASE, CaseScope(FAC, candidate), identity=reader)


def test_unknown_indexes_never_match() -> None:
    assert not Identity().same_person(Identity())
    assert not Identity(ssn="x").same_person(Identity(email="x"))


def test_a_case_check_without_the_readers_identity_is_a_bug_not_a_pass() -> None:
    with pytest.raises(TypeError):
        may(REVIEWER, Action.READ_CASE, CaseScope(FAC))


def test_a_user_without_roles_may_do_nothing() -> None:
    for action in Action:
        assert not may(NOBODY, action)
    with pytest.raises(Forbidden):
        require(NOBODY, Action.MANAGE_USERS)


def test_several_roles_add_up() -> None:
    both = actor(Role.HR, Role.AUDITOR, departments=frozenset({FAC}))
    assert may(both, Action.EXPORT_AUDIT)
    assert may(both, Action.CREATE_CASE)
    # As an auditor they read any case's metadata; hr scoping does not narrow that.
    assert may(both, Action.READ_CASE, CaseScope(ATH), identity=SOMEONE)
    # Contact details come only from hr, so only for their departments.
    assert not may(both, Action.READ_CASE_CONTACT, CaseScope(ATH), identity=SOMEONE)


def test_every_action_is_granted_to_some_role() -> None:
    granted = set().union(*GRANTS.values())
    assert granted == set(Action)


@pytest.mark.parametrize(
    "action", [Action.EXPORT_AUDIT, Action.VERIFY_AUDIT, Action.READ_DISSEMINATION_LOG]
)
def test_auditors_and_managers_export_and_verify_the_trail(action: Action) -> None:
    assert may(AUDITOR, action)
    assert may(MANAGER, action)
    for other in (HR_FAC, REVIEWER, ADMIN):
        assert not may(other, action)
