"""Business days on the US federal + Massachusetts calendar, counted in Boston time."""

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from workflow.calendar import ZONE, add_business_days, is_business_day

instants = st.datetimes(
    min_value=datetime(2024, 1, 1),  # noqa: DTZ001 (hypothesis bounds are naive)
    max_value=datetime(2032, 12, 31),  # noqa: DTZ001
    timezones=st.just(UTC),
)
counts = st.integers(min_value=0, max_value=40)


def boston(moment: datetime) -> datetime:
    return moment.astimezone(ZONE)


@given(instants, st.integers(min_value=1, max_value=40))
def test_a_deadline_falls_on_a_business_day_at_the_same_boston_time(
    start: datetime, n: int
) -> None:
    deadline = add_business_days(start, n)
    assert deadline.tzinfo is UTC
    assert is_business_day(boston(deadline).date())
    assert boston(deadline).time() == boston(start).time()


@given(instants, counts)
def test_exactly_n_business_days_follow_the_start_day(start: datetime, n: int) -> None:
    first, last = boston(start).date(), boston(add_business_days(start, n)).date()
    days = [first + timedelta(days=i) for i in range(1, (last - first).days + 1)]
    assert sum(map(is_business_day, days)) == n


@given(instants, counts, counts)
def test_deadlines_grow_with_n_and_add_up(start: datetime, a: int, b: int) -> None:
    if a < b:
        assert add_business_days(start, a) < add_business_days(start, b)
    assert add_business_days(add_business_days(start, a), b) == add_business_days(start, a + b)


def test_zero_days_is_now() -> None:
    start = datetime(2026, 7, 4, 12, tzinfo=UTC)  # a Saturday holiday
    assert add_business_days(start, 0) == start


@pytest.mark.parametrize(
    ("start", "n", "deadline"),
    [
        # Wednesday before Thanksgiving 2026, 10:00 in Boston: Thursday is skipped.
        ("2026-11-25T15:00Z", 1, "2026-11-27T15:00Z"),
        ("2026-11-25T15:00Z", 5, "2026-12-03T15:00Z"),
        # 22:00 Wednesday in Boston is already Thursday in UTC; Boston's day counts.
        ("2026-11-26T03:00Z", 1, "2026-11-28T03:00Z"),
        # Patriots' Day (Massachusetts), Monday 20 April 2026.
        ("2026-04-17T14:00Z", 1, "2026-04-21T14:00Z"),
        # Independence Day 2026 is a Saturday: the federal holiday is Friday 3 July.
        ("2026-07-02T14:00Z", 1, "2026-07-06T14:00Z"),
        # Christmas 2026 is a Friday.
        ("2026-12-24T14:00Z", 1, "2026-12-28T14:00Z"),
        # A weekend start counts from Monday.
        ("2026-11-28T15:00Z", 1, "2026-11-30T15:00Z"),
        # Clocks change on Sunday 8 March 2026: 15:00 EST on Friday, 15:00 EDT on Monday.
        ("2026-03-06T20:00Z", 1, "2026-03-09T19:00Z"),
    ],
)
def test_known_deadlines(start: str, n: int, deadline: str) -> None:
    assert add_business_days(datetime.fromisoformat(start), n) == datetime.fromisoformat(deadline)


@pytest.mark.parametrize(
    ("day", "business"),
    [
        (date(2026, 4, 20), False),  # Patriots' Day
        (date(2026, 6, 19), False),  # Juneteenth
        (date(2026, 7, 3), False),  # Independence Day observed
        (date(2026, 10, 12), False),  # Columbus Day
        (date(2026, 11, 11), False),  # Veterans Day
        (date(2026, 11, 26), False),  # Thanksgiving
        (date(2026, 11, 27), True),  # the day after is not a legal holiday
        (date(2026, 3, 17), True),  # Evacuation Day is Suffolk County only
        (date(2026, 11, 28), False),  # Saturday
    ],
)
def test_business_days(day: date, business: bool) -> None:
    assert is_business_day(day) is business


def test_inputs_are_checked() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        add_business_days(datetime(2026, 1, 5, 12), 1)  # noqa: DTZ001
    with pytest.raises(ValueError, match="negative"):
        add_business_days(datetime(2026, 1, 5, 12, tzinfo=UTC), -1)
