"""A throwaway PostgreSQL cluster, started by the test itself, never the shared server.

``initdb`` in a fresh temporary folder, ``pg_ctl`` on a free loopback port with its socket
in that folder. The test may stop and start it at will (the restart test does). Run as
root, every PostgreSQL binary runs as the ``postgres`` user, which owns the folder.

When the server binaries cannot be found the test FAILS: the fault tests must run in CI.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest

from support.server import free_port

INSTALL_HINT = (
    "the fault tests need the PostgreSQL server binaries (initdb, pg_ctl): "
    "apt-get install postgresql, or put pg_config of a server install on PATH"
)


def _version(path: Path) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", path.parent.name))


def server_bindir() -> Path:
    """``pg_config --bindir`` when it holds the server binaries, else the newest
    ``/usr/lib/postgresql/*/bin`` (Debian keeps them off PATH)."""
    candidates: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        found = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True)
        if found.returncode == 0 and found.stdout.strip():
            candidates.append(Path(found.stdout.strip()))
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=_version, reverse=True)
    for folder in candidates:
        if (folder / "initdb").is_file() and (folder / "pg_ctl").is_file():
            return folder
    pytest.fail(f"{INSTALL_HINT} (looked in: {[str(c) for c in candidates]})", pytrace=False)


class Cluster:
    """One stopped-or-running cluster in ``folder``; ``url`` names its ``bgcheck`` database."""

    def __init__(self, bindir: Path, folder: Path, port: int) -> None:
        self.bindir = bindir
        self.folder = folder
        self.data = folder / "data"
        self.log = folder / "postgres.log"
        self.port = port
        self.dsn = f"host=127.0.0.1 port={port} user=postgres dbname=postgres"
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/bgcheck"

    def _run(self, tool: str, *args: str) -> None:
        command = [str(self.bindir / tool), *args]
        if os.geteuid() == 0:  # initdb and postgres refuse to run as root
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            log = self.log.read_text() if self.log.exists() else ""
            pytest.fail(f"{tool} failed:\n{done.stdout}\n{done.stderr}\n{log}", pytrace=False)

    def init(self) -> None:
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
        )
        self.start()
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            conn.execute("CREATE DATABASE bgcheck")

    def start(self) -> None:
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={self.port} "
            f"-c unix_socket_directories={self.folder} -c fsync=off -c max_connections=60"
        )
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.log),
            "-w",
            "-t",
            "30",
            "-o",
            options,
            "start",
        )

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "30", "stop")


@contextmanager
def throwaway_cluster() -> Iterator[Cluster]:
    """A running cluster with an empty ``bgcheck`` database; removed afterwards."""
    bindir = server_bindir()
    folder = Path(tempfile.mkdtemp(prefix="bgcheck-pg-"))
    if os.geteuid() == 0:
        postgres = pwd.getpwnam("postgres")
        os.chown(folder, postgres.pw_uid, postgres.pw_gid)
    cluster = Cluster(bindir, folder, free_port())
    try:
        cluster.init()
        yield cluster
    finally:
        if (cluster.data / "postmaster.pid").exists():
            cluster.stop("immediate")
        shutil.rmtree(folder, ignore_errors=True)
