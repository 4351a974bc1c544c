"""The keyring: key-encryption keys, the blind-index root key and the audit signing key.

None of these keys is ever stored in the database. The keyring lives in a 0600 file or in
an environment variable; losing it makes every case unreadable, so it is backed up apart
from the database (see docs/vault.md).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import fcntl
import hmac
import json
import os
import re
import secrets
import stat
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from bgcheck.crypto.errors import KeyNotFound, KeyringError, KeyringPermissionError

KEY_BYTES = 32
"""Every symmetric key is 256 bits; the Ed25519 private key is 32 bytes too."""

KEYRING_FORMAT = "bgcheck.keyring"
KEYRING_VERSION = 1

# ASCII only and at most 64 characters: a KEK id is written, length-prefixed by one byte,
# into every wrapped data key.
_KEK_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


def _new_kek_id(now: datetime) -> str:
    # Random suffix: two rotations from the same base copy never produce the same id for
    # different keys, so a mix-up fails as KeyNotFound instead of as a wrong key.
    return f"kek-{now:%Y%m%d}-{secrets.token_hex(4)}"


@dataclass(frozen=True, eq=False, repr=False)
class Kek:
    """One key-encryption key; ``id`` and ``created_at`` are public, ``key`` is not."""

    id: str
    created_at: datetime
    key: bytes = field(repr=False)
    aead: AESGCM = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not _KEK_ID.fullmatch(self.id):
            raise KeyringError("a KEK id must be 1-64 characters of A-Z a-z 0-9 . _ -")
        if self.created_at.tzinfo is None:
            raise KeyringError(f"KEK {self.id}: created_at must carry a time zone")
        if not isinstance(self.key, bytes) or len(self.key) != KEY_BYTES:
            raise KeyringError(f"KEK {self.id}: the key must be {KEY_BYTES} bytes")
        # The cipher is set up once per key, not per use (a list page unwraps 50 keys).
        object.__setattr__(self, "aead", AESGCM(self.key))

    def __repr__(self) -> str:
        return f"Kek(id={self.id!r}, created_at={self.created_at.isoformat()!r})"


@dataclass(frozen=True, eq=False, repr=False)
class Keyring:
    """All KEKs ever used (exactly one active), plus the blind-index and audit keys.

    Immutable: ``rotate`` and ``retire`` return a new keyring, which the caller saves.
    """

    keks: tuple[Kek, ...]
    active_kek_id: str
    blind_index_root_key: bytes = field(repr=False)
    audit_signing_key_bytes: bytes = field(repr=False)
    # kek id -> KEK: every data key unwrapped looks its KEK up (50 on a list page).
    _by_id: dict[str, Kek] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "keks", tuple(self.keks))
        object.__setattr__(self, "_by_id", {kek.id: kek for kek in self.keks})
        if not self.keks:
            raise KeyringError("the keyring has no KEK")
        if len(self._by_id) != len(self.keks):
            raise KeyringError("the keyring lists the same KEK id twice")
        if self.active_kek_id not in self._by_id:
            raise KeyringError(f"the active KEK {self.active_kek_id!r} is not in the keyring")
        for name, value in (
            ("blind_index_root_key", self.blind_index_root_key),
            ("audit_signing_key", self.audit_signing_key_bytes),
        ):
            if not isinstance(value, bytes) or len(value) != KEY_BYTES:
                raise KeyringError(f"{name} must be {KEY_BYTES} bytes")
        # Each key has one purpose; a copy-paste that reuses one would silently weaken both.
        secrets_ = [kek.key for kek in self.keks] + [self.blind_index_root_key]
        for i, a in enumerate(secrets_):
            for b in secrets_[i + 1 :]:
                if hmac.compare_digest(a, b):
                    raise KeyringError("two keys in the keyring are identical")

    # -- lookup ---------------------------------------------------------------------------

    @property
    def active_kek(self) -> Kek:
        return self.kek(self.active_kek_id)

    def kek(self, kek_id: str) -> Kek:
        kek = self._by_id.get(kek_id)
        if kek is None:
            raise KeyNotFound(f"KEK {kek_id!r} is not in the keyring")
        return kek

    def audit_signing_key(self) -> Ed25519PrivateKey:
        return Ed25519PrivateKey.from_private_bytes(self.audit_signing_key_bytes)

    def audit_public_key_pem(self) -> str:
        """What an auditor needs to verify exported checkpoints offline."""
        public = self.audit_signing_key().public_key()
        pem = public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return pem.decode("ascii")

    def __repr__(self) -> str:
        ids = [kek.id for kek in self.keks]
        return f"Keyring(active_kek_id={self.active_kek_id!r}, kek_ids={ids!r})"

    # -- life cycle -----------------------------------------------------------------------

    @classmethod
    def generate(cls, *, now: datetime | None = None) -> Keyring:
        """A fresh keyring for a first run; the caller must save and back it up."""
        now = now or datetime.now(UTC)
        kek = Kek(id=_new_kek_id(now), created_at=now, key=secrets.token_bytes(KEY_BYTES))
        signing = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        return cls(
            keks=(kek,),
            active_kek_id=kek.id,
            blind_index_root_key=secrets.token_bytes(KEY_BYTES),
            audit_signing_key_bytes=signing,
        )

    def rotate(self, *, now: datetime | None = None) -> Keyring:
        """A new active KEK; old ones stay so existing wrapped keys still open."""
        now = now or datetime.now(UTC)
        kek_id = _new_kek_id(now)
        while any(kek.id == kek_id for kek in self.keks):  # pragma: no cover - 2**-32
            kek_id = _new_kek_id(now)
        kek = Kek(id=kek_id, created_at=now, key=secrets.token_bytes(KEY_BYTES))
        return Keyring(
            keks=(*self.keks, kek),
            active_kek_id=kek.id,
            blind_index_root_key=self.blind_index_root_key,
            audit_signing_key_bytes=self.audit_signing_key_bytes,
        )

    def retire(self, kek_id: str) -> Keyring:
        """Drop an old KEK once nothing (no row, no backup still kept) is wrapped by it."""
        if kek_id == self.active_kek_id:
            raise KeyringError(f"KEK {kek_id!r} is active; rotate before retiring it")
        self.kek(kek_id)  # KeyNotFound if absent
        return Keyring(
            keks=tuple(kek for kek in self.keks if kek.id != kek_id),
            active_kek_id=self.active_kek_id,
            blind_index_root_key=self.blind_index_root_key,
            audit_signing_key_bytes=self.audit_signing_key_bytes,
        )

    # -- JSON -----------------------------------------------------------------------------

    def to_json(self) -> str:
        """The keyring document; it holds every secret, so treat the string as one."""
        document = {
            "format": KEYRING_FORMAT,
            "version": KEYRING_VERSION,
            "active_kek": self.active_kek_id,
            "keks": [
                {"id": k.id, "created_at": k.created_at.isoformat(), "key": _b64(k.key)}
                for k in self.keks
            ],
            "blind_index_root_key": _b64(self.blind_index_root_key),
            "audit_signing_key": _b64(self.audit_signing_key_bytes),
        }
        return json.dumps(document, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str | bytes) -> Keyring:
        """Parse a keyring document, e.g. from ``BGCHECK_KEYRING``; strict about its shape."""
        try:
            document = json.loads(text)
        except (ValueError, UnicodeDecodeError):
            document = None  # not raised here: the decode error would quote the secret text
        if not isinstance(document, dict):
            raise KeyringError("the keyring is not a JSON object")
        if document.get("format") != KEYRING_FORMAT:
            raise KeyringError(f"the keyring's 'format' is not {KEYRING_FORMAT!r}")
        if document.get("version") != KEYRING_VERSION:
            raise KeyringError(
                f"unsupported keyring version {document.get('version')!r} "
                f"(this build reads version {KEYRING_VERSION})"
            )
        raw_keks = document.get("keks")
        if not isinstance(raw_keks, list):
            raise KeyringError("the keyring's 'keks' must be a list")
        keks = tuple(_parse_kek(item, n) for n, item in enumerate(raw_keks))
        active = document.get("active_kek")
        if not isinstance(active, str):
            raise KeyringError("the keyring's 'active_kek' must be a KEK id")
        return cls(
            keks=keks,
            active_kek_id=active,
            blind_index_root_key=_unb64(
                document.get("blind_index_root_key"), "blind_index_root_key"
            ),
            audit_signing_key_bytes=_unb64(document.get("audit_signing_key"), "audit_signing_key"),
        )

    # -- files ----------------------------------------------------------------------------

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Keyring:
        """Read a keyring file, refusing any mode beyond 0600 (group, other, execute bits)."""
        path = Path(path)
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        except FileNotFoundError:
            raise KeyringError(f"keyring file {path} does not exist") from None
        except OSError as exc:
            raise KeyringError(f"cannot open keyring file {path}: {exc.strerror}") from None
        try:
            # fstat on the open descriptor: the mode checked is the mode of what is read.
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise KeyringError(f"keyring file {path} is not a regular file")
            mode = stat.S_IMODE(info.st_mode)
            if mode & ~0o600:
                raise KeyringPermissionError(
                    f"keyring file {path} has mode {mode:04o}; it must be 0600 or stricter "
                    f"(run: chmod 600 {path})"
                )
            with os.fdopen(fd, "rb", closefd=False) as handle:
                data = handle.read()
        finally:
            os.close(fd)
        try:
            return cls.from_json(data)
        except KeyringError as exc:
            raise KeyringError(f"keyring file {path}: {exc}") from None

    def save(self, path: str | os.PathLike[str], *, overwrite: bool = False) -> None:
        """Write atomically with mode 0600; without ``overwrite`` an existing file is kept.

        The temporary file is created 0600 (never briefly world-readable), fsynced, then
        renamed over the target, so a crash leaves either the old or the new keyring.
        """
        path = Path(path)
        directory = path.parent
        try:
            fd, tmp_name = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".tmp")
        except OSError as exc:
            raise KeyringError(f"cannot write keyring file {path}: {exc.strerror}") from None
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as handle:
                os.fchmod(handle.fileno(), 0o600)
                handle.write(self.to_json().encode("utf-8"))
                handle.flush()
                os.fsync(handle.fileno())
            if overwrite:
                os.replace(tmp, path)
            else:
                # link() fails if the target exists, atomically: two first runs racing
                # cannot both create a keyring and have one silently replace the other.
                os.link(tmp, path)
                tmp.unlink()
            _fsync_directory(directory)
        except FileExistsError:
            tmp.unlink(missing_ok=True)
            raise KeyringError(f"keyring file {path} already exists; not overwriting") from None
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise KeyringError(f"cannot write keyring file {path}: {exc.strerror}") from None
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise


def load_or_create_keyring(path: str | os.PathLike[str]) -> tuple[Keyring, bool]:
    """The embedded first run: load the file, or generate and save one (``True`` if new).

    The caller warns loudly when a keyring was created: production supplies its own.
    """
    path = Path(path)
    if not path.exists():
        keyring = Keyring.generate()
        try:
            keyring.save(path)
        except KeyringError:
            if not path.exists():
                raise
            # Another process created it first; use theirs, never a second one.
        else:
            return keyring, True
    return Keyring.load(path), False


def rotate_keyring_file(path: str | os.PathLike[str], *, now: datetime | None = None) -> Keyring:
    """Rotate the KEK in a keyring file under an exclusive lock and return the new keyring.

    Without the lock two concurrent rotations would each add a KEK and the second write
    would drop the first one's, leaving whatever it had wrapped unreadable.
    """
    path = Path(path)
    with _exclusive_lock(path):
        rotated = Keyring.load(path).rotate(now=now)
        rotated.save(path, overwrite=True)
    return rotated


@contextlib.contextmanager
def _exclusive_lock(path: Path) -> Iterator[None]:
    lock_path = path.with_name(f"{path.name}.lock")
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)
    except OSError as exc:
        raise KeyringError(f"cannot lock keyring file {path}: {exc.strerror}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(value: object, name: str) -> bytes:
    if not isinstance(value, str):
        raise KeyringError(f"the keyring's {name!r} must be a base64 string")
    try:
        data = base64.b64decode(value.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise KeyringError(f"the keyring's {name!r} is not valid base64") from None
    if len(data) != KEY_BYTES:
        raise KeyringError(f"the keyring's {name!r} must decode to {KEY_BYTES} bytes")
    return data


def _parse_kek(item: object, position: int) -> Kek:
    if not isinstance(item, dict):
        raise KeyringError(f"the keyring's keks[{position}] must be an object")
    kek_id = item.get("id")
    if not isinstance(kek_id, str):
        raise KeyringError(f"the keyring's keks[{position}].id must be a string")
    created = item.get("created_at")
    try:
        created_at = datetime.fromisoformat(created) if isinstance(created, str) else None
    except ValueError:
        created_at = None
    if created_at is None or created_at.tzinfo is None:
        raise KeyringError(f"KEK {kek_id!r}: created_at must be an ISO 8601 time with a zone")
    return Kek(
        id=kek_id, created_at=created_at, key=_unb64(item.get("key"), f"keks[{position}].key")
    )
