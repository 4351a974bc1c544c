"""Envelope encryption: per-case data keys wrapped by the keyring's KEK, and sealed fields.

Stored forms (all integers big-endian; see docs/vault.md for the full description):

* wrapped data key, version 1::

      0x01 | len(kek_id): 1 byte | kek_id: ASCII | dek_id: 16 | nonce: 12 | AES-GCM(dek): 32+16

  associated data: frame("bgcheck.vault.dek", header, case_id), header = all bytes before
  the nonce. Moving it to another case, or editing the KEK id or DEK id, fails to unwrap.

* sealed field, version 1::

      0x01 | dek_id: 16 | nonce: 12 | AES-GCM(plaintext): n+16

  associated data: frame("bgcheck.vault.field", header, table, column, row_id), header =
  the format byte and the DEK id. Moving it to another row, column or table fails to open.
"""

from __future__ import annotations

import hmac
import json
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from bgcheck.crypto.errors import DecryptionError
from bgcheck.crypto.framing import RowId, frame, frame_id, require_label
from bgcheck.crypto.keyring import KEY_BYTES, Keyring

FORMAT_V1 = 0x01
"""The format byte of both stored forms; a new scheme gets a new byte, old ones stay readable."""

DEK_ID_BYTES = 16
NONCE_BYTES = 12
TAG_BYTES = 16

_FIELD_LABEL = b"bgcheck.vault.field"
_FIELD_LABEL_FRAMED = frame(_FIELD_LABEL)
_DEK_LABEL = b"bgcheck.vault.dek"
_DEK_LABEL_FRAMED = frame(_DEK_LABEL)
_FIELD_HEADER = 1 + DEK_ID_BYTES
_FORMAT_BYTE = bytes([FORMAT_V1])
# frame(label, header) = this + the DEK id (a header is always the format byte and an id).
_FIELD_AAD_PREFIX = _FIELD_LABEL_FRAMED + frame(_FORMAT_BYTE + bytes(DEK_ID_BYTES))[:-DEK_ID_BYTES]
_WRAPPED_DEK_BYTES = KEY_BYTES + TAG_BYTES


class DataKey:
    """A case's data key. ``id`` is public and recorded in every field it seals.

    Treat it as immutable (the key cache shares one between threads). A plain class with
    slots rather than a frozen dataclass: a list page's first load makes 50 of them, and a
    frozen dataclass's ``__init__`` cost as much as the key's cipher.
    """

    __slots__ = ("__weakref__", "aead", "field_aad_head", "id", "key")

    def __init__(self, id: bytes, key: bytes) -> None:
        if type(id) is not bytes or len(id) != DEK_ID_BYTES:
            raise ValueError(f"a data key id is {DEK_ID_BYTES} bytes")
        if type(key) is not bytes or len(key) != KEY_BYTES:
            raise ValueError(f"a data key is {KEY_BYTES} bytes")
        self.id = id
        self.key = key
        # Set up once per key, not per field: a quarter of an unseal's cost.
        self.aead = AESGCM(key)
        # frame(label, header): the head of every field's associated data under this key.
        self.field_aad_head = _FIELD_AAD_PREFIX + id

    @property
    def header(self) -> bytes:
        """What every field sealed under this key starts with: the format byte, the id."""
        return _FORMAT_BYTE + self.id

    @classmethod
    def generate(cls) -> DataKey:
        return cls(id=secrets.token_bytes(DEK_ID_BYTES), key=secrets.token_bytes(KEY_BYTES))

    def __repr__(self) -> str:
        return f"DataKey(id={self.id.hex()!r})"


@dataclass(frozen=True)
class WrappedKey:
    """A data key encrypted under one KEK; safe to store beside the case.

    ``kek_id`` is public so a rotation job can find the keys still under an old KEK.
    """

    kek_id: str
    dek_id: bytes
    nonce: bytes
    ciphertext: bytes

    def to_bytes(self) -> bytes:
        return _wrapped_header(self.kek_id, self.dek_id) + self.nonce + self.ciphertext

    @classmethod
    def from_bytes(cls, data: bytes) -> WrappedKey:
        """Parse the stored form; a malformed value is a DecryptionError, like a bad tag."""
        data = bytes(data)
        kek_id, offset = _parse_wrapped(data)
        nonce_at = offset + DEK_ID_BYTES
        return cls(
            kek_id=kek_id,
            dek_id=data[offset:nonce_at],
            nonce=data[nonce_at : nonce_at + NONCE_BYTES],
            ciphertext=data[nonce_at + NONCE_BYTES :],
        )


def _parse_wrapped(data: bytes) -> tuple[str, int]:
    """The KEK id of a stored wrapped key and where its DEK id starts (after the KEK id)."""
    if len(data) < 2 or data[0] != FORMAT_V1:
        raise DecryptionError("wrapped data key: unknown or missing format byte")
    id_len = data[1]
    expected = 2 + id_len + DEK_ID_BYTES + NONCE_BYTES + _WRAPPED_DEK_BYTES
    if id_len == 0 or len(data) != expected:
        raise DecryptionError("wrapped data key: malformed")
    try:
        kek_id = data[2 : 2 + id_len].decode("ascii")
    except UnicodeDecodeError:
        kek_id = ""
    if not kek_id:
        raise DecryptionError("wrapped data key: malformed KEK id")
    return kek_id, 2 + id_len


def _wrapped_header(kek_id: str, dek_id: bytes) -> bytes:
    encoded = kek_id.encode("ascii")
    return bytes([FORMAT_V1, len(encoded)]) + encoded + dek_id


def _dek_aad(header: bytes, case_id: RowId) -> bytes:
    """``frame(label, header, case id)``, the constant label framed once."""
    return _DEK_LABEL_FRAMED + frame(header) + frame_id(case_id)


# -- data keys ------------------------------------------------------------------------------


def wrap(keyring: Keyring, dek: DataKey, *, case_id: RowId) -> WrappedKey:
    """Encrypt a case's data key under the active KEK, bound to that case."""
    kek = keyring.active_kek
    nonce = secrets.token_bytes(NONCE_BYTES)
    sealed = kek.aead.encrypt(nonce, dek.key, _dek_aad(_wrapped_header(kek.id, dek.id), case_id))
    return WrappedKey(kek_id=kek.id, dek_id=dek.id, nonce=nonce, ciphertext=sealed)


def unwrap(keyring: Keyring, wrapped: WrappedKey, *, case_id: RowId) -> DataKey:
    """The case's data key; KeyNotFound if its KEK was retired, else DecryptionError."""
    kek = keyring.kek(wrapped.kek_id)
    if len(wrapped.dek_id) != DEK_ID_BYTES or len(wrapped.nonce) != NONCE_BYTES:
        raise DecryptionError("wrapped data key: malformed")
    aad = _dek_aad(_wrapped_header(wrapped.kek_id, wrapped.dek_id), case_id)
    return _open_key(kek.aead, wrapped.nonce, wrapped.ciphertext, aad, wrapped.dek_id, kek.id)


def unwrap_stored(keyring: Keyring, stored: bytes, *, case_id: RowId) -> DataKey:
    """``unwrap`` of the stored form, without building a ``WrappedKey`` on the way.

    What a list page's first load pays per case. The associated data's header is the
    stored header itself: ``_parse_wrapped`` accepts only the bytes ``_wrapped_header``
    writes (format byte, ASCII KEK id and its length), so the two are the same bytes.
    """
    stored = bytes(stored)
    kek_id, offset = _parse_wrapped(stored)
    kek = keyring.kek(kek_id)
    nonce_at = offset + DEK_ID_BYTES
    aad = _dek_aad(stored[:nonce_at], case_id)
    return _open_key(
        kek.aead,
        stored[nonce_at : nonce_at + NONCE_BYTES],
        stored[nonce_at + NONCE_BYTES :],
        aad,
        stored[offset:nonce_at],
        kek_id,
    )


def _open_key(
    kek: AESGCM, nonce: bytes, ciphertext: bytes, aad: bytes, dek_id: bytes, kek_id: str
) -> DataKey:
    try:
        key = kek.decrypt(nonce, ciphertext, aad)
    except InvalidTag:
        key = None
    if key is None or len(key) != KEY_BYTES:
        raise DecryptionError(
            f"wrapped data key did not open under KEK {kek_id!r} for this case "
            "(moved from another case, or tampered)"
        )
    return DataKey(dek_id, key)


def rewrap(keyring: Keyring, wrapped: WrappedKey, *, case_id: RowId) -> WrappedKey:
    """Move a wrapped key to the active KEK; the data key, and so every field, is unchanged.

    Always unwraps first (a key that does not belong to this case is never re-wrapped) and
    returns ``wrapped`` itself when it is already under the active KEK, so a resumed
    rotation can run over the same rows again at little cost.
    """
    dek = unwrap(keyring, wrapped, case_id=case_id)
    if wrapped.kek_id == keyring.active_kek_id:
        return wrapped
    return wrap(keyring, dek, case_id=case_id)


# -- fields ---------------------------------------------------------------------------------


def _field_aad(dek: DataKey, table: str, column: str, row: bytes) -> bytes:
    """``frame(label, header, table, column, row id)``, header = ``dek.header``.

    Framing concatenates, so each part is framed once where it is constant: the label and
    header once per key (``DataKey.field_aad_head``), table and column once per process
    (``_place``), the row id once per row (``row``, from ``frame_id``): a list page opens
    several fields of each of its rows, and every one of them pays this.
    """
    return dek.field_aad_head + _place(table, column) + row


@lru_cache(maxsize=256)
def _place(table: str, column: str) -> bytes:
    return frame(require_label(table, "table"), require_label(column, "column"))


def seal(dek: DataKey, plaintext: str | bytes, *, table: str, column: str, row_id: RowId) -> bytes:
    """Encrypt one field value for one row; str is stored as UTF-8."""
    if isinstance(plaintext, str):
        try:
            data = plaintext.encode("utf-8")
        except UnicodeEncodeError:
            data = None  # not raised here: the codec error would quote the text
        if data is None:
            raise ValueError("plaintext is not encodable as UTF-8 (lone surrogate)")
    elif isinstance(plaintext, bytes):
        data = plaintext
    else:
        raise TypeError(f"seal takes str or bytes, not {type(plaintext).__name__}")
    nonce = secrets.token_bytes(NONCE_BYTES)
    aad = _field_aad(dek, table, column, frame_id(row_id))
    return dek.header + nonce + dek.aead.encrypt(nonce, data, aad)


def unseal(dek: DataKey, sealed: bytes, *, table: str, column: str, row_id: RowId) -> bytes:
    """The plaintext bytes, or DecryptionError; never a partial or unauthenticated result."""
    return _unseal(dek, sealed, table, column, frame_id(row_id))


def unseal_text(dek: DataKey, sealed: bytes, *, table: str, column: str, row_id: RowId) -> str:
    return _text(_unseal(dek, sealed, table, column, frame_id(row_id)), table, column)


def unseal_texts(
    dek: DataKey, sealed: Mapping[str, bytes | None], *, table: str, row_id: RowId
) -> dict[str, str | None]:
    """Several text columns of one row at once, ``{column: sealed or None}``; None stays None.

    The same as ``unseal_text`` for each column (any failure raises), with the row id
    framed once for the row instead of once per column (a list page opens four per case).
    """
    row = frame_id(row_id)
    opened: dict[str, str | None] = {}
    for column, value in sealed.items():
        if value is None:
            opened[column] = None
        else:
            opened[column] = _text(_unseal(dek, value, table, column, row), table, column)
    return opened


def _unseal(dek: DataKey, sealed: bytes, table: str, column: str, row: bytes) -> bytes:
    if type(sealed) is not bytes:
        sealed = bytes(sealed)
    if len(sealed) < _FIELD_HEADER + NONCE_BYTES + TAG_BYTES or sealed[0] != FORMAT_V1:
        raise DecryptionError(f"{table}.{column}: not a sealed value of a known format")
    if not hmac.compare_digest(sealed[1:_FIELD_HEADER], dek.id):
        raise DecryptionError(f"{table}.{column}: sealed under a different data key")
    # The stored header is now known to be dek.header, so the key's precomputed head of the
    # associated data is exactly frame(label, stored header): the same bytes as sealed.
    aad = dek.field_aad_head + _place(table, column) + row  # _field_aad, one call fewer
    nonce = sealed[_FIELD_HEADER : _FIELD_HEADER + NONCE_BYTES]
    try:
        plaintext = dek.aead.decrypt(nonce, sealed[_FIELD_HEADER + NONCE_BYTES :], aad)
    except InvalidTag:
        plaintext = None
    if plaintext is None:
        raise DecryptionError(
            f"{table}.{column}: did not authenticate (other row or column, or tampered)"
        )
    return plaintext


def _text(data: bytes, table: str, column: str) -> str:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = None  # not raised here: the codec error would carry the plaintext
    if text is None:
        raise DecryptionError(f"{table}.{column}: sealed value is not UTF-8 text")
    return text


def seal_json(dek: DataKey, value: Any, *, table: str, column: str, row_id: RowId) -> bytes:
    """Seal a structured value (addresses, the vendor report) as compact, sorted JSON.

    Dates and other non-JSON types must be converted first (``model_dump(mode="json")``).
    """
    text = json.dumps(
        value, ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False
    )
    return seal(dek, text, table=table, column=column, row_id=row_id)


def unseal_json(dek: DataKey, sealed: bytes, *, table: str, column: str, row_id: RowId) -> Any:
    """What ``seal_json`` sealed: the value ``json.loads`` reads from the sealed text."""
    return _json(_unseal(dek, sealed, table, column, frame_id(row_id)), table, column)


def unseal_json_many(
    sealed: Iterable[tuple[DataKey, bytes, RowId]], *, table: str, column: str
) -> list[Any]:
    """``unseal_json`` of one column of many rows, (data key, sealed value, row id) each.

    A list page opens one contact per case: the same checks and the same answers (any
    failure raises), without the calls around each one.
    """
    return [
        _json(_unseal(dek, value, table, column, frame_id(row_id)), table, column)
        for dek, value, row_id in sealed
    ]


def _json(data: bytes, table: str, column: str) -> Any:
    """The value ``json.loads`` reads from ``data``, or DecryptionError.

    orjson reads it when it can read it exactly (the standard library's reader cost a
    sixth of what the vault adds to a list page per case). It cannot when an integer has
    more than 18 digits: orjson reads some of those as floats. Such text, and what orjson
    refuses (very deep nesting, NaN), the standard library reads.
    """
    if _fewer_than_19_digits(data) or _LONG_NUMBER.search(data) is None:
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass  # not re-raised: the error quotes the document
    text = _text(data, table, column)
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: nested too deep for the reader
        value = _NOT_JSON  # not raised here: JSONDecodeError keeps the whole document
    if value is _NOT_JSON:
        raise DecryptionError(f"{table}.{column}: sealed value is not JSON")
    return value


# 19 digits in a row: anywhere, a string's too (it only costs the faster reader).
_LONG_NUMBER = re.compile(rb"[0-9]{19}")


def _fewer_than_19_digits(data: bytes) -> bool:
    """No run of 19 digits can be in it: a C pass, where the search above costs as much as
    the decryption (a contact has four digits at most)."""
    return len(data) - len(data.translate(None, b"0123456789")) < 19


_NOT_JSON = object()
