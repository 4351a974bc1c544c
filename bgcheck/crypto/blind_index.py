"""Blind indexes: exact-match search over encrypted columns without decrypting them.

An index value is HMAC-SHA256 over the normalized input under a key of its own, derived
with HKDF from the keyring's blind-index root key and the index's table, field and name
(as CipherSweet does), so the same value in two indexes gives unrelated outputs and one
index key reveals nothing about another. What an index leaks: docs/vault.md.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from typing import Any, Final, Generic, TypeVar

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from bgcheck.crypto.errors import NormalizationError
from bgcheck.crypto.framing import frame, require_label
from bgcheck.crypto.keyring import KEY_BYTES
from workflow.guards import mailbox

INDEX_BYTES = 16
"""128 bits, stored as 32 hex characters.

Long enough that two different values never share an index value at our scale (a first
collision is expected around 2**64 values), so a match needs no decryption to confirm;
short enough to keep the indexed column small. Shortening it to hide equality behind
deliberate collisions only helps at a few bits per million rows, and every search would
then decrypt its candidates. The trade-off is written up in docs/vault.md.
"""

_HKDF_LABEL = b"bgcheck.vault.blind-index.v1"

T = TypeVar("T")


@dataclass(frozen=True)
class BlindIndex(Generic[T]):
    """One index: where it lives, how values are normalized, and how long the output is.

    ``table``, ``field`` and ``name`` are key-derivation inputs, not SQL identifiers:
    renaming the table later does not change them, and changing them means rebuilding
    the index from the decrypted values.
    """

    table: str
    field: str
    name: str
    normalize: Callable[[T], bytes]
    length: int = INDEX_BYTES

    def __post_init__(self) -> None:
        require_label(self.table, "table")
        require_label(self.field, "field")
        require_label(self.name, "index name")
        if not 8 <= self.length <= 32:
            raise ValueError("a blind index is 8 to 32 bytes")

    def derive_key(self, root_key: bytes) -> bytes:
        if not isinstance(root_key, bytes) or len(root_key) != KEY_BYTES:
            raise ValueError(f"the blind-index root key is {KEY_BYTES} bytes")
        return _derived_key(self, root_key)

    def compute(self, root_key: bytes, value: T) -> str:
        """The index value (lowercase hex) to store beside the ciphertext and to search by.

        Raises NormalizationError (whose message never quotes the value) for input that
        has no canonical form.
        """
        mac = hmac.new(self.derive_key(root_key), self.normalize(value), hashlib.sha256)
        return mac.digest()[: self.length].hex()


# A page of cases computes the reader's email index once per case: derive each index's
# key once per process (a few indexes, one root key), not once per value.
@lru_cache(maxsize=32)
def _derived_key(index: BlindIndex[Any], root_key: bytes) -> bytes:
    hkdf = HKDF(
        algorithm=hashes.SHA256(),
        length=KEY_BYTES,
        salt=None,
        info=frame(_HKDF_LABEL, index.table, index.field, index.name, str(index.length)),
    )
    return hkdf.derive(root_key)


# -- normalizers ----------------------------------------------------------------------------

_SSN_SEPARATORS = re.compile(r"[\s\-]+")
_NINE_DIGITS = re.compile(r"[0-9]{9}")

# Letters that carry no combining mark to strip but that people often type without it.
_LATIN_FOLDS = str.maketrans(
    {
        "\u00f8": "o",  # ø
        "\u0142": "l",  # ł
        "\u0111": "d",  # đ
        "\u00f0": "d",  # ð
        "\u0127": "h",  # ħ
        "\u0131": "i",  # dotless i
        "\u00e6": "ae",  # æ
        "\u0153": "oe",  # œ
        "\u00fe": "th",  # þ
    }
)


def normalize_ssn(ssn: str) -> bytes:
    """Nine ASCII digits; spaces and hyphens are ignored, anything else is refused.

    No validity rules (area 000, 666, 9xx): the index finds what was entered, and the
    schema decides what may be entered.
    """
    if not isinstance(ssn, str):
        raise NormalizationError("an SSN is a string")
    digits = _SSN_SEPARATORS.sub("", unicodedata.normalize("NFKC", ssn))
    if not _NINE_DIGITS.fullmatch(digits):
        raise NormalizationError("an SSN is 9 digits, optionally as 123-45-6789")
    return digits.encode("ascii")


def normalize_email(email: str) -> bytes:
    """Trimmed and lowercased, whole address; no provider-specific rewriting.

    Gmail ignores dots and "+tags" but other providers do not, so folding them would make
    two different people's addresses collide; we find the address as the candidate gave it.
    """
    if not isinstance(email, str):
        raise NormalizationError("an email address is a string")
    canonical = unicodedata.normalize("NFKC", email).strip().lower()
    local, at, domain = canonical.rpartition("@")
    if not at or not local or not domain or any(ch.isspace() for ch in canonical):
        raise NormalizationError("not an email address")
    return canonical.encode("utf-8")


def normalize_mailbox(email: str) -> bytes:
    """The mailbox behind an address (``workflow.guards.mailbox``: no "+tag", no trailing
    dot), for the own-case check only: searching by it would merge different addresses."""
    exact = normalize_email(email).decode("utf-8")
    return mailbox(exact).encode("utf-8")


def normalize_name(name: str) -> str:
    """Letters and digits only: no case, accents, punctuation or spaces.

    "Núñez-O'Brien", "NUNEZ OBRIEN" and "nunez obrien" are one name; a name typed with
    and without its hyphen or space is still found.
    """
    if not isinstance(name, str):
        raise NormalizationError("a name is a string")
    folded = unicodedata.normalize("NFKC", name).casefold()
    decomposed = unicodedata.normalize("NFKD", folded).translate(_LATIN_FOLDS)
    kept = "".join(ch for ch in decomposed if unicodedata.category(ch)[0] in "LN")
    result = unicodedata.normalize("NFC", kept)
    if not result:
        raise NormalizationError("a name needs at least one letter")
    return result


def normalize_date(value: date | str) -> str:
    """ISO 8601 calendar date (YYYY-MM-DD) from a date or an ISO string."""
    if isinstance(value, datetime):
        raise NormalizationError("a date of birth is a date, not a date and time")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip()).isoformat()
        except ValueError:
            pass
    raise NormalizationError("a date of birth is an ISO date, YYYY-MM-DD")


def normalize_name_dob(value: tuple[str, date | str]) -> bytes:
    """Family name and date of birth together; DOB alone has too few values to index."""
    family_name, date_of_birth = value
    return frame(normalize_name(family_name), normalize_date(date_of_birth))


# -- the indexes bgcheck keeps --------------------------------------------------------------

SSN_INDEX: BlindIndex[str] = BlindIndex("candidates", "ssn", "ssn_exact", normalize_ssn)
EMAIL_INDEX: BlindIndex[str] = BlindIndex("candidates", "email", "email_exact", normalize_email)
MAILBOX_INDEX: BlindIndex[str] = BlindIndex("candidates", "email", "mailbox", normalize_mailbox)
NAME_DOB_INDEX: BlindIndex[tuple[str, date | str]] = BlindIndex(
    "candidates", "family_name+date_of_birth", "name_dob_exact", normalize_name_dob
)


def ssn_index(root_key: bytes, ssn: str) -> str:
    return SSN_INDEX.compute(root_key, ssn)


def email_index(root_key: bytes, email: str) -> str:
    return EMAIL_INDEX.compute(root_key, email)


def mailbox_index(root_key: bytes, email: str) -> str:
    return MAILBOX_INDEX.compute(root_key, email)


def name_dob_index(root_key: bytes, family_name: str, date_of_birth: date | str) -> str:
    return NAME_DOB_INDEX.compute(root_key, (family_name, date_of_birth))


@dataclass(frozen=True, slots=True)
class Identity:
    """Who a person is, as blind indexes only: compared, never read back.

    A candidate's come from what they (and hr) entered; a staff member's from their
    account: the email, and the SSN and family name + date of birth they declared, when
    they did. ``bgcheck.policy`` compares them: nobody handles their own case.
    """

    email: str | None = None  # the exact address
    mailbox: str | None = None  # the address without "+tag" and trailing dot
    ssn: str | None = None
    name_dob: str | None = None

    def same_person(self, other: Identity) -> bool:
        """True when any index both sides have is equal (in constant time)."""
        pairs = (
            (self.email, other.email),
            (self.mailbox, other.mailbox),
            (self.ssn, other.ssn),
            (self.name_dob, other.name_dob),
        )
        return any(
            mine is not None and theirs is not None and hmac.compare_digest(mine, theirs)
            for mine, theirs in pairs
        )


NOBODY_KNOWN: Final = Identity()
