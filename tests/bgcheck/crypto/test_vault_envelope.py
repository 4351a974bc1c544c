"""Envelope encryption: what a stored ciphertext or wrapped key does when moved or altered."""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import assume, given
from hypothesis import strategies as st

from bgcheck.crypto import (
    DataKey,
    DecryptionError,
    KeyNotFound,
    Keyring,
    RowId,
    WrappedKey,
    rewrap,
    seal,
    seal_json,
    unseal,
    unseal_json,
    unseal_json_many,
    unseal_text,
    unseal_texts,
    unwrap,
    unwrap_stored,
    wrap,
)
from bgcheck.crypto.framing import frame

KEYRING = Keyring.generate()
DEK = DataKey.generate()
ROW = uuid.UUID("8d3c2a4e-5b1f-4c7a-9e2d-6f0a1b2c3d4e")
PLACE = {"table": "candidates", "column": "ssn", "row_id": ROW}

names = st.text(min_size=1, max_size=20)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53), max_value=2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


# -- fields ---------------------------------------------------------------------------------


@given(st.text())
def test_any_text_round_trips(text: str) -> None:
    assert unseal_text(DEK, seal(DEK, text, **PLACE), **PLACE) == text


@given(st.binary())
def test_any_bytes_round_trip(data: bytes) -> None:
    assert unseal(DEK, seal(DEK, data, **PLACE), **PLACE) == data


def test_empty_and_non_latin_text_round_trip() -> None:
    for text in ("", "Zoë Ñúñez-O'Brien", "王小明", "🙂 line\nbreak", "\x00"):
        assert unseal_text(DEK, seal(DEK, text, **PLACE), **PLACE) == text


@given(json_values)
def test_json_values_round_trip(value: object) -> None:
    assert unseal_json(DEK, seal_json(DEK, value, **PLACE), **PLACE) == value


# What the standard library writes or reads, and what orjson reads differently or not at all.
json_texts = st.one_of(
    json_values.map(json.dumps),
    json_values.map(lambda value: json.dumps(value, ensure_ascii=False, indent=1)),
    st.integers().map(str),
    # Around 64 bits orjson reads some integers as floats, or refuses them.
    st.sampled_from([2**63, 2**64, -(2**63)])
    .flatmap(lambda edge: st.integers(min_value=edge - 3, max_value=edge + 3))
    .map(lambda number: f'[{number}, "{number}", {number}.5, {number}e0]'),
    st.sampled_from([1, 100, 600, 5000]).map(lambda depth: "[" * depth + "]" * depth),
    st.sampled_from(["NaN", "[Infinity]", "-Infinity", '"\\ud800"', "1e400", "-0.0", " {} "]),
    st.sampled_from(["", "{", "[1,]", "\ufeff[]", "'x'", "[1] [2]", "nul", '{"a":1,"a":2}']),
    st.text(max_size=12),
)


@given(json_texts)
def test_a_sealed_json_text_reads_as_the_standard_library_reads_it(text: str) -> None:
    """orjson reads first; whatever it reads, or refuses, the result is json.loads's."""
    try:
        expected: object = json.loads(text)
    except (ValueError, RecursionError):
        expected = DecryptionError
    sealed = seal(DEK, text, **PLACE)
    try:
        opened: object = unseal_json(DEK, sealed, **PLACE)
    except DecryptionError:
        opened = DecryptionError
    # repr: NaN != NaN, and 1 == 1.0 == True would hide a changed type.
    assert repr(opened) == repr(expected)


def test_address_history_round_trips_as_json() -> None:
    addresses = [
        {"line1": "1 Main St", "city": "Boston", "state": "MA", "postal_code": "02110"},
        {"line1": "9 Elm Rd", "line2": None, "city": "Salem", "state": "MA", "from": "2019-05"},
    ]
    place = {"table": "candidates", "column": "addresses", "row_id": ROW}
    assert unseal_json(DEK, seal_json(DEK, addresses, **place), **place) == addresses


def test_the_same_value_sealed_twice_looks_different() -> None:
    """A fresh nonce each time: equal SSNs must not show up as equal ciphertexts."""
    assert seal(DEK, "123-45-6789", **PLACE) != seal(DEK, "123-45-6789", **PLACE)


@given(st.binary(min_size=0, max_size=64), st.data())
def test_any_flipped_byte_is_refused(plaintext: bytes, data: st.DataObject) -> None:
    sealed = bytearray(seal(DEK, plaintext, **PLACE))
    position = data.draw(st.integers(min_value=0, max_value=len(sealed) - 1))
    sealed[position] ^= data.draw(st.integers(min_value=1, max_value=255))
    with pytest.raises(DecryptionError):
        unseal(DEK, bytes(sealed), **PLACE)


@given(st.binary(max_size=32), st.data())
def test_truncated_or_extended_ciphertexts_are_refused(
    plaintext: bytes, data: st.DataObject
) -> None:
    sealed = seal(DEK, plaintext, **PLACE)
    cut = data.draw(st.integers(min_value=0, max_value=len(sealed) - 1))
    with pytest.raises(DecryptionError):
        unseal(DEK, sealed[:cut], **PLACE)
    with pytest.raises(DecryptionError):
        unseal(DEK, sealed + data.draw(st.binary(min_size=1, max_size=8)), **PLACE)


@given(
    st.sampled_from(["table", "column", "row_id"]),
    st.one_of(names, st.uuids(), st.integers(min_value=0)),
)
def test_a_ciphertext_moved_to_another_place_is_refused(part: str, elsewhere: object) -> None:
    target = {**PLACE, part: str(elsewhere) if part != "row_id" else elsewhere}
    assume(str(target[part]) != str(PLACE[part]))
    sealed = seal(DEK, "123-45-6789", **PLACE)
    with pytest.raises(DecryptionError):
        unseal(DEK, sealed, **target)


def test_a_ciphertext_copied_to_another_candidate_row_is_refused() -> None:
    other_row = uuid.uuid4()
    sealed = seal(DEK, "123-45-6789", **PLACE)
    with pytest.raises(DecryptionError):
        unseal(DEK, sealed, table="candidates", column="ssn", row_id=other_row)


def test_place_names_are_not_concatenated() -> None:
    """("ab", "c") and ("a", "bc") are different places, not both "abc"."""
    sealed = seal(DEK, "x", table="ab", column="c", row_id="1")
    with pytest.raises(DecryptionError):
        unseal(DEK, sealed, table="a", column="bc", row_id="1")


def test_a_row_may_be_named_by_uuid_or_its_string_form() -> None:
    sealed = seal(DEK, "x", table="candidates", column="ssn", row_id=ROW)
    assert unseal(DEK, sealed, table="candidates", column="ssn", row_id=str(ROW)) == b"x"


def test_another_cases_data_key_is_refused() -> None:
    sealed = seal(DEK, "123-45-6789", **PLACE)
    with pytest.raises(DecryptionError, match="different data key"):
        unseal(DataKey.generate(), sealed, **PLACE)


def test_a_wrong_key_under_the_right_id_is_refused() -> None:
    sealed = seal(DEK, "123-45-6789", **PLACE)
    impostor = DataKey(id=DEK.id, key=DataKey.generate().key)
    with pytest.raises(DecryptionError):
        unseal(impostor, sealed, **PLACE)


def test_stored_field_format_matches_the_documentation() -> None:
    """Pins the byte layout in docs/vault.md: an independent reader opens it."""
    sealed = seal(DEK, "123-45-6789", **PLACE)
    assert sealed[0] == 0x01
    assert sealed[1:17] == DEK.id
    assert len(sealed) == 1 + 16 + 12 + len("123-45-6789") + 16
    aad = frame(b"bgcheck.vault.field", sealed[:17], b"candidates", b"ssn", str(ROW).encode())
    assert AESGCM(DEK.key).decrypt(sealed[17:29], sealed[29:], aad) == b"123-45-6789"


def test_text_and_json_readers_refuse_what_they_cannot_decode() -> None:
    not_utf8 = seal(DEK, b"\xff\xfe", **PLACE)
    with pytest.raises(DecryptionError, match="not UTF-8") as caught:
        unseal_text(DEK, not_utf8, **PLACE)
    assert caught.value.__context__ is None  # the codec error would carry the bytes
    with pytest.raises(DecryptionError, match="not JSON") as caught:
        unseal_json(DEK, seal(DEK, "Jane Doe", **PLACE), **PLACE)
    assert caught.value.__context__ is None


def test_unencodable_text_is_refused_without_quoting_it() -> None:
    with pytest.raises(ValueError, match="lone surrogate") as caught:
        seal(DEK, "Jane\ud800Doe", **PLACE)
    assert "Jane" not in str(caught.value)


def test_an_empty_place_name_is_a_bug_not_a_binding() -> None:
    with pytest.raises(ValueError, match="table"):
        seal(DEK, "x", table="", column="ssn", row_id=ROW)


def test_data_key_repr_shows_only_its_id() -> None:
    text = repr(DEK)
    assert DEK.id.hex() in text
    assert DEK.key.hex() not in text
    assert repr(DEK.key) not in text


# -- several fields of one row (a list page) ----------------------------------------------

COLUMNS = ("given_name", "family_name", "email", "ssn_last4")


def sealed_row(values: dict[str, str | None], row_id: RowId = ROW) -> dict[str, bytes | None]:
    """A candidate row's columns as the vault stores them (None: nothing stored)."""
    sealed: dict[str, bytes | None] = dict.fromkeys(values)
    for column, value in values.items():
        if value is not None:
            sealed[column] = seal(DEK, value, table="candidates", column=column, row_id=row_id)
    return sealed


@given(st.lists(st.none() | st.text(), min_size=len(COLUMNS), max_size=len(COLUMNS)), st.uuids())
def test_the_fields_of_a_row_open_together_as_they_open_one_by_one(
    values: list[str | None], row_id: uuid.UUID
) -> None:
    plain = dict(zip(COLUMNS, values, strict=True))
    sealed = sealed_row(plain, row_id)
    opened = unseal_texts(DEK, sealed, table="candidates", row_id=row_id)
    assert opened == plain
    one_by_one = {
        column: None
        if value is None
        else unseal_text(DEK, value, table="candidates", column=column, row_id=row_id)
        for column, value in sealed.items()
    }
    assert opened == one_by_one


@given(st.lists(st.tuples(json_values, st.uuids(), st.sampled_from(["keep", "move", "flip"]))))
def test_a_column_of_many_rows_opens_as_each_row_opens_alone(
    rows: list[tuple[object, uuid.UUID, str]],
) -> None:
    """``unseal_json_many`` (a list page's contacts) answers, or refuses, as one by one."""
    place = {"table": "candidates", "column": "contact"}
    keys = [DataKey.generate() for _ in rows]
    sealed = []
    for dek, (value, row_id, edit) in zip(keys, rows, strict=True):
        blob = bytearray(seal_json(dek, value, **place, row_id=row_id))
        if edit == "flip":
            blob[-1] ^= 1
        read_as = uuid.uuid4() if edit == "move" else row_id  # another row's value
        sealed.append((dek, bytes(blob), read_as))
    if all(edit == "keep" for _, _, edit in rows):
        opened = unseal_json_many(sealed, **place)
        assert opened == [unseal_json(dek, blob, **place, row_id=row) for dek, blob, row in sealed]
        assert opened == [value for value, _, _ in rows]
    else:
        with pytest.raises(DecryptionError):
            unseal_json_many(sealed, **place)


@given(st.permutations(COLUMNS))
def test_fields_swapped_between_the_columns_of_a_row_are_refused(order: list[str]) -> None:
    assume(tuple(order) != COLUMNS)
    sealed = sealed_row({column: "Pat" for column in COLUMNS})
    swapped = {column: sealed[moved] for column, moved in zip(COLUMNS, order, strict=True)}
    with pytest.raises(DecryptionError):
        unseal_texts(DEK, swapped, table="candidates", row_id=ROW)


@given(st.uuids(), st.sampled_from(COLUMNS))
def test_a_field_moved_from_another_row_is_refused(other: uuid.UUID, column: str) -> None:
    assume(other != ROW)
    sealed = sealed_row({name: "Pat" for name in COLUMNS})
    with pytest.raises(DecryptionError):  # the whole row read as another row
        unseal_texts(DEK, sealed, table="candidates", row_id=other)
    sealed[column] = seal(DEK, "Pat", table="candidates", column=column, row_id=other)
    with pytest.raises(DecryptionError):  # one field copied in from another row
        unseal_texts(DEK, sealed, table="candidates", row_id=ROW)


@given(st.sampled_from(COLUMNS), st.data())
def test_any_flipped_byte_in_any_field_of_a_row_is_refused(
    column: str, data: st.DataObject
) -> None:
    sealed = sealed_row({name: "Pat Candidate" for name in COLUMNS})
    value = bytearray(sealed[column] or b"")
    position = data.draw(st.integers(min_value=0, max_value=len(value) - 1))
    value[position] ^= data.draw(st.integers(min_value=1, max_value=255))
    sealed[column] = bytes(value)
    with pytest.raises(DecryptionError):
        unseal_texts(DEK, sealed, table="candidates", row_id=ROW)


def test_the_fields_of_a_row_under_another_data_key_are_refused() -> None:
    sealed = sealed_row({"email": "pat@example.org"})
    with pytest.raises(DecryptionError, match="different data key"):
        unseal_texts(DataKey.generate(), sealed, table="candidates", row_id=ROW)
    impostor = DataKey(id=DEK.id, key=DataKey.generate().key)
    with pytest.raises(DecryptionError):
        unseal_texts(impostor, sealed, table="candidates", row_id=ROW)


def test_a_field_sealed_by_an_independent_writer_opens() -> None:
    """Pins the read side of the documented associated data, whichever reader opens it."""
    nonce = secrets.token_bytes(12)
    header = bytes([0x01]) + DEK.id
    aad = frame(b"bgcheck.vault.field", header, b"candidates", b"email", str(ROW).encode())
    stored = header + nonce + AESGCM(DEK.key).encrypt(nonce, b"pat@example.org", aad)
    place = {"table": "candidates", "column": "email", "row_id": ROW}
    assert unseal_text(DEK, stored, **place) == "pat@example.org"
    opened = unseal_texts(DEK, {"email": stored}, table="candidates", row_id=str(ROW))
    assert opened == {"email": "pat@example.org"}


# -- data keys ------------------------------------------------------------------------------


@given(st.uuids())
def test_wrapped_key_round_trips_through_storage(case_id: uuid.UUID) -> None:
    stored = wrap(KEYRING, DEK, case_id=case_id).to_bytes()
    opened = unwrap(KEYRING, WrappedKey.from_bytes(stored), case_id=case_id)
    assert opened.id == DEK.id
    assert opened.key == DEK.key


def test_wrapped_key_records_the_active_kek() -> None:
    wrapped = wrap(KEYRING, DEK, case_id=ROW)
    assert wrapped.kek_id == KEYRING.active_kek_id
    stored = wrapped.to_bytes()
    assert stored[0] == 0x01
    assert stored[2 : 2 + stored[1]].decode() == KEYRING.active_kek_id


def test_a_data_key_wrapped_by_an_independent_writer_unwraps() -> None:
    """Pins the documented associated data of a wrapped key."""
    kek = KEYRING.active_kek
    header = bytes([0x01, len(kek.id)]) + kek.id.encode() + DEK.id
    nonce = secrets.token_bytes(12)
    aad = frame(b"bgcheck.vault.dek", header, str(ROW).encode())
    stored = header + nonce + AESGCM(kek.key).encrypt(nonce, DEK.key, aad)
    opened = unwrap(KEYRING, WrappedKey.from_bytes(stored), case_id=ROW)
    assert (opened.id, opened.key) == (DEK.id, DEK.key)
    opened = unwrap_stored(KEYRING, stored, case_id=ROW)
    assert (opened.id, opened.key) == (DEK.id, DEK.key)


def _outcome(open_key: Callable[[], DataKey]) -> tuple[bytes, bytes] | type[Exception]:
    try:
        dek = open_key()
    except (DecryptionError, KeyNotFound) as error:
        return type(error)
    return dek.id, dek.key


@given(st.data())
def test_unwrapping_the_stored_form_agrees_with_unwrapping_the_parsed_one(
    data: st.DataObject,
) -> None:
    """``unwrap_stored`` (a list page's fast path) opens exactly what ``unwrap`` opens."""
    case_id = data.draw(st.uuids())
    stored = bytearray(wrap(KEYRING, DEK, case_id=case_id).to_bytes())
    edit = data.draw(st.sampled_from(["none", "flip", "cut", "extend", "any", "other case"]))
    if edit == "flip":
        position = data.draw(st.integers(min_value=0, max_value=len(stored) - 1))
        stored[position] ^= data.draw(st.integers(min_value=1, max_value=255))
    elif edit == "cut":
        del stored[data.draw(st.integers(min_value=0, max_value=len(stored) - 1)) :]
    elif edit == "extend":
        stored += data.draw(st.binary(min_size=1, max_size=8))
    elif edit == "any":
        stored = bytearray(data.draw(st.binary(max_size=120)))
    elif edit == "other case":
        case_id = data.draw(st.uuids().filter(lambda other: other != case_id))
    blob = bytes(stored)

    def parsed() -> DataKey:
        return unwrap(KEYRING, WrappedKey.from_bytes(blob), case_id=case_id)

    expected = _outcome(parsed)
    assert _outcome(lambda: unwrap_stored(KEYRING, blob, case_id=case_id)) == expected
    assert (expected == (DEK.id, DEK.key)) == (edit == "none")


@given(st.uuids(), st.uuids())
def test_a_wrapped_key_moved_to_another_case_is_refused(a: uuid.UUID, b: uuid.UUID) -> None:
    assume(a != b)
    wrapped = wrap(KEYRING, DEK, case_id=a)
    with pytest.raises(DecryptionError):
        unwrap(KEYRING, wrapped, case_id=b)


@given(st.data())
def test_any_flipped_byte_in_a_wrapped_key_is_refused(data: st.DataObject) -> None:
    stored = bytearray(wrap(KEYRING, DEK, case_id=ROW).to_bytes())
    position = data.draw(st.integers(min_value=0, max_value=len(stored) - 1))
    stored[position] ^= data.draw(st.integers(min_value=1, max_value=255))
    # A changed KEK id names a key we do not have; every other change fails to decrypt.
    with pytest.raises((DecryptionError, KeyNotFound)):
        unwrap(KEYRING, WrappedKey.from_bytes(bytes(stored)), case_id=ROW)


def test_a_wrapped_key_under_another_keyring_is_refused() -> None:
    wrapped = wrap(KEYRING, DEK, case_id=ROW)
    with pytest.raises(KeyNotFound):
        unwrap(Keyring.generate(), wrapped, case_id=ROW)


def test_rotation_keeps_old_data_readable_and_rewraps_under_the_new_kek() -> None:
    case_id = uuid.uuid4()
    place = {"table": "candidates", "column": "ssn", "row_id": case_id}
    sealed = seal(DEK, "123-45-6789", **place)
    old_wrapped = wrap(KEYRING, DEK, case_id=case_id)

    rotated = KEYRING.rotate()
    assert rotated.active_kek_id != KEYRING.active_kek_id
    # Mid-rotation: rows not yet re-wrapped still open.
    assert unseal_text(unwrap(rotated, old_wrapped, case_id=case_id), sealed, **place) == (
        "123-45-6789"
    )

    new_wrapped = rewrap(rotated, old_wrapped, case_id=case_id)
    assert new_wrapped.kek_id == rotated.active_kek_id
    assert new_wrapped.dek_id == old_wrapped.dek_id
    # Fields are not re-encrypted: the same ciphertext opens with the re-wrapped key.
    assert unseal_text(unwrap(rotated, new_wrapped, case_id=case_id), sealed, **place) == (
        "123-45-6789"
    )

    # Once every key is re-wrapped the old KEK can go; what still used it no longer opens.
    retired = rotated.retire(KEYRING.active_kek_id)
    assert unseal_text(unwrap(retired, new_wrapped, case_id=case_id), sealed, **place) == (
        "123-45-6789"
    )
    with pytest.raises(KeyNotFound):
        unwrap(retired, old_wrapped, case_id=case_id)


def test_rewrap_is_a_no_op_for_keys_already_under_the_active_kek() -> None:
    wrapped = wrap(KEYRING, DEK, case_id=ROW)
    assert rewrap(KEYRING, wrapped, case_id=ROW) is wrapped


def test_rewrap_refuses_a_key_that_belongs_to_another_case() -> None:
    rotated = KEYRING.rotate()
    wrapped = wrap(KEYRING, DEK, case_id=ROW)
    with pytest.raises(DecryptionError):
        rewrap(rotated, wrapped, case_id=uuid.uuid4())


@pytest.mark.parametrize(
    "stored",
    [b"", b"\x01", b"\x02" + bytes(90), b"\x01\x00" + bytes(76), b"\x01\x05abc"],
    ids=["empty", "format-only", "unknown-format", "empty-kek-id", "short"],
)
def test_malformed_wrapped_keys_are_refused(stored: bytes) -> None:
    with pytest.raises(DecryptionError):
        WrappedKey.from_bytes(stored)
    with pytest.raises(DecryptionError):
        unwrap_stored(KEYRING, stored, case_id=ROW)
