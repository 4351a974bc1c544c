"""Checkpoint signatures, as pure functions: the signed bytes, signing and checking.

A checkpoint says "the chain reached ``hash`` at ``seq``, as of ``signed_at``". Ed25519
signs these ASCII bytes, four lines joined by ``\\n`` with no trailing newline::

    bgcheck.audit.checkpoint.v1
    <seq, decimal>
    <hash, 64 lowercase hex digits>
    <signed_at, YYYY-MM-DDTHH:MM:SS.ffffffZ>

The first line keeps a checkpoint signature from ever being valid for anything else.
The format is simple on purpose: an auditor can rebuild the bytes with ``printf`` and
check the signature with ``openssl pkeyutl -verify -rawin`` (docs/audit.md).

The key id is the SHA-256 (hex) of the raw 32-byte public key, so a checkpoint names the
key that signed it and verification can hold several keys once the key rotates.
"""

from __future__ import annotations

import binascii
import hashlib
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from bgcheck.audit.chain import format_time

DOMAIN: Final = "bgcheck.audit.checkpoint.v1"


class PublicKeyError(ValueError):
    """The text is not an Ed25519 public key in PEM form."""


def checkpoint_message(seq: int, chain_hash: str, signed_at: datetime | str) -> bytes:
    """The exact bytes a checkpoint signature covers (see the module docstring).

    ``signed_at`` may be the stored datetime or, from an export, its formatted text.
    """
    moment = signed_at if isinstance(signed_at, str) else format_time(signed_at)
    return f"{DOMAIN}\n{seq}\n{chain_hash}\n{moment}".encode()


def key_id(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def sign(private_key: Ed25519PrivateKey, seq: int, chain_hash: str, signed_at: datetime) -> str:
    """The hex signature over ``checkpoint_message``."""
    return private_key.sign(checkpoint_message(seq, chain_hash, signed_at)).hex()


def is_valid(
    public_key: Ed25519PublicKey,
    seq: int,
    chain_hash: str,
    signed_at: datetime | str,
    signature: str,
) -> bool:
    try:
        public_key.verify(bytes.fromhex(signature), checkpoint_message(seq, chain_hash, signed_at))
    except (InvalidSignature, ValueError, TypeError, binascii.Error):
        return False
    return True


def keys_by_id(public_keys: Iterable[Ed25519PublicKey]) -> Mapping[str, Ed25519PublicKey]:
    return {key_id(key): key for key in public_keys}


def public_key_pem(public_key: Ed25519PublicKey) -> str:
    pem = public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return pem.decode("ascii")


def load_public_key_pem(data: bytes | str) -> Ed25519PublicKey:
    """Parse what ``bgcheck audit public-key`` prints; refuse any other kind of key."""
    raw = data.encode("ascii", "replace") if isinstance(data, str) else data
    try:
        key = serialization.load_pem_public_key(raw)
    except (ValueError, TypeError):
        raise PublicKeyError("not a PEM public key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise PublicKeyError("not an Ed25519 public key")
    return key
