"""Times in query strings: ISO-8601 text only, and a time without a zone is UTC.

Pydantic alone would also read a number as a Unix time (`until=0.48` became 1970), a
silently wrong filter, and hand a zoneless time on as naive, which the database layer
refuses (a 500). The OpenAPI declares the same pattern the route enforces.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, Final

from pydantic import AfterValidator, BeforeValidator, WithJsonSchema

# A date, or a date and time (seconds, fraction and zone optional); no zone means UTC.
_ISO_8601: Final = (
    r"\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])"
    r"([T ]([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?"
)


def _iso_8601(value: Any) -> Any:
    if isinstance(value, datetime) or (isinstance(value, str) and re.fullmatch(_ISO_8601, value)):
        return value
    raise ValueError("send an ISO-8601 date or date and time, e.g. 2026-01-31T09:00:00Z")


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


IsoTime = Annotated[
    datetime,
    BeforeValidator(_iso_8601),
    AfterValidator(_utc),
    WithJsonSchema({"type": "string", "pattern": f"^{_ISO_8601}$", "examples": ["2026-01-31"]}),
]
