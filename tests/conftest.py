"""Fixtures shared by the whole suite.

Every database test runs on SQLite and on PostgreSQL (the ``backend`` parameter), so a
difference between the two shows up as a failure. PostgreSQL tests use a fresh database
with a unique name on the local server, dropped afterwards. When the server cannot be
reached they fail loudly; they never skip. Deselect them on purpose with ``-m "not
postgres"``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from support.databases import Databases

BACKENDS = ("sqlite", "postgresql")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that runs on PostgreSQL, so ``-m postgres`` selects them."""
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is not None and callspec.params.get("backend") == "postgresql":
            item.add_marker(pytest.mark.postgres)


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
