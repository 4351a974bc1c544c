"""Signing in to the web pages through the OpenID Connect provider (docs/pages.md).

The authorization-code flow with PKCE (S256), ``state`` and ``nonce`` (OpenID Connect
Core 1.0 §3.1, RFC 7636, RFC 9700 §2.1):

- ``begin`` makes a random ``state``, ``nonce`` and PKCE ``code_verifier``, and returns
  the provider's sign-in URL and a *flow token* that holds the three: an HS256 token from
  ``bgcheck.identity.tokens`` with an audience of its own (``<jwt audience>:sso-flow``) that lives
  ``FLOW_LIFETIME``. The pages keep it in an HttpOnly cookie, which binds the flow to the
  browser that started it.
- ``finish`` takes the provider's answer in that browser. The ``state`` must be the flow
  token's (compared in constant time); the flow token is then used up (its ``jti`` goes
  into ``revoked_tokens``), the code is redeemed with the ``code_verifier``, and the ID
  token is verified as provider bearer tokens are (RS256 by the provider's JWKS, issuer,
  expiry), with our client id as the audience and the flow's ``nonce``; its ``amr`` or
  ``acr`` must show that the person used a second factor (``auth.shows_mfa``). The
  account is the one with the email the provider vouches for (``auth.vouched_email``, as
  for bearer tokens), if active; ``login.succeeded`` is recorded with ``method: "sso"``.

Every failure records ``login.failed`` with a ``reason`` (a ``Failure``) and raises
``SingleSignOnFailed`` with a message for the person; nothing else is changed. Like
``auth.login``, ``finish`` owns its transactions: it calls the provider over the network
and must not hold a database transaction (on SQLite, the write lock) meanwhile.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final
from urllib.parse import urlencode

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from bgcheck import audit
from bgcheck.identity import auth, revocations, tokens
from bgcheck.identity.oidc import CodeRefused, OidcClient, OidcProvider, ProviderUnavailable
from bgcheck.models import User
from bgcheck.platform.db import session_scope
from bgcheck.platform.errors import SingleSignOnFailed
from bgcheck.platform.logs import get_logger

log = get_logger(__name__)

FLOW_LIFETIME: Final = timedelta(minutes=10)
SCOPE: Final = "openid email"
# The ``error`` codes of RFC 6749 §4.1.2.1 and OpenID Connect Core §3.1.2.6: only these are
# logged, because the callback's query string is anyone's to write.
PROVIDER_ERRORS: Final = frozenset(
    {
        "invalid_request",
        "unauthorized_client",
        "access_denied",
        "unsupported_response_type",
        "invalid_scope",
        "server_error",
        "temporarily_unavailable",
        "interaction_required",
        "login_required",
        "account_selection_required",
        "consent_required",
        "invalid_request_uri",
        "invalid_request_object",
        "request_not_supported",
        "request_uri_not_supported",
        "registration_not_supported",
    }
)


class Failure(StrEnum):
    NOT_CONFIGURED = "not_configured"
    PROVIDER_UNAVAILABLE = "provider_unavailable"
    FLOW_MISSING = "flow_missing"  # no flow cookie: expired, or another browser
    FLOW_INVALID = "flow_invalid"  # expired, or not ours
    STATE_MISMATCH = "state_mismatch"
    FLOW_REUSED = "flow_reused"
    PROVIDER_ERROR = "provider_error"  # the provider answered with ``error``
    NO_CODE = "no_code"
    CODE_REFUSED = "code_refused"  # e.g. a used code, or the wrong PKCE verifier
    INVALID_ID_TOKEN = "invalid_id_token"  # noqa: S105  (a reason, not a secret)
    NONCE_MISMATCH = "nonce_mismatch"
    NO_MFA = "no_mfa"  # the ID token does not show a second factor (amr/acr)
    NO_VERIFIED_EMAIL = "no_verified_email"
    UNKNOWN_ACCOUNT = "unknown_account"
    ACCOUNT_DISABLED = "account_disabled"


_AGAIN: Final = "Please sign in again."
_EXPIRED: Final = (
    "This single sign-on attempt has expired, or it was started in another browser. " + _AGAIN
)
_UNVERIFIED: Final = "The identity provider's answer could not be verified. " + _AGAIN
MESSAGES: Final[dict[Failure, str]] = {
    Failure.NOT_CONFIGURED: "Single sign-on is not configured.",
    Failure.PROVIDER_UNAVAILABLE: (
        "The identity provider cannot be reached right now. Please try again later, "
        "or sign in with your password."
    ),
    Failure.FLOW_MISSING: _EXPIRED,
    Failure.FLOW_INVALID: _EXPIRED,
    Failure.STATE_MISMATCH: (
        "This answer from the identity provider does not belong to the sign-in started in "
        "this browser. " + _AGAIN
    ),
    Failure.FLOW_REUSED: "This single sign-on answer was already used. " + _AGAIN,
    Failure.PROVIDER_ERROR: (
        "The identity provider did not sign you in. Please try again, "
        "or sign in with your password."
    ),
    Failure.NO_CODE: "The identity provider's answer was incomplete. " + _AGAIN,
    Failure.CODE_REFUSED: "The identity provider refused to complete the sign-in. " + _AGAIN,
    Failure.INVALID_ID_TOKEN: _UNVERIFIED,
    Failure.NONCE_MISMATCH: _UNVERIFIED,
    Failure.NO_MFA: (
        "Your identity provider did not confirm a second factor. Sign in there with "
        "multi-factor authentication (MFA), for example your authenticator app, then try again."
    ),
    Failure.NO_VERIFIED_EMAIL: (
        "The identity provider did not confirm your email address, so bgcheck cannot tell "
        "which account is yours. Ask your administrator."
    ),
    Failure.UNKNOWN_ACCOUNT: (
        "You signed in at the identity provider, but no bgcheck account has your email "
        "address. Ask your administrator for one."
    ),
    Failure.ACCOUNT_DISABLED: "Your bgcheck account is disabled. Ask your administrator.",
}


@dataclass(frozen=True, slots=True)
class Started:
    url: str  # the provider's sign-in page, with this flow's parameters
    flow_token: str  # for the browser's flow cookie
    expires_in: int  # seconds


def configured(config: auth.AuthConfig) -> bool:
    return config.provider is not None and config.client is not None


def begin(config: auth.AuthConfig, *, redirect_uri: str, now: datetime) -> Started:
    """A new flow: where to send the browser, and the flow token for its cookie."""
    provider, client = _configured(config)
    try:
        endpoint = provider.endpoints().authorization
    except ProviderUnavailable:
        reason = Failure.PROVIDER_UNAVAILABLE
        raise SingleSignOnFailed(MESSAGES[reason], reason=reason.value) from None
    state, nonce, verifier = (secrets.token_urlsafe(32) for _ in range(3))
    flow_token, _ = tokens.issue(
        _flow_secret(config),
        subject="sso-flow",
        now=now,
        lifetime=FLOW_LIFETIME,
        extra={"state": state, "nonce": nonce, "code_verifier": verifier},
    )
    query = urlencode(
        {
            "response_type": "code",
            "client_id": client.client_id,
            "redirect_uri": redirect_uri,
            "scope": SCOPE,
            "state": state,
            "nonce": nonce,
            "code_challenge": code_challenge(verifier),
            "code_challenge_method": "S256",
        }
    )
    url = f"{endpoint}{'&' if '?' in endpoint else '?'}{query}"
    return Started(url, flow_token, int(FLOW_LIFETIME.total_seconds()))


def finish(
    engine: Engine,
    config: auth.AuthConfig,
    *,
    flow_token: str | None,
    state: str | None,
    code: str | None,
    error: str | None,
    redirect_uri: str,
    client_address: str,
    now: datetime,
) -> uuid.UUID:
    """The provider's answer, checked: the id of the user now signed in, or raise why not."""
    provider, client = _configured(config)
    try:
        claims = _verified_answer(
            engine,
            config,
            provider,
            client,
            flow_token=flow_token,
            state=state,
            code=code,
            error=error,
            redirect_uri=redirect_uri,
            now=now,
        )
        return _sign_in(engine, claims, client_address=client_address, now=now)
    except _Refused as refusal:
        with session_scope(engine) as session:
            audit.record(
                session,
                audit.AuditActor.user(refusal.user_id) if refusal.user_id else auth.ANONYMOUS,
                action="login.failed",
                data={
                    "address": client_address,
                    "known_account": refusal.user_id is not None,
                    "method": "sso",
                    "reason": refusal.reason.value,
                },
            )
        log.info("single sign-on refused", reason=refusal.reason.value)
        raise SingleSignOnFailed(MESSAGES[refusal.reason], reason=refusal.reason.value) from None


def code_challenge(verifier: str) -> str:
    """PKCE S256 (RFC 7636 §4.2): BASE64URL(SHA256(verifier)), unpadded."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class _Refused(Exception):
    def __init__(self, reason: Failure, user_id: uuid.UUID | None = None) -> None:
        super().__init__(reason.value)
        self.reason = reason
        self.user_id = user_id


def _configured(config: auth.AuthConfig) -> tuple[OidcProvider, OidcClient]:
    if config.provider is None or config.client is None:
        reason = Failure.NOT_CONFIGURED
        raise SingleSignOnFailed(MESSAGES[reason], reason=reason.value)
    return config.provider, config.client


def _flow_secret(config: auth.AuthConfig) -> tokens.SharedSecret:
    """Flow tokens are ours (HS256) but never a session or an API token: own audience."""
    return replace(config.own, audience=f"{config.own.audience}:sso-flow")


def _verified_answer(
    engine: Engine,
    config: auth.AuthConfig,
    provider: OidcProvider,
    client: OidcClient,
    *,
    flow_token: str | None,
    state: str | None,
    code: str | None,
    error: str | None,
    redirect_uri: str,
    now: datetime,
) -> tokens.Claims:
    if not flow_token:
        raise _Refused(Failure.FLOW_MISSING)
    try:
        flow = tokens.verify(flow_token, _flow_secret(config))
    except tokens.InvalidToken as exc:
        log.info("single sign-on flow refused", reason=exc.reason)
        raise _Refused(Failure.FLOW_INVALID) from None
    expected_state, nonce, verifier = (
        flow.raw.get(name) for name in ("state", "nonce", "code_verifier")
    )
    if not (
        isinstance(expected_state, str) and isinstance(nonce, str) and isinstance(verifier, str)
    ):
        raise _Refused(Failure.FLOW_INVALID)
    if not state or not hmac.compare_digest(state.encode(), expected_state.encode()):
        raise _Refused(Failure.STATE_MISMATCH)
    _use_up(engine, flow, now)
    if error is not None:
        known = error if error in PROVIDER_ERRORS else "other"
        log.info("identity provider answered with an error", error=known)
        raise _Refused(Failure.PROVIDER_ERROR)
    if not code:
        raise _Refused(Failure.NO_CODE)
    try:
        id_token = provider.redeem(
            code, client=client, redirect_uri=redirect_uri, code_verifier=verifier
        )
        claims = tokens.verify(id_token, provider.verifier(audience=client.client_id))
    except ProviderUnavailable:
        raise _Refused(Failure.PROVIDER_UNAVAILABLE) from None
    except CodeRefused:
        raise _Refused(Failure.CODE_REFUSED) from None
    except tokens.InvalidToken as exc:
        log.info("ID token refused", reason=exc.reason)
        raise _Refused(Failure.INVALID_ID_TOKEN) from None
    if not _authorized_party_is(claims, client.client_id):
        raise _Refused(Failure.INVALID_ID_TOKEN)
    token_nonce = claims.raw.get("nonce")
    if not isinstance(token_nonce, str) or not hmac.compare_digest(
        token_nonce.encode(), nonce.encode()
    ):
        raise _Refused(Failure.NONCE_MISMATCH)
    if not auth.shows_mfa(claims, amr=config.mfa_amr, acr=config.mfa_acr):
        raise _Refused(Failure.NO_MFA)
    return claims


def _use_up(engine: Engine, flow: tokens.Claims, now: datetime) -> None:
    """A flow answers once: a replayed callback with a copied cookie is refused here,
    before the provider is asked (which must refuse a used code too)."""
    key = revocations.key("sso-flow", str(flow.token_id))
    try:
        with session_scope(engine) as session:
            if not revocations.revoke(session, key, until=flow.expires_at, now=now):
                raise _Refused(Failure.FLOW_REUSED)
    except IntegrityError:  # the same flow, answered twice at once
        raise _Refused(Failure.FLOW_REUSED) from None


def _authorized_party_is(claims: tokens.Claims, client_id: str) -> bool:
    """OpenID Connect Core §3.1.3.7: with several audiences, or an ``azp``, it is us."""
    audience, party = claims.raw.get("aud"), claims.raw.get("azp")
    if party is None and not (isinstance(audience, list) and len(audience) > 1):
        return True
    return party == client_id


def _sign_in(
    engine: Engine, claims: tokens.Claims, *, client_address: str, now: datetime
) -> uuid.UUID:
    email = auth.vouched_email(claims)
    if email is None:
        raise _Refused(Failure.NO_VERIFIED_EMAIL)
    with session_scope(engine) as session:
        user = session.exec(select(User).where(User.email == email)).first()
        if user is None:
            raise _Refused(Failure.UNKNOWN_ACCOUNT)
        if not user.is_active:
            raise _Refused(Failure.ACCOUNT_DISABLED, user.id)
        user.last_login_at = now
        session.add(user)
        audit.record(
            session,
            audit.AuditActor.user(user.id),
            action="login.succeeded",
            data={"address": client_address, "method": "sso"},
        )
        return user.id
