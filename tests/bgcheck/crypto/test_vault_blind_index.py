"""Blind indexes: equal people find each other, different indexes never agree."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import struct
from datetime import date, datetime

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from hypothesis import assume, given
from hypothesis import strategies as st

from bgcheck.crypto import (
    EMAIL_INDEX,
    NAME_DOB_INDEX,
    SSN_INDEX,
    BlindIndex,
    NormalizationError,
    email_index,
    name_dob_index,
    normalize_name,
    normalize_ssn,
    ssn_index,
)

ROOT = secrets.token_bytes(32)
FIXED_ROOT = bytes(range(32))

ssns = st.text(alphabet="0123456789", min_size=9, max_size=9)
separators = st.sampled_from(["", "-", " ", " - ", "\t"])


# -- SSN ------------------------------------------------------------------------------------


def test_ssn_spellings_find_the_same_person() -> None:
    expected = ssn_index(ROOT, "123456789")
    fullwidth = "１２３-４５-６７８９"  # noqa: RUF001 - full-width digits on purpose
    for spelling in ("123-45-6789", " 123 45 6789 ", "123-45-6789\n", fullwidth):
        assert ssn_index(ROOT, spelling) == expected


@given(ssns, separators, separators)
def test_ssn_separators_never_matter(ssn: str, sep1: str, sep2: str) -> None:
    spelled = f"{ssn[:3]}{sep1}{ssn[3:5]}{sep2}{ssn[5:]}"
    assert ssn_index(ROOT, spelled) == ssn_index(ROOT, ssn)


@given(ssns, ssns)
def test_different_ssns_get_different_indexes(a: str, b: str) -> None:
    assume(a != b)
    assert ssn_index(ROOT, a) != ssn_index(ROOT, b)


@pytest.mark.parametrize("bad", ["12345678", "1234567890", "123-45-678x", "", "123.45.6789"])
def test_what_is_not_an_ssn_is_refused_without_quoting_it(bad: str) -> None:
    with pytest.raises(NormalizationError) as caught:
        ssn_index(ROOT, bad)
    assert not bad or bad not in str(caught.value)
    assert isinstance(caught.value, ValueError)  # schemas may surface it as a 422


def test_an_ssn_is_nine_ascii_digits_after_normalization() -> None:
    assert normalize_ssn("000-00-0000") == b"000000000"  # the sandbox's criminal-record SSNs


# -- email ----------------------------------------------------------------------------------


def test_email_case_and_surrounding_space_do_not_matter() -> None:
    expected = email_index(ROOT, "jane.doe@example.edu")
    for spelling in ("Jane.Doe@Example.EDU", "  jane.doe@example.edu\n", "JANE.DOE@EXAMPLE.EDU"):
        assert email_index(ROOT, spelling) == expected


def test_no_provider_specific_email_rewriting() -> None:
    """jane.doe@ and janedoe@ are one Gmail box but may be two people elsewhere."""
    assert email_index(ROOT, "jane.doe@gmail.com") != email_index(ROOT, "janedoe@gmail.com")
    assert email_index(ROOT, "jane+hr@gmail.com") != email_index(ROOT, "jane@gmail.com")


@pytest.mark.parametrize("bad", ["", "jane", "@example.edu", "jane@", "jane doe@example.edu"])
def test_what_is_not_an_email_is_refused(bad: str) -> None:
    with pytest.raises(NormalizationError):
        email_index(ROOT, bad)


# -- family name + date of birth ------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Núñez", "NUNEZ"),
        ("O'Brien", "obrien"),
        ("Smith-Jones", "Smith Jones"),
        ("  de la Cruz ", "DeLaCruz"),
        ("Müller", "Muller"),
        ("Søren", "Soren"),
        ("Łukasiewicz", "Lukasiewicz"),
        ("Straße", "STRASSE"),
        ("Ｔａｎａｋａ", "Tanaka"),  # noqa: RUF001 - full-width letters on purpose
        ("Nguyễn", "Nguyen"),
    ],
)
def test_name_spellings_find_the_same_person(a: str, b: str) -> None:
    assert name_dob_index(ROOT, a, "1990-01-02") == name_dob_index(ROOT, b, "1990-01-02")


def test_date_of_birth_may_be_a_date_or_an_iso_string() -> None:
    assert name_dob_index(ROOT, "Doe", date(1990, 1, 2)) == name_dob_index(
        ROOT, "Doe", " 1990-01-02 "
    )


def test_a_different_birth_date_or_name_is_a_different_person() -> None:
    base = name_dob_index(ROOT, "Doe", "1990-01-02")
    assert name_dob_index(ROOT, "Doe", "1990-01-03") != base
    assert name_dob_index(ROOT, "Roe", "1990-01-02") != base


def test_name_and_date_are_framed_not_concatenated() -> None:
    """Pins the documented input of the name + DOB index: two length-prefixed parts."""
    assert NAME_DOB_INDEX.normalize(("Núñez-O'Brien", date(1990, 1, 2))) == (
        b"\x00\x00\x00\x0bnunezobrien\x00\x00\x00\x0a1990-01-02"
    )


@pytest.mark.parametrize(
    ("name", "dob"),
    [
        ("", "1990-01-02"),
        ("-- '", "1990-01-02"),
        ("Doe", "02/01/1990"),
        ("Doe", "1990-02-30"),
        ("Doe", datetime(1990, 1, 2)),  # noqa: DTZ001 - a datetime, refused before its zone matters
    ],
)
def test_incomplete_name_or_date_is_refused(name: str, dob: object) -> None:
    with pytest.raises(NormalizationError):
        name_dob_index(ROOT, name, dob)  # type: ignore[arg-type]


def test_there_is_no_index_on_date_of_birth_alone() -> None:
    """~25,000 plausible birth dates: an index on DOB alone would be a lookup table."""
    import bgcheck.crypto.blind_index as module

    indexes = [v for v in vars(module).values() if isinstance(v, BlindIndex)]
    assert indexes
    assert all("date_of_birth" not in ix.field or "family_name" in ix.field for ix in indexes)


@given(st.text(max_size=30))
def test_name_normalization_is_idempotent(name: str) -> None:
    try:
        once = normalize_name(name)
    except NormalizationError:
        return
    assert normalize_name(once) == once


# -- keys and outputs -----------------------------------------------------------------------


@given(ssns)
def test_the_same_value_in_two_indexes_gives_unrelated_outputs(ssn: str) -> None:
    other = BlindIndex(SSN_INDEX.table, SSN_INDEX.field, "ssn_other", SSN_INDEX.normalize)
    moved = BlindIndex("employees", SSN_INDEX.field, SSN_INDEX.name, SSN_INDEX.normalize)
    ours = SSN_INDEX.compute(ROOT, ssn)
    for index in (other, moved):
        theirs = index.compute(ROOT, ssn)
        assert theirs != ours
        assert theirs[:8] != ours[:8]  # not a shared prefix either (2**-32 by chance)


def test_every_index_has_its_own_key() -> None:
    keys = {ix.derive_key(ROOT) for ix in (SSN_INDEX, EMAIL_INDEX, NAME_DOB_INDEX)}
    assert len(keys) == 3
    assert ROOT not in keys


def test_another_root_key_gives_other_indexes() -> None:
    assert ssn_index(ROOT, "123-45-6789") != ssn_index(secrets.token_bytes(32), "123-45-6789")


def test_outputs_are_32_lowercase_hex_characters() -> None:
    for value in (
        ssn_index(ROOT, "123-45-6789"),
        email_index(ROOT, "a@b.c"),
        name_dob_index(ROOT, "Doe", "1990-01-02"),
    ):
        assert re.fullmatch(r"[0-9a-f]{32}", value)


def test_index_values_are_stable_across_releases() -> None:
    """Stored indexes stay searchable only if these never change (docs/vault.md)."""
    assert ssn_index(FIXED_ROOT, "123-45-6789") == "1bd375bfd141dc84b137c3e6df1031eb"
    assert email_index(FIXED_ROOT, "Jane.Doe@Example.EDU") == "caefc6c8dfa970bd5d164f71b318202a"
    assert name_dob_index(FIXED_ROOT, "Núñez", "1990-01-02") == "782a4e33d113bc912059fbeb53a54e1f"


def test_derivation_matches_the_documented_construction() -> None:
    def framed(*parts: bytes) -> bytes:
        return b"".join(struct.pack(">I", len(p)) + p for p in parts)

    info = framed(b"bgcheck.vault.blind-index.v1", b"candidates", b"ssn", b"ssn_exact", b"16")
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(FIXED_ROOT)
    expected = hmac.new(key, b"123456789", hashlib.sha256).digest()[:16].hex()
    assert ssn_index(FIXED_ROOT, "123-45-6789") == expected


def test_a_root_key_of_the_wrong_size_is_refused() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        ssn_index(b"short", "123-45-6789")


def test_index_length_is_bounded() -> None:
    with pytest.raises(ValueError, match="8 to 32"):
        BlindIndex("t", "f", "n", normalize_ssn, length=4)
