"""Demo data for the embedded mode: departments and one account per role.

The passwords are published in the README, so ``bgcheck demo`` refuses to run against
anything but the embedded SQLite database unless told otherwise. Later issues add demo
cases in several states here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from sqlmodel import Session, select

from bgcheck import audit
from bgcheck.models import User
from bgcheck.services import users as user_service
from bgcheck.settings import Settings
from workflow.states import Role

# One published password for every demo account; never seed these outside a demo.
DEMO_PASSWORD: Final = "demo-password-2026"  # noqa: S105

DEPARTMENTS: Final = (
    ("FAC", "Facilities"),
    ("ATH", "Athletics"),
    ("LIB", "University Libraries"),
)


@dataclass(frozen=True)
class DemoUser:
    email: str
    display_name: str
    roles: tuple[Role, ...]
    departments: tuple[str, ...] = ()

    @property
    def password(self) -> str:
        return DEMO_PASSWORD


USERS: Final = (
    DemoUser("hr@demo.bgcheck.test", "Harper Reyes (HR, Facilities)", (Role.HR,), ("FAC",)),
    DemoUser("hr.athletics@demo.bgcheck.test", "Sam Ortiz (HR, Athletics)", (Role.HR,), ("ATH",)),
    DemoUser("reviewer@demo.bgcheck.test", "Riley Chen (EM reviewer)", (Role.REVIEWER,)),
    DemoUser("manager@demo.bgcheck.test", "Morgan Patel (EM manager)", (Role.MANAGER,)),
    DemoUser("auditor@demo.bgcheck.test", "Avery Brooks (auditor)", (Role.AUDITOR,)),
    DemoUser("admin@demo.bgcheck.test", "Alex Kim (administrator)", (Role.ADMIN,)),
)


def seed(session: Session, actor: audit.AuditActor) -> list[DemoUser]:
    """Create what is missing; running it twice changes nothing the second time."""
    for code, name in DEPARTMENTS:
        user_service.ensure_department(session, actor, code=code, name=name)
    existing = set(session.exec(select(User.email)).all())
    created = []
    for demo_user in USERS:
        if demo_user.email in existing:
            continue
        user_service.create_user(
            session,
            actor,
            email=demo_user.email,
            display_name=demo_user.display_name,
            roles=demo_user.roles,
            department_codes=demo_user.departments,
            password=demo_user.password,
        )
        created.append(demo_user)
    return created


def instructions(created: list[DemoUser], settings: Settings) -> str:
    lines = [f"Demo accounts ({len(created)} new) — sign in at {settings.public_url}/docs:"]
    lines += [f"  {u.email:<34} {u.password:<26} {', '.join(u.roles)}" for u in USERS]
    return "\n".join(lines)
