"""A real ``bgcheck serve`` as an operator would deploy it, for the load and fault tests.

The environment names the database, the keyring and the JWT secret (a PostgreSQL
deployment needs both); ``bgcheck db upgrade`` runs as its own command, as in production.
Tokens are minted with the deployment's secret, so a test can sign in even when the
database refuses writes (a password login writes its audit event).
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

from bgcheck.crypto.keyring import Keyring
from bgcheck.identity import tokens
from bgcheck.models import utcnow
from bgcheck.platform.settings import Settings

from support.server import clean_environ

PROBLEM_JSON = "application/problem+json"


def serve_env(database_url: str, data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of one deployment: its database, keys and quiet logs."""
    return clean_environ(
        BGCHECK_DATABASE_URL=database_url,
        BGCHECK_DATA_DIR=str(data_dir),
        BGCHECK_KEYRING=Keyring.generate().to_json(),
        BGCHECK_JWT_SECRET=uuid.uuid4().hex * 2,
        BGCHECK_LOG_LEVEL="WARNING",
        # Outside an embedded installation the links people get must be https.
        BGCHECK_PUBLIC_URL="https://bgcheck.example.edu",
        **extra,
    )


def settings_of(env: dict[str, str]) -> Settings:
    """The settings the server builds from ``env`` (to seed data and mint tokens)."""
    values = {
        name.removeprefix("BGCHECK_").lower(): value
        for name, value in env.items()
        if name.startswith("BGCHECK_")
    }
    return Settings(**values)


def bgcheck(env: dict[str, str], *args: str) -> None:
    """Run one ``bgcheck`` command, e.g. ``bgcheck(env, "db", "upgrade")``."""
    done = subprocess.run(
        [sys.executable, "-m", "bgcheck", *args], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, f"bgcheck {' '.join(args)}:\n{done.stdout}\n{done.stderr}"


def mint_token(settings: Settings, user_id: uuid.UUID) -> str:
    secret = settings.jwt_secret
    assert secret is not None
    verifier = tokens.SharedSecret(
        secret.get_secret_value(), settings.jwt_issuer, settings.jwt_audience
    )
    token, _ = tokens.issue(
        verifier, subject=str(user_id), now=utcnow(), lifetime=timedelta(minutes=30)
    )
    return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def problem_of(response: httpx.Response, *statuses: int) -> dict[str, Any]:
    """The RFC 9457 body of an error answer, checked; a 503 also says when to come back."""
    assert response.status_code in statuses, (response.status_code, response.text)
    assert response.headers["content-type"] == PROBLEM_JSON, response.text
    assert "Traceback" not in response.text
    body = response.json()
    assert body["status"] == response.status_code
    assert body["title"]
    assert body["detail"]
    if response.status_code == 503:
        assert int(response.headers["retry-after"]) > 0
    return body


def unhandled_errors(log_path: Path) -> list[str]:
    """The server's log lines for bugs (an unhandled error answered 500)."""
    return [line for line in log_path.read_text().splitlines() if "unhandled error" in line]
