"""The embedded mode's files are the service user's alone (issue 15).

SQLite made its database 0644 in a 0755 folder (the umask's defaults): anyone with a
shell on the host could copy the sealed PII, the audit trail and the WAL. Now the folder
is 0700 and every file in it 0600, the WAL and shared-memory files included, and a
folder left by an older version is tightened.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from bgcheck.crypto.loading import load_jwt_secret, load_keyring
from bgcheck.platform import migrate
from bgcheck.platform.db import make_engine, session_scope
from bgcheck.platform.private_files import private_file, tighten
from bgcheck.platform.settings import Settings


@pytest.fixture(autouse=True)
def permissive_umask() -> Iterator[None]:
    """The usual umask (022), whatever the test runner's: it is what made 0644 files."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def modes(folder: Path) -> dict[str, int]:
    return {entry.name: mode(entry) for entry in folder.iterdir()}


def run_embedded(data_dir: Path) -> dict[str, int]:
    """Start as ``bgcheck serve`` does on SQLite: keys, database, a write; the file modes
    while the connection is open (the WAL and shared-memory files exist then)."""
    settings = Settings(data_dir=data_dir)
    load_keyring(settings)
    load_jwt_secret(settings)
    engine = make_engine(settings)
    try:
        migrate.upgrade(engine)
        with session_scope(engine) as session:
            session.execute(text("CREATE TABLE IF NOT EXISTS t (x INTEGER)"))
            session.execute(text("INSERT INTO t VALUES (1)"))
        with engine.connect() as connection:
            connection.execute(text("SELECT count(*) FROM t"))
            return modes(data_dir)
    finally:
        engine.dispose()


def test_a_fresh_data_folder_is_private_and_so_is_every_file(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    found = run_embedded(data_dir)
    assert mode(data_dir) == 0o700
    assert {"bgcheck.db", "bgcheck.db-wal", "bgcheck.db-shm", "keyring.json", "jwt_secret"} <= (
        set(found)
    )
    assert {name: 0o600 for name in found} == found
    assert {name: 0o600 for name in modes(data_dir)} == modes(data_dir)


def test_a_folder_left_open_by_an_older_version_is_tightened(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    run_embedded(data_dir)
    data_dir.chmod(0o755)
    for name in ("bgcheck.db", "bgcheck.db-wal", "bgcheck.db-shm", "jwt_secret"):
        if (data_dir / name).exists():
            (data_dir / name).chmod(0o644)
    found = run_embedded(data_dir)
    assert mode(data_dir) == 0o700
    assert {name: 0o600 for name in found} == found


def test_a_database_url_in_another_folder_gets_the_same(tmp_path: Path) -> None:
    database = tmp_path / "elsewhere" / "cases.db"
    engine = make_engine(Settings(data_dir=tmp_path / "unused"), url=f"sqlite:///{database}")
    try:
        with engine.connect() as connection:
            connection.execute(text("CREATE TABLE t (x INTEGER)"))
            connection.commit()
            assert mode(database.parent) == 0o700
            assert set(modes(database.parent).values()) == {0o600}
    finally:
        engine.dispose()


def test_tightening_never_adds_a_permission(tmp_path: Path) -> None:
    read_only = private_file(tmp_path / "copy.db")
    read_only.chmod(0o444)
    tighten(read_only)
    assert mode(read_only) == 0o400


def test_a_shared_sticky_folder_is_left_alone(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    tighten(shared)
    assert mode(shared) == 0o1777
