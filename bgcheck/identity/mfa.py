"""The second factor: TOTP (RFC 6238) and one-time recovery codes (docs/identity.md).

**The secret at rest.** A user's TOTP secret is sealed with AES-256-GCM (the vault's
``seal``) under a key of its own, derived with HKDF-SHA256 from the keyring's blind-index
root key and the label ``SECRET_LABEL``, and bound to the user's id as associated data.
A copy of the database alone cannot produce codes (the key is in the keyring, never in
the database), and a sealed secret copied to another user's row does not open.

**Codes.** A code is accepted for the time step it belongs to, within ``WINDOW`` steps of
now (clocks drift; people type slowly), and only for a step after ``users.totp_last_step``:
a code is never accepted twice, nor an older one after a newer. The step is advanced by a
conditional UPDATE, so two requests racing with the same code cannot both win.

**Recovery codes.** ``RECOVERY_CODE_COUNT`` random codes of 60 bits each, shown once when
generated; only their SHA-256 is stored (they are random, so a slow hash buys nothing).
Each works once and is compared in constant time.

Functions here take a session and never commit; they do not count failures: the sign-in
services do that, in the login throttle (``bgcheck.identity.auth``).
"""

from __future__ import annotations

import base64
import enum
import hashlib
import hmac
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Final

import pyotp
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import delete, func, update
from sqlmodel import Session, col, select

from bgcheck import audit
from bgcheck.crypto import DataKey, DecryptionError, Keyring, seal, unseal_text
from bgcheck.crypto.envelope import DEK_ID_BYTES
from bgcheck.crypto.framing import frame
from bgcheck.crypto.keyring import KEY_BYTES
from bgcheck.models import RecoveryCode, User
from bgcheck.platform.errors import Conflict, NotFound

SECRET_LABEL: Final = b"bgcheck.identity.mfa.totp-secret.v1"
RECOVERY_LABEL: Final = b"bgcheck.identity.mfa.recovery-code.v1"
TABLE: Final = "users"
COLUMN: Final = "totp_secret"
# An enrollment form carries the new secret, sealed under the same key but bound to this
# column label, so it can never pass for a stored secret (nor a stored one for it).
PENDING_COLUMN: Final = "totp_secret.pending"

STEP_SECONDS: Final = 30
DIGITS: Final = 6
WINDOW: Final = 1  # steps either side of now: ±30 s
SECRET_CHARS: Final = 32  # base32: 160 bits, RFC 4226's recommended length

RECOVERY_CODE_COUNT: Final = 10
# Crockford's base32: no I, L, O or U to misread; 12 characters are 60 bits.
RECOVERY_ALPHABET: Final = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
RECOVERY_CODE_CHARS: Final = 12
_MISREAD: Final = str.maketrans({"O": "0", "I": "1", "L": "1"})
_SEPARATORS: Final = re.compile(r"[\s\-]+")
_TOTP_CODE: Final = re.compile(rf"[0-9]{{{DIGITS}}}")
_RECOVERY_CODE: Final = re.compile(rf"[{RECOVERY_ALPHABET}]{{{RECOVERY_CODE_CHARS}}}")


class Method(enum.StrEnum):
    """How the second factor was shown (``login.succeeded`` records ``password+<method>``)."""

    TOTP = "totp"
    RECOVERY_CODE = "recovery_code"


class Refusal(enum.StrEnum):
    """Why a code was not accepted (recorded as the ``reason`` of ``mfa.failed``)."""

    MISSING = "missing"
    WRONG_CODE = "wrong_code"
    REUSED_CODE = "reused_code"  # a TOTP code of a step already used
    WRONG_RECOVERY_CODE = "wrong_recovery_code"  # unknown, or already used
    NOT_ENROLLED = "not_enrolled"


class CodeRefused(Exception):
    """A code that does not prove the second factor; ``reason`` says why (for the record)."""

    def __init__(self, reason: Refusal) -> None:
        super().__init__(reason.value)
        self.reason = reason


class AlreadyEnrolled(Conflict):
    """Forced enrollment for an account that has an authenticator already."""


class NotEnrolled(Conflict):
    """Replacing an authenticator before there is one."""


# -- the secret at rest --------------------------------------------------------------------


class SecretBox:
    """Seals and opens TOTP secrets; built from the keyring (``for_keyring``), one per root key.

    A vault ``DataKey`` whose key and public id are both derived from the root key, so the
    vault's own ``seal``/``unseal`` do the AES-GCM and the framing of the associated data.
    """

    __slots__ = ("_key",)

    def __init__(self, root_key: bytes) -> None:
        if not isinstance(root_key, bytes) or len(root_key) != KEY_BYTES:
            raise ValueError(f"the blind-index root key is {KEY_BYTES} bytes")
        derived = HKDF(
            algorithm=hashes.SHA256(), length=KEY_BYTES + DEK_ID_BYTES, salt=None, info=SECRET_LABEL
        ).derive(root_key)
        self._key = DataKey(id=derived[KEY_BYTES:], key=derived[:KEY_BYTES])

    @classmethod
    def for_keyring(cls, keyring: Keyring) -> SecretBox:
        return _box(keyring.blind_index_root_key)

    def __repr__(self) -> str:
        return "SecretBox(…)"

    def seal(self, secret: str, *, user_id: uuid.UUID) -> bytes:
        return seal(self._key, secret, table=TABLE, column=COLUMN, row_id=user_id)

    def open(self, sealed: bytes, *, user_id: uuid.UUID) -> str:
        """The secret, or ``DecryptionError`` (another user's row, another keyring, tampered)."""
        return unseal_text(self._key, sealed, table=TABLE, column=COLUMN, row_id=user_id)

    def seal_pending(self, secret: str, *, user_id: uuid.UUID) -> str:
        """A new secret for the enrollment form to carry back (text, for a hidden field)."""
        sealed = seal(self._key, secret, table=TABLE, column=PENDING_COLUMN, row_id=user_id)
        return base64.urlsafe_b64encode(sealed).decode("ascii")

    def open_pending(self, carried: str, *, user_id: uuid.UUID) -> str | None:
        """The secret an enrollment form carried, or None if it is not one we sealed for
        this user (edited, from another user's page, or from another installation)."""
        try:
            sealed = base64.urlsafe_b64decode(carried.encode("ascii"))
            secret = unseal_text(
                self._key, sealed, table=TABLE, column=PENDING_COLUMN, row_id=user_id
            )
        except (ValueError, DecryptionError):  # binascii.Error and UnicodeError are ValueErrors
            return None
        return secret if _is_secret(secret) else None


@lru_cache(maxsize=4)
def _box(root_key: bytes) -> SecretBox:
    return SecretBox(root_key)


def new_secret() -> str:
    """A fresh random TOTP secret (base32, 160 bits)."""
    return pyotp.random_base32(SECRET_CHARS)


def _is_secret(value: str) -> bool:
    return re.fullmatch(rf"[A-Z2-7]{{{SECRET_CHARS}}}", value) is not None


def grouped(secret: str) -> str:
    """The secret in groups of four, for typing it into an app by hand."""
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def provisioning_uri(secret: str, *, account: str, issuer: str) -> str:
    """The ``otpauth://`` URI an authenticator app reads from the QR code."""
    return pyotp.TOTP(secret).provisioning_uri(name=account, issuer_name=issuer)


# -- TOTP codes ----------------------------------------------------------------------------


def step_at(moment: datetime) -> int:
    """The RFC 6238 time step (30-second counter since the epoch) that ``moment`` is in."""
    return int(moment.timestamp()) // STEP_SECONDS


def code_at(secret: str, step: int) -> str:
    """The code of one time step (what the authenticator app shows then)."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).generate_otp(step)


def accepted_step(secret: str, code: str, *, now: datetime, last_step: int | None) -> int:
    """The time step ``code`` belongs to: within ``WINDOW`` steps of now and after
    ``last_step``. Raises ``CodeRefused``: ``REUSED_CODE`` when it is the code of a step
    already used (or older), ``WRONG_CODE`` otherwise.

    Every step of the window is compared (in constant time), whatever matched first, and
    the oldest fresh match wins, so a code that happens to match two steps does not skip
    the next one.
    """
    if not _TOTP_CODE.fullmatch(code):
        raise CodeRefused(Refusal.WRONG_CODE)
    current = step_at(now)
    matches = [
        step
        for step in range(current - WINDOW, current + WINDOW + 1)
        if hmac.compare_digest(code_at(secret, step).encode(), code.encode())
    ]
    fresh = [step for step in matches if last_step is None or step > last_step]
    if fresh:
        return min(fresh)
    raise CodeRefused(Refusal.REUSED_CODE if matches else Refusal.WRONG_CODE)


def normalize(code: str) -> str:
    """What someone typed as a code, without spaces or hyphens, upper-case, misreadings
    of Crockford's alphabet folded (O → 0, I and L → 1)."""
    return _SEPARATORS.sub("", code).upper().translate(_MISREAD)


# -- the account's second factor -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Status:
    enrolled_at: datetime | None
    recovery_codes_left: int

    @property
    def enrolled(self) -> bool:
        return self.enrolled_at is not None


def status(session: Session, *, user_id: uuid.UUID) -> Status:
    user = session.get(User, user_id)
    enrolled_at = user.totp_enrolled_at if user is not None and user.totp_secret else None
    left = session.exec(
        select(func.count())
        .select_from(RecoveryCode)
        .where(RecoveryCode.user_id == user_id, col(RecoveryCode.used_at).is_(None))
    ).one()
    return Status(enrolled_at, int(left))


def is_enrolled(user: User) -> bool:
    return user.totp_enrolled_at is not None and user.totp_secret is not None


def enroll(
    session: Session,
    actor: audit.AuditActor,
    box: SecretBox,
    *,
    user_id: uuid.UUID,
    secret: str,
    code: str,
    now: datetime,
    replacing: bool = False,
) -> None:
    """Store ``secret`` as the user's authenticator once ``code`` shows the app has it.

    ``replacing=False`` is the forced enrollment of sign-in: refused (``AlreadyEnrolled``)
    when the account has an authenticator, so knowing a password never replaces one.
    ``replacing=True`` is the account page's "new authenticator", for a signed-in user who
    has just shown a current code. Raises ``CodeRefused`` for a code that does not match.
    """
    user = session.get(User, user_id, with_for_update=True)
    if user is None:
        raise NotFound("no such account")
    if is_enrolled(user) and not replacing:
        raise AlreadyEnrolled(
            "This account already has an authenticator app. Sign in with its code instead."
        )
    if replacing and not is_enrolled(user):
        raise NotEnrolled("This account has no authenticator app to replace yet.")
    step = accepted_step(secret, normalize(code), now=now, last_step=None)
    user.totp_secret = box.seal(secret, user_id=user_id)
    user.totp_enrolled_at = now
    user.totp_last_step = step
    user.updated_at = now
    session.add(user)
    audit.record(
        session,
        actor,
        action="mfa.enrolled",
        target=audit.Target.of("user", user_id),
        data={"replaced": replacing},
        now=now,
    )


EITHER: Final = frozenset({Method.TOTP, Method.RECOVERY_CODE})


def verify(
    session: Session,
    box: SecretBox,
    *,
    user_id: uuid.UUID,
    code: str | None,
    now: datetime,
    methods: frozenset[Method] = EITHER,
) -> Method:
    """Accept a current TOTP code or an unused recovery code (of ``methods``) exactly once;
    raise ``CodeRefused`` with the reason otherwise.

    With both methods, six digits are a TOTP code and anything else a recovery code (the
    API's one field); a page that asks for one of them says which.
    """
    user = session.get(User, user_id)
    if user is None or not is_enrolled(user):
        raise CodeRefused(Refusal.NOT_ENROLLED)
    typed = normalize(code or "")
    if not typed:
        raise CodeRefused(Refusal.MISSING)
    totp = Method.TOTP in methods and (
        _TOTP_CODE.fullmatch(typed) is not None or Method.RECOVERY_CODE not in methods
    )
    if totp:
        assert user.totp_secret is not None
        secret = box.open(user.totp_secret, user_id=user_id)
        step = accepted_step(secret, typed, now=now, last_step=user.totp_last_step)
        _advance(session, user, step)
        return Method.TOTP
    _use_recovery_code(session, user_id=user_id, typed=typed, now=now)
    return Method.RECOVERY_CODE


def _advance(session: Session, user: User, step: int) -> None:
    """Move ``totp_last_step`` to ``step`` unless another request got there first."""
    moved = session.execute(
        update(User)
        .where(
            col(User.id) == user.id,
            col(User.totp_last_step).is_(None) | (col(User.totp_last_step) < step),
        )
        .values(totp_last_step=step)
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:  # type: ignore[attr-defined]  # CursorResult of an UPDATE
        raise CodeRefused(Refusal.REUSED_CODE)
    session.refresh(user, ["totp_last_step"])


# -- recovery codes ------------------------------------------------------------------------


def recovery_code_hash(user_id: uuid.UUID, code: str) -> str:
    """SHA-256 of the normalized code, bound to its user (a hash copied to another user's
    row matches nothing there)."""
    return hashlib.sha256(frame(RECOVERY_LABEL, str(user_id), normalize(code))).hexdigest()


def new_recovery_code() -> str:
    raw = "".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(RECOVERY_CODE_CHARS))
    return "-".join(raw[i : i + 4] for i in range(0, RECOVERY_CODE_CHARS, 4))


def generate_recovery_codes(
    session: Session, actor: audit.AuditActor, *, user_id: uuid.UUID, now: datetime
) -> list[str]:
    """A new set of codes, replacing every earlier one; returned once, to be shown once."""
    codes = [new_recovery_code() for _ in range(RECOVERY_CODE_COUNT)]
    session.execute(delete(RecoveryCode).where(col(RecoveryCode.user_id) == user_id))
    for code in codes:
        session.add(
            RecoveryCode(
                user_id=user_id, code_hash=recovery_code_hash(user_id, code), created_at=now
            )
        )
    audit.record(
        session,
        actor,
        action="mfa.recovery_codes_generated",
        target=audit.Target.of("user", user_id),
        data={"count": len(codes)},
        now=now,
    )
    session.flush()
    return codes


def _use_recovery_code(session: Session, *, user_id: uuid.UUID, typed: str, now: datetime) -> None:
    if not _RECOVERY_CODE.fullmatch(typed):
        raise CodeRefused(Refusal.WRONG_RECOVERY_CODE)
    wanted = recovery_code_hash(user_id, typed).encode()
    unused = session.exec(
        select(RecoveryCode.id, RecoveryCode.code_hash).where(
            RecoveryCode.user_id == user_id, col(RecoveryCode.used_at).is_(None)
        )
    ).all()
    found = None
    for code_id, code_hash in unused:  # every one compared: no early exit to time
        if hmac.compare_digest(code_hash.encode(), wanted):
            found = code_id
    if found is None:
        raise CodeRefused(Refusal.WRONG_RECOVERY_CODE)
    used = session.execute(
        update(RecoveryCode)
        .where(col(RecoveryCode.id) == found, col(RecoveryCode.used_at).is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if used.rowcount != 1:  # type: ignore[attr-defined]  # used by a request racing this one
        raise CodeRefused(Refusal.WRONG_RECOVERY_CODE)
    audit.record(
        session,
        audit.AuditActor.user(user_id),
        action="mfa.recovery_code_used",
        target=audit.Target.of("user", user_id),
        data={"left": len(unused) - 1},
        now=now,
    )


# -- reset ---------------------------------------------------------------------------------


def reset(session: Session, actor: audit.AuditActor, *, user_id: uuid.UUID, now: datetime) -> None:
    """Forget the user's authenticator and recovery codes: they enroll again at their next
    password sign-in.

    For the four-eyes approval of an administrator's request (never called on one person's
    say-so): nothing in the API or the pages calls it directly.
    """
    user = session.get(User, user_id, with_for_update=True)
    if user is None:
        raise NotFound("no such account")
    had = is_enrolled(user)
    user.totp_secret = None
    user.totp_enrolled_at = None
    user.totp_last_step = None
    user.updated_at = now
    session.add(user)
    session.execute(delete(RecoveryCode).where(col(RecoveryCode.user_id) == user_id))
    audit.record(
        session,
        actor,
        action="mfa.reset",
        target=audit.Target.of("user", user_id),
        data={"was_enrolled": had},
        now=now,
    )
