"""The PII vault: case PII sealed in the database, its keys rotated, its retention applied.

``store.Vault`` is the one way in and out of the sealed columns; ``rotation`` rewraps the
data keys under a new key-encryption key; ``retention`` shreds cases past their time.
The cryptography they use (keyring, envelope encryption, blind indexes) is
``bgcheck.crypto``, which knows nothing of the database. See docs/vault.md.
"""
