"""Empty databases of one backend (SQLite files, or databases on the local PostgreSQL
server), for the fixtures and for the tests that need their own (end-to-end, load, faults).

Kept here rather than in ``tests/conftest.py``: ``from conftest import …`` finds whichever
conftest pytest imported last, which in a full run is not the root one.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Engine

from bgcheck.platform import migrate
from bgcheck.platform.db import make_engine
from bgcheck.platform.settings import Settings

POSTGRES_DSN = os.environ.get(
    "BGCHECK_TEST_POSTGRES_DSN", "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
)
POSTGRES_HINT = (
    "start it with: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
)


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
