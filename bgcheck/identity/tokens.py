"""Every use of python-jose, behind two functions: ``issue`` and ``verify``.

python-jose is what the spec names, and it has sharp edges its users have been cut by,
so this module pins down each one (see docs/identity.md, "Tokens"):

- One algorithm per verifier, chosen by us, never by the token's header: HS256 with our
  secret for our own tokens, RS256 with the provider's public key for single sign-on.
  A token whose header names another algorithm is refused before jose sees it.
- ``exp``, ``iat``, ``aud``, ``iss``, ``sub`` (and ``jti`` for our tokens) are required
  explicitly: jose's defaults would accept a token without them.
- The provider's key is picked by ``kid`` here and handed to jose as one constructed
  RSA key object: never raw PEM/DER bytes (which jose would happily use as an HMAC
  secret) and never a whole key set.
- No JWE, no compression: a token that is not a three-part JWS is refused.
- Times are checked here too: ``exp``, ``iat`` and ``nbf`` must be whole seconds that a
  ``datetime`` can hold (jose crashes on a list or ``Infinity`` and accepts 10**12, which
  ``datetime`` cannot hold), and ``iat`` may not be later than now plus the clock skew we
  allow (jose only checks that it is a number).

Replacing python-jose later means rewriting this file only.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from jose import jwk, jws, jwt
from jose.exceptions import JOSEError

OWN_ALGORITHM: Final = "HS256"
PROVIDER_ALGORITHM: Final = "RS256"
LEEWAY_SECONDS: Final = 30

_REQUIRED: Final = ("exp", "iat", "aud", "iss", "sub")
_TIMES: Final = ("exp", "iat", "nbf")
# The last second a datetime holds (9999-12-31T23:59:59Z), less a year, so that a moment
# read from a claim can still have a session's length added to it.
LATEST_SECOND: Final = int(datetime(9998, 12, 31, tzinfo=UTC).timestamp())


class InvalidToken(Exception):
    """Any reason a token is not accepted; ``reason`` is safe to log, never shown to callers."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class SharedSecret:
    """Our own tokens: HS256 with ``BGCHECK_JWT_SECRET``."""

    secret: str
    issuer: str
    audience: str


@dataclass(frozen=True, slots=True)
class ProviderKeys:
    """An identity provider's tokens: RS256 with the JWK whose ``kid`` the token names.

    ``key_for(kid)`` returns that one JWK (a dict from the provider's JWKS) or None; the
    OIDC client behind it refreshes its cache on an unknown ``kid``.
    """

    key_for: Callable[[str], Mapping[str, Any] | None]
    issuer: str
    audience: str


Verifier = SharedSecret | ProviderKeys


@dataclass(frozen=True, slots=True)
class Claims:
    subject: str
    issuer: str
    issued_at: datetime
    expires_at: datetime
    token_id: str | None
    email: str | None
    raw: Mapping[str, Any]


def issue(
    verifier: SharedSecret,
    *,
    subject: str,
    now: datetime,
    lifetime: timedelta,
    extra: Mapping[str, str | int] | None = None,
) -> tuple[str, Claims]:
    """A signed access token for ``subject`` and the claims it carries.

    ``extra``: private claims (the web session's ``sid`` and ``auth_time``); they can
    never replace a registered claim.
    """
    expires_at = now + lifetime
    registered = {
        "iss": verifier.issuer,
        "aud": verifier.audience,
        "sub": subject,
        "iat": int(now.timestamp()),
        "exp": int(expires_at.timestamp()),
        "jti": secrets.token_urlsafe(16),
    }
    if extra and not registered.keys().isdisjoint(extra):
        raise ValueError("extra claims cannot replace registered ones")
    claims = {**(extra or {}), **registered}
    token = jwt.encode(claims, verifier.secret, algorithm=OWN_ALGORITHM)
    return token, _claims(claims)


def verify(token: str, verifier: Verifier, *, now: datetime | None = None) -> Claims:
    """The token's claims if it is well-formed, correctly signed, current and ours to accept.

    ``now`` (default: the clock) is what ``iat`` is compared with; jose checks ``exp``
    and ``nbf`` against the clock.
    """
    if token.count(".") != 2:
        raise InvalidToken("not a compact JWS (JWE and other forms are refused)")
    try:
        header = jws.get_unverified_header(token)
    except JOSEError:
        raise InvalidToken("unreadable header") from None
    expected = OWN_ALGORITHM if isinstance(verifier, SharedSecret) else PROVIDER_ALGORITHM
    if header.get("alg") != expected:
        raise InvalidToken(f"algorithm {header.get('alg')!r} refused; only {expected}")
    if "zip" in header or "crit" in header:
        raise InvalidToken("compressed or critical-extension tokens are refused")

    key: Any
    required: tuple[str, ...] = _REQUIRED
    if isinstance(verifier, SharedSecret):
        key, required = verifier.secret, (*_REQUIRED, "jti")
    else:
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise InvalidToken("no key id")
        found = verifier.key_for(kid)
        if found is None:
            raise InvalidToken("unknown key id")
        key = _rsa_public_key(found)

    options = {f"require_{claim}": True for claim in required} | {
        "verify_signature": True,
        "verify_exp": True,
        "verify_iat": True,
        "verify_nbf": True,
        "verify_aud": True,
        "verify_iss": True,
        "verify_sub": True,
        "verify_jti": True,
        "leeway": LEEWAY_SECONDS,
    }
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=[expected],
            options=options,
            audience=verifier.audience,
            issuer=verifier.issuer,
        )
    except JOSEError as exc:
        raise InvalidToken(type(exc).__name__) from None
    except (TypeError, OverflowError):  # jose's int() of a list, null or Infinity
        raise InvalidToken("a time claim is not a number") from None
    for name in _TIMES:
        if name in claims and moment(claims[name]) is None:
            raise InvalidToken(f"{name} is not a whole number of seconds in range")
    issued = int((now or datetime.now(UTC)).timestamp())
    if claims["iat"] > issued + LEEWAY_SECONDS:
        raise InvalidToken("issued in the future (iat)")
    return _claims(claims)


def moment(value: object) -> datetime | None:
    """A time claim (seconds since 1970, a whole number) as a UTC datetime, or None when
    it is not one that a datetime can hold."""
    if type(value) is not int or not 0 <= value <= LATEST_SECOND:  # bool is not a time
        return None
    return datetime.fromtimestamp(value, UTC)


def _rsa_public_key(jwk_dict: Mapping[str, Any]) -> Any:
    """One RSA public key object for RS256, built from one JWK; anything else is refused."""
    if jwk_dict.get("kty") != "RSA" or "d" in jwk_dict:
        raise InvalidToken("the provider key is not an RSA public key")
    if jwk_dict.get("alg", PROVIDER_ALGORITHM) != PROVIDER_ALGORITHM:
        raise InvalidToken("the provider key is not meant for RS256")
    if jwk_dict.get("use", "sig") != "sig":
        raise InvalidToken("the provider key is not a signing key")
    try:
        return jwk.construct(dict(jwk_dict), algorithm=PROVIDER_ALGORITHM)
    except JOSEError:
        raise InvalidToken("the provider key is malformed") from None


def _claims(claims: Mapping[str, Any]) -> Claims:
    email = claims.get("email")
    return Claims(
        subject=str(claims["sub"]),
        issuer=str(claims["iss"]),
        issued_at=datetime.fromtimestamp(int(claims["iat"]), UTC),
        expires_at=datetime.fromtimestamp(int(claims["exp"]), UTC),
        token_id=claims.get("jti"),
        email=email.strip().lower() if isinstance(email, str) else None,
        raw=dict(claims),
    )
