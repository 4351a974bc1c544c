"""``bgcheck users``: staff accounts."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Callable
from typing import Annotated

import typer
from sqlmodel import Session, select

from bgcheck.cli.common import CLI_ACTOR, database, fail
from bgcheck.identity import users as user_service
from bgcheck.identity.users import UserDetails
from bgcheck.models import User
from bgcheck.platform.db import session_scope
from bgcheck.platform.errors import BgcheckError
from workflow.states import Role

app = typer.Typer(help="Staff accounts.")


@app.command(
    "create",
    epilog="Example: printf '%s' \"$PW\" | bgcheck users create --email ana@example.edu "
    "--role hr --department FAC --password-stdin",
)
def create(
    email: Annotated[str, typer.Option(help="Login email (unique, case-insensitive).")],
    role: Annotated[list[Role], typer.Option(help="A role; repeat for several.")],
    department: Annotated[
        list[str] | None, typer.Option(help="A department code (needed for hr); repeatable.")
    ] = None,
    display_name: Annotated[str, typer.Option(help="Name shown in the app.")] = "",
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
) -> None:
    """Create a staff account. Without --password-stdin the user can sign in by SSO only."""
    password = sys.stdin.read().rstrip("\r\n") if password_stdin else None
    with database() as engine:
        try:
            with session_scope(engine) as session:
                user = user_service.create_user(
                    session,
                    CLI_ACTOR,
                    email=email,
                    display_name=display_name,
                    roles=role,
                    department_codes=department or (),
                    password=password,
                )
        except BgcheckError as exc:
            fail(exc.public_detail)
    typer.echo(f"created user {user.id} ({', '.join(sorted(role))})")


@app.command("list", epilog="Example: bgcheck users list")
def list_users() -> None:
    """List staff accounts: email, roles, departments, active or disabled."""
    with database() as engine, session_scope(engine, read_only=True) as session:
        for details in user_service.list_details(session):
            state = "active" if details.user.is_active else "disabled"
            roles = ",".join(sorted(details.roles))
            departments = ",".join(sorted(details.departments)) or "-"
            typer.echo(f"{details.user.email}  {roles}  {departments}  {state}")


Email = Annotated[str, typer.Option(help="The account's email.")]


def _change(email: str, change: Callable[[Session, uuid.UUID], UserDetails]) -> None:
    with database() as engine:
        try:
            with session_scope(engine) as session:
                user = session.exec(select(User).where(User.email == email.strip().lower())).first()
                if user is None:
                    fail("no account with this email")
                details = change(session, user.id)
        except BgcheckError as exc:
            fail(exc.public_detail)
    state = "active" if details.user.is_active else "disabled"
    typer.echo(
        f"{details.user.email}: roles {','.join(sorted(details.roles))}; "
        f"departments {','.join(sorted(details.departments)) or '-'}; {state}"
    )


@app.command("disable", epilog="Example: bgcheck users disable --email ana@example.edu")
def disable(email: Email) -> None:
    """Disable an account: its tokens stop working at once."""
    _change(email, lambda s, uid: user_service.set_active(s, CLI_ACTOR, user_id=uid, active=False))


@app.command("enable", epilog="Example: bgcheck users enable --email ana@example.edu")
def enable(email: Email) -> None:
    """Enable a disabled account again."""
    _change(email, lambda s, uid: user_service.set_active(s, CLI_ACTOR, user_id=uid, active=True))


@app.command(
    "set-roles", epilog="Example: bgcheck users set-roles --email ana@example.edu --role auditor"
)
def set_roles(
    email: Email, role: Annotated[list[Role], typer.Option(help="A role; repeat for several.")]
) -> None:
    """Replace an account's roles (effective on its next request)."""
    _change(email, lambda s, uid: user_service.set_roles(s, CLI_ACTOR, user_id=uid, roles=role))


@app.command(
    "set-departments",
    epilog="Example: bgcheck users set-departments --email ana@example.edu --department FAC",
)
def set_departments(
    email: Email,
    department: Annotated[list[str], typer.Option(help="A department code; repeatable.")],
) -> None:
    """Replace an hr account's departments."""
    _change(
        email,
        lambda s, uid: user_service.set_departments(s, CLI_ACTOR, user_id=uid, codes=department),
    )
