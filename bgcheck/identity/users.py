"""Staff accounts and departments. Every change is an audit event.

Separation of duties (docs/identity.md): nobody changes their own roles or departments;
a role that reads PII (``policy.PII_ROLES``) proposed by a signed-in administrator waits
for a manager's approval (``bgcheck.identity.approvals``) and does nothing until then; an
account never gets a password someone else chose (it gets a set-password link,
``bgcheck.identity.account_links``); and nobody holds hr together with a role that
adjudicates, so no one decides a case of a department they request for.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

from sqlmodel import Session, col, delete, select

from bgcheck import audit, policy
from bgcheck.crypto import NormalizationError
from bgcheck.identity import proposals
from bgcheck.identity.actors import Actor
from bgcheck.identity.passwords import WeakPassword, hash_password
from bgcheck.models import Department, User, UserDepartment, UserRole, utcnow
from bgcheck.platform.errors import Conflict, Forbidden, InvalidInput, NotFound
from bgcheck.vault.store import Vault
from workflow import Role
from workflow.payloads import ONE_LINE, has_control_characters

STAFF_ROLES = frozenset({Role.HR, Role.REVIEWER, Role.MANAGER, Role.AUDITOR, Role.ADMIN})


@dataclass(frozen=True, slots=True)
class UserDetails:
    """A user with roles and department codes, as the admin screens show them."""

    user: User
    roles: frozenset[Role]
    departments: frozenset[str]
    pending_roles: frozenset[Role] = frozenset()  # proposed, waiting for a manager


def normalize_email(email: str) -> str:
    if has_control_characters(email):  # before strip(), which would hide a trailing CR/LF
        raise InvalidInput(f"email {ONE_LINE}")
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
    """A new account. From a signed-in administrator: no password (a set-password link
    follows) and roles that read PII only proposed; from the operator (command line,
    demo): as asked."""
    email = normalize_email(email)
    if has_control_characters(display_name):
        raise InvalidInput(f"display_name {ONE_LINE}")
    display_name = display_name.strip()
    roles = _checked_roles(roles)
    if _by_person(actor) and password is not None:
        raise InvalidInput(
            "password: an administrator does not choose other people's passwords; leave it "
            "out and give the person the set-password link the answer carries"
        )
    if session.exec(select(User).where(User.email == email)).first() is not None:
        raise Conflict("a user with this email already exists")
    departments = _departments(session, department_codes)
    _check_hr_has_departments(roles, departments)
    try:
        password_hash = hash_password(password, email=email) if password is not None else None
    except WeakPassword as exc:
        raise InvalidInput(str(exc)) from None

    now = utcnow()
    user = User(
        email=email,
        display_name=display_name or email,
        password_hash=password_hash,
        password_set_at=now if password_hash else None,
    )
    granted = roles - policy.PII_ROLES if _by_person(actor) else roles
    session.add(user)
    session.add_all(UserRole(user_id=user.id, role=role) for role in sorted(granted))
    session.add_all(UserDepartment(user_id=user.id, department_id=d.id) for d in departments)
    session.flush()
    audit.record(
        session,
        actor,
        action="user.created",
        target=audit.Target.of("user", user.id),
        data={"roles": sorted(granted), "departments": sorted(d.code for d in departments)},
    )
    for role in sorted(roles - granted):
        proposals.propose_role(session, actor, user_id=user.id, role=role, now=now)
    return user


def get_details(session: Session, user_id: uuid.UUID) -> UserDetails:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound("no such user")
    return _details(session, user)


def list_details(session: Session) -> list[UserDetails]:
    users = session.exec(select(User).order_by(col(User.email))).all()
    roles = _grouped(session.exec(select(UserRole.user_id, UserRole.role)).all())
    proposed = _grouped(
        (approval.user_id, approval.role)
        for approval in proposals.pending(session)
        if approval.role is not None
    )
    codes = _grouped(
        session.exec(
            select(UserDepartment.user_id, Department.code).join(
                Department, col(Department.id) == col(UserDepartment.department_id)
            )
        ).all()
    )
    return [
        UserDetails(
            user,
            frozenset(Role(role) for role in roles.get(user.id, ())),
            frozenset(codes.get(user.id, ())),
            frozenset(Role(role) for role in proposed.get(user.id, ())),
        )
        for user in users
    ]


def set_roles(
    session: Session, actor: audit.AuditActor, *, user_id: uuid.UUID, roles: Iterable[Role]
) -> UserDetails:
    """The user's roles become ``roles``: removals at once; from a signed-in administrator,
    a role that reads PII is proposed for a manager's approval instead of granted."""
    _not_oneself(actor, user_id, "roles")
    details = get_details(session, user_id)
    wanted = _checked_roles(roles)
    departments = _departments(session, details.departments)
    _check_hr_has_departments(wanted, departments)
    proposed = (wanted - details.roles) & policy.PII_ROLES if _by_person(actor) else frozenset()
    proposals.withdraw_roles(session, actor, user_id=user_id, keep=proposed)
    apply_roles(session, actor, details, wanted - proposed)
    for role in sorted(proposed):
        proposals.propose_role(session, actor, user_id=user_id, role=role, now=utcnow())
    return get_details(session, user_id)


def apply_roles(
    session: Session, actor: audit.AuditActor, details: UserDetails, new: frozenset[Role]
) -> None:
    """Replace the roles the user holds (and record it); no approval is checked here."""
    _check_separation(new)
    if new == details.roles:
        return
    user_id = details.user.id
    session.execute(delete(UserRole).where(col(UserRole.user_id) == user_id))
    session.add_all(UserRole(user_id=user_id, role=role) for role in sorted(new))
    _touch(session, details.user)
    audit.record(
        session,
        actor,
        action="user.roles_changed",
        target=audit.Target.of("user", user_id),
        data={"before": sorted(details.roles), "after": sorted(new)},
    )


def set_departments(
    session: Session, actor: audit.AuditActor, *, user_id: uuid.UUID, codes: Iterable[str]
) -> UserDetails:
    _not_oneself(actor, user_id, "departments")
    details = get_details(session, user_id)
    departments = _departments(session, codes)
    _check_hr_has_departments(details.roles, departments)
    new = frozenset(d.code for d in departments)
    if new == details.departments:
        return details
    session.execute(delete(UserDepartment).where(col(UserDepartment.user_id) == user_id))
    session.add_all(UserDepartment(user_id=user_id, department_id=d.id) for d in departments)
    _touch(session, details.user)
    audit.record(
        session,
        actor,
        action="user.departments_changed",
        target=audit.Target.of("user", user_id),
        data={"before": sorted(details.departments), "after": sorted(new)},
    )
    return get_details(session, user_id)


def set_active(
    session: Session, actor: audit.AuditActor, *, user_id: uuid.UUID, active: bool
) -> UserDetails:
    details = get_details(session, user_id)
    if actor.kind == "user" and actor.id == str(user_id) and not active:
        raise Conflict("you cannot disable your own account")
    if details.user.is_active != active:
        details.user.is_active = active
        _touch(session, details.user)
        audit.record(
            session,
            actor,
            action="user.enabled" if active else "user.disabled",
            target=audit.Target.of("user", user_id),
            data={"roles": sorted(details.roles)},
        )
    return get_details(session, user_id)


def set_own_identity(
    session: Session,
    vault: Vault,
    actor: Actor,
    *,
    family_name: str,
    date_of_birth: date,
    ssn: str | None,
) -> None:
    """A staff member declares who they are, so no case whose candidate they are ever
    reaches them (``policy.Identity``): kept as blind indexes only, never the values."""
    user = session.get(User, actor.user_id)
    if user is None:
        raise NotFound("no such user")
    try:
        user.name_dob_index = vault.name_dob_index(family_name, date_of_birth)
    except NormalizationError:
        raise InvalidInput("family_name: enter your family name, in letters") from None
    try:
        user.ssn_index = vault.ssn_index(ssn) if ssn else None
    except NormalizationError:
        raise InvalidInput("ssn: enter the 9 digits of your SSN, like 123-45-6789") from None
    _touch(session, user)
    audit.record(
        session,
        actor.audit_actor,
        action="user.identity_declared",
        target=audit.Target.of("user", user.id),
        data={"fields": ["name_dob", *(["ssn"] if ssn else [])]},
    )


def list_departments(session: Session) -> Sequence[Department]:
    return session.exec(select(Department).order_by(col(Department.code))).all()


def create_department(
    session: Session, actor: audit.AuditActor, *, code: str, name: str
) -> Department:
    code = code.strip().upper()
    if session.exec(select(Department).where(Department.code == code)).first() is not None:
        raise Conflict("a department with this code already exists")
    return ensure_department(session, actor, code=code, name=name)


def ensure_department(
    session: Session, actor: audit.AuditActor, *, code: str, name: str
) -> Department:
    """The department with this code, created (and audited) when it does not exist yet."""
    code = code.strip().upper()
    department = session.exec(select(Department).where(Department.code == code)).first()
    if department is None:
        department = Department(code=code, name=name.strip())
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


def _checked_roles(roles: Iterable[Role]) -> frozenset[Role]:
    checked = frozenset(roles)
    if not checked:
        raise InvalidInput("roles: a user needs at least one role")
    if not checked <= STAFF_ROLES:
        raise InvalidInput("roles: each must be one of " + ", ".join(sorted(STAFF_ROLES)))
    _check_separation(checked)
    return checked


def _check_separation(roles: frozenset[Role]) -> None:
    """hr requests checks; reviewers and managers decide them: never the same person."""
    if Role.HR in roles and roles & policy.PII_ROLES:
        adjudicating = " and ".join(sorted(roles & policy.PII_ROLES))
        raise InvalidInput(
            f"roles: hr cannot be held together with {adjudicating} (separation of duties: "
            "nobody decides a check they requested); use two accounts for two people"
        )


def _by_person(actor: audit.AuditActor) -> bool:
    """A signed-in user (four eyes apply), not the operator's command line or the demo."""
    return actor.kind == "user"


def _not_oneself(actor: audit.AuditActor, user_id: uuid.UUID, what: str) -> None:
    if actor.kind == "user" and actor.id == str(user_id):
        raise Forbidden(f"nobody changes their own {what}; ask another administrator")


def _check_hr_has_departments(roles: frozenset[Role], departments: list[Department]) -> None:
    if Role.HR in roles and not departments:
        raise InvalidInput("an hr user needs at least one department")


def _departments(session: Session, codes: Iterable[str]) -> list[Department]:
    wanted = {code.strip().upper() for code in codes if code.strip()}
    if not wanted:
        return []
    found = session.exec(select(Department).where(col(Department.code).in_(wanted))).all()
    missing = wanted - {d.code for d in found}
    if missing:
        raise InvalidInput("unknown department: " + ", ".join(sorted(missing)))
    return list(found)


def _details(session: Session, user: User) -> UserDetails:
    roles = session.exec(select(UserRole.role).where(UserRole.user_id == user.id)).all()
    codes = session.exec(
        select(Department.code)
        .join(UserDepartment, col(UserDepartment.department_id) == col(Department.id))
        .where(UserDepartment.user_id == user.id)
    ).all()
    return UserDetails(
        user,
        frozenset(Role(r) for r in roles),
        frozenset(codes),
        proposals.pending_roles(session, user.id),
    )


def _grouped(pairs: Iterable[tuple[uuid.UUID, str]]) -> dict[uuid.UUID, list[str]]:
    grouped: dict[uuid.UUID, list[str]] = {}
    for key, value in pairs:
        grouped.setdefault(key, []).append(value)
    return grouped


def _touch(session: Session, user: User) -> None:
    user.updated_at = utcnow()
    session.add(user)
    session.flush()
