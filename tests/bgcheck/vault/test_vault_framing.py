"""The encoding behind associated data and key labels: one byte string per tuple."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from bgcheck.vault.framing import canonical_id, frame

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
