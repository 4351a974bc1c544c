"""Checkpoint signatures: the documented bytes, and nothing else, verify."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bgcheck.audit import signatures

MOMENT = datetime(2026, 3, 1, 12, 0, 0, 5, tzinfo=UTC)
HASH = "ab" * 32


def test_the_signed_bytes_are_the_documented_four_lines() -> None:
    assert signatures.checkpoint_message(42, HASH, MOMENT) == (
        b"bgcheck.audit.checkpoint.v1\n42\n" + HASH.encode() + b"\n2026-03-01T12:00:00.000005Z"
    )
    assert signatures.checkpoint_message(42, HASH, "2026-03-01T12:00:00.000005Z") == (
        signatures.checkpoint_message(42, HASH, MOMENT)
    )


def test_a_signature_verifies_only_for_what_was_signed(signing_key: Ed25519PrivateKey) -> None:
    public = signing_key.public_key()
    signature = signatures.sign(signing_key, 42, HASH, MOMENT)
    assert len(signature) == 128
    assert signatures.is_valid(public, 42, HASH, MOMENT, signature)
    assert not signatures.is_valid(public, 43, HASH, MOMENT, signature)
    assert not signatures.is_valid(public, 42, "cd" * 32, MOMENT, signature)
    assert not signatures.is_valid(public, 42, HASH, MOMENT.replace(microsecond=6), signature)
    assert not signatures.is_valid(public, 42, HASH, MOMENT, "00" * 64)
    assert not signatures.is_valid(public, 42, HASH, MOMENT, "not hex")
    other = Ed25519PrivateKey.generate().public_key()
    assert not signatures.is_valid(other, 42, HASH, MOMENT, signature)


def test_the_key_id_is_the_sha256_of_the_raw_public_key(signing_key: Ed25519PrivateKey) -> None:
    public = signing_key.public_key()
    pem = signatures.public_key_pem(public)
    loaded = signatures.load_public_key_pem(pem)
    assert signatures.key_id(loaded) == signatures.key_id(public)
    assert len(signatures.key_id(public)) == 64


@pytest.mark.parametrize(
    "text",
    [
        "not a key",
        "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
    ],
)
def test_only_an_ed25519_pem_public_key_loads(text: str) -> None:
    with pytest.raises(signatures.PublicKeyError):
        signatures.load_public_key_pem(text)


def test_an_rsa_key_is_refused() -> None:
    rsa_pem = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    with pytest.raises(signatures.PublicKeyError, match="Ed25519"):
        signatures.load_public_key_pem(rsa_pem)
