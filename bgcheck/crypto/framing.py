"""Unambiguous byte encodings for associated data and key-derivation labels.

Naive concatenation makes ("ab", "c") and ("a", "bc") the same bytes, which would let a
ciphertext bound to one place authenticate in another. Every part is therefore prefixed
with its length.
"""

from __future__ import annotations

import struct
from functools import lru_cache
from uuid import UUID

RowId = UUID | str | int
"""What identifies a row or a case: UUID, its string form, or an integer key."""

_MAX_PART = 0xFFFF_FFFF


_LENGTH = struct.Struct(">I").pack


def frame(*parts: bytes | str) -> bytes:
    """Each part as a 4-byte big-endian length followed by its bytes (str as UTF-8)."""
    # Every field sealed or opened frames its associated data: kept to plain joins.
    chunks: list[bytes] = []
    for part in parts:
        data = part.encode("utf-8") if isinstance(part, str) else bytes(part)
        if len(data) > _MAX_PART:
            raise ValueError("framed part longer than 4 GiB")
        chunks.append(_LENGTH(len(data)))
        chunks.append(data)
    return b"".join(chunks)


def canonical_id(value: RowId) -> str:
    """One spelling per identifier, so UUID(x) and str(UUID(x)) bind to the same row.

    A string is taken as given (not re-parsed): callers pass ids the way they store them.
    """
    if isinstance(value, bool):
        raise TypeError("row and case ids are UUID, str or int, not bool")
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        if not value:
            raise ValueError("row and case ids must not be empty")
        return value
    raise TypeError(f"row and case ids are UUID, str or int, not {type(value).__name__}")


def frame_id(value: RowId) -> bytes:
    """``frame(canonical_id(value))``: the row or case id every sealed value is bound to."""
    if type(value) is UUID:
        return _framed_uuid(value)
    data = canonical_id(value).encode("utf-8")
    return _LENGTH(len(data)) + data


@lru_cache(maxsize=4096)
def _framed_uuid(value: UUID) -> bytes:
    """Remembered: ``str(UUID)`` runs in Python and costs as much as an AES-GCM decryption,
    and a list page frames 50 case ids, each twice when their keys are unwrapped. Case and
    row ids are not secret (they are in URLs)."""
    data = str(value).encode("ascii")
    return _LENGTH(len(data)) + data


def require_label(value: str, what: str) -> str:
    """Table, column and index names are code constants; an empty one is a bug."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"{what} must be a non-empty string")
    return value
