"""Reading the CORI dissemination log: filtered, oldest first, one batch at a time."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import sqlalchemy as sa
from sqlmodel import Session

from bgcheck.models import Dissemination, table_of
from bgcheck.platform.errors import InvalidInput

# The columns of an export, in order: when, whose record, what, to whom, why, by whom.
COLUMNS: Final = (
    "released_at",
    "case_id",
    "what",
    "recipient",
    "relationship",
    "purpose",
    "released_by",
    "id",
)
DEFAULT_BATCH: Final = 1000


@dataclass(frozen=True, slots=True)
class DisseminationFilter:
    """``since`` inclusive, ``until`` exclusive (release time); ``case_id`` exact."""

    since: datetime | None = None
    until: datetime | None = None
    case_id: uuid.UUID | None = None

    def __post_init__(self) -> None:
        for moment in (self.since, self.until):
            if moment is not None and moment.tzinfo is None:
                raise InvalidInput("since and until need a time zone (UTC: append Z)")


def iter_entries(
    session: Session, filters: DisseminationFilter, *, batch: int = DEFAULT_BATCH
) -> Iterator[tuple[Any, ...]]:
    """Entries as tuples in ``COLUMNS`` order, by release time (then id).

    PostgreSQL streams one query from a server-side cursor (one snapshot); SQLite reads
    keyset batches, consistent because the caller's write transaction holds SQLite's
    only write lock meanwhile. Either way memory holds one batch.
    """
    table = table_of(Dissemination)
    columns = [table.c[name] for name in COLUMNS]
    conditions = []
    if filters.since is not None:
        conditions.append(table.c.released_at >= filters.since)
    if filters.until is not None:
        conditions.append(table.c.released_at < filters.until)
    if filters.case_id is not None:
        conditions.append(table.c.case_id == filters.case_id)
    order = (table.c.released_at, table.c.id)
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        statement = (
            sa.select(*columns)
            .where(*conditions)
            .order_by(*order)
            .execution_options(stream_results=True, yield_per=batch)
        )
        result = connection.execute(statement)
        try:
            for row in result:
                yield tuple(row)
        finally:
            result.close()  # an abandoned export frees its cursor now
        return
    after: tuple[Any, Any] | None = None
    while True:
        statement = sa.select(*columns).where(*conditions)
        if after is not None:
            released_at, entry_id = after
            statement = statement.where(
                (table.c.released_at > released_at)
                | ((table.c.released_at == released_at) & (table.c.id > entry_id))
            )
        rows = connection.execute(statement.order_by(*order).limit(batch)).all()
        if not rows:
            return
        for row in rows:
            yield tuple(row)
        last = rows[-1]
        after = (last[COLUMNS.index("released_at")], last[COLUMNS.index("id")])
