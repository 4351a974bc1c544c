"""The secret in a link someone without a password follows: a candidate's link, an
account set-up link. 256 random bits in URL-safe base64; only its SHA-256 is stored, so a
copy of the database cannot be used to follow a link.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from typing import Final

TOKEN_BYTES: Final = 32
_TOKEN_SHAPE: Final = re.compile(r"[A-Za-z0-9_-]{43}")


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def new_token() -> str:
    """A link's secret: 256 random bits, URL-safe."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def well_formed(token: str) -> bool:
    """Shaped like a token we give out (so anything else is refused before any lookup)."""
    return _TOKEN_SHAPE.fullmatch(token) is not None
