"""Business days for the FCRA waiting period, counted on the Massachusetts calendar.

A business day is a Monday to Friday that is neither a US federal holiday (with the
federal "observed" days, e.g. Friday 3 July 2026 for a Saturday Independence Day) nor a
Massachusetts legal holiday (Patriots' Day). Days are counted in Boston local time
(America/New_York), where the university and its candidates are.

``add_business_days(start, n)`` is the same Boston wall-clock time on the n-th business
day *after* the day of ``start``: the day of ``start`` never counts, even when it is a
business day, and a ``start`` on a weekend or holiday counts from the next business
day. A notice issued on Wednesday 25 November 2026 at 10:00 with n=5 has its deadline on
Thursday 3 December 2026 at 10:00 (Thanksgiving skipped); the candidate has five full
business days. ``n=0`` returns ``start`` itself (testing only). The result is never a
weekend or holiday when n>0, and US clocks change on Sundays, so the wall-clock time
always exists exactly once on that day.
"""

from datetime import UTC, date, datetime, timedelta
from functools import cache
from typing import Final
from zoneinfo import ZoneInfo

import holidays

ZONE: Final = ZoneInfo("America/New_York")
_ONE_DAY: Final = timedelta(days=1)


@cache
def holidays_of(year: int) -> frozenset[date]:
    """US federal (with observed days) and Massachusetts holidays of one year."""
    federal = holidays.country_holidays("US", years=year)
    massachusetts = holidays.country_holidays("US", subdiv="MA", years=year)
    return frozenset(federal) | frozenset(massachusetts)


def is_business_day(day: date) -> bool:
    return day.weekday() < 5 and day not in holidays_of(day.year)


def add_business_days(start: datetime, n: int) -> datetime:
    """The deadline n business days after ``start``, in UTC (see the module docstring)."""
    if start.utcoffset() is None:
        raise ValueError("start must be timezone-aware")
    if n < 0:
        raise ValueError("n must not be negative")
    if n == 0:
        return start.astimezone(UTC)
    local = start.astimezone(ZONE)
    day = local.date()
    remaining = n
    while remaining:
        day += _ONE_DAY
        if is_business_day(day):
            remaining -= 1
    return datetime.combine(day, local.time(), tzinfo=ZONE).astimezone(UTC)
