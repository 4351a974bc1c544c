"""``bgcheck retention``: find the cases whose PII is due for destruction, and destroy it.

Dry-run by default: it prints counts and case ids (never PII). ``--apply`` purges each
case in its own transaction, so an interrupted run keeps what it finished and a re-run
continues with the rest.
"""

from __future__ import annotations

from typing import Annotated

import typer

from bgcheck.audit.verification import counted
from bgcheck.cli.common import CLI_ACTOR, database, settings
from bgcheck.models import utcnow
from bgcheck.platform.db import session_scope
from bgcheck.vault import retention

app = typer.Typer(help="Retention: crypto-shred the PII of old, closed cases.")


@app.command(
    "run",
    epilog="Example: bgcheck retention run            # dry run; add --apply to purge",
)
def run(
    apply: Annotated[
        bool, typer.Option("--apply", help="Destroy the PII (default: only list what is due).")
    ] = False,
) -> None:
    """List the cases due under the retention settings; with --apply, purge them.

    Due: decided (cleared, not cleared) more than BGCHECK_RETENTION_YEARS ago, or cancelled
    or expired more than BGCHECK_RETENTION_CLOSED_DAYS ago; never a case under an open
    dispute. Purging keeps the case's PII-free metadata and its audit trail.
    """
    config = settings()
    policy = retention.Policy.from_settings(config)
    now = utcnow()
    decided_before, closed_before = policy.cutoffs(now)
    with database(config) as engine:
        with session_scope(engine, read_only=True) as session:
            due = retention.list_due(session, policy=policy, now=now)
        decided = sum(1 for item in due if item.rule == "decided")
        typer.echo(
            f"{counted(len(due), 'case')} due: {decided} decided before {decided_before:%Y-%m-%d} "
            f"({policy.decided_years} years), {len(due) - decided} cancelled or expired "
            f"before {closed_before:%Y-%m-%d} ({policy.closed_days} days)"
        )
        for item in due:
            typer.echo(
                f"  {item.case_id}  {item.state.value:<11}  closed {item.decided_at:%Y-%m-%d}"
            )
        if not apply:
            if due:
                typer.echo("dry run: nothing changed; run with --apply to purge these cases")
            return
        purged = 0
        for item in due:
            with session_scope(engine) as session:
                purged += retention.purge_case(
                    session, CLI_ACTOR, case_id=item.case_id, policy=policy, now=now
                )
    skipped = len(due) - purged
    note = f"; {skipped} no longer due (a dispute opened, or purged meanwhile)" if skipped else ""
    typer.echo(f"purged {counted(purged, 'case')}{note}")
