"""Hand-made tokens, as an attacker would make them."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forge_hs256(header: dict, claims: dict, key: bytes) -> str:
    """Sign with any bytes as the HMAC key (e.g. a public key, for the confusion attack)."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"
