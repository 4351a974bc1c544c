"""The application's background work in one place, checked on import.

``PERIODIC`` is what the worker loop runs (``bgcheck worker``, the embedded worker of
``serve``); its callers pass it to ``bgcheck.platform.worker.run``, which imports no job.
``OUTBOX`` has a handler for every ``JobKind`` an outbox row may hold. ``check_registry``
fails the import when a kind has no handler or two jobs share a name.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from bgcheck.audit import checkpoints
from bgcheck.cases import idempotency, timers
from bgcheck.identity import auth
from bgcheck.models import JobKind
from bgcheck.platform.worker import Job
from bgcheck.vault import retention
from bgcheck.vendors import orders as vendor_orders

PERIODIC: Final[tuple[Job, ...]] = (
    Job(checkpoints.JOB_NAME, checkpoints.JOB_TICK_SECONDS, checkpoints.checkpoint_job),
    Job("purge-sign-in-state", 3600, auth.purge_sign_in_state),
    Job("case-timers", 60, timers.run),
    Job(retention.JOB_NAME, retention.JOB_EVERY_SECONDS, retention.purge_due_cases),
    Job("purge-idempotent-responses", 3600, idempotency.purge_old),
    Job("vendor-outbox", 1, vendor_orders.deliver_due, owns_transactions=True),
    Job("vendor-poll", 2, vendor_orders.poll_due),
    Job("purge-vendor-records", 3600, vendor_orders.purge_old),
)

OUTBOX: Final[Mapping[JobKind, vendor_orders.Prepare]] = vendor_orders.OUTBOX


def check_registry(
    periodic: tuple[Job, ...] = PERIODIC,
    outbox: Mapping[JobKind, vendor_orders.Prepare] = OUTBOX,
) -> None:
    """Raise ``TypeError`` when a job kind has no outbox handler or a job name repeats."""
    if missing := set(JobKind) - outbox.keys():
        raise TypeError(f"outbox job kinds without a handler: {sorted(missing)}")
    names = [job.name for job in periodic]
    if repeated := {name for name in names if names.count(name) > 1}:
        raise TypeError(f"periodic jobs registered twice: {sorted(repeated)}")


check_registry()
