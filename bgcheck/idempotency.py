"""``Idempotency-Key``: a retried write gets the first answer again instead of a second change.

The stored answer is keyed by a hash of who sent it, the method, the path and the key, so
one client's key never replays to another. The body's fingerprint is kept too: the same key
with a different body is a client bug and is refused, not silently replayed. The answer is
written in the same transaction as the change it describes, so a change and its replay
record commit together; two identical requests racing get one change and one conflict
(the primary key), never two changes.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session

from bgcheck.errors import InvalidInput
from bgcheck.models import IdempotentResponse

MAX_KEY_LENGTH = 200


@dataclass(frozen=True, slots=True)
class Slot:
    key: str
    fingerprint: str


def slot(*, principal: str, method: str, path: str, key: str, body: Any) -> Slot:
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise InvalidInput(f"Idempotency-Key: 1 to {MAX_KEY_LENGTH} printable characters")
    scope = "\n".join((principal, method.upper(), path, key))
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return Slot(
        key=hashlib.sha256(scope.encode()).hexdigest(),
        fingerprint=hashlib.sha256(canonical.encode()).hexdigest(),
    )


def replay(session: Session, slot: Slot) -> IdempotentResponse | None:
    stored = session.get(IdempotentResponse, slot.key)
    if stored is not None and stored.request_hash != slot.fingerprint:
        raise InvalidInput("Idempotency-Key was already used with a different request body")
    return stored


def remember(
    session: Session,
    slot: Slot,
    *,
    status: int,
    body: dict[str, Any],
    headers: dict[str, str],
    now: datetime,
) -> None:
    session.add(
        IdempotentResponse(
            key=slot.key,
            request_hash=slot.fingerprint,
            status=status,
            body=body,
            headers=headers,
            created_at=now,
        )
    )
    session.flush()
