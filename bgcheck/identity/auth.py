"""Logging in and out, and turning a bearer token into an ``Actor``.

Every login attempt is an audit event (succeeded, failed, throttled). A failure answers
the same, and takes about as long, whether or not the email belongs to an account.

A password sign-in has two steps: ``check_password`` (the first factor) and
``second_factor`` (a TOTP or recovery code, ``bgcheck.identity.mfa``); the API does both in one
request (``login``), the pages in two. Only the second step's success clears the
account's failure count and records ``login.succeeded``, and a wrong code counts as a
failed login, so a known password does not open a way to guess codes. A provider's
token must show that the person used a second factor there (``shows_mfa``).
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, NoReturn

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from bgcheck import audit
from bgcheck.crypto import Keyring
from bgcheck.identity import mfa, revocations, throttle, tokens
from bgcheck.identity.actors import Actor, load_actor
from bgcheck.identity.oidc import OidcClient, OidcProvider, ProviderUnavailable
from bgcheck.identity.passwords import hash_password_unchecked, needs_update, verify_password
from bgcheck.models import User, utcnow
from bgcheck.platform import ratelimit
from bgcheck.platform.db import session_scope
from bgcheck.platform.errors import (
    Forbidden,
    InvalidInput,
    LoginFailed,
    SecondFactorFailed,
    SecondFactorNotEnrolled,
    SecondFactorRequired,
    SingleSignOnWithoutMfa,
    TooManyAttempts,
    Unauthenticated,
)
from bgcheck.platform.logs import get_logger
from bgcheck.platform.settings import Settings

log = get_logger(__name__)

FAILED = "wrong email or password"
ANONYMOUS = audit.AuditActor("user", None)
# Refusals nobody authenticated are folded into one audit event per address and minute.
NOISE_WINDOW = timedelta(minutes=1)

# Verified against when the email is unknown, so that answer costs the same time.
_DUMMY_HASH = hash_password_unchecked("bgcheck-timing-equalizer-password")


@dataclass(frozen=True, slots=True)
class AuthConfig:
    """What authentication needs, built once per process from the settings."""

    own: tokens.SharedSecret
    token_lifetime: timedelta
    account_policy: throttle.Policy
    address_policy: throttle.Policy
    secret_box: mfa.SecretBox  # seals and opens TOTP secrets (from the keyring)
    provider: OidcProvider | None = None
    client: OidcClient | None = None  # browser sign-in through the provider (bgcheck.identity.sso)
    # What a provider's token must carry to show a second factor (``shows_mfa``).
    mfa_amr: frozenset[str] = frozenset({"mfa"})
    mfa_acr: frozenset[str] = frozenset()

    @classmethod
    def from_settings(cls, settings: Settings, jwt_secret: str, keyring: Keyring) -> AuthConfig:
        window = block = timedelta(minutes=settings.login_block_minutes)
        provider = client = None
        if settings.oidc_issuer and settings.oidc_audience:
            provider = OidcProvider(
                settings.oidc_issuer,
                settings.oidc_audience,
                min_refresh_seconds=settings.oidc_jwks_min_refresh_seconds,
            )
            if settings.oidc_client_id:
                secret = settings.oidc_client_secret
                client = OidcClient(
                    settings.oidc_client_id, secret.get_secret_value() if secret else None
                )
        return cls(
            own=tokens.SharedSecret(jwt_secret, settings.jwt_issuer, settings.jwt_audience),
            token_lifetime=timedelta(minutes=settings.access_token_minutes),
            account_policy=throttle.Policy(
                max_failures=settings.login_max_failures,
                slow_after=max(1, settings.login_max_failures // 2),
                window=window,
                block=block,
            ),
            address_policy=throttle.Policy(
                max_failures=settings.login_max_failures_per_address,
                slow_after=max(1, settings.login_max_failures_per_address // 2),
                window=window,
                block=block,
            ),
            secret_box=mfa.SecretBox.for_keyring(keyring),
            provider=provider,
            client=client,
            mfa_amr=settings.oidc_mfa_amr_values,
            mfa_acr=settings.oidc_mfa_acr_values,
        )


@dataclass(frozen=True, slots=True)
class IssuedToken:
    access_token: str
    expires_in: int
    user_id: uuid.UUID


class NewCodeRefused(InvalidInput):
    """The code typed from a new authenticator app does not fit the secret it was given."""


@dataclass(frozen=True, slots=True)
class PasswordChecked:
    """The first factor passed: whose, when, and whether they have an authenticator."""

    user_id: uuid.UUID
    email: str
    enrolled: bool
    checked_at: datetime


def check_password(
    engine: Engine,
    config: AuthConfig,
    *,
    email: str,
    password: str,
    client_address: str,
    now: datetime,
) -> PasswordChecked:
    """Check the password (the first factor), or raise (and record) why not.

    Unlike other services this one owns its transactions, because argon2id is slow on
    purpose (~50 ms) and must not run inside one: on SQLite a write transaction holds the
    database's only write lock. So: count the attempt in one short transaction (the
    throttle reserves it before the check), verify with none open, then record the outcome
    in a second short one. Call it from a worker thread.

    A right password signs nobody in: it gives its reservation back, but the account's
    earlier failures stay, and nothing is recorded until the second factor
    (``second_factor``) has been shown.
    """
    email = email.strip().lower()
    keys = (throttle.key("account", email), throttle.key("address", client_address))
    with session_scope(engine) as session:
        wait = _reserve(session, config, keys, client_address, now)
        account = session.exec(
            select(User.id, User.password_hash, User.is_active).where(User.email == email)
        ).first()
    if wait is not None:
        _too_many(wait)

    user_id, stored_hash, active = account if account is not None else (None, None, False)
    valid = verify_password(password, stored_hash or _DUMMY_HASH)
    if user_id is None or not active or stored_hash is None or not valid:
        with session_scope(engine) as session:
            _settle(session, config, keys, now)
            audit.record(
                session,
                audit.AuditActor.user(user_id) if user_id else ANONYMOUS,
                action="login.failed",
                data={"address": client_address, "known_account": user_id is not None},
            )
        raise LoginFailed(FAILED)

    rehashed = hash_password_unchecked(password) if needs_update(stored_hash) else None
    with session_scope(engine) as session:
        _release(session, keys)  # not a failure; the second factor counts on its own
        row = session.get(User, user_id)
        if row is None or not row.is_active:  # disabled while we were hashing
            raise LoginFailed(FAILED)
        if rehashed is not None and row.password_hash == stored_hash:
            row.password_hash = rehashed
            session.add(row)
        enrolled = mfa.is_enrolled(row)
    return PasswordChecked(user_id, email, enrolled, now)


def login(
    engine: Engine,
    config: AuthConfig,
    *,
    email: str,
    password: str,
    otp: str | None,
    client_address: str,
    now: datetime,
) -> IssuedToken:
    """The API's sign-in: the password and the one-time code (``otp``: a TOTP code or a
    recovery code) in one request, then an access token; or raise (and record) why not.

    No code, or a wrong one, counts as a failed login. An account without an
    authenticator is refused: it is set up in the web pages (``SecondFactorNotEnrolled``).
    """
    checked = check_password(
        engine, config, email=email, password=password, client_address=client_address, now=now
    )
    if not checked.enrolled:
        with session_scope(engine) as session:
            audit.record(
                session,
                audit.AuditActor.user(checked.user_id),
                action="login.failed",
                data={
                    "address": client_address,
                    "known_account": True,
                    "reason": mfa.Refusal.NOT_ENROLLED.value,
                },
            )
        raise SecondFactorNotEnrolled(API_NOT_ENROLLED)
    try:
        second_factor(
            engine,
            config,
            user_id=checked.user_id,
            code=otp,
            client_address=client_address,
            now=now,
        )
    except SecondFactorRequired as exc:
        # The same refusal, worded for an API client: which form field to send.
        refusal = mfa.Refusal(exc.reason)
        error = SecondFactorRequired if refusal is mfa.Refusal.MISSING else SecondFactorFailed
        raise error(API_MESSAGES[refusal], reason=exc.reason) from None
    token, _ = tokens.issue(
        config.own, subject=str(checked.user_id), now=now, lifetime=config.token_lifetime
    )
    return IssuedToken(token, int(config.token_lifetime.total_seconds()), checked.user_id)


# What a person is told when a code is refused: the pages' wording, and the API's (which
# names the form field to send it in).
MESSAGES: Final[dict[mfa.Refusal, str]] = {
    mfa.Refusal.MISSING: "Enter the 6-digit code your authenticator app shows now.",
    mfa.Refusal.WRONG_CODE: (
        "The code did not match. Enter the 6 digits your authenticator app shows now."
    ),
    mfa.Refusal.REUSED_CODE: (
        "That code was already used. Wait until your authenticator app shows a new code, "
        "then enter the new one."
    ),
    mfa.Refusal.WRONG_RECOVERY_CODE: (
        "The recovery code did not match an unused one. Enter one of the recovery codes you "
        "saved (like 7K3D-Q9XF-M2PA); each works only once."
    ),
    mfa.Refusal.NOT_ENROLLED: (
        "This account has no authenticator app yet. Sign in again to set one up."
    ),
}
_OTP_FIELD: Final = "in the form field `otp`"
API_MESSAGES: Final[dict[mfa.Refusal, str]] = {
    mfa.Refusal.MISSING: (
        "This account signs in with a second factor: send the 6-digit code your "
        f"authenticator app shows now (or one of your recovery codes) {_OTP_FIELD}."
    ),
    mfa.Refusal.WRONG_CODE: (
        "The one-time code did not match: send the 6-digit code your authenticator app "
        f"shows now {_OTP_FIELD}."
    ),
    mfa.Refusal.REUSED_CODE: (
        "That one-time code was already used: wait for your authenticator app's next code "
        f"and send it {_OTP_FIELD}."
    ),
    mfa.Refusal.WRONG_RECOVERY_CODE: (
        "The recovery code did not match an unused one: send a current 6-digit code, or "
        f"an unused recovery code, {_OTP_FIELD}."
    ),
    mfa.Refusal.NOT_ENROLLED: (
        "This account has no authenticator app yet: sign in once in a web browser at "
        f"/login to set one up, then send its code {_OTP_FIELD}."
    ),
}
API_NOT_ENROLLED: Final = API_MESSAGES[mfa.Refusal.NOT_ENROLLED]


def second_factor(
    engine: Engine,
    config: AuthConfig,
    *,
    user_id: uuid.UUID,
    code: str | None,
    client_address: str,
    now: datetime,
    methods: frozenset[mfa.Method] = mfa.EITHER,
) -> mfa.Method:
    """The second step of a password sign-in: accept a TOTP or recovery code once, then
    clear the account's failure count and record ``login.succeeded``
    (``password+totp``, ``password+recovery_code``).

    A refused code counts as a failed login for the account and the address, and is
    recorded as ``mfa.failed``; a blocked account or address is refused before any code
    is looked at (``TooManyAttempts``).
    """
    with session_scope(engine) as session:
        email = session.exec(select(User.email).where(User.id == user_id)).first()
        keys = (throttle.key("account", email or ""), throttle.key("address", client_address))
        wait = _reserve(session, config, keys, client_address, now) if email else None
    if email is None:
        raise LoginFailed(FAILED)
    if wait is not None:
        _too_many(wait)
    with session_scope(engine) as session:
        try:
            method = mfa.verify(
                session, config.secret_box, user_id=user_id, code=code, now=now, methods=methods
            )
        except mfa.CodeRefused as refused:  # counted already, by the reservation
            _settle(session, config, keys, now)
            _record_refusal(session, user_id, refused.reason, client_address)
            error = (
                SecondFactorRequired
                if refused.reason is mfa.Refusal.MISSING
                else SecondFactorFailed
            )
            raise error(MESSAGES[refused.reason], reason=refused.reason.value) from None
        _signed_in(session, user_id, keys, f"password+{method.value}", client_address, now)
    return method


def enroll_at_sign_in(
    engine: Engine,
    config: AuthConfig,
    *,
    user_id: uuid.UUID,
    secret: str,
    code: str,
    client_address: str,
    now: datetime,
) -> list[str]:
    """Forced enrollment right after the password: store the new authenticator once its
    code matches, and return the first recovery codes (to be shown once).

    A wrong code here is recorded but not counted as a failed login: the person has the
    secret on their screen, so there is nothing to guess. Nobody is signed in yet: the
    pages do that (``finish_sign_in``) once the codes have been seen.
    """
    with session_scope(engine) as session:
        actor = audit.AuditActor.user(user_id)
        try:
            mfa.enroll(
                session,
                actor,
                config.secret_box,
                user_id=user_id,
                secret=secret,
                code=code,
                now=now,
            )
        except mfa.CodeRefused as refused:
            _record_refusal(session, user_id, refused.reason, client_address, enrolling=True)
            reason = mfa.Refusal.WRONG_CODE  # a new secret has no used steps to speak of
            raise SecondFactorFailed(MESSAGES[reason], reason=reason.value) from None
        return mfa.generate_recovery_codes(session, actor, user_id=user_id, now=now)


def finish_sign_in(
    engine: Engine,
    *,
    user_id: uuid.UUID,
    step_key: str,
    step_expires_at: datetime,
    client_address: str,
    now: datetime,
) -> None:
    """After forced enrollment, once the person has seen their recovery codes: the sign-in
    counts (``login.succeeded`` with ``password+totp``).

    ``step_key`` names the pages' second-step token that vouches for the enrollment; it is
    used up here (kept in ``revoked_tokens`` until it would expire), so a copy of it
    cannot start a second session.
    """
    try:
        with session_scope(engine) as session:
            if not revocations.revoke(session, step_key, until=step_expires_at, now=now):
                raise LoginFailed(FAILED)
            user = session.get(User, user_id)
            if user is None or not mfa.is_enrolled(user):
                raise LoginFailed(FAILED)
            keys = (throttle.key("account", user.email), throttle.key("address", client_address))
            _signed_in(session, user_id, keys, "password+totp", client_address, now, reserved=False)
    except IntegrityError:  # the same token, used twice at once
        raise LoginFailed(FAILED) from None


def confirm_code(
    session: Session,
    actor: Actor,
    config: AuthConfig,
    *,
    code: str | None,
    methods: frozenset[mfa.Method],
    client_address: str,
    now: datetime,
) -> mfa.Method:
    """A signed-in user shows a current code before changing their second factor (the
    account page). Refused codes count in the login throttle, as at sign-in: a stolen
    session must not become a way to guess codes. Raises ``SecondFactorFailed`` (whose
    changes, the count and the ``mfa.failed`` event, commit) or ``TooManyAttempts``."""
    keys = (throttle.key("account", actor.email), throttle.key("address", client_address))
    wait = _reserve(session, config, keys, client_address, now)
    if wait is not None:
        seconds = max(1, math.ceil(wait.total_seconds()))
        raise TooManyAttempts(
            f"Too many wrong codes. Try again in {seconds} seconds.", retry_after_seconds=seconds
        )
    try:
        method = mfa.verify(
            session,
            config.secret_box,
            user_id=actor.user_id,
            code=code,
            now=now,
            methods=methods,
        )
    except mfa.CodeRefused as refused:  # counted already, by the reservation
        _settle(session, config, keys, now)
        _record_refusal(session, actor.user_id, refused.reason, client_address)
        raise SecondFactorFailed(MESSAGES[refused.reason], reason=refused.reason.value) from None
    _release(session, keys)
    return method


NEW_CODE_MISMATCH: Final = (
    "The code from your new app did not match. Check that the new app shows the account "
    "you just scanned from this page, then enter the 6 digits it shows now."
)


def replace_authenticator(
    session: Session,
    actor: Actor,
    config: AuthConfig,
    *,
    current_code: str | None,
    secret: str,
    code: str,
    client_address: str,
    now: datetime,
) -> None:
    """The account page's "new authenticator app": ``code`` from the new app shows it has
    ``secret``; ``current_code`` (from the old app, or a recovery code) shows the person
    still has the second factor, as at sign-in (``confirm_code``). Recovery codes stay.

    The new app's code is checked first and not counted (the person sees the secret);
    ``NewCodeRefused`` names that field.
    """
    try:
        mfa.accepted_step(secret, mfa.normalize(code), now=now, last_step=None)
    except mfa.CodeRefused:
        raise NewCodeRefused(NEW_CODE_MISMATCH) from None
    confirm_code(
        session,
        actor,
        config,
        code=current_code,
        methods=mfa.EITHER,
        client_address=client_address,
        now=now,
    )
    mfa.enroll(
        session,
        actor.audit_actor,
        config.secret_box,
        user_id=actor.user_id,
        secret=secret,
        code=code,
        now=now,
        replacing=True,
    )


def regenerate_recovery_codes(
    session: Session,
    actor: Actor,
    config: AuthConfig,
    *,
    code: str | None,
    client_address: str,
    now: datetime,
) -> list[str]:
    """A new set of recovery codes, replacing the old, once a current code from the
    authenticator app shows it is the person (a recovery code does not: whoever has lost
    the list may not use it to make a new one)."""
    confirm_code(
        session,
        actor,
        config,
        code=code,
        methods=frozenset({mfa.Method.TOTP}),
        client_address=client_address,
        now=now,
    )
    return mfa.generate_recovery_codes(session, actor.audit_actor, user_id=actor.user_id, now=now)


def _reserve(
    session: Session,
    config: AuthConfig,
    keys: tuple[str, str],
    client_address: str,
    now: datetime,
) -> timedelta | None:
    """Count this attempt for the account and the address before checking it (so parallel
    guesses cannot all pass the "blocked?" read first); how long to wait when refused.

    A refusal is recorded as ``login.throttled``, folded per address and minute: nobody
    needs an account to cause one, so nobody may fill the audit trail with them.
    """
    account_key, address_key = keys
    wait = throttle.wait_time(session, keys, now)
    if wait is None:
        account_ok = throttle.reserve(session, account_key, config.account_policy, now)
        address_ok = throttle.reserve(session, address_key, config.address_policy, now)
        if not (account_ok and address_ok):
            wait = throttle.wait_time(session, keys, now)
    if wait is not None:
        audit.record_folded(
            session,
            ANONYMOUS,
            action="login.throttled",
            source=client_address,
            data={"address": client_address},
            window=NOISE_WINDOW,
            now=now,
        )
    return wait


def _settle(session: Session, config: AuthConfig, keys: tuple[str, str], now: datetime) -> None:
    """The reserved attempt was wrong: slow down or block, as due."""
    account_key, address_key = keys
    throttle.settle(session, account_key, config.account_policy, now)
    throttle.settle(session, address_key, config.address_policy, now)


def _release(session: Session, keys: tuple[str, str]) -> None:
    """Give back a reservation: the attempt was right."""
    for key in keys:
        throttle.release(session, key)


def _too_many(wait: timedelta) -> NoReturn:
    seconds = max(1, math.ceil(wait.total_seconds()))
    raise TooManyAttempts(
        f"too many failed logins; try again in {seconds} seconds", retry_after_seconds=seconds
    )


def _record_refusal(
    session: Session,
    user_id: uuid.UUID,
    reason: mfa.Refusal,
    client_address: str,
    *,
    enrolling: bool = False,
) -> None:
    data: dict[str, str | bool] = {"address": client_address, "reason": reason.value}
    if enrolling:
        data["enrolling"] = True
    audit.record(session, audit.AuditActor.user(user_id), action="mfa.failed", data=data)


def _signed_in(
    session: Session,
    user_id: uuid.UUID,
    keys: tuple[str, str],
    method: str,
    client_address: str,
    now: datetime,
    *,
    reserved: bool = True,
) -> None:
    """Both factors shown: the account's failure count goes, the address gets back the
    attempt it ``reserved``, and the sign-in is recorded."""
    row = session.get(User, user_id)
    if row is None or not row.is_active:
        raise LoginFailed(FAILED)
    account_key, address_key = keys
    throttle.clear(session, account_key)
    if reserved:
        throttle.release(session, address_key)
    row.last_login_at = now
    session.add(row)
    audit.record(
        session,
        audit.AuditActor.user(user_id),
        action="login.succeeded",
        data={"address": client_address, "method": method},
    )


def authenticate(session: Session, config: AuthConfig, token: str, *, now: datetime) -> Actor:
    """The actor behind a bearer token: ours (HS256) or the identity provider's (RS256)."""
    try:
        claims = tokens.verify(token, config.own)
        user_id = _user_id(claims.subject)
    except tokens.InvalidToken as own_error:
        if config.provider is None:
            log.info("token refused", reason=own_error.reason)
            raise Unauthenticated("missing, invalid or expired access token") from None
        claims, user_id = _provider_user(session, config, config.provider, token)

    token_key = _revocation_key(claims)
    if token_key is not None and revocations.is_revoked(session, token_key):
        raise Unauthenticated("this access token was signed out")
    actor = load_actor(session, user_id, token_id=token_key, token_expires_at=claims.expires_at)
    if actor is None:
        raise Unauthenticated("this account is disabled")
    return actor


def logout(session: Session, actor: Actor, *, now: datetime) -> None:
    """Revoke the token the actor came with until it would have expired anyway."""
    if actor.token_id is None or actor.token_expires_at is None:
        return
    revocations.revoke(session, actor.token_id, until=actor.token_expires_at, now=now)
    audit.record(session, actor.audit_actor, action="logout")


def purge_sign_in_state(session: Session) -> None:
    """Hourly: forget revocations of expired tokens and counts of ended windows."""
    now = utcnow()
    revocations.purge(session, now)
    throttle.purge(session, now, older_than=timedelta(days=1))
    ratelimit.purge(session, now, older_than=timedelta(days=1))


def _provider_user(
    session: Session, config: AuthConfig, provider: OidcProvider, token: str
) -> tuple[tokens.Claims, uuid.UUID]:
    try:
        claims = tokens.verify(token, provider.verifier())
    except tokens.InvalidToken as exc:
        log.info("token refused", reason=exc.reason)
        raise Unauthenticated("missing, invalid or expired access token") from None
    except ProviderUnavailable:
        raise Unauthenticated("the identity provider cannot be reached; try again") from None
    if not shows_mfa(claims, amr=config.mfa_amr, acr=config.mfa_acr):
        raise SingleSignOnWithoutMfa(NO_MFA)
    email = vouched_email(claims)
    if email is None:
        raise Forbidden("the identity provider did not vouch for an email address")
    user = session.exec(select(User).where(User.email == email)).first()
    if user is None:
        raise Forbidden("no bgcheck account for this identity; ask an administrator")
    return claims, user.id


def vouched_email(claims: tokens.Claims) -> str | None:
    """The email (lower-cased) a provider's token speaks for, unless it says unverified.

    One rule for bearer tokens and browser sign-in: the account with this email is the
    person's; their roles are bgcheck's own.
    """
    if not claims.email or claims.raw.get("email_verified") is False:
        return None
    return claims.email


NO_MFA: Final = (
    "your identity provider did not confirm a second factor; sign in there with MFA "
    "(multi-factor authentication) and try again"
)


def shows_mfa(claims: tokens.Claims, *, amr: frozenset[str], acr: frozenset[str]) -> bool:
    """Whether a provider's token says the person used a second factor: its ``amr``
    (authentication methods, RFC 8176) names one of ``amr``, or its ``acr`` is one of
    ``acr`` (``BGCHECK_OIDC_MFA_AMR``, ``BGCHECK_OIDC_MFA_ACR``)."""
    methods = claims.raw.get("amr")
    if isinstance(methods, str):  # one method, sent bare by some providers
        methods = [methods]
    if isinstance(methods, list) and any(
        isinstance(method, str) and method in amr for method in methods
    ):
        return True
    level = claims.raw.get("acr")
    return isinstance(level, str) and level in acr


def _user_id(subject: str) -> uuid.UUID:
    try:
        return uuid.UUID(subject)
    except ValueError:
        raise tokens.InvalidToken("subject is not a user id") from None


def _revocation_key(claims: tokens.Claims) -> str | None:
    if claims.token_id is None:
        return None
    return revocations.key(claims.issuer, claims.token_id)
