"""Staff accounts and departments (administrators), and the CORI need-to-know list."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from fastapi import APIRouter, Query, Response
from sqlmodel import Session

from api.deps import AppSettings, CurrentActor, CurrentReader, DbSession, ReadSession, permit
from api.errors import problems
from api.schemas.users import (
    AccessPeriodRead,
    ApprovalRead,
    DepartmentCreate,
    DepartmentRead,
    DepartmentsUpdate,
    PasswordLink,
    Rejection,
    RolesUpdate,
    UserCreate,
    UserCreated,
    UserRead,
)
from bgcheck.identity import account_links, approvals, need_to_know, proposals
from bgcheck.identity import users as user_service
from bgcheck.identity.actors import Actor
from bgcheck.models import Approval, utcnow
from bgcheck.platform import spreadsheets
from bgcheck.platform.settings import Settings
from bgcheck.policy import Action
from workflow import Role

router = APIRouter(prefix="/api/v1", tags=["users"])
ADMIN = [permit(Action.MANAGE_USERS)]
ADMIN_READ = [permit(Action.MANAGE_USERS, read_only=True)]


@router.get("/users", dependencies=ADMIN_READ, responses=problems(401, 403))
def list_users(db: ReadSession) -> list[UserRead]:
    return [UserRead.of(details) for details in user_service.list_details(db)]


@router.post(
    "/users", status_code=201, dependencies=ADMIN, responses=problems(400, 401, 403, 409, 422)
)
def create_user(
    body: UserCreate, db: DbSession, actor: CurrentActor, settings: AppSettings
) -> UserCreated:
    """A new account, with a one-time link for the person to set their own password.

    Roles that read PII (reviewer, manager) are proposed, not granted: a manager other
    than you approves them (`/api/v1/approvals`). hr cannot be combined with them."""
    user = user_service.create_user(
        db,
        actor.audit_actor,
        email=body.email,
        display_name=body.display_name,
        roles=[Role(role) for role in body.roles],
        department_codes=body.departments,
        password=body.password,
    )
    link = _password_link(db, actor, user.id, settings)
    return UserCreated(
        **UserRead.of(user_service.get_details(db, user.id)).model_dump(),
        set_password_url=link.set_password_url,
        set_password_expires_at=link.expires_at,
    )


@router.post(
    "/users/{user_id}/password-link",
    dependencies=ADMIN,
    responses=problems(401, 403, 404, 422),
)
def password_link(
    user_id: uuid.UUID, db: DbSession, actor: CurrentActor, settings: AppSettings
) -> PasswordLink:
    """A new one-time link for the person to set their password (the older link stops
    working). Their current password keeps working until they use it."""
    return _password_link(db, actor, user_id, settings)


def _password_link(
    db: Session, actor: Actor, user_id: uuid.UUID, settings: Settings
) -> PasswordLink:
    link, token = account_links.issue(db, actor.audit_actor, user_id=user_id, now=utcnow())
    url = f"{settings.public_url.rstrip('/')}{account_links.PATH}{token}"
    return PasswordLink(set_password_url=url, expires_at=link.expires_at)


@router.post(
    "/users/{user_id}/mfa-reset",
    status_code=202,
    dependencies=ADMIN,
    responses=problems(401, 403, 404, 422),
)
def propose_mfa_reset(user_id: uuid.UUID, db: DbSession, actor: CurrentActor) -> ApprovalRead:
    """Propose clearing the person's second factor (they enroll again at their next
    sign-in). It happens when a manager other than you approves it."""
    user_service.get_details(db, user_id)  # 404 for an unknown user
    approval = proposals.propose_mfa_reset(db, actor, user_id=user_id, now=utcnow())
    return _approval(db, approval)


@router.get(
    "/approvals",
    dependencies=[permit(Action.READ_APPROVALS, read_only=True)],
    responses=problems(401, 403),
)
def list_approvals(db: ReadSession) -> list[ApprovalRead]:
    """Changes waiting for a manager: roles that read PII, second-factor resets."""
    return [_approval(db, approval) for approval in proposals.pending(db)]


@router.post(
    "/approvals/{approval_id}/approve",
    dependencies=[permit(Action.APPROVE_ACCESS)],
    responses=problems(401, 403, 404, 409, 422),
)
def approve(approval_id: uuid.UUID, db: DbSession, actor: CurrentActor) -> ApprovalRead:
    """Apply it. Not a change you proposed, and not one about yourself."""
    return _approval(db, approvals.approve(db, actor, approval_id, now=utcnow()))


@router.post(
    "/approvals/{approval_id}/reject",
    dependencies=[permit(Action.APPROVE_ACCESS)],
    responses=problems(400, 401, 403, 404, 409, 422),
)
def reject(
    approval_id: uuid.UUID, body: Rejection, db: DbSession, actor: CurrentActor
) -> ApprovalRead:
    return _approval(db, approvals.reject(db, actor, approval_id, reason=body.reason, now=utcnow()))


def _approval(db: Session, approval: Approval) -> ApprovalRead:
    user = user_service.get_details(db, approval.user_id).user
    return ApprovalRead.model_validate(
        {**approval.model_dump(), "user_email": user.email}, from_attributes=False
    )


@router.get(
    "/users/need-to-know",
    dependencies=[permit(Action.READ_NEED_TO_KNOW, read_only=True)],
    response_model=list[AccessPeriodRead],
    responses={**problems(401, 403, 422), 200: {"content": {"text/csv": {}}}},
)
def need_to_know_list(db: ReadSession, format: Literal["json", "csv"] = Query("json")) -> Any:
    """Who may request, receive or review CORI, with the dates access began and ended."""
    rows = [
        AccessPeriodRead.model_validate(p, from_attributes=True)
        for p in need_to_know.access_periods(db)
    ]
    if format == "json":
        return rows
    text = spreadsheets.csv_document(
        ["user_id", "email", "display_name", "roles", "granted_at", "revoked_at"],
        (
            [
                row.user_id,
                row.email,
                row.display_name,
                " ".join(row.roles),
                row.granted_at.isoformat(),
                row.revoked_at.isoformat() if row.revoked_at else "",
            ]
            for row in rows
        ),
    )
    return Response(
        text,
        media_type=spreadsheets.MEDIA_TYPE,
        headers={"Content-Disposition": 'attachment; filename="need-to-know.csv"'},
    )


@router.get("/users/{user_id}", dependencies=ADMIN_READ, responses=problems(401, 403, 404, 422))
def get_user(user_id: uuid.UUID, db: ReadSession) -> UserRead:
    return UserRead.of(user_service.get_details(db, user_id))


@router.put(
    "/users/{user_id}/roles", dependencies=ADMIN, responses=problems(400, 401, 403, 404, 422)
)
def set_roles(
    user_id: uuid.UUID, body: RolesUpdate, db: DbSession, actor: CurrentActor
) -> UserRead:
    details = user_service.set_roles(
        db, actor.audit_actor, user_id=user_id, roles=[Role(role) for role in body.roles]
    )
    return UserRead.of(details)


@router.put(
    "/users/{user_id}/departments",
    dependencies=ADMIN,
    responses=problems(400, 401, 403, 404, 422),
)
def set_departments(
    user_id: uuid.UUID, body: DepartmentsUpdate, db: DbSession, actor: CurrentActor
) -> UserRead:
    details = user_service.set_departments(
        db, actor.audit_actor, user_id=user_id, codes=body.departments
    )
    return UserRead.of(details)


@router.post(
    "/users/{user_id}/disable", dependencies=ADMIN, responses=problems(401, 403, 404, 409, 422)
)
def disable_user(user_id: uuid.UUID, db: DbSession, actor: CurrentActor) -> UserRead:
    """The account stops working at once, its current tokens included."""
    return UserRead.of(
        user_service.set_active(db, actor.audit_actor, user_id=user_id, active=False)
    )


@router.post("/users/{user_id}/enable", dependencies=ADMIN, responses=problems(401, 403, 404, 422))
def enable_user(user_id: uuid.UUID, db: DbSession, actor: CurrentActor) -> UserRead:
    return UserRead.of(user_service.set_active(db, actor.audit_actor, user_id=user_id, active=True))


@router.get("/departments", responses=problems(401))
def list_departments(db: ReadSession, _actor: CurrentReader) -> list[DepartmentRead]:
    """Every department (any signed-in user: the request form offers one's own)."""
    return [
        DepartmentRead(id=d.id, code=d.code, name=d.name) for d in user_service.list_departments(db)
    ]


@router.post(
    "/departments",
    status_code=201,
    dependencies=ADMIN,
    responses=problems(400, 401, 403, 409, 422),
)
def create_department(body: DepartmentCreate, db: DbSession, actor: CurrentActor) -> DepartmentRead:
    department = user_service.create_department(
        db, actor.audit_actor, code=body.code, name=body.name
    )
    return DepartmentRead(id=department.id, code=department.code, name=department.name)
