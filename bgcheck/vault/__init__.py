"""The PII vault's crypto core: keyring, envelope encryption, blind indexes, masking.

Self-contained (no database, no web framework): the repository layer that stores cases
calls these functions with the row ids it generates. See docs/vault.md.
"""

from bgcheck.vault.blind_index import (
    EMAIL_INDEX,
    INDEX_BYTES,
    NAME_DOB_INDEX,
    SSN_INDEX,
    BlindIndex,
    email_index,
    name_dob_index,
    normalize_date,
    normalize_email,
    normalize_name,
    normalize_name_dob,
    normalize_ssn,
    ssn_index,
)
from bgcheck.vault.envelope import (
    DataKey,
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
from bgcheck.vault.errors import (
    DecryptionError,
    KeyNotFound,
    KeyringError,
    KeyringPermissionError,
    NormalizationError,
    VaultError,
)
from bgcheck.vault.framing import RowId
from bgcheck.vault.key_cache import KeyCache
from bgcheck.vault.keyring import Kek, Keyring, load_or_create_keyring, rotate_keyring_file
from bgcheck.vault.masking import (
    mask_date,
    mask_email,
    mask_last4,
    mask_name,
    mask_phone,
    mask_ssn,
    ssn_last4,
)

__all__ = [
    "EMAIL_INDEX",
    "INDEX_BYTES",
    "NAME_DOB_INDEX",
    "SSN_INDEX",
    "BlindIndex",
    "DataKey",
    "DecryptionError",
    "Kek",
    "KeyCache",
    "KeyNotFound",
    "Keyring",
    "KeyringError",
    "KeyringPermissionError",
    "NormalizationError",
    "RowId",
    "VaultError",
    "WrappedKey",
    "email_index",
    "load_or_create_keyring",
    "mask_date",
    "mask_email",
    "mask_last4",
    "mask_name",
    "mask_phone",
    "mask_ssn",
    "name_dob_index",
    "normalize_date",
    "normalize_email",
    "normalize_name",
    "normalize_name_dob",
    "normalize_ssn",
    "rewrap",
    "rotate_keyring_file",
    "seal",
    "seal_json",
    "ssn_index",
    "ssn_last4",
    "unseal",
    "unseal_json",
    "unseal_json_many",
    "unseal_text",
    "unseal_texts",
    "unwrap",
    "unwrap_stored",
    "wrap",
]
