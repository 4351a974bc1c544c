"""The keyring: generation, rotation, JSON, and the file an operator keeps."""

from __future__ import annotations

import base64
import json
import os
import stat
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from bgcheck.crypto import (
    KeyNotFound,
    Keyring,
    KeyringError,
    KeyringPermissionError,
    load_or_create_keyring,
    rotate_keyring_file,
)

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def secret_spellings(keyring: Keyring) -> list[str]:
    """Every way a key could show up in text: base64, hex, and Python's bytes repr."""
    raw = [k.key for k in keyring.keks]
    raw += [keyring.blind_index_root_key, keyring.audit_signing_key_bytes]
    spellings = []
    for key in raw:
        spellings += [base64.b64encode(key).decode(), key.hex(), repr(key)[2:-1][:24]]
    return spellings


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# -- the keyring itself ---------------------------------------------------------------------


def test_a_new_keyring_has_one_active_kek_and_separate_keys() -> None:
    keyring = Keyring.generate(now=NOW)
    assert [k.id for k in keyring.keks] == [keyring.active_kek_id]
    assert keyring.active_kek.created_at == NOW
    assert keyring.active_kek_id.startswith("kek-20250301-")
    assert len(keyring.active_kek.key) == 32
    assert len(keyring.blind_index_root_key) == 32
    assert keyring.blind_index_root_key != keyring.active_kek.key


def test_two_new_keyrings_share_nothing() -> None:
    a, b = Keyring.generate(), Keyring.generate()
    assert a.active_kek_id != b.active_kek_id
    assert a.active_kek.key != b.active_kek.key
    assert a.blind_index_root_key != b.blind_index_root_key


def test_json_round_trip_keeps_every_key() -> None:
    keyring = Keyring.generate(now=NOW).rotate(now=NOW)
    again = Keyring.from_json(keyring.to_json())
    assert again.to_json() == keyring.to_json()
    assert again.active_kek_id == keyring.active_kek_id
    assert [(k.id, k.created_at, k.key) for k in again.keks] == [
        (k.id, k.created_at, k.key) for k in keyring.keks
    ]
    assert again.blind_index_root_key == keyring.blind_index_root_key
    assert again.audit_public_key_pem() == keyring.audit_public_key_pem()


def test_json_document_is_versioned_and_base64() -> None:
    document = json.loads(Keyring.generate().to_json())
    assert document["format"] == "bgcheck.keyring"
    assert document["version"] == 1
    assert len(base64.b64decode(document["keks"][0]["key"])) == 32
    assert set(document) == {
        "format",
        "version",
        "active_kek",
        "keks",
        "blind_index_root_key",
        "audit_signing_key",
    }


def test_repr_and_str_show_no_key_material() -> None:
    keyring = Keyring.generate().rotate()
    for text in (repr(keyring), str(keyring), repr(keyring.keks), repr(keyring.active_kek)):
        for spelling in secret_spellings(keyring):
            assert spelling not in text
    assert keyring.active_kek_id in repr(keyring)


def test_rotation_adds_an_active_kek_and_keeps_the_old_ones() -> None:
    original = Keyring.generate(now=NOW)
    rotated = original.rotate(now=NOW)
    assert rotated.active_kek_id != original.active_kek_id
    assert rotated.kek(original.active_kek_id).key == original.active_kek.key
    assert len(rotated.keks) == 2
    # Blind indexes and audit signatures must survive a KEK rotation unchanged.
    assert rotated.blind_index_root_key == original.blind_index_root_key
    assert rotated.audit_signing_key_bytes == original.audit_signing_key_bytes
    assert len(original.keks) == 1  # the original is untouched


def test_retiring_removes_an_old_kek_but_never_the_active_one() -> None:
    original = Keyring.generate()
    rotated = original.rotate()
    with pytest.raises(KeyringError, match="active"):
        rotated.retire(rotated.active_kek_id)
    retired = rotated.retire(original.active_kek_id)
    assert [k.id for k in retired.keks] == [rotated.active_kek_id]
    with pytest.raises(KeyNotFound):
        retired.kek(original.active_kek_id)
    with pytest.raises(KeyNotFound):
        retired.retire("kek-unknown")


def test_audit_checkpoints_verify_with_the_published_public_key() -> None:
    keyring = Keyring.from_json(Keyring.generate().to_json())
    signature = keyring.audit_signing_key().sign(b"seq=42 head=abc")
    public = load_pem_public_key(keyring.audit_public_key_pem().encode())
    public.verify(signature, b"seq=42 head=abc")  # type: ignore[union-attr,call-arg]


def _document(**changes: object) -> str:
    document = json.loads(Keyring.generate().to_json())
    document.update(changes)
    return json.dumps(document)


def _with_kek(**changes: object) -> str:
    document = json.loads(Keyring.generate().to_json())
    document["keks"][0].update(changes)
    return json.dumps(document)


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("not json {", "not a JSON object"),
        ("[]", "not a JSON object"),
        (_document(format="other"), "format"),
        (_document(version=2), "unsupported keyring version 2"),
        (_document(active_kek="kek-missing"), "not in the keyring"),
        (_document(keks=[]), "no KEK"),
        (_document(blind_index_root_key="@@@"), "not valid base64"),
        (_document(blind_index_root_key=base64.b64encode(bytes(16)).decode()), "32 bytes"),
        (_with_kek(id="bad id with spaces"), "KEK id"),
        (_with_kek(created_at="2025-03-01T12:00:00"), "zone"),
        (_with_kek(key=None), "base64"),
    ],
)
def test_malformed_keyrings_are_refused_with_a_reason(text: str, complaint: str) -> None:
    with pytest.raises(KeyringError, match=complaint):
        Keyring.from_json(text)


def test_a_keyring_reusing_one_key_for_two_purposes_is_refused() -> None:
    document = json.loads(Keyring.generate().to_json())
    document["blind_index_root_key"] = document["keks"][0]["key"]
    with pytest.raises(KeyringError, match="identical"):
        Keyring.from_json(json.dumps(document))


def test_a_keyring_listing_one_kek_twice_is_refused() -> None:
    document = json.loads(Keyring.generate().to_json())
    document["keks"].append(dict(document["keks"][0]))
    with pytest.raises(KeyringError, match="twice"):
        Keyring.from_json(json.dumps(document))


def test_parse_errors_do_not_quote_the_keyring() -> None:
    text = Keyring.generate().to_json()[:-5]  # truncated: not JSON any more
    with pytest.raises(KeyringError) as caught:
        Keyring.from_json(text)
    assert caught.value.__context__ is None  # JSONDecodeError would keep the whole text
    assert "blind_index_root_key" not in str(caught.value)


# -- the file -------------------------------------------------------------------------------


def test_saved_file_is_0600_and_loads_back(tmp_path: Path) -> None:
    path = tmp_path / "keyring.json"
    keyring = Keyring.generate()
    keyring.save(path)
    assert mode_of(path) == 0o600
    assert Keyring.load(path).to_json() == keyring.to_json()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keyring.json"]  # no temp left


def test_saved_file_is_0600_even_with_a_permissive_umask(tmp_path: Path) -> None:
    previous = os.umask(0)
    try:
        Keyring.generate().save(tmp_path / "keyring.json")
    finally:
        os.umask(previous)
    assert mode_of(tmp_path / "keyring.json") == 0o600


def test_saving_never_overwrites_an_existing_keyring_by_default(tmp_path: Path) -> None:
    path = tmp_path / "keyring.json"
    first = Keyring.generate()
    first.save(path)
    with pytest.raises(KeyringError, match="already exists"):
        Keyring.generate().save(path)
    assert Keyring.load(path).active_kek_id == first.active_kek_id
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keyring.json"]

    rotated = first.rotate()
    rotated.save(path, overwrite=True)
    assert Keyring.load(path).active_kek_id == rotated.active_kek_id
    assert mode_of(path) == 0o600


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660, 0o666, 0o700, 0o620])
def test_a_keyring_file_others_can_access_is_refused(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "keyring.json"
    Keyring.generate().save(path)
    path.chmod(mode)
    with pytest.raises(KeyringPermissionError) as caught:
        Keyring.load(path)
    message = str(caught.value)
    assert str(path) in message
    assert f"{mode:04o}" in message
    assert "chmod 600" in message


@pytest.mark.parametrize("mode", [0o600, 0o400])
def test_owner_only_keyring_files_are_accepted(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "keyring.json"
    Keyring.generate().save(path)
    path.chmod(mode)
    assert Keyring.load(path).active_kek_id


def test_missing_or_unusable_files_are_named_in_the_error(tmp_path: Path) -> None:
    with pytest.raises(KeyringError, match="does not exist") as caught:
        Keyring.load(tmp_path / "nope.json")
    assert "nope.json" in str(caught.value)
    folder = tmp_path / "folder"
    folder.mkdir(mode=0o700)
    with pytest.raises(KeyringError, match="not a regular file"):
        Keyring.load(folder)
    with pytest.raises(KeyringError, match="cannot write"):
        Keyring.generate().save(tmp_path / "missing-dir" / "keyring.json")


def test_a_corrupt_file_is_named_in_the_error(tmp_path: Path) -> None:
    path = tmp_path / "keyring.json"
    path.write_text("{}")
    path.chmod(0o600)
    with pytest.raises(KeyringError, match=r"keyring\.json.*format"):
        Keyring.load(path)


def test_first_run_creates_a_keyring_once(tmp_path: Path) -> None:
    path = tmp_path / "keyring.json"
    created, was_new = load_or_create_keyring(path)
    assert was_new
    assert mode_of(path) == 0o600
    loaded, was_new = load_or_create_keyring(path)
    assert not was_new
    assert loaded.to_json() == created.to_json()


def test_rotating_the_file_keeps_every_kek(tmp_path: Path) -> None:
    path = tmp_path / "keyring.json"
    original = Keyring.generate()
    original.save(path)
    rotated = rotate_keyring_file(path)
    on_disk = Keyring.load(path)
    assert on_disk.active_kek_id == rotated.active_kek_id != original.active_kek_id
    assert on_disk.kek(original.active_kek_id).key == original.active_kek.key
    assert mode_of(path) == 0o600


def test_concurrent_file_rotations_lose_no_kek(tmp_path: Path) -> None:
    """Without the lock, the last writer would drop KEKs the others already handed out."""
    path = tmp_path / "keyring.json"
    Keyring.generate().save(path)
    results: list[Keyring] = []
    threads = [
        threading.Thread(target=lambda: results.append(rotate_keyring_file(path))) for _ in range(6)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    on_disk = Keyring.load(path)
    assert len(on_disk.keks) == 7
    for result in results:
        on_disk.kek(result.active_kek_id)  # every handed-out KEK is still there
