"""Logging in, throttling, token checks and logout, against a real database."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from passlib.context import CryptContext
from sqlalchemy import Engine
from sqlmodel import Session, select

from bgcheck import passwords, tokens
from bgcheck.db import session_scope
from bgcheck.errors import LoginFailed, TooManyAttempts, Unauthenticated
from bgcheck.models import AuditEvent, User, utcnow
from bgcheck.passwords import needs_update
from bgcheck.services import auth
from bgcheck.services import users as user_service
from bgcheck.settings import Settings
from workflow import Role

from support.factories import PASSWORD, TEST_ACTOR, make_user

CONFIG = auth.AuthConfig.from_settings(
    Settings(login_max_failures=4, login_max_failures_per_address=50), "k" * 48
)


@pytest.fixture
def database(fresh_engine: Callable[[], Engine]) -> Engine:
    return fresh_engine()


def login(engine: Engine, email: str, password: str, *, address: str = "10.0.0.1", now=None):  # type: ignore[no-untyped-def]
    return auth.login(
        engine,
        CONFIG,
        email=email,
        password=password,
        client_address=address,
        now=now or utcnow(),
    )


def actions(engine: Engine) -> list[str]:
    with Session(engine) as session:
        return list(session.exec(select(AuditEvent.action).order_by(AuditEvent.seq)).all())


def make(engine: Engine, *roles: Role, email: str = "ana@example.edu") -> User:
    with session_scope(engine) as session:
        return make_user(session, *roles, email=email, password=PASSWORD)


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
