"""``Idempotency-Key``: a retried write gets the first answer again instead of a second change.

The stored answer is keyed by a hash of who sent it, the method, the path and the key, so
one client's key never replays to another. The body's fingerprint is kept too: the same key
with a different body is a client bug and is refused, not silently replayed. The answer is
written in the same transaction as the change it describes, so a change and its replay
record commit together; two identical requests racing get one change and one conflict
(the primary key), never two changes. The answer is sealed with the case's data key (it
holds the candidate's name and may hold a portal link) and forgotten after a day.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete
from sqlmodel import Session, col

from bgcheck.models import IdempotentResponse, utcnow
from bgcheck.platform.errors import InvalidInput
from bgcheck.vault.store import Vault

MAX_KEY_LENGTH = 200
KEEP_FOR = timedelta(hours=24)
IDEMPOTENT_RESPONSES = "idempotent_responses"


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
    vault: Vault,
    slot: Slot,
    *,
    case_id: uuid.UUID,
    status: int,
    body: dict[str, Any],
    headers: dict[str, str],
    now: datetime,
) -> None:
    session.add(
        IdempotentResponse(
            key=slot.key,
            request_hash=slot.fingerprint,
            case_id=case_id,
            status=status,
            sealed=vault.seal_record(session, case_id, IDEMPOTENT_RESPONSES, slot.key, body),
            headers=headers,
            created_at=now,
        )
    )
    session.flush()


def body_of(session: Session, vault: Vault, stored: IdempotentResponse) -> dict[str, Any]:
    # A JSON object: ``remember`` sealed one (and AES-GCM lets nothing else open).
    body: dict[str, Any] = vault.open_record(
        session, stored.case_id, IDEMPOTENT_RESPONSES, stored.key, stored.sealed
    )
    return body


def purge(session: Session, now: datetime) -> None:
    """A retry comes within minutes; a day later the answer is only a liability."""
    session.execute(
        delete(IdempotentResponse).where(col(IdempotentResponse.created_at) < now - KEEP_FOR)
    )


def purge_old(session: Session) -> None:
    purge(session, utcnow())
