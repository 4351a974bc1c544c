"""Logging in (password and one-time code), throttling, token checks and logout, against a
real database."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from passlib.context import CryptContext
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from bgcheck.crypto import Keyring
from bgcheck.identity import auth, mfa, passwords, throttle, tokens
from bgcheck.identity import users as user_service
from bgcheck.identity.passwords import needs_update
from bgcheck.models import AuditEvent, LoginThrottle, User, utcnow
from bgcheck.platform.db import session_scope
from bgcheck.platform.errors import (
    LoginFailed,
    SecondFactorFailed,
    SecondFactorNotEnrolled,
    SecondFactorRequired,
    TooManyAttempts,
    Unauthenticated,
)
from bgcheck.platform.settings import Settings
from workflow import Role

from support.factories import PASSWORD, TEST_ACTOR, make_user
from support.mfa import Authenticator, enroll

CONFIG = auth.AuthConfig.from_settings(
    Settings(login_max_failures=4, login_max_failures_per_address=50), "k" * 48, Keyring.generate()
)
# Each test's users' authenticator apps, by email (a test makes its own database).
APPS: dict[str, Authenticator] = {}


@pytest.fixture
def database(fresh_engine: Callable[[], Engine]) -> Engine:
    return fresh_engine()


def login(engine: Engine, email: str, password: str, *, address: str = "10.0.0.1", now=None):  # type: ignore[no-untyped-def]
    """The API's sign-in, with the current code of the user's app (if they have one)."""
    now = now or utcnow()
    app = APPS.get(email.strip().lower())
    return auth.login(
        engine,
        CONFIG,
        email=email,
        password=password,
        # A wrong password never reaches the code (and must not use one of the app's steps).
        otp=app.code(now) if app and password == PASSWORD else None,
        client_address=address,
        now=now,
    )


def actions(engine: Engine) -> list[str]:
    with Session(engine) as session:
        return list(session.exec(select(AuditEvent.action).order_by(AuditEvent.seq)).all())


def make(engine: Engine, *roles: Role, email: str = "ana@example.edu") -> User:
    """A user with a password and an authenticator app (``APPS[email]``)."""
    with session_scope(engine) as session:
        user = make_user(session, *roles, email=email, password=PASSWORD)
        APPS[email] = enroll(session, CONFIG.secret_box, user.id)
    return user


@pytest.fixture(autouse=True)
def _forget_apps() -> None:
    APPS.clear()


def test_a_good_password_gives_a_token_for_that_user(database: Engine) -> None:
    user = make(database, Role.REVIEWER)
    issued = login(database, "  ANA@example.edu ", PASSWORD)
    assert tokens.verify(issued.access_token, CONFIG.own).subject == str(user.id)
    assert actions(database)[-1] == "login.succeeded"
    with Session(database) as session:
        assert session.get(User, user.id).last_login_at is not None  # type: ignore[union-attr]


def test_wrong_password_and_unknown_email_fail_alike_and_are_recorded(database: Engine) -> None:
    make(database, Role.REVIEWER)
    with pytest.raises(LoginFailed) as wrong:
        login(database, "ana@example.edu", "not the password at all")
    with pytest.raises(LoginFailed) as unknown:
        login(database, "nobody@example.edu", "not the password at all")
    assert wrong.value.public_detail == unknown.value.public_detail
    assert actions(database)[-2:] == ["login.failed", "login.failed"]


def test_a_disabled_account_cannot_log_in(database: Engine) -> None:
    user = make(database, Role.REVIEWER)
    with session_scope(database) as session:
        user_service.set_active(session, TEST_ACTOR, user_id=user.id, active=False)
    with pytest.raises(LoginFailed):
        login(database, "ana@example.edu", PASSWORD)


def test_throttling_engages_then_releases(database: Engine) -> None:
    make(database, Role.REVIEWER)
    start = utcnow()
    for _ in range(CONFIG.account_policy.slow_after):
        with pytest.raises(LoginFailed):
            login(database, "ana@example.edu", "wrong password here", now=start)
    # Past `slow_after` failures each further failure makes the next attempt wait.
    with pytest.raises(LoginFailed):
        login(database, "ana@example.edu", "wrong password here", now=start)
    with pytest.raises(TooManyAttempts) as slowed:
        login(database, "ana@example.edu", "wrong password here", now=start)
    assert slowed.value.retry_after_seconds >= 1
    # Even the right password is refused while blocked...
    with pytest.raises(TooManyAttempts):
        login(database, "ana@example.edu", PASSWORD, now=start)
    # ...and accepted once the block has passed.
    later = start + CONFIG.account_policy.block + timedelta(seconds=1)
    assert login(database, "ana@example.edu", PASSWORD, now=later).access_token
    assert "login.throttled" in actions(database)


def test_one_address_guessing_many_accounts_is_throttled(database: Engine) -> None:
    policy = CONFIG.address_policy
    start = utcnow()

    def guess(index: int, *, address: str = "192.0.2.7") -> None:
        login(
            database, f"user{index}@example.edu", "wrong password here", address=address, now=start
        )

    for index in range(policy.slow_after + 1):
        with pytest.raises(LoginFailed):
            guess(index)
    with pytest.raises(TooManyAttempts):
        guess(999)
    # Another address is not affected.
    with pytest.raises(LoginFailed):
        login(database, "user0@example.edu", "wrong password here", address="192.0.2.8", now=start)


def test_a_hash_with_old_parameters_is_upgraded_at_login(database: Engine) -> None:
    user = make(database, Role.REVIEWER)
    weaker = CryptContext(schemes=["argon2"], argon2__memory_cost=8192, argon2__time_cost=1)
    with session_scope(database) as session:
        row = session.get(User, user.id)
        row.password_hash = weaker.hash(PASSWORD)  # type: ignore[union-attr]
        session.add(row)
    assert needs_update(weaker.hash(PASSWORD))
    login(database, "ana@example.edu", PASSWORD)
    with Session(database) as session:
        upgraded = session.get(User, user.id).password_hash  # type: ignore[union-attr]
    assert upgraded is not None
    assert not needs_update(upgraded)


def authenticate(engine: Engine, token: str):  # type: ignore[no-untyped-def]
    with session_scope(engine) as session:
        return auth.authenticate(session, CONFIG, token, now=utcnow())


def test_roles_are_read_from_the_database_on_every_request(database: Engine) -> None:
    user = make(database, Role.REVIEWER, Role.AUDITOR)
    token = login(database, "ana@example.edu", PASSWORD).access_token
    assert authenticate(database, token).roles == {Role.REVIEWER, Role.AUDITOR}
    with session_scope(database) as session:
        user_service.set_roles(session, TEST_ACTOR, user_id=user.id, roles=[Role.AUDITOR])
    assert authenticate(database, token).roles == {Role.AUDITOR}


def test_disabling_an_account_stops_its_tokens_at_once(database: Engine) -> None:
    user = make(database, Role.REVIEWER)
    token = login(database, "ana@example.edu", PASSWORD).access_token
    with session_scope(database) as session:
        user_service.set_active(session, TEST_ACTOR, user_id=user.id, active=False)
    with pytest.raises(Unauthenticated):
        authenticate(database, token)


def test_logout_revokes_that_token_only(database: Engine) -> None:
    make(database, Role.REVIEWER)
    first = login(database, "ana@example.edu", PASSWORD).access_token
    second = login(database, "ana@example.edu", PASSWORD).access_token
    with session_scope(database) as session:
        auth.logout(session, auth.authenticate(session, CONFIG, first, now=utcnow()), now=utcnow())
    with pytest.raises(Unauthenticated, match="signed out"):
        authenticate(database, first)
    assert authenticate(database, second).email == "ana@example.edu"
    assert actions(database)[-1] == "logout"


def test_parallel_wrong_passwords_never_pass_the_limit(database: Engine) -> None:
    """The attack: 24 guesses at once all read "not blocked" before any failure was
    written, and 6 were checked against a limit of 5. Reserved first, at most the limit."""
    make(database, Role.REVIEWER)
    limit = CONFIG.account_policy.max_failures
    start = utcnow()

    def guess(_: int) -> str:
        try:
            login(database, "ana@example.edu", "wrong password here", now=start)
        except LoginFailed:
            return "checked"
        except TooManyAttempts:
            return "throttled"
        return "signed in"

    with ThreadPoolExecutor(max_workers=12) as pool:
        outcomes = list(pool.map(guess, range(24)))
    assert outcomes.count("checked") <= limit
    assert outcomes.count("checked") + outcomes.count("throttled") == 24
    # Once the window is over, the right password works again.
    later = start + CONFIG.account_policy.block + timedelta(seconds=1)
    assert login(database, "ana@example.edu", PASSWORD, now=later).access_token


def test_throttled_logins_are_folded_into_one_event_per_address_and_minute(
    database: Engine,
) -> None:
    start = utcnow()
    for _ in range(CONFIG.account_policy.slow_after + 1):
        with pytest.raises(LoginFailed):
            login(database, "nobody@example.edu", "wrong password here", now=start)
    for _ in range(10):
        with pytest.raises(TooManyAttempts):
            login(database, "nobody@example.edu", "wrong password here", now=start)
    assert actions(database).count("login.throttled") == 1
    # A minute later the next refusal is recorded, counting the nine folded into the first.
    later = start + timedelta(seconds=61)
    with pytest.raises(LoginFailed):  # the slow-down has passed: one more guess is checked
        login(database, "nobody@example.edu", "wrong password here", now=later)
    with pytest.raises(TooManyAttempts):
        login(database, "nobody@example.edu", "wrong password here", now=later)
    with Session(database) as session:
        folded = session.exec(
            select(AuditEvent.data).where(AuditEvent.action == "login.throttled")
        ).all()
    assert [event["folded"] for event in folded] == [0, 9]


# -- the second factor ---------------------------------------------------------------------


def api_login(engine: Engine, otp: str | None, *, email: str = "ana@example.edu", now=None):  # type: ignore[no-untyped-def]
    return auth.login(
        engine,
        CONFIG,
        email=email,
        password=PASSWORD,
        otp=otp,
        client_address="10.0.0.1",
        now=now or utcnow(),
    )


def last_event(engine: Engine) -> AuditEvent:
    with Session(engine) as session:
        return session.exec(select(AuditEvent).order_by(col(AuditEvent.seq).desc())).first()  # type: ignore[return-value]


def failures(engine: Engine, email: str = "ana@example.edu") -> int:
    with Session(engine) as session:
        row = session.get(LoginThrottle, throttle.key("account", email))
        return row.failures if row else 0


def test_the_api_records_the_second_factor_as_the_method(database: Engine) -> None:
    make(database, Role.REVIEWER)
    assert api_login(database, APPS["ana@example.edu"].code()).access_token
    event = last_event(database)
    assert (event.action, event.data["method"]) == ("login.succeeded", "password+totp")


def test_a_right_password_without_a_code_is_a_counted_failure(database: Engine) -> None:
    make(database, Role.REVIEWER)
    with pytest.raises(SecondFactorRequired) as refused:
        api_login(database, None)
    assert "otp" in refused.value.public_detail
    assert refused.value.slug == "mfa-required"
    assert failures(database) == 1
    event = last_event(database)
    assert (event.action, event.data["reason"]) == ("mfa.failed", "missing")


def test_a_wrong_code_is_a_counted_failure_and_never_echoed(database: Engine) -> None:
    make(database, Role.REVIEWER)
    app = APPS["ana@example.edu"]
    wrong = f"{(int(app.code()) + 1) % 1_000_000:06d}"
    with pytest.raises(SecondFactorFailed) as refused:
        api_login(database, wrong)
    assert refused.value.slug == "mfa-failed"
    assert "otp" in refused.value.public_detail
    assert wrong not in refused.value.public_detail
    assert failures(database) == 1
    event = last_event(database)
    assert (event.action, event.data["reason"]) == ("mfa.failed", "wrong_code")
    assert wrong not in str(event.data)


def test_wrong_codes_lock_the_account_like_wrong_passwords(database: Engine) -> None:
    make(database, Role.REVIEWER)
    start = utcnow()
    for _ in range(CONFIG.account_policy.slow_after + 1):
        with pytest.raises(SecondFactorFailed):
            api_login(database, "000000", now=start)
    # Blocked now: even the right code is not looked at.
    with pytest.raises(TooManyAttempts):
        api_login(database, APPS["ana@example.edu"].code(start), now=start)


def test_a_code_is_accepted_once(database: Engine) -> None:
    make(database, Role.REVIEWER)
    code = APPS["ana@example.edu"].code()
    api_login(database, code)
    with pytest.raises(SecondFactorFailed) as again:
        api_login(database, code)
    assert "already used" in again.value.public_detail
    assert last_event(database).data["reason"] == "reused_code"


def test_a_recovery_code_works_once_and_is_recorded_as_such(database: Engine) -> None:
    user = make(database, Role.REVIEWER)
    with session_scope(database) as session:
        codes = mfa.generate_recovery_codes(session, TEST_ACTOR, user_id=user.id, now=utcnow())
    assert api_login(database, codes[3].lower().replace("-", " ")).access_token
    assert actions(database)[-2:] == ["mfa.recovery_code_used", "login.succeeded"]
    assert last_event(database).data["method"] == "password+recovery_code"
    with pytest.raises(SecondFactorFailed):
        api_login(database, codes[3])
    assert last_event(database).data["reason"] == "wrong_recovery_code"


def test_an_account_without_an_authenticator_is_sent_to_the_pages(database: Engine) -> None:
    with session_scope(database) as session:
        make_user(session, Role.AUDITOR, email="new@example.edu", password=PASSWORD)
    with pytest.raises(SecondFactorNotEnrolled) as refused:
        api_login(database, "123456", email="new@example.edu")
    assert "/login" in refused.value.public_detail
    event = last_event(database)
    assert (event.action, event.data["reason"]) == ("login.failed", "not_enrolled")


def test_the_password_alone_signs_nobody_in(database: Engine) -> None:
    user = make(database, Role.REVIEWER)
    with pytest.raises(LoginFailed):
        login(database, "ana@example.edu", "wrong password here")
    checked = auth.check_password(
        database,
        CONFIG,
        email="ana@example.edu",
        password=PASSWORD,
        client_address="10.0.0.1",
        now=utcnow(),
    )
    assert (checked.user_id, checked.enrolled) == (user.id, True)
    # The failure before still counts, and nothing says "signed in".
    assert failures(database) == 1
    assert "login.succeeded" not in actions(database)
    with Session(database) as session:
        assert session.get(User, user.id).last_login_at is None  # type: ignore[union-attr]


def test_the_second_factor_clears_the_count(database: Engine) -> None:
    user = make(database, Role.REVIEWER)
    with pytest.raises(LoginFailed):
        login(database, "ana@example.edu", "wrong password here")
    method = auth.second_factor(
        database,
        CONFIG,
        user_id=user.id,
        code=APPS["ana@example.edu"].code(),
        client_address="10.0.0.1",
        now=utcnow(),
    )
    assert method is mfa.Method.TOTP
    assert failures(database) == 0


def test_forced_enrollment_then_finishing_the_sign_in_once(database: Engine) -> None:
    with session_scope(database) as session:
        user = make_user(session, Role.HR, email="new@example.edu", password=PASSWORD)
    app = Authenticator(mfa.new_secret())
    with pytest.raises(SecondFactorFailed):
        auth.enroll_at_sign_in(
            database,
            CONFIG,
            user_id=user.id,
            secret=app.secret,
            code="000000",
            client_address="10.0.0.1",
            now=utcnow(),
        )
    assert actions(database)[-1] == "mfa.failed"
    assert failures(database, "new@example.edu") == 0  # the secret is on screen: nothing to guess
    codes = auth.enroll_at_sign_in(
        database,
        CONFIG,
        user_id=user.id,
        secret=app.secret,
        code=app.code(),
        client_address="10.0.0.1",
        now=utcnow(),
    )
    assert len(codes) == mfa.RECOVERY_CODE_COUNT
    assert actions(database)[-2:] == ["mfa.enrolled", "mfa.recovery_codes_generated"]
    expires = utcnow() + timedelta(minutes=10)

    def finish() -> None:
        auth.finish_sign_in(
            database,
            user_id=user.id,
            step_key="step-1",
            step_expires_at=expires,
            client_address="10.0.0.1",
            now=utcnow(),
        )

    finish()
    assert last_event(database).data["method"] == "password+totp"
    with pytest.raises(LoginFailed):
        finish()  # the step is used up
    # Knowing the password never replaces an authenticator.
    with pytest.raises(mfa.AlreadyEnrolled):
        auth.enroll_at_sign_in(
            database,
            CONFIG,
            user_id=user.id,
            secret=mfa.new_secret(),
            code="123456",
            client_address="10.0.0.1",
            now=utcnow(),
        )


def test_after_a_reset_the_api_asks_for_enrollment_again(database: Engine) -> None:
    user = make(database, Role.MANAGER)
    with session_scope(database) as session:
        mfa.reset(session, TEST_ACTOR, user_id=user.id, now=utcnow())
    with pytest.raises(SecondFactorNotEnrolled):
        api_login(database, APPS["ana@example.edu"].code())


@pytest.mark.parametrize(
    ("claims", "shows"),
    [
        ({"amr": ["pwd", "mfa"]}, True),
        ({"amr": "mfa"}, True),
        ({"amr": ["pwd"]}, False),
        ({"amr": ["pwd", "otp"]}, False),
        ({}, False),
        ({"amr": [["mfa"]]}, False),
        ({"acr": "urn:example:loa:2"}, False),
    ],
)
def test_a_provider_token_shows_mfa_by_its_amr(claims: dict[str, object], shows: bool) -> None:
    parsed = tokens.Claims("sub", "iss", utcnow(), utcnow(), None, None, claims)
    assert auth.shows_mfa(parsed, amr=CONFIG.mfa_amr, acr=CONFIG.mfa_acr) is shows


def test_the_acr_can_show_mfa_when_configured() -> None:
    parsed = tokens.Claims(
        "sub", "iss", utcnow(), utcnow(), None, None, {"acr": "urn:example:loa:2"}
    )
    assert auth.shows_mfa(parsed, amr=frozenset(), acr=frozenset({"urn:example:loa:2"}))
    assert not auth.shows_mfa(parsed, amr=frozenset({"mfa"}), acr=frozenset({"loa3"}))


def test_a_password_over_the_checked_length_is_wrong_without_hashing(
    database: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    make(database, Role.REVIEWER)
    hashed: list[str] = []
    original = passwords._context.verify
    monkeypatch.setattr(
        passwords._context, "verify", lambda secret, h: hashed.append(secret) or original(secret, h)
    )
    with pytest.raises(LoginFailed):
        login(database, "ana@example.edu", "p" * (passwords.MAX_CHECKED_LENGTH + 1))
    assert hashed == []
    assert actions(database)[-1] == "login.failed"
    with pytest.raises(LoginFailed):  # at the limit it is still checked
        login(database, "ana@example.edu", "p" * passwords.MAX_CHECKED_LENGTH)
    assert len(hashed) == 1
