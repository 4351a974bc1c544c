"""A database that refuses writes: read-only (SQLite, PostgreSQL) or out of disk space.

A real ``bgcheck serve`` in each case. Every write, a password login and an audited
read (the PII reveal, which must not show anything it could not record) answers ``503``
problem+json saying why, with a ``Retry-After`` and no traceback; plain reads keep
working. Afterwards nothing is half-written: every case has its candidate row, its data
key and exactly one ``case.create`` audit event, and the audit chain verifies.

The full disk is a real one: a small tmpfs mounted by the test (it runs as root in CI),
filled up, then freed. Mounting needs root; elsewhere deselect with ``-m "not load"``.
"""

from __future__ import annotations

import contextlib
import errno
import subprocess
import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlmodel import col, select

from bgcheck import audit
from bgcheck.models import AuditEvent, Candidate, Case, CaseKey, utcnow
from bgcheck.platform import migrate
from bgcheck.platform.db import make_engine, session_scope
from bgcheck.platform.settings import Settings
from workflow import Role

from support.cases import CASE, case_context, new_case
from support.databases import POSTGRES_DSN, Databases
from support.deployments import (
    bearer,
    bgcheck,
    mint_token,
    problem_of,
    serve_env,
    settings_of,
    unhandled_errors,
)
from support.factories import PASSWORD, make_actor, make_user
from support.mfa import box_for, enroll
from support.server import free_port, running_server

pytestmark = pytest.mark.load

TMPFS_SIZE = "4m"


class People:
    """An hr user with a few cases and a reviewer, with tokens minted (a login writes)."""

    def __init__(self, url: str, env: dict[str, str], cases: int = 3) -> None:
        settings = settings_of(env)
        ctx = case_context(settings)
        engine = make_engine(Settings(), url=url)
        with session_scope(engine) as session:
            hr = make_actor(session, Role.HR)
            reviewer = make_user(session, Role.REVIEWER, password=PASSWORD)
            self.reviewer_app = enroll(session, box_for(settings), reviewer.id)
            self.cases = {str(new_case(session, ctx, hr, utcnow())) for _ in range(cases)}
        engine.dispose()
        self.reviewer_email = reviewer.email
        self.hr = bearer(mint_token(settings, hr.user_id))
        self.reviewer = bearer(mint_token(settings, reviewer.id))


def refuses_writes(base: str, people: People, why: str) -> None:
    """Writes, a login and an audited read are refused with ``why``; reads still work."""
    case_id = sorted(people.cases)[0]
    for response in (
        httpx.post(f"{base}/api/v1/cases", json=CASE, headers=people.hr),
        httpx.post(f"{base}/api/v1/cases/{case_id}/events/invite", json={}, headers=people.hr),
        httpx.post(
            f"{base}/api/v1/auth/token",
            data={
                "username": people.reviewer_email,
                "password": PASSWORD,
                "otp": people.reviewer_app.code(),
            },
        ),
        # Revealing PII is audited: with no audit record, no PII.
        httpx.get(f"{base}/api/v1/cases/{case_id}/pii", headers=people.reviewer),
    ):
        body = problem_of(response, 503)
        assert why in body["detail"], body
        assert "pat@example.org" not in response.text
    page = httpx.get(f"{base}/api/v1/cases", headers=people.hr)
    assert page.status_code == 200, page.text
    assert {item["id"] for item in page.json()["items"]} == people.cases
    read = httpx.get(f"{base}/api/v1/cases/{case_id}", headers=people.reviewer)
    assert (read.status_code, read.json()["state"]) == (200, "draft")


def assert_whole(url: str, case_ids: set[str]) -> None:
    """Exactly these cases, each complete, each created once in the audit trail; the chain
    verifies."""
    engine = make_engine(Settings(), url=url)
    try:
        with session_scope(engine, read_only=True) as session:
            cases = {str(case_id) for case_id in session.exec(select(Case.id))}
            candidates = {str(case_id) for case_id in session.exec(select(Candidate.case_id))}
            keys = {str(case_id) for case_id in session.exec(select(CaseKey.case_id))}
            creates = Counter(
                session.exec(
                    select(AuditEvent.target_id).where(col(AuditEvent.action) == "case.create")
                )
            )
            report = audit.verify(session)
            if engine.dialect.name == "sqlite":
                assert session.execute(text("PRAGMA integrity_check")).scalar() == "ok"
    finally:
        engine.dispose()
    assert cases == candidates == keys == case_ids
    assert creates == Counter(case_ids)
    assert report.ok, report


def test_a_read_only_sqlite_database_refuses_writes_clearly_and_still_reads(
    tmp_path: Path,
) -> None:
    database = tmp_path / "bgcheck.db"
    writable = f"sqlite:///{database}"
    env = serve_env(writable, tmp_path)
    engine = make_engine(Settings(), url=writable)
    migrate.upgrade(engine)
    engine.dispose()
    people = People(writable, env)

    read_only = env | {"BGCHECK_DATABASE_URL": f"sqlite:///file:{database}?mode=ro&uri=true"}
    log = tmp_path / "serve.log"
    with running_server(read_only, free_port(), log) as base:
        assert httpx.get(f"{base}/readyz").status_code == 200  # reachable, for reading
        refuses_writes(base, people, "read-only")
    assert unhandled_errors(log) == []
    assert not Path("file:").exists()  # the URI is not mistaken for a folder to create
    assert_whole(writable, people.cases)


@contextlib.contextmanager
def small_filesystem(size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` mounted on a fresh folder; unmounted and removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="bgcheck-full-"))
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "bgcheck-full", str(folder)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        folder.rmdir()
        pytest.fail(
            f"cannot mount a tmpfs for the full-disk test (needs root): {mounted.stderr}",
            pytrace=False,
        )
    try:
        yield folder
    finally:
        subprocess.run(["umount", "--lazy", str(folder)], check=True)
        folder.rmdir()


def fill(folder: Path) -> Path:
    """Write a file until the filesystem is full; return it (delete it to free the space)."""
    filler = folder / "filler"
    with filler.open("wb", buffering=0) as handle:
        for size in (65536, 1):  # big chunks, then the last bytes one by one
            try:
                while True:
                    handle.write(b"\0" * size)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
    return filler


def test_a_full_disk_refuses_writes_clearly_and_leaves_nothing_half_written(
    tmp_path: Path,
) -> None:
    with small_filesystem(TMPFS_SIZE) as disk:
        url = f"sqlite:///{disk / 'bgcheck.db'}"
        env = serve_env(url, disk)
        engine = make_engine(Settings(), url=url)
        migrate.upgrade(engine)
        engine.dispose()
        people = People(url, env)
        created = set(people.cases)
        log = tmp_path / "serve.log"
        with running_server(env, free_port(), log) as base:
            for _ in range(3):
                answer = httpx.post(f"{base}/api/v1/cases", json=CASE, headers=people.hr)
                assert answer.status_code == 201, answer.text
                created.add(answer.json()["id"])

            filler = fill(disk)
            # Some writes may still fit in pages SQLite already holds; soon they cannot.
            refused = fitted = 0
            for _ in range(50):
                answer = httpx.post(f"{base}/api/v1/cases", json=CASE, headers=people.hr)
                if answer.status_code == 201:
                    created.add(answer.json()["id"])
                    fitted += 1
                    continue
                body = problem_of(answer, 503)
                assert "space" in body["detail"], body
                refused += 1
                if refused == 3:
                    break
            print(f"\nfull disk: {fitted} creates still fitted, then {refused} refused")
            assert refused == 3
            page = httpx.get(f"{base}/api/v1/cases", params={"limit": 100}, headers=people.hr)
            assert page.status_code == 200, page.text
            assert {item["id"] for item in page.json()["items"]} == created

            filler.unlink()  # space again: writes work without a restart
            answer = httpx.post(f"{base}/api/v1/cases", json=CASE, headers=people.hr)
            assert answer.status_code == 201, answer.text
            created.add(answer.json()["id"])
        assert unhandled_errors(log) == []
        assert_whole(url, created)


@pytest.fixture
def postgres(tmp_path: Path) -> Iterator[Databases]:
    databases = Databases("postgresql", tmp_path)
    yield databases
    databases.drop_all()


def _set_read_only(url: str, on: bool) -> None:
    """Make the database read-only (or writable again) for new sessions, and end the
    current ones so that the server's pool reconnects and sees the change."""
    name = make_url(url).database
    change = (
        "SET default_transaction_read_only = on" if on else "RESET default_transaction_read_only"
    )
    with psycopg.connect(POSTGRES_DSN, autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{name}" {change}')
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
            (name,),
        )


@pytest.mark.postgres
def test_a_read_only_postgresql_database_refuses_writes_clearly_and_still_reads(
    postgres: Databases, tmp_path: Path
) -> None:
    url = postgres.new_url()
    env = serve_env(url, tmp_path)
    bgcheck(env, "db", "upgrade")
    people = People(url, env)
    log = tmp_path / "serve.log"
    with running_server(env, free_port(), log) as base:
        _set_read_only(url, True)
        try:
            assert httpx.get(f"{base}/readyz").status_code == 200
            refuses_writes(base, people, "read-only")
        finally:
            _set_read_only(url, False)
        answer = httpx.post(f"{base}/api/v1/cases", json=CASE, headers=people.hr)
        assert answer.status_code == 201, answer.text  # writable again, no restart
        people.cases.add(answer.json()["id"])
    assert unhandled_errors(log) == []
    assert_whole(url, people.cases)
    # The ALTER touched only this database, never the server's others.
    with psycopg.connect(POSTGRES_DSN) as conn:
        assert conn.execute("SHOW default_transaction_read_only").fetchone() == ("off",)
