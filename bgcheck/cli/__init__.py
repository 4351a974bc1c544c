"""The ``bgcheck`` command line (Typer). Every command's ``--help`` ends with an example.

One module per command group; this one only assembles them.
"""

from __future__ import annotations

import typer

from bgcheck.cli import (
    audit,
    db,
    departments,
    keys,
    mail,
    retention,
    server,
    users,
    vendor_sim,
    workflow,
)

app = typer.Typer(
    help="bgcheck: employee background checks. Settings come from BGCHECK_* variables.",
    no_args_is_help=True,
    add_completion=False,
)
app.command(epilog="Example: BGCHECK_DATA_DIR=./var bgcheck serve --port 8000")(server.serve)
app.command(
    epilog="Example: BGCHECK_DATABASE_URL=postgresql+psycopg://app@db/bgcheck bgcheck worker"
)(server.worker)
app.command(epilog="Example: bgcheck demo; then, in a second terminal, bgcheck demo code")(
    server.demo
)
app.command(
    epilog="Example: BGCHECK_SIM_API_KEY=k BGCHECK_SIM_WEBHOOK_SECRET=whsec_… bgcheck vendor-sim "
    "--port 8900 --webhook-url http://127.0.0.1:8000/api/v1/vendors/http/webhook"
)(vendor_sim.vendor_sim)
app.add_typer(db.app, name="db", no_args_is_help=True)
app.add_typer(users.app, name="users", no_args_is_help=True)
app.add_typer(departments.app, name="departments", no_args_is_help=True)
app.add_typer(audit.app, name="audit", no_args_is_help=True)
app.add_typer(workflow.app, name="workflow", no_args_is_help=True)
app.add_typer(keys.app, name="keys", no_args_is_help=True)
app.add_typer(retention.app, name="retention", no_args_is_help=True)
app.add_typer(mail.app, name="mail", no_args_is_help=True)


def main() -> None:
    app()
