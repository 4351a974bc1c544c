"""The second factor's domain: sealed secrets, codes once per step, recovery codes, reset."""

from __future__ import annotations

import base64
import re
import uuid
from datetime import UTC, datetime

import pyotp
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlmodel import Session, col, select

from bgcheck.crypto import DecryptionError, Keyring
from bgcheck.identity import mfa
from bgcheck.models import AuditEvent, RecoveryCode, User, utcnow
from bgcheck.platform.errors import NotFound
from workflow import Role

from support.factories import TEST_ACTOR, make_user
from support.mfa import KNOWN_SECRET, Authenticator, enroll

ROOT = Keyring.generate().blind_index_root_key
BOX = mfa.SecretBox(ROOT)
secrets_ = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", min_size=16, max_size=64)
# Any moment from 2001 to 2100, at any second of its 30-second step.
moments = st.integers(min_value=1_000_000_000, max_value=4_102_444_800).map(
    lambda seconds: datetime.fromtimestamp(seconds, UTC)
)


# -- the secret at rest --------------------------------------------------------------------


@given(secrets_, st.uuids())
def test_any_secret_round_trips_for_its_user(secret: str, user_id: uuid.UUID) -> None:
    sealed = BOX.seal(secret, user_id=user_id)
    assert secret.encode() not in sealed
    assert BOX.open(sealed, user_id=user_id) == secret


@given(secrets_, st.uuids(), st.data())
def test_any_flipped_byte_is_refused(secret: str, user_id: uuid.UUID, data: st.DataObject) -> None:
    sealed = bytearray(BOX.seal(secret, user_id=user_id))
    position = data.draw(st.integers(0, len(sealed) - 1))
    sealed[position] ^= data.draw(st.integers(1, 255))
    with pytest.raises(DecryptionError):
        BOX.open(bytes(sealed), user_id=user_id)


@given(secrets_, st.uuids(), st.uuids())
def test_a_secret_copied_to_another_user_does_not_open(
    secret: str, owner: uuid.UUID, other: uuid.UUID
) -> None:
    sealed = BOX.seal(secret, user_id=owner)
    if other != owner:
        with pytest.raises(DecryptionError):
            BOX.open(sealed, user_id=other)


@given(secrets_, st.uuids(), st.binary(min_size=32, max_size=32))
def test_another_root_key_does_not_open_it(secret: str, user_id: uuid.UUID, root: bytes) -> None:
    sealed = BOX.seal(secret, user_id=user_id)
    if root != ROOT:
        with pytest.raises(DecryptionError):
            mfa.SecretBox(root).open(sealed, user_id=user_id)


def test_the_key_is_its_own_not_the_blind_index_key() -> None:
    """Derived under its own label: the same root gives the same box, and the key is
    neither the root key nor a blind index's key."""
    keyring = Keyring.generate()
    box = mfa.SecretBox.for_keyring(keyring)
    assert mfa.SecretBox.for_keyring(keyring) is box
    sealed = box.seal(KNOWN_SECRET, user_id=uuid.uuid4())
    assert keyring.blind_index_root_key not in sealed
    assert "…" in repr(box)


def test_a_pending_secret_fits_its_user_and_its_form_only() -> None:
    user, other = uuid.uuid4(), uuid.uuid4()
    carried = BOX.seal_pending(KNOWN_SECRET, user_id=user)
    assert BOX.open_pending(carried, user_id=user) == KNOWN_SECRET
    assert BOX.open_pending(carried, user_id=other) is None
    assert BOX.open_pending(carried[:-2] + "AA", user_id=user) is None
    assert BOX.open_pending("not base64!", user_id=user) is None
    # A pending secret is not a stored one, and a stored one is not pending.
    with pytest.raises(DecryptionError):
        BOX.open(base64.urlsafe_b64decode(carried), user_id=user)
    stored = base64.urlsafe_b64encode(BOX.seal(KNOWN_SECRET, user_id=user))
    assert BOX.open_pending(stored.decode(), user_id=user) is None


# -- codes ---------------------------------------------------------------------------------


def test_codes_are_rfc_6238_codes() -> None:
    """The same codes as pyotp's reference implementation (what the apps compute)."""
    now = utcnow()
    assert mfa.code_at(KNOWN_SECRET, mfa.step_at(now)) == pyotp.TOTP(KNOWN_SECRET).at(now)
    assert re.fullmatch(r"[0-9]{6}", mfa.code_at(KNOWN_SECRET, 0))


@given(moments, st.integers(-mfa.WINDOW, mfa.WINDOW))
def test_a_code_within_one_step_of_now_is_accepted_for_its_step(now: datetime, off: int) -> None:
    step = mfa.step_at(now) + off
    code = mfa.code_at(KNOWN_SECRET, step)
    accepted = mfa.accepted_step(KNOWN_SECRET, code, now=now, last_step=None)
    # A code can match two steps of the window by chance (1 in a million): the oldest wins.
    assert accepted <= step
    assert mfa.code_at(KNOWN_SECRET, accepted) == code


@given(moments, st.integers(2, 10_000) | st.integers(-10_000, -2))
def test_a_code_outside_the_window_is_refused(now: datetime, off: int) -> None:
    current = mfa.step_at(now)
    code = mfa.code_at(KNOWN_SECRET, current + off)
    window = {mfa.code_at(KNOWN_SECRET, current + d) for d in (-1, 0, 1)}
    if code not in window:  # the same 6 digits inside the window by chance
        with pytest.raises(mfa.CodeRefused) as refused:
            mfa.accepted_step(KNOWN_SECRET, code, now=now, last_step=None)
        assert refused.value.reason is mfa.Refusal.WRONG_CODE


@given(moments, st.integers(-mfa.WINDOW, mfa.WINDOW), st.integers(0, 5))
def test_a_code_of_a_step_already_used_is_refused(now: datetime, off: int, ahead: int) -> None:
    step = mfa.step_at(now) + off
    code = mfa.code_at(KNOWN_SECRET, step)
    window = range(mfa.step_at(now) - 1, mfa.step_at(now) + 2)
    if [s for s in window if mfa.code_at(KNOWN_SECRET, s) == code] == [step]:
        with pytest.raises(mfa.CodeRefused) as refused:
            mfa.accepted_step(KNOWN_SECRET, code, now=now, last_step=step + ahead)
        assert refused.value.reason is mfa.Refusal.REUSED_CODE


@pytest.mark.parametrize(
    "typed", ["", "12345", "1234567", "12a456", "\uff11\uff12\uff13\uff14\uff15\uff16"]
)
def test_malformed_codes_are_wrong(typed: str) -> None:
    with pytest.raises(mfa.CodeRefused):
        mfa.accepted_step(KNOWN_SECRET, typed, now=utcnow(), last_step=None)


def test_typing_is_forgiving() -> None:
    assert mfa.normalize(" 123 456 ") == "123456"
    assert mfa.normalize("7k3d-q9xf-m2pa") == "7K3D-Q9XF-M2PA".replace("-", "")
    assert mfa.normalize("OIL") == "011"
    assert mfa.grouped("ABCDEFGHIJ") == "ABCD EFGH IJ"


def test_recovery_codes_have_at_least_50_bits() -> None:
    code = mfa.new_recovery_code()
    assert re.fullmatch(r"[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}", code)
    bits = mfa.RECOVERY_CODE_CHARS * (len(mfa.RECOVERY_ALPHABET).bit_length() - 1)
    assert bits >= 50
    assert len({mfa.new_recovery_code() for _ in range(1000)}) == 1000


# -- the account's second factor, on both databases ----------------------------------------


def _user(db: Session) -> User:
    return make_user(db, Role.REVIEWER)


def _actions(db: Session) -> list[str]:
    return list(db.exec(select(AuditEvent.action).order_by(col(AuditEvent.seq))).all())


def test_enrolling_stores_the_secret_sealed(db: Session) -> None:
    user = _user(db)
    now = utcnow()
    app = enroll(db, BOX, user.id, now=now)
    db.refresh(user)
    assert user.totp_secret is not None
    assert KNOWN_SECRET.encode() not in user.totp_secret
    assert BOX.open(user.totp_secret, user_id=user.id) == KNOWN_SECRET
    assert user.totp_enrolled_at == now
    assert user.totp_last_step == app.last_step
    assert _actions(db)[-1] == "mfa.enrolled"
    assert mfa.status(db, user_id=user.id).enrolled


def test_a_wrong_code_does_not_enroll(db: Session) -> None:
    user = _user(db)
    with pytest.raises(mfa.CodeRefused):
        mfa.enroll(
            db, TEST_ACTOR, BOX, user_id=user.id, secret=KNOWN_SECRET, code="000000", now=utcnow()
        )
    db.refresh(user)
    assert user.totp_secret is None
    assert not mfa.status(db, user_id=user.id).enrolled


def test_verify_accepts_each_step_once_in_order(db: Session) -> None:
    user = _user(db)
    now = utcnow()
    enroll(db, BOX, user.id, now=now)  # used the step before now
    ahead = mfa.code_at(KNOWN_SECRET, mfa.step_at(now) + 1)
    earlier = mfa.code_at(KNOWN_SECRET, mfa.step_at(now))
    assert mfa.verify(db, BOX, user_id=user.id, code=ahead, now=now) is mfa.Method.TOTP
    # The newer step was used: the older one is refused, though still within the window.
    with pytest.raises(mfa.CodeRefused) as refused:
        mfa.verify(db, BOX, user_id=user.id, code=earlier, now=now)
    assert refused.value.reason is mfa.Refusal.REUSED_CODE


def test_a_secret_moved_to_another_user_gives_no_codes(db: Session) -> None:
    owner, other = _user(db), _user(db)
    app = enroll(db, BOX, owner.id)
    enroll(db, BOX, other.id, secret=pyotp.random_base32(32))
    db.refresh(owner)
    db.refresh(other)
    other.totp_secret = owner.totp_secret
    db.add(other)
    db.flush()
    with pytest.raises(DecryptionError):
        mfa.verify(db, BOX, user_id=other.id, code=app.code(), now=utcnow())


def test_not_enrolled_and_missing_codes_are_refused(db: Session) -> None:
    user = _user(db)
    with pytest.raises(mfa.CodeRefused) as refused:
        mfa.verify(db, BOX, user_id=user.id, code="123456", now=utcnow())
    assert refused.value.reason is mfa.Refusal.NOT_ENROLLED
    enroll(db, BOX, user.id)
    for empty in (None, "", " - "):
        with pytest.raises(mfa.CodeRefused) as refused:
            mfa.verify(db, BOX, user_id=user.id, code=empty, now=utcnow())
        assert refused.value.reason is mfa.Refusal.MISSING


def test_recovery_codes_are_hashed_work_once_and_a_new_set_replaces_the_old(db: Session) -> None:
    user = _user(db)
    enroll(db, BOX, user.id)
    first = mfa.generate_recovery_codes(db, TEST_ACTOR, user_id=user.id, now=utcnow())
    assert len(first) == len(set(first)) == mfa.RECOVERY_CODE_COUNT
    stored = db.exec(select(RecoveryCode.code_hash).where(RecoveryCode.user_id == user.id)).all()
    assert not {code.replace("-", "") for code in first} & {h.upper() for h in stored}
    assert all(re.fullmatch(r"[0-9a-f]{64}", h) for h in stored)

    now = utcnow()
    assert mfa.verify(db, BOX, user_id=user.id, code=first[0], now=now) is mfa.Method.RECOVERY_CODE
    assert mfa.status(db, user_id=user.id).recovery_codes_left == mfa.RECOVERY_CODE_COUNT - 1
    used = db.exec(select(AuditEvent).where(AuditEvent.action == "mfa.recovery_code_used")).one()
    assert used.data == {"left": mfa.RECOVERY_CODE_COUNT - 1}
    with pytest.raises(mfa.CodeRefused) as again:
        mfa.verify(db, BOX, user_id=user.id, code=first[0], now=now)
    assert again.value.reason is mfa.Refusal.WRONG_RECOVERY_CODE
    # Not where only the app's code will do.
    with pytest.raises(mfa.CodeRefused):
        mfa.verify(
            db, BOX, user_id=user.id, code=first[1], now=now, methods=frozenset({mfa.Method.TOTP})
        )

    second = mfa.generate_recovery_codes(db, TEST_ACTOR, user_id=user.id, now=utcnow())
    with pytest.raises(mfa.CodeRefused):
        mfa.verify(db, BOX, user_id=user.id, code=first[1], now=now)
    assert mfa.verify(db, BOX, user_id=user.id, code=second[1], now=now)
    assert _actions(db).count("mfa.recovery_codes_generated") == 2


def test_a_page_that_asks_for_one_kind_of_code_takes_only_that_kind(db: Session) -> None:
    user = _user(db)
    app = enroll(db, BOX, user.id, recovery_codes=True)
    recovery_only = frozenset({mfa.Method.RECOVERY_CODE})
    with pytest.raises(mfa.CodeRefused) as refused:
        mfa.verify(db, BOX, user_id=user.id, code=app.code(), now=utcnow(), methods=recovery_only)
    assert refused.value.reason is mfa.Refusal.WRONG_RECOVERY_CODE
    with pytest.raises(mfa.CodeRefused) as refused:
        mfa.verify(
            db,
            BOX,
            user_id=user.id,
            code="12345",
            now=utcnow(),
            methods=frozenset({mfa.Method.TOTP}),
        )
    assert refused.value.reason is mfa.Refusal.WRONG_CODE


def test_a_recovery_code_of_another_user_is_refused(db: Session) -> None:
    owner, other = _user(db), _user(db)
    enroll(db, BOX, owner.id)
    enroll(db, BOX, other.id)
    codes = mfa.generate_recovery_codes(db, TEST_ACTOR, user_id=owner.id, now=utcnow())
    with pytest.raises(mfa.CodeRefused):
        mfa.verify(db, BOX, user_id=other.id, code=codes[0], now=utcnow())


def test_replacing_needs_an_authenticator_and_forced_enrollment_needs_none(db: Session) -> None:
    user = _user(db)
    app = Authenticator(pyotp.random_base32(32))
    with pytest.raises(mfa.NotEnrolled):
        mfa.enroll(
            db,
            TEST_ACTOR,
            BOX,
            user_id=user.id,
            secret=app.secret,
            code=app.code(),
            now=utcnow(),
            replacing=True,
        )
    enroll(db, BOX, user.id)
    with pytest.raises(mfa.AlreadyEnrolled):
        mfa.enroll(
            db, TEST_ACTOR, BOX, user_id=user.id, secret=app.secret, code=app.code(), now=utcnow()
        )
    mfa.enroll(
        db,
        TEST_ACTOR,
        BOX,
        user_id=user.id,
        secret=app.secret,
        code=app.code(),
        now=utcnow(),
        replacing=True,
    )
    db.refresh(user)
    assert user.totp_secret is not None
    assert BOX.open(user.totp_secret, user_id=user.id) == app.secret


def test_reset_forgets_the_authenticator_and_the_recovery_codes(db: Session) -> None:
    user = _user(db)
    app = enroll(db, BOX, user.id, recovery_codes=True)
    now = utcnow()
    mfa.reset(db, TEST_ACTOR, user_id=user.id, now=now)
    db.refresh(user)
    assert (user.totp_secret, user.totp_enrolled_at, user.totp_last_step) == (None, None, None)
    assert db.exec(select(RecoveryCode).where(RecoveryCode.user_id == user.id)).all() == []
    event = db.exec(select(AuditEvent).order_by(col(AuditEvent.seq).desc())).first()
    assert event is not None
    assert (event.action, event.target_id, event.data) == (
        "mfa.reset",
        str(user.id),
        {"was_enrolled": True},
    )
    assert (event.actor_kind, event.actor_id) == (TEST_ACTOR.kind, TEST_ACTOR.id)
    with pytest.raises(mfa.CodeRefused) as refused:
        mfa.verify(db, BOX, user_id=user.id, code=app.code(), now=now)
    assert refused.value.reason is mfa.Refusal.NOT_ENROLLED
    # Enrolling again works as the first time did.
    enroll(db, BOX, user.id, secret=pyotp.random_base32(32))
    with pytest.raises(NotFound):
        mfa.reset(db, TEST_ACTOR, user_id=uuid.uuid4(), now=now)


def test_no_code_or_secret_reaches_the_audit_trail(db: Session) -> None:
    user = _user(db)
    app = enroll(db, BOX, user.id, recovery_codes=True)
    code = app.recovery_code()
    mfa.verify(db, BOX, user_id=user.id, code=code, now=utcnow())
    mfa.verify(db, BOX, user_id=user.id, code=app.code(), now=utcnow())
    trail = " ".join(str(e.data) for e in db.exec(select(AuditEvent)).all())
    assert KNOWN_SECRET not in trail
    assert code not in trail
    assert code.replace("-", "") not in trail
