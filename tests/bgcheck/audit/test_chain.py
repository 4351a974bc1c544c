"""The pure hash chain: any single change, deletion, insertion or reordering is caught."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from bgcheck.audit.chain import GENESIS_HASH, event_hash, format_time, verify_events

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)

actions = st.sampled_from(["login.succeeded", "case.created", "case.invite", "pii.revealed"])
payloads = st.dictionaries(
    st.text(min_size=1, max_size=8),
    st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=20)),
    max_size=4,
)


def build_chain(specs: list[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    events, prev = [], GENESIS_HASH
    for index, (action, data) in enumerate(specs):
        event = {
            "seq": index + 1,
            "occurred_at": START + timedelta(seconds=index, microseconds=index * 7),
            "actor_kind": "user",
            "actor_id": f"user-{index % 3}",
            "action": action,
            "target_type": "case",
            "target_id": f"case-{index % 5}",
            "request_id": None,
            "data": data,
            "prev_hash": prev,
        }
        event["hash"] = prev = event_hash(prev, event)
        events.append(event)
    return events


chains = st.lists(st.tuples(actions, payloads), min_size=2, max_size=25).map(build_chain)


@given(chains)
def test_an_untouched_chain_verifies(chain: list[dict[str, Any]]) -> None:
    report = verify_events(chain)
    assert report.ok
    assert report.checked == len(chain)
    assert report.head_hash == chain[-1]["hash"]


@given(chains, st.data())
def test_changing_any_event_is_caught_at_that_event(
    chain: list[dict[str, Any]], data: st.DataObject
) -> None:
    index = data.draw(st.integers(0, len(chain) - 1))
    field = data.draw(st.sampled_from(["action", "actor_id", "target_id", "data", "occurred_at"]))
    original = chain[index][field]
    replacement = data.draw(
        {
            "action": st.text(min_size=1, max_size=10),
            "actor_id": st.text(max_size=10),
            "target_id": st.text(max_size=10),
            "data": payloads,
            "occurred_at": st.datetimes(timezones=st.just(UTC)),
        }[field].filter(lambda value: value != original)
    )
    chain[index] = {**chain[index], field: replacement}
    assert verify_events(chain).first_bad_seq == index + 1


@given(chains, st.data())
def test_deleting_an_event_is_caught_where_it_was(
    chain: list[dict[str, Any]], data: st.DataObject
) -> None:
    # Removing the newest event leaves a valid shorter chain: the stored chain head
    # (and later, signed checkpoints) catch that; see tests/bgcheck/audit/test_trail.py.
    index = data.draw(st.integers(0, len(chain) - 2))
    del chain[index]
    assert verify_events(chain).first_bad_seq == index + 1


@given(chains, st.data())
def test_inserting_an_event_is_caught_where_it_lands(
    chain: list[dict[str, Any]], data: st.DataObject
) -> None:
    index = data.draw(st.integers(0, len(chain)))
    forged = {**chain[min(index, len(chain) - 1)], "action": "forged"}
    chain.insert(index, forged)
    assert verify_events(chain).first_bad_seq == index + 1


@given(chains, st.data())
def test_reordering_two_events_is_caught_at_the_first(
    chain: list[dict[str, Any]], data: st.DataObject
) -> None:
    i = data.draw(st.integers(0, len(chain) - 2))
    j = data.draw(st.integers(i + 1, len(chain) - 1))
    chain[i], chain[j] = chain[j], chain[i]
    assert verify_events(chain).first_bad_seq == i + 1


@given(chains, st.data())
def test_a_rehashed_forgery_breaks_the_next_link(
    chain: list[dict[str, Any]], data: st.DataObject
) -> None:
    index = data.draw(st.integers(0, len(chain) - 2))
    forged = {**chain[index], "action": "case.forged"}
    forged["hash"] = event_hash(forged["prev_hash"], forged)
    chain[index] = forged
    assert verify_events(chain).first_bad_seq == index + 2


def test_times_are_utc_with_microseconds() -> None:
    moment = datetime(2026, 3, 1, 12, 0, 0, 5, tzinfo=UTC)
    assert format_time(moment) == "2026-03-01T12:00:00.000005Z"
