"""Errors: one family to catch, and messages safe to log."""

from __future__ import annotations

import base64
import json
import uuid

import pytest

from bgcheck.crypto import (
    DataKey,
    DecryptionError,
    KeyNotFound,
    Keyring,
    KeyringError,
    KeyringPermissionError,
    NormalizationError,
    VaultError,
    email_index,
    seal,
    ssn_index,
    unseal,
    unseal_json,
    unwrap,
    wrap,
)

SSN = "078-05-1120"


def test_every_vault_error_is_a_vault_error() -> None:
    for error in (
        DecryptionError,
        KeyringError,
        KeyringPermissionError,
        KeyNotFound,
        NormalizationError,
    ):
        assert issubclass(error, VaultError)
    assert issubclass(KeyNotFound, KeyringError)
    assert issubclass(KeyringPermissionError, KeyringError)


def _failures(keyring: Keyring, dek: DataKey) -> list[VaultError]:
    """Provoke each kind of failure with a known SSN and known keys in play."""
    row = uuid.uuid4()
    sealed = seal(dek, SSN, table="candidates", column="ssn", row_id=row)
    attempts = [
        lambda: unseal(dek, sealed, table="candidates", column="email", row_id=row),
        lambda: unseal(DataKey.generate(), sealed, table="candidates", column="ssn", row_id=row),
        lambda: unseal(dek, sealed[:-1], table="candidates", column="ssn", row_id=row),
        lambda: unseal_json(dek, sealed, table="candidates", column="ssn", row_id=row),
        lambda: unwrap(keyring, wrap(keyring, dek, case_id=row), case_id=uuid.uuid4()),
        lambda: unwrap(Keyring.generate(), wrap(keyring, dek, case_id=row), case_id=row),
        lambda: ssn_index(keyring.blind_index_root_key, SSN + "0"),
        lambda: email_index(keyring.blind_index_root_key, SSN),
        lambda: Keyring.from_json(keyring.to_json().replace('"version": 1', '"version": 9')),
    ]
    errors: list[VaultError] = []
    for attempt in attempts:
        with pytest.raises(VaultError) as caught:
            attempt()
        errors.append(caught.value)
    return errors


def test_error_messages_carry_no_plaintext_or_key_material() -> None:
    keyring, dek = Keyring.generate(), DataKey.generate()
    secrets = [SSN, SSN.replace("-", ""), dek.key.hex(), base64.b64encode(dek.key).decode()]
    for key in json.loads(keyring.to_json())["keks"]:
        secrets.append(key["key"])
    secrets.append(base64.b64encode(keyring.blind_index_root_key).decode())
    for error in _failures(keyring, dek):
        text = f"{error} {error!r}"
        for secret in secrets:
            assert secret not in text, type(error).__name__
