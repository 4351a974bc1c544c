"""One scope rule: hr sees only its departments' cases, and nobody handles their own case.

Runs on SQLite and PostgreSQL (the ``db`` fixture). The rule is written once for one case
(``policy.may`` / ``policy.in_scope``) and once for every case in SQL
(``queries.visible_cases``); the last test checks that the two agree.
"""

from __future__ import annotations

import itertools
import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import Session

from bgcheck import policy
from bgcheck.cases import search
from bgcheck.cases import service as case_service
from bgcheck.cases import views as case_views
from bgcheck.cases.queries import CaseFilter, visible_cases
from bgcheck.cases.service import CaseContext
from bgcheck.crypto import Keyring
from bgcheck.identity.actors import Actor, load_actor
from bgcheck.models import Candidate, Case, utcnow
from bgcheck.platform.errors import NotFound
from bgcheck.platform.settings import Settings
from bgcheck.policy import Action, CaseScope, Identity
from workflow import Event, Role

from support.cases import CASE, case_context
from support.factories import department_id, make_actor, make_user

STAFF = (Role.HR, Role.REVIEWER, Role.MANAGER, Role.AUDITOR, Role.ADMIN)


@pytest.fixture
def ctx(tmp_path: Path) -> CaseContext:
    keyring_file = tmp_path / "keyring.json"
    Keyring.generate().save(keyring_file)
    return case_context(Settings(data_dir=tmp_path, keyring_file=keyring_file))


def _create(
    session: Session, ctx: CaseContext, hr: Actor, department: str, email: str
) -> uuid.UUID:
    body = {**CASE, "department": department, "candidate": {**CASE["candidate"], "email": email}}  # type: ignore[dict-item]
    return case_service.create_case(session, ctx, hr, body=body, now=utcnow()).id


def _listed(session: Session, ctx: CaseContext, actor: Actor) -> set[uuid.UUID]:
    page = case_views.listing(
        session, ctx, actor, CaseFilter(), limit=100, cursor=None, now=utcnow()
    )
    return {item.id for item in page.items}


def test_hr_of_one_department_cannot_list_search_or_get_anothers_case(
    db: Session, ctx: CaseContext
) -> None:
    hr_fac = make_actor(db, Role.HR, departments=["FAC"])
    hr_ath = make_actor(db, Role.HR, departments=["ATH"])
    theirs = _create(db, ctx, hr_ath, "ATH", "ath.candidate@example.org")
    mine = _create(db, ctx, hr_fac, "FAC", "fac.candidate@example.org")

    assert _listed(db, ctx, hr_fac) == {mine}
    assert _listed(db, ctx, hr_ath) == {theirs}
    found = search.search_cases(db, ctx, hr_fac, email="ath.candidate@example.org", now=utcnow())
    assert found.items == []
    found = search.search_cases(db, ctx, hr_fac, email="fac.candidate@example.org", now=utcnow())
    assert [item.id for item in found.items] == [mine]
    with pytest.raises(NotFound):
        case_views.get(db, ctx, hr_fac, theirs, utcnow())
    with pytest.raises(NotFound):
        case_service.fire(
            db,
            ctx,
            hr_fac,
            case_id=theirs,
            event=Event.INVITE,
            body={},
            expected_version=None,
            now=utcnow(),
        )
    assert case_views.get(db, ctx, hr_fac, mine, utcnow())[0].id == mine


def test_nobody_sees_or_acts_on_their_own_case(db: Session, ctx: CaseContext) -> None:
    hr = make_actor(db, Role.HR, departments=["FAC"])
    colleague = make_actor(db, Role.HR, departments=["FAC"])
    # An hr user of the same department whose mailbox ("+tag" aside) is the candidate's.
    user = make_user(db, Role.HR, email="pat+jobs@example.edu", departments=["FAC"])
    candidate_self = load_actor(db, user.id)
    assert candidate_self is not None
    own = _create(db, ctx, hr, "FAC", "pat@example.edu")
    other = _create(db, ctx, hr, "FAC", "someone.else@example.org")

    assert _listed(db, ctx, candidate_self) == {other}
    assert _listed(db, ctx, colleague) == {own, other}
    with pytest.raises(NotFound):
        case_views.get(db, ctx, candidate_self, own, utcnow())
    with pytest.raises(NotFound):
        case_service.fire(
            db,
            ctx,
            candidate_self,
            case_id=own,
            event=Event.INVITE,
            body={},
            expected_version=None,
            now=utcnow(),
        )
    case = db.get(Case, own)
    assert case is not None
    assert not case_service.may(db, ctx, candidate_self, Action.READ_CASE, case)
    assert case_service.may(db, ctx, colleague, Action.READ_CASE, case)


# -- the SQL scope and the Python policy agree ---------------------------------------------

DEPARTMENTS = ("FAC", "ATH", "LIB")
# Small pools, so that actors and candidates often share an index (their own case).
EMAILS = (None, "e1", "e2")
MAILBOXES = (None, "m1")
SSNS = (None, "s1", "s2")
NAME_DOBS = (None, "n1")

identities = st.builds(
    Identity,
    email=st.sampled_from(EMAILS),
    mailbox=st.sampled_from(MAILBOXES),
    ssn=st.sampled_from(SSNS),
    name_dob=st.sampled_from(NAME_DOBS),
)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],  # the examples only read
)
@given(
    roles=st.frozensets(st.sampled_from(STAFF)),
    departments=st.frozensets(st.sampled_from(DEPARTMENTS)),
    identity=identities,
    action=st.sampled_from([Action.READ_CASE, Action.READ_CASE_CONTACT, Action.REVEAL_PII]),
)
def test_the_sql_scope_and_the_python_policy_agree(
    every_kind_of_case: dict[uuid.UUID, CaseScope],
    db: Session,
    roles: frozenset[Role],
    departments: frozenset[str],
    identity: Identity,
    action: Action,
) -> None:
    actor = Actor(
        user_id=uuid.uuid4(),
        email="reader@example.edu",
        display_name="Reader",
        roles=roles,
        department_ids=frozenset(department_id(db, code) for code in departments),
    )
    in_sql = {case.id for case in db.exec(visible_cases(actor, identity=identity, action=action))}
    in_python = {
        case_id
        for case_id, scope in every_kind_of_case.items()
        if policy.may(actor, action, scope, identity=identity)
    }
    assert in_sql == in_python
    assert policy.granted(actor, action) or not in_python


@pytest.fixture
def every_kind_of_case(db: Session) -> dict[uuid.UUID, CaseScope]:
    """One case per department and candidate identity from the pools (made once per test:
    the examples only read)."""
    author = make_user(db, Role.HR, departments=DEPARTMENTS)
    scopes: dict[uuid.UUID, CaseScope] = {}
    pools = itertools.product(DEPARTMENTS, EMAILS, MAILBOXES, SSNS, NAME_DOBS)
    for code, email, mailbox, ssn, name_dob in pools:
        case = Case(
            department_id=department_id(db, code),
            position_title="Groundskeeper",
            package="standard",
            created_by=author.id,
        )
        db.add(case)
        db.flush()
        db.add(
            Candidate(
                case_id=case.id,
                email_index=email,
                mailbox_index=mailbox,
                ssn_index=ssn,
                name_dob_index=name_dob,
            )
        )
        candidate = Identity(email=email, mailbox=mailbox, ssn=ssn, name_dob=name_dob)
        scopes[case.id] = CaseScope(case.department_id, candidate)
    db.flush()
    return scopes
