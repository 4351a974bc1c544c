"""Signing a test user in without the password round trip (argon2 is slow on purpose)."""

from __future__ import annotations

import secrets
import uuid
from typing import Any

from fastapi import FastAPI
from jose import jwt

from bgcheck.identity import tokens
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


def signed_token(secret: tokens.SharedSecret, user_id: uuid.UUID, **claims: Any) -> str:
    """A token correctly signed with ``secret`` whose claims are ours to choose: the
    usual ones, changed by ``claims`` (for hostile values only the signer could set)."""
    now = int(utcnow().timestamp())
    body = {
        "iss": secret.issuer,
        "aud": secret.audience,
        "sub": str(user_id),
        "iat": now,
        "exp": now + 300,
        "jti": secrets.token_urlsafe(16),
    }
    return jwt.encode(body | claims, secret.secret, algorithm=tokens.OWN_ALGORITHM)
