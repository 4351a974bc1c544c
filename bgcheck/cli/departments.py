"""``bgcheck departments``: the hiring departments hr users belong to."""

from __future__ import annotations

from typing import Annotated

import typer

from bgcheck.cli.common import CLI_ACTOR, database, fail
from bgcheck.identity import users as user_service
from bgcheck.platform.db import session_scope
from bgcheck.platform.errors import BgcheckError

app = typer.Typer(help="Hiring departments.")


@app.command("create", epilog='Example: bgcheck departments create --code FAC --name "Facilities"')
def create(
    code: Annotated[str, typer.Option(help="Short code, e.g. FAC.")],
    name: Annotated[str, typer.Option(help="Full name.")],
) -> None:
    """Create a department."""
    with database() as engine:
        try:
            with session_scope(engine) as session:
                department = user_service.create_department(
                    session, CLI_ACTOR, code=code, name=name
                )
        except BgcheckError as exc:
            fail(exc.public_detail)
    typer.echo(f"created department {department.code}")


@app.command("list", epilog="Example: bgcheck departments list")
def list_departments() -> None:
    """List departments: code and name."""
    with database() as engine, session_scope(engine, read_only=True) as session:
        for department in user_service.list_departments(session):
            typer.echo(f"{department.code}  {department.name}")
