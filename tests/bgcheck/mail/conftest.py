"""Fixtures for the mail tests: a real SMTP server in its own process (STARTTLS and AUTH)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from support.smtp_server import SmtpServer


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[SmtpServer]:
    with SmtpServer(tmp_path / "smtp") as server:
        yield server
