"""What an audit export selects: the filters, the run of sequence numbers, the counts.

Shared by the generic writers (``export``) and PostgreSQL's fast path (``pgstream``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

from bgcheck.audit.chain import format_time
from bgcheck.audit.trail import AuditDataError, checked_data
from bgcheck.platform.errors import InvalidInput

_MAX_FILTER_LENGTH: Final = 64  # the width of the columns the filters compare with


@dataclass(frozen=True, slots=True)
class ExportFilters:
    """What to export; every field is optional and they combine with AND."""

    since: datetime | None = None
    until: datetime | None = None
    case_id: str | None = None
    actor: str | None = None
    type: str | None = None

    def __post_init__(self) -> None:
        for moment in (self.since, self.until):
            if moment is not None and moment.tzinfo is None:
                raise InvalidInput("since and until need a time zone (UTC: append Z)")
        for name in ("case_id", "actor", "type"):
            value = getattr(self, name)
            if value is not None and not 0 < len(value) <= _MAX_FILTER_LENGTH:
                raise InvalidInput(f"{name} must be 1 to {_MAX_FILTER_LENGTH} characters")
        # The filters go into the export's own audit event: refuse now, not after streaming.
        try:
            checked_data({"filters": self.as_data()})
        except AuditDataError as exc:
            raise InvalidInput(str(exc).replace("audit data data.filters.", "filter ")) from None

    @property
    def filtered(self) -> bool:
        """True when single events are picked out, so the export is not one chain."""
        return any(value is not None for value in (self.case_id, self.actor, self.type))

    def as_data(self) -> dict[str, str | None]:
        return {
            "since": format_time(self.since) if self.since else None,
            "until": format_time(self.until) if self.until else None,
            "case_id": self.case_id,
            "actor": self.actor,
            "type": self.type,
        }


@dataclass(frozen=True, slots=True)
class SeqRange:
    """The sequence numbers an export covers, inclusive; empty when ``first > last``.

    ``by_time`` is set when some events inside the range fall outside the time window
    (clocks that disagree): rows are then filtered on time as well, and the export is
    not one contiguous chain.
    """

    first: int
    last: int
    by_time: bool = False


@dataclass(slots=True)
class ExportStats:
    events: int = 0
    checkpoints: int = 0
