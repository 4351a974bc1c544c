"""Audit events from unauthenticated sources, folded: at most one per source and window.

A failed sign-in or a bad vendor callback is worth recording, but an attacker must not
be able to flood the trail with them. The counting is ``platform.ratelimit``'s.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session

from bgcheck.audit.trail import AuditActor, record
from bgcheck.platform import ratelimit


def record_folded(
    session: Session,
    who: AuditActor,
    *,
    action: str,
    source: str,
    data: Mapping[str, Any],
    window: timedelta,
    now: datetime,
) -> None:
    """Record ``action`` at most once per ``window`` for one ``source`` (an address, a
    vendor): unauthenticated callers cannot flood the audit trail, and nothing is lost.

    The first event of a window is recorded, with ``folded``: how many more came from the
    same source in its last window and were counted instead of recorded.
    """
    counted = ratelimit.hit(
        session, ratelimit.key("audit-fold", action, source), window=window, now=now
    )
    if counted.count == 1:
        folded = max(0, counted.previous_count - 1)
        record(session, who, action=action, data={**data, "folded": folded}, now=now)
