"""``bgcheck workflow``: the case lifecycle, as the transition table defines it."""

from __future__ import annotations

import typer

from workflow import mermaid
from workflow.diagram import transitions_markdown

app = typer.Typer(help="The case lifecycle (read from the transition table).")


@app.command("diagram", epilog="Example: bgcheck workflow diagram > lifecycle.mmd")
def diagram() -> None:
    """Print the Mermaid state diagram generated from the transition table."""
    typer.echo(mermaid(), nl=False)


@app.command("table", epilog="Example: bgcheck workflow table")
def table() -> None:
    """Print the transition table as Markdown: event, from, to, who, guards, effects."""
    typer.echo(transitions_markdown(), nl=False)
