"""The shipped migrations, on an empty SQLite and an empty PostgreSQL database.

pytest-alembic's checks: one head, upgrade from empty to head, every step down and up
again, and no difference between the models and the migrated schema (autogenerate drift).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest
from alembic.config import Config
from pytest_alembic.tests import (  # noqa: F401  (collected as tests here)
    test_model_definitions_match_ddl,
    test_single_head_revision,
    test_up_down_consistency,
    test_upgrade,
)
from sqlalchemy import Engine, inspect, text

from bgcheck.platform import migrate

if TYPE_CHECKING:
    from support.databases import Databases


@pytest.fixture
def alembic_config() -> Config:
    return migrate.alembic_config()


@pytest.fixture
def alembic_engine(databases: Databases) -> Iterator[Engine]:
    engine = databases.new_engine(migrated=False)
    yield engine
    engine.dispose()


def test_upgrade_applies_every_table_and_seeds_the_chain_head(alembic_engine: Engine) -> None:
    migrate.upgrade(alembic_engine)
    assert migrate.current(alembic_engine) == migrate.head()
    tables = set(inspect(alembic_engine).get_table_names())
    assert {"users", "departments", "cases", "audit_events", "audit_chain_head"} <= tables
    with alembic_engine.connect() as connection:
        head = connection.execute(text("SELECT seq, hash FROM audit_chain_head")).all()
    assert head == [(0, "0" * 64)]


def test_upgrade_twice_is_a_no_op(alembic_engine: Engine) -> None:
    migrate.upgrade(alembic_engine)
    migrate.upgrade(alembic_engine)
    assert migrate.current(alembic_engine) == migrate.head()
