"""Fixtures shared by the whole suite.

Every database test runs on SQLite and on PostgreSQL (the ``backend`` parameter), so a
difference between the two shows up as a failure. PostgreSQL tests use a fresh database
with a unique name on the local server, dropped afterwards. When the server cannot be
reached they fail loudly; they never skip. Deselect them on purpose with ``-m "not
postgres"``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from bgcheck import migrate
from bgcheck.db import make_engine
from bgcheck.settings import Settings

BACKENDS = ("sqlite", "postgresql")
POSTGRES_DSN = os.environ.get(
    "BGCHECK_TEST_POSTGRES_DSN", "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
)
POSTGRES_HINT = (
    "start it with: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that runs on PostgreSQL, so ``-m postgres`` selects them."""
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is not None and callspec.params.get("backend") == "postgresql":
            item.add_marker(pytest.mark.postgres)


class Databases:
    """Creates empty databases of one backend and removes them at the end of the run."""

    def __init__(self, backend: str, folder: Path) -> None:
        self.backend = backend
        self.folder = folder
        self.created: list[str] = []

    def new_url(self) -> str:
        name = f"bgcheck_test_{uuid.uuid4().hex[:12]}"
        if self.backend == "sqlite":
            return f"sqlite:///{self.folder / name}.db"
        try:
            with psycopg.connect(POSTGRES_DSN, autocommit=True, connect_timeout=5) as conn:
                conn.execute(f'CREATE DATABASE "{name}"')
        except psycopg.OperationalError as exc:
            pytest.fail(f"PostgreSQL is unreachable ({exc}); {POSTGRES_HINT}", pytrace=False)
        self.created.append(name)
        params = psycopg.conninfo.conninfo_to_dict(POSTGRES_DSN)
        return (
            f"postgresql+psycopg://{params.get('user', 'postgres')}@"
            f"{params.get('host', '127.0.0.1')}:{params.get('port', 5432)}/{name}"
        )

    def new_engine(self, *, migrated: bool = True) -> Engine:
        engine = make_engine(Settings(), url=self.new_url())
        if migrated:
            migrate.upgrade(engine)
        return engine

    def drop_all(self) -> None:
        if not self.created:
            return
        with psycopg.connect(POSTGRES_DSN, autocommit=True) as conn:
            for name in self.created:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="session")
def databases(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Databases]:
    dbs = Databases(backend, tmp_path_factory.mktemp(f"db-{backend}"))
    yield dbs
    dbs.drop_all()


@pytest.fixture(scope="session")
def engine(databases: Databases) -> Iterator[Engine]:
    """One migrated database per backend for the run; tests roll back what they write."""
    engine = databases.new_engine()
    yield engine
    engine.dispose()


@pytest.fixture
def db(engine: Engine) -> Iterator[Session]:
    """A session inside a transaction that is rolled back after the test."""
    with engine.connect() as connection:
        transaction = connection.begin()
        session = Session(bind=connection, join_transaction_mode="create_savepoint")
        try:
            yield session
        finally:
            session.close()
            transaction.rollback()


@pytest.fixture
def fresh_engine(databases: Databases) -> Iterator[Callable[[], Engine]]:
    """For tests that need several connections that commit: each call, a new database."""
    engines: list[Engine] = []

    def make() -> Engine:
        engines.append(databases.new_engine())
        return engines[-1]

    yield make
    for each in engines:
        each.dispose()
