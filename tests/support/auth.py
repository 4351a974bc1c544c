"""Signing a test user in without the password round trip (argon2 is slow on purpose)."""

from __future__ import annotations

import uuid

from fastapi import FastAPI

from bgcheck import tokens
from bgcheck.models import utcnow


def access_token(app: FastAPI, user_id: uuid.UUID) -> str:
    """A real access token for ``user_id``, signed as the app's login route would."""
    token, _ = tokens.issue(
        app.state.auth.own,
        subject=str(user_id),
        now=utcnow(),
        lifetime=app.state.auth.token_lifetime,
    )
    return token
