"""Typed errors of the vault.

Messages name what failed and where (a file, a table and column, a key id) so an
operator can act, but never carry key material or plaintext: they may end up in logs
and problem bodies.
"""

from __future__ import annotations


class VaultError(Exception):
    """Base of every error the vault raises on purpose."""


class DecryptionError(VaultError):
    """A ciphertext or wrapped key did not open: wrong key, wrong place, or tampered.

    Callers treat every cause alike; there is never a partial or unauthenticated result.
    """


class KeyringError(VaultError):
    """The keyring is missing, malformed or cannot be written."""


class KeyringPermissionError(KeyringError):
    """The keyring file is readable or writable by others than its owner."""


class KeyNotFound(KeyringError):
    """A key id is not in this keyring (retired, or the keyring is an old copy)."""


class NormalizationError(VaultError, ValueError):
    """A value cannot be put in the canonical form a blind index needs."""
