"""Password strength (NIST SP 800-63B) and hashing: what people may choose, and what not."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from zxcvbn.frequency_lists import FREQUENCY_LISTS

from bgcheck.identity.passwords import MIN_LENGTH, WeakPassword, check_strength

BREACHED_LONG = sorted(w for w in FREQUENCY_LISTS["passwords"] if len(w) >= MIN_LENGTH)


@pytest.mark.parametrize(
    "password",
    ["correct horse battery staple", "quiet harbor lantern 2031", "Tuba-Orchard-Nimbus-7"],
)
def test_a_few_unrelated_words_are_accepted(password: str) -> None:
    check_strength(password, email="ana.lopez@example.edu")


@given(st.sampled_from(BREACHED_LONG))
@settings(max_examples=200)
def test_every_long_enough_breached_password_is_refused(password: str) -> None:
    with pytest.raises(WeakPassword, match="breached"):
        check_strength(password)
    with pytest.raises(WeakPassword, match="breached"):
        check_strength(password.upper())


@pytest.mark.parametrize(
    ("password", "why"),
    [
        ("short", "at least 12"),
        ("x" * 300, "at most 256"),
        ("password1234", "breached"),
        ("qwertyuiop123", "breached"),
        ("zxcvbnmasdfg", "guess"),
        ("abcdefgh1234", "guess"),
        ("aaaaaaaaaaaaaaaa", "common"),
        ("ana.lopez@example.edu!", "email"),
        ("call me ana.lopez ok", "email"),
        ("ANA.LOPEZ horse battery", "email"),
    ],
)
def test_weak_passwords_are_refused_saying_why(password: str, why: str) -> None:
    with pytest.raises(WeakPassword, match=why) as refused:
        check_strength(password, email="ana.lopez@example.edu")
    assert password not in str(refused.value)
