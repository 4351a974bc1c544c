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
from sqlmodel import Session

from bgcheck.crypto import Keyring
from bgcheck.models import utcnow
from bgcheck.platform import migrate
from bgcheck.platform.settings import Settings
from workflow import Role

from support.cases import case_context, new_case
from support.factories import make_actor

if TYPE_CHECKING:
    from pathlib import Path

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


def test_a_contact_left_in_the_columns_before_0009_stops_the_upgrade_that_drops_them(
    alembic_engine: Engine, tmp_path: Path
) -> None:
    """0012 drops the four contact columns: it refuses, and changes nothing, while one
    still holds a contact (it would be lost), and drops them once none does."""
    migrate.upgrade(alembic_engine, "0011_outbox_job_kind")
    keyring_file = tmp_path / "keyring.json"
    Keyring.generate().save(keyring_file)
    ctx = case_context(Settings(data_dir=tmp_path, keyring_file=keyring_file))
    with Session(alembic_engine) as session:
        new_case(session, ctx, make_actor(session, Role.HR), utcnow())
        session.commit()
    with alembic_engine.begin() as connection:
        connection.execute(
            text("UPDATE candidates SET given_name = :sealed"), {"sealed": b"sealed before 0009"}
        )
    with pytest.raises(RuntimeError, match="1 candidate contact"):
        migrate.upgrade(alembic_engine)
    assert migrate.current(alembic_engine) == "0011_outbox_job_kind"
    assert "given_name" in {c["name"] for c in inspect(alembic_engine).get_columns("candidates")}

    with alembic_engine.begin() as connection:
        connection.execute(text("UPDATE candidates SET given_name = NULL"))
    migrate.upgrade(alembic_engine)
    assert migrate.current(alembic_engine) == migrate.head()
    columns = {c["name"] for c in inspect(alembic_engine).get_columns("candidates")}
    assert "contact" in columns
    assert columns.isdisjoint({"given_name", "family_name", "email", "ssn_last4"})
