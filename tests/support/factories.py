"""Plain per-domain factories with fixed defaults (no random states)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlmodel import Session, select

from bgcheck import audit
from bgcheck.identity import users as user_service
from bgcheck.identity.actors import Actor, load_actor
from bgcheck.models import Department, User
from workflow import Role

TEST_ACTOR = audit.AuditActor("system", "tests")
PASSWORD = "correct horse battery staple"


def make_department(session: Session, code: str = "FAC", name: str = "Facilities") -> Department:
    return user_service.ensure_department(session, TEST_ACTOR, code=code, name=name)


def make_user(
    session: Session,
    *roles: Role,
    email: str | None = None,
    departments: Iterable[str] = (),
    password: str | None = None,
) -> User:
    departments = tuple(departments) or (("FAC",) if Role.HR in roles else ())
    for code in departments:
        make_department(session, code, f"Department {code}")
    return user_service.create_user(
        session,
        TEST_ACTOR,
        email=email or f"{'-'.join(roles) or 'nobody'}-{uuid.uuid4().hex[:8]}@example.edu",
        display_name="Test User",
        roles=roles or (Role.REVIEWER,),
        department_codes=departments,
        password=password,
    )


def make_actor(session: Session, *roles: Role, departments: Iterable[str] = ()) -> Actor:
    user = make_user(session, *roles, departments=departments)
    actor = load_actor(session, user.id)
    assert actor is not None
    return actor


def department_id(session: Session, code: str) -> uuid.UUID:
    return session.exec(select(Department.id).where(Department.code == code)).one()
