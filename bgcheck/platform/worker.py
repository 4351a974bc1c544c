"""The background worker: runs periodic jobs against the database until told to stop.

Jobs are registered by the features that need them (the consent-expiry sweep, vendor
outbox delivery, audit checkpoints), whose modules ``bgcheck.jobs`` lists. Each run of a
job gets its own transaction, so a failing job is logged and retried on its next tick
without stopping the others. Several workers may run at once: jobs coordinate through
the database (row locks), not here.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlmodel import Session

from bgcheck.platform.db import session_scope
from bgcheck.platform.logs import get_logger

log = get_logger(__name__)


@dataclass
class Job:
    name: str
    every_seconds: float
    run: Callable[[Session], object]
    next_at: float = field(default=0.0)
    # A job that calls out (the vendor) must not hold a transaction open meanwhile: it
    # gets the engine and opens its own short ones.
    owns_transactions: bool = False


JOBS: list[Job] = []


def register(
    name: str, every_seconds: float, *, owns_transactions: bool = False
) -> Callable[[Callable[..., object]], Callable[..., object]]:
    """Decorator: ``@register("expire-invitations", 60)`` over ``def job(session): …``.

    With ``owns_transactions=True`` the job is ``def job(engine): …`` instead.
    """

    def add(function: Callable[..., object]) -> Callable[..., object]:
        JOBS.append(Job(name, every_seconds, function, owns_transactions=owns_transactions))
        return function

    return add


def run_due(engine: Engine, jobs: list[Job], now: float) -> int:
    """Run every job whose time has come, each in its own transaction; return how many ran."""
    ran = 0
    for job in jobs:
        if job.next_at > now:
            continue
        job.next_at = now + job.every_seconds
        try:
            if job.owns_transactions:
                # ``run`` is typed for the common case; these jobs take the engine (register).
                job.run(engine)  # type: ignore[arg-type]
            else:
                with session_scope(engine) as session:
                    job.run(session)
            ran += 1
        except Exception:
            log.exception("job failed", job=job.name)
    return ran


def registered_jobs() -> list[Job]:
    """Every job of the application: importing ``bgcheck.jobs`` registers them all."""
    import bgcheck.jobs  # noqa: F401  (imported here: its modules import this one)

    return list(JOBS)


# The stop event of the loop running in this thread (several loops may share a process).
_running = threading.local()


def stopping() -> bool:
    """True once this thread's worker loop was told to stop: long jobs check it between
    items, so SIGTERM is not kept waiting on a batch of slow calls."""
    stop: threading.Event | None = getattr(_running, "stop", None)
    return stop is not None and stop.is_set()


def run(engine: Engine, stop: threading.Event, *, tick_seconds: float = 1.0) -> None:
    """Loop until ``stop`` is set, waking each tick to run the jobs that are due."""
    jobs = [
        Job(j.name, j.every_seconds, j.run, owns_transactions=j.owns_transactions)
        for j in registered_jobs()
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
