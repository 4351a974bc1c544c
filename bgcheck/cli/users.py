"""``bgcheck users``: staff accounts."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from sqlmodel import select

from bgcheck.cli.common import CLI_ACTOR, database, fail
from bgcheck.db import session_scope
from bgcheck.errors import BgcheckError
from bgcheck.models import User
from bgcheck.services import users as user_service
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
    """List staff accounts: id, email, active."""
    with database() as engine, session_scope(engine, read_only=True) as session:
        for user in session.exec(select(User).order_by(User.email)):
            state = "active" if user.is_active else "disabled"
            typer.echo(f"{user.id}  {user.email}  {state}")
