"""The worker loop: due jobs run in their own transactions; a failing job harms no other."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from sqlalchemy import Engine
from sqlmodel import Session, func, select

from bgcheck import audit
from bgcheck.models import AuditEvent
from bgcheck.platform import worker as background


def test_due_jobs_run_and_a_failing_one_is_contained(fresh_engine) -> None:  # type: ignore[no-untyped-def]
    engine: Engine = fresh_engine()

    def good(session: Session) -> None:
        audit.record(session, audit.AuditActor.system("worker"), action="test.tick")

    def bad(session: Session) -> None:
        audit.record(session, audit.AuditActor.system("worker"), action="test.half-done")
        raise RuntimeError("the job failed half-way")

    jobs = [background.Job("bad", 10, bad), background.Job("good", 10, good)]
    assert background.run_due(engine, jobs, now=100.0) == 1
    assert background.run_due(engine, jobs, now=105.0) == 0  # not due again yet
    assert background.run_due(engine, jobs, now=110.0) == 1
    with Session(engine) as session:
        actions = session.exec(select(AuditEvent.action)).all()
        assert actions == ["test.tick", "test.tick"]  # the failed job left nothing behind
        assert audit.verify(session).ok
        assert session.exec(select(func.count()).select_from(AuditEvent)).one() == 2


def test_the_worker_process_stops_cleanly_on_sigterm(tmp_path) -> None:  # type: ignore[no-untyped-def]
    env = {k: v for k, v in os.environ.items() if not k.startswith("BGCHECK_")}
    env["BGCHECK_DATA_DIR"] = str(tmp_path)
    process = subprocess.Popen(
        [sys.executable, "-m", "bgcheck", "worker", "--tick", "0.1"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 30
    assert process.stdout is not None
    line = ""
    while "worker started" not in line and time.monotonic() < deadline:
        line = process.stdout.readline()
    assert "worker started" in line
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=30)
    assert process.returncode == 0
    assert "worker stopped" in output
