"""The encoding behind associated data and key labels: one byte string per tuple."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from bgcheck.crypto.framing import canonical_id, frame, frame_id

parts = st.lists(st.binary(max_size=8), max_size=5)


@given(parts, parts)
def test_different_tuples_never_frame_to_the_same_bytes(a: list[bytes], b: list[bytes]) -> None:
    assume(a != b)
    assert frame(*a) != frame(*b)


def test_text_parts_are_utf8() -> None:
    assert frame("é") == b"\x00\x00\x00\x02\xc3\xa9"


def test_a_uuid_and_its_string_name_the_same_row() -> None:
    row = uuid.uuid4()
    assert canonical_id(row) == canonical_id(str(row)) == str(row)
    assert canonical_id(42) == "42"


@pytest.mark.parametrize("bad", ["", True, 1.5, None])
def test_ids_that_name_no_row_are_refused(bad: object) -> None:
    with pytest.raises((ValueError, TypeError)):
        canonical_id(bad)  # type: ignore[arg-type]
    with pytest.raises((ValueError, TypeError)):
        frame_id(bad)  # type: ignore[arg-type]


@given(st.uuids() | st.uuids().map(str) | st.integers() | st.text(min_size=1))
def test_a_framed_id_is_the_frame_of_its_canonical_spelling(row: uuid.UUID | str | int) -> None:
    """``frame_id`` (remembered for UUIDs) frames exactly what ``frame`` would, every time."""
    assert frame_id(row) == frame(canonical_id(row))
    assert frame_id(row) == frame(canonical_id(row))
