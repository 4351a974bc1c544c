"""The background worker: runs periodic jobs against the database until told to stop.

The jobs come from the caller (``bgcheck.jobs.PERIODIC``: the consent-expiry sweep,
vendor outbox delivery, audit checkpoints...); this module knows none of them. Each run of a
job gets its own transaction, so a failing job is logged and retried on its next tick
without stopping the others. Several workers may run at once: jobs coordinate through
the database (row locks), not here.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from sqlalchemy import Engine

from bgcheck.platform.db import session_scope
from bgcheck.platform.logs import get_logger

log = get_logger(__name__)


@dataclass
class Job:
    name: str
    every_seconds: float
    # ``def job(session): …``, or ``def job(engine): …`` with ``owns_transactions``.
    run: Callable[..., object]
    next_at: float = field(default=0.0)
    # A job that calls out (the vendor) must not hold a transaction open meanwhile: it
    # gets the engine and opens its own short ones.
    owns_transactions: bool = False


def run_due(engine: Engine, jobs: list[Job], now: float) -> int:
    """Run every job whose time has come, each in its own transaction; return how many ran."""
    ran = 0
    for job in jobs:
        if job.next_at > now:
            continue
        job.next_at = now + job.every_seconds
        try:
            if job.owns_transactions:
                job.run(engine)
            else:
                with session_scope(engine) as session:
                    job.run(session)
            ran += 1
        except Exception:
            log.exception("job failed", job=job.name)
    return ran


# The stop event of the loop running in this thread (several loops may share a process).
_running = threading.local()


def stopping() -> bool:
    """True once this thread's worker loop was told to stop: long jobs check it between
    items, so SIGTERM is not kept waiting on a batch of slow calls."""
    stop: threading.Event | None = getattr(_running, "stop", None)
    return stop is not None and stop.is_set()


def run(
    engine: Engine, stop: threading.Event, jobs: Iterable[Job], *, tick_seconds: float = 1.0
) -> None:
    """Loop until ``stop`` is set, waking each tick to run the ``jobs`` that are due."""
    jobs = [
        Job(j.name, j.every_seconds, j.run, owns_transactions=j.owns_transactions) for j in jobs
    ]
    log.info("worker started", jobs=[job.name for job in jobs])
    _running.stop = stop
    while not stop.is_set():
        run_due(engine, jobs, time.monotonic())
        stop.wait(tick_seconds)
    log.info("worker stopped")


def stop_on_signals(stop: threading.Event) -> None:
    """SIGTERM (docker stop) and SIGINT finish the current job, then end the loop."""
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
