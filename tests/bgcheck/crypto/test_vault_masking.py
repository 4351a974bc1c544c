"""Masks: what HR and lists show instead of the value."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bgcheck.crypto import (
    mask_date,
    mask_email,
    mask_last4,
    mask_name,
    mask_phone,
    mask_ssn,
    ssn_last4,
)


@pytest.mark.parametrize("ssn", ["123-45-6789", "123456789", " 123 45 6789 "])
def test_ssn_shows_only_the_last_four(ssn: str) -> None:
    assert mask_ssn(ssn) == "***-**-6789"
    assert ssn_last4(ssn) == "6789"


@given(st.text(alphabet="0123456789", min_size=9, max_size=9))
def test_a_masked_ssn_never_shows_the_first_five_digits(ssn: str) -> None:
    masked = mask_ssn(ssn)
    assert masked == f"***-**-{ssn[-4:]}"
    assert ssn[:5] not in masked.replace("-", "")[:-4]


@pytest.mark.parametrize("bad", ["", "1234", "12-34", "not an ssn", "1234567890"])
def test_a_malformed_ssn_is_hidden_entirely(bad: str) -> None:
    assert mask_ssn(bad) == "***-**-****"
    assert ssn_last4(bad) is None


def test_phone_shows_the_last_four_digits_of_a_full_number() -> None:
    assert mask_phone("(617) 555-0134") == "***-***-0134"
    assert mask_phone("+1 617 555 0134") == "***-***-0134"
    assert mask_phone("555-0134") == "***-***-****"  # too short to show four of


def test_identifiers_show_the_last_four_only_when_long_enough() -> None:
    assert mask_last4("S12345678") == "****5678"
    assert mask_last4("x1234-5678") == "****5678"
    assert mask_last4("AB12") == "****"  # four of four would be all of it
    assert mask_last4("S1234") == "****"


def test_the_mask_does_not_reveal_the_hidden_length() -> None:
    assert len(mask_last4("S12345678")) == len(mask_last4("S1234567890123"))


def test_email_shows_an_initial_and_the_domain() -> None:
    assert mask_email("jane.doe@example.edu") == "j***@example.edu"
    assert mask_email("not-an-email") == "***@****"


def test_name_shows_an_initial() -> None:
    assert mask_name("jane") == "J."
    assert mask_name("   ") == "****"


def test_dates_of_birth_are_never_partly_shown() -> None:
    assert mask_date("1990-01-02") == "****-**-**"
