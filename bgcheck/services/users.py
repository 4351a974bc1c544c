"""Staff accounts. The identity issue adds login, roles management and the admin API."""

from __future__ import annotations

from collections.abc import Iterable

from sqlmodel import Session, col, select

from bgcheck import audit
from bgcheck.errors import Conflict, InvalidInput
from bgcheck.models import Department, User, UserDepartment, UserRole
from bgcheck.passwords import WeakPassword, hash_password
from workflow.states import Role

STAFF_ROLES = frozenset({Role.HR, Role.REVIEWER, Role.MANAGER, Role.AUDITOR, Role.ADMIN})


def normalize_email(email: str) -> str:
    email = email.strip().lower()
    local, at, domain = email.partition("@")
    if not (local and at and "." in domain) or any(c.isspace() for c in email):
        raise InvalidInput("email must look like name@example.edu")
    return email


def create_user(
    session: Session,
    actor: audit.AuditActor,
    *,
    email: str,
    display_name: str,
    roles: Iterable[Role],
    department_codes: Iterable[str] = (),
    password: str | None = None,
) -> User:
    email = normalize_email(email)
    roles = frozenset(roles)
    if not roles:
        raise InvalidInput("a user needs at least one role")
    if not roles <= STAFF_ROLES:
        raise InvalidInput("roles must be among: " + ", ".join(sorted(STAFF_ROLES)))
    if session.exec(select(User).where(User.email == email)).first() is not None:
        raise Conflict("a user with this email already exists")
    departments = _departments(session, department_codes)
    if Role.HR in roles and not departments:
        raise InvalidInput("an hr user needs at least one department")
    try:
        password_hash = hash_password(password) if password is not None else None
    except WeakPassword as exc:
        raise InvalidInput(str(exc)) from None

    user = User(
        email=email, display_name=display_name.strip() or email, password_hash=password_hash
    )
    session.add(user)
    session.add_all(UserRole(user_id=user.id, role=role) for role in sorted(roles))
    session.add_all(UserDepartment(user_id=user.id, department_id=d.id) for d in departments)
    session.flush()
    audit.record(
        session,
        actor,
        action="user.created",
        target=audit.Target.of("user", user.id),
        data={"roles": sorted(roles), "departments": sorted(d.code for d in departments)},
    )
    return user


def _departments(session: Session, codes: Iterable[str]) -> list[Department]:
    wanted = {code.strip().upper() for code in codes if code.strip()}
    if not wanted:
        return []
    found = session.exec(select(Department).where(col(Department.code).in_(wanted))).all()
    missing = wanted - {d.code for d in found}
    if missing:
        raise InvalidInput("unknown department: " + ", ".join(sorted(missing)))
    return list(found)


def ensure_department(
    session: Session, actor: audit.AuditActor, *, code: str, name: str
) -> Department:
    """The department with this code, created (and audited) when it does not exist yet."""
    code = code.strip().upper()
    department = session.exec(select(Department).where(Department.code == code)).first()
    if department is None:
        department = Department(code=code, name=name)
        session.add(department)
        session.flush()
        audit.record(
            session,
            actor,
            action="department.created",
            target=audit.Target.of("department", department.id),
            data={"code": code},
        )
    return department
