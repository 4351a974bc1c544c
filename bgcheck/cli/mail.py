"""``bgcheck mail``: read the embedded mailbox (the Maildir used when BGCHECK_MAIL_URL is unset).

So a demo needs no mail server: what bgcheck sent, candidates' links included, is under
$BGCHECK_DATA_DIR/mail. With BGCHECK_MAIL_URL set, mail goes to that server instead and
this mailbox stays empty. The reading is ``bgcheck.mail.mailbox``, which the admins'
"Sent mail" page uses too.
"""

from __future__ import annotations

from typing import Annotated

import typer

from bgcheck.cli.common import fail, settings
from bgcheck.mail import mailbox
from bgcheck.platform.errors import NotFound

app = typer.Typer(help="The embedded mailbox: the e-mail bgcheck delivered locally.")


@app.command("list", epilog="Example: BGCHECK_DATA_DIR=./var bgcheck mail list")
def list_() -> None:
    """One line per message, oldest first: its id, date, recipient and subject."""
    config = settings()
    if not mailbox.embedded(config):
        typer.echo("BGCHECK_MAIL_URL is set: mail goes to that server, not to this mailbox")
    found = mailbox.stored_messages(config.mail_dir)
    for stored in found:
        typer.echo(f"{stored.key}  {stored.date}  {stored.to}  {stored.subject}")
    typer.echo(f"{len(found)} message(s) in {config.mail_dir}", err=True)


@app.command("show", epilog="Example: bgcheck mail show 3f2a…  (an id from `bgcheck mail list`)")
def show(
    message_id: Annotated[str, typer.Argument(help="The id `bgcheck mail list` shows.")],
    html: Annotated[bool, typer.Option("--html", help="Print the HTML part.")] = False,
) -> None:
    """The message's headers and its text part (or its HTML part)."""
    config = settings()
    try:
        shown = mailbox.show(config.mail_dir, message_id)
    except NotFound:
        fail(f"no message {message_id!r} in {config.mail_dir}")
    for name, value in shown.headers:
        typer.echo(f"{name}: {value}")
    body = shown.html if html else shown.text
    typer.echo("")
    typer.echo(body if body is not None else "(no such part)")
