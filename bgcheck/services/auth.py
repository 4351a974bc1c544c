"""Logging in and out, and turning a bearer token into an ``Actor``.

Every login attempt is an audit event (succeeded, failed, throttled). A failure answers
the same, and takes about as long, whether or not the email belongs to an account.
"""

from __future__ import annotations

import hashlib
import math
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, delete
from sqlmodel import Session, col, select

from bgcheck import audit, ratelimit, throttle, tokens, worker
from bgcheck.actors import Actor, load_actor
from bgcheck.db import session_scope
from bgcheck.errors import Forbidden, LoginFailed, TooManyAttempts, Unauthenticated
from bgcheck.logs import get_logger
from bgcheck.models import RevokedToken, User, utcnow
from bgcheck.oidc import OidcClient, OidcProvider, ProviderUnavailable
from bgcheck.passwords import hash_password_unchecked, needs_update, verify_password
from bgcheck.settings import Settings

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
    provider: OidcProvider | None = None
    client: OidcClient | None = None  # browser sign-in through the provider (services/sso)

    @classmethod
    def from_settings(cls, settings: Settings, jwt_secret: str) -> AuthConfig:
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
            provider=provider,
            client=client,
        )


@dataclass(frozen=True, slots=True)
class IssuedToken:
    access_token: str
    expires_in: int
    user_id: uuid.UUID


def login(
    engine: Engine,
    config: AuthConfig,
    *,
    email: str,
    password: str,
    client_address: str,
    now: datetime,
) -> IssuedToken:
    """Check the password and issue an access token, or raise (and record) why not.

    Unlike other services this one owns its transactions, because argon2id is slow on
    purpose (~50 ms) and must not run inside one: on SQLite a write transaction holds the
    database's only write lock. So: count the attempt in one short transaction (the
    throttle reserves it before the check), verify with none open, then record the outcome
    in a second short one. Call it from a worker thread.
    """
    email = email.strip().lower()
    account_key = throttle.key("account", email)
    address_key = throttle.key("address", client_address)
    with session_scope(engine) as session:
        wait = throttle.wait_time(session, (account_key, address_key), now)
        if wait is None:
            # Reserved before the (slow) check, so parallel guesses cannot pass together.
            account_ok = throttle.reserve(session, account_key, config.account_policy, now)
            address_ok = throttle.reserve(session, address_key, config.address_policy, now)
            if not (account_ok and address_ok):
                wait = throttle.wait_time(session, (account_key, address_key), now)
        if wait is not None:
            ratelimit.record_folded(
                session,
                ANONYMOUS,
                action="login.throttled",
                source=client_address,
                data={"address": client_address},
                window=NOISE_WINDOW,
                now=now,
            )
        account = session.exec(
            select(User.id, User.password_hash, User.is_active).where(User.email == email)
        ).first()

    if wait is not None:
        seconds = max(1, math.ceil(wait.total_seconds()))
        raise TooManyAttempts(
            f"too many failed logins; try again in {seconds} seconds",
            retry_after_seconds=seconds,
        )

    user_id, stored_hash, active = account if account is not None else (None, None, False)
    valid = verify_password(password, stored_hash or _DUMMY_HASH)
    if user_id is None or not active or stored_hash is None or not valid:
        with session_scope(engine) as session:
            audit.record(
                session,
                audit.AuditActor.user(user_id) if user_id else ANONYMOUS,
                action="login.failed",
                data={"address": client_address, "known_account": user_id is not None},
            )
        raise LoginFailed(FAILED)

    rehashed = hash_password_unchecked(password) if needs_update(stored_hash) else None
    with session_scope(engine) as session:
        throttle.clear(session, account_key)
        throttle.release(session, address_key)
        row = session.get(User, user_id)
        if row is None or not row.is_active:  # disabled while we were hashing
            raise LoginFailed(FAILED)
        if rehashed is not None and row.password_hash == stored_hash:
            row.password_hash = rehashed
        row.last_login_at = now
        session.add(row)
        audit.record(
            session,
            audit.AuditActor.user(user_id),
            action="login.succeeded",
            data={"address": client_address, "method": "password"},
        )
    token, _ = tokens.issue(
        config.own, subject=str(user_id), now=now, lifetime=config.token_lifetime
    )
    return IssuedToken(token, int(config.token_lifetime.total_seconds()), user_id)


def authenticate(session: Session, config: AuthConfig, token: str, *, now: datetime) -> Actor:
    """The actor behind a bearer token: ours (HS256) or the identity provider's (RS256)."""
    try:
        claims = tokens.verify(token, config.own)
        user_id = _user_id(claims.subject)
    except tokens.InvalidToken as own_error:
        if config.provider is None:
            log.info("token refused", reason=own_error.reason)
            raise Unauthenticated("missing, invalid or expired access token") from None
        claims, user_id = _provider_user(session, config.provider, token)

    if _is_revoked(session, claims):
        raise Unauthenticated("this access token was signed out")
    actor = load_actor(
        session, user_id, token_id=_revocation_key(claims), token_expires_at=claims.expires_at
    )
    if actor is None:
        raise Unauthenticated("this account is disabled")
    return actor


def logout(session: Session, actor: Actor, *, now: datetime) -> None:
    """Revoke the token the actor came with until it would have expired anyway."""
    if actor.token_id is None or actor.token_expires_at is None:
        return
    if session.get(RevokedToken, actor.token_id) is None:
        session.add(
            RevokedToken(
                token_key=actor.token_id, expires_at=actor.token_expires_at, revoked_at=now
            )
        )
    audit.record(session, actor.audit_actor, action="logout")


def purge_revocations(session: Session, now: datetime) -> None:
    """Revocations of tokens that have expired anyway are no longer needed."""
    session.execute(delete(RevokedToken).where(col(RevokedToken.expires_at) < now))


@worker.register("purge-sign-in-state", every_seconds=3600)
def purge_sign_in_state(session: Session) -> None:
    """Hourly: forget revocations of expired tokens and counts of ended windows."""
    now = utcnow()
    purge_revocations(session, now)
    throttle.purge(session, now, older_than=timedelta(days=1))
    ratelimit.purge(session, now, older_than=timedelta(days=1))


def _provider_user(
    session: Session, provider: OidcProvider, token: str
) -> tuple[tokens.Claims, uuid.UUID]:
    try:
        claims = tokens.verify(token, provider.verifier())
    except tokens.InvalidToken as exc:
        log.info("token refused", reason=exc.reason)
        raise Unauthenticated("missing, invalid or expired access token") from None
    except ProviderUnavailable:
        raise Unauthenticated("the identity provider cannot be reached; try again") from None
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


def _user_id(subject: str) -> uuid.UUID:
    try:
        return uuid.UUID(subject)
    except ValueError:
        raise tokens.InvalidToken("subject is not a user id") from None


def _revocation_key(claims: tokens.Claims) -> str | None:
    if claims.token_id is None:
        return None
    return hashlib.sha256(f"{claims.issuer}\n{claims.token_id}".encode()).hexdigest()


def _is_revoked(session: Session, claims: tokens.Claims) -> bool:
    key = _revocation_key(claims)
    return key is not None and session.get(RevokedToken, key) is not None
