"""Workers killed mid-submission, and workers side by side, against PostgreSQL.

The workers are real processes running the real worker loop (``bgcheck.platform.worker.run``),
forked from the test so that each starts in milliseconds: the kills land while orders
are going out, not while Python imports. The vendor is ``bgcheck vendor-sim`` in its own
process, injecting failures and counting every order request it receives.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import select

from bgcheck import jobs
from bgcheck.cases import service as case_service
from bgcheck.cases.service import CaseContext
from bgcheck.crypto.keyring import Keyring
from bgcheck.models import Case, JobStatus, OutboxJob, utcnow
from bgcheck.platform import worker
from bgcheck.platform.db import make_engine, session_scope
from bgcheck.platform.settings import get_settings, load_settings
from bgcheck.vault.store import Vault
from bgcheck.vendors import orders as vendor_orders
from workflow import Role, State

from support.cases import to_submitted
from support.databases import Databases
from support.factories import make_actor
from support.vendor_sim import RunningSim, running_sim

CASES = 20
KILLS = 50
DRAIN_SECONDS = 90.0


@pytest.fixture(scope="module")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Databases]:
    databases = Databases("postgresql", tmp_path_factory.mktemp("crash"))
    yield databases
    databases.drop_all()


@pytest.fixture
def setup(
    postgres: Databases, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Engine, RunningSim]]:
    """A migrated database with ``CASES`` orders waiting, a simulator, and the workers'
    settings in the environment (which forked workers inherit)."""
    engine = postgres.new_engine()
    with running_sim(delay=0.2) as sim:
        overrides = {
            "BGCHECK_DATABASE_URL": engine.url.render_as_string(hide_password=False),
            "BGCHECK_PUBLIC_URL": "https://bgcheck.example.edu",
            "BGCHECK_DATA_DIR": str(tmp_path),
            "BGCHECK_KEYRING": Keyring.generate().to_json(),
            "BGCHECK_JWT_SECRET": uuid.uuid4().hex * 2,
            "BGCHECK_VENDOR": "http",
            "BGCHECK_VENDOR_URL": sim.url,
            "BGCHECK_VENDOR_API_KEY": sim.api_key,
            "BGCHECK_VENDOR_WEBHOOK_SECRET": sim.secret,
            "BGCHECK_VENDOR_TIMEOUT_SECONDS": "0.5",
            "BGCHECK_VENDOR_RETRY_SECONDS": "0.05",
            "BGCHECK_VENDOR_MAX_ATTEMPTS": "100",
            "BGCHECK_VENDOR_POLL_AFTER_MINUTES": "0.01",
            "BGCHECK_LOG_LEVEL": "WARNING",
        }
        for name, value in overrides.items():
            monkeypatch.setenv(name, value)
        settings = load_settings()
        ctx = CaseContext.from_settings(settings, Vault.from_settings(settings))
        with session_scope(engine) as session:
            hr = make_actor(session, Role.HR)
            for _ in range(CASES):
                to_submitted(session, ctx, hr, utcnow())
        yield engine, sim
    engine.dispose()


def _work() -> None:
    """A worker process: settings from the inherited environment, nothing from the parent."""
    for cached in (get_settings, case_service.default_context, vendor_orders.default_desk):
        cached.cache_clear()
    engine = make_engine(get_settings())
    stop = threading.Event()
    worker.stop_on_signals(stop)
    worker.run(engine, stop, jobs.PERIODIC, tick_seconds=0.05)
    os._exit(0)


def _start_worker() -> multiprocessing.process.BaseProcess:
    process = multiprocessing.get_context("fork").Process(target=_work, daemon=True)
    process.start()
    return process


def _states(engine: Engine) -> list[State]:
    with session_scope(engine, read_only=True) as session:
        return list(session.exec(select(Case.state)).all())


def _drain(engine: Engine, workers: int = 1) -> None:
    """Workers left alone until every case has its report (or time runs out)."""
    running = [_start_worker() for _ in range(workers)]
    try:
        deadline = time.monotonic() + DRAIN_SECONDS
        while time.monotonic() < deadline:
            if all(state is State.PENDING_REVIEW for state in _states(engine)):
                return
            time.sleep(0.2)
    finally:
        for process in running:
            process.terminate()
            process.join(10)


def test_killing_workers_mid_submission_loses_no_order_and_places_none_twice(setup) -> None:  # type: ignore[no-untyped-def]
    engine, sim = setup
    sim.faults(fail_rate=0.2, timeout_rate=0.1, hang_seconds=1.0)
    chaos = random.Random(20261202)
    for _ in range(KILLS):
        process = _start_worker()
        time.sleep(chaos.uniform(0.02, 0.4))
        os.kill(process.pid, signal.SIGKILL)
        process.join(5)
        assert process.exitcode == -signal.SIGKILL
    during = sim.stats()
    # The chaos did happen: orders went out while workers died, and some calls were
    # repeated (a failure injected, or a kill after the request left).
    assert during["orders"] > 0
    assert during["order_requests"] > during["orders"]
    sim.faults()  # the vendor recovers; a last worker finishes what is left

    _drain(engine)
    assert _states(engine) == [State.PENDING_REVIEW] * CASES
    with session_scope(engine, read_only=True) as session:
        case_ids = {str(case_id) for case_id in session.exec(select(Case.id)).all()}
        dead = session.exec(select(OutboxJob).where(OutboxJob.status == JobStatus.DEAD)).all()
    assert dead == []
    stats = sim.stats()
    assert stats["orders_by_external_id"] == {case_id: 1 for case_id in case_ids}
    assert stats["orders"] == CASES


def test_two_workers_never_send_the_same_order_twice(setup) -> None:  # type: ignore[no-untyped-def]
    engine, sim = setup
    _drain(engine, workers=2)
    assert _states(engine) == [State.PENDING_REVIEW] * CASES
    stats = sim.stats()
    # The simulator's shared counter: each order's key was sent exactly once.
    assert len(stats["requests_by_key"]) == CASES
    assert set(stats["requests_by_key"].values()) == {1}
