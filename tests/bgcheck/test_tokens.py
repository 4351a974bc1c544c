"""The JWT attacks python-jose users have been hit by, each refused."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from jose import jwt

from bgcheck.identity import tokens

from support.forgery import b64, forge_hs256
from support.oidc_provider import LocalProvider

SECRET = "s" * 48
OWN = tokens.SharedSecret(SECRET, "bgcheck", "bgcheck-api")
NOW = datetime.now(UTC)


def own_claims(**overrides: object) -> dict:
    now = int(NOW.timestamp())
    claims = {
        "iss": "bgcheck",
        "aud": "bgcheck-api",
        "sub": "user-1",
        "iat": now,
        "exp": now + 600,
        "jti": "abc",
    } | overrides
    return {k: v for k, v in claims.items() if v is not None}


@pytest.fixture(scope="module")
def provider() -> LocalProvider:
    idp = LocalProvider()
    idp.issuer = "https://idp.example.edu"
    return idp


def provider_verifier(idp: LocalProvider) -> tokens.ProviderKeys:
    keys = {key["kid"]: key for key in idp.jwks()["keys"]}
    return tokens.ProviderKeys(key_for=keys.get, issuer=idp.issuer, audience="bgcheck")


def test_an_issued_token_verifies_with_its_claims() -> None:
    token, issued = tokens.issue(OWN, subject="user-1", now=NOW, lifetime=timedelta(minutes=15))
    claims = tokens.verify(token, OWN)
    assert claims.subject == "user-1"
    assert claims.token_id == issued.token_id
    assert claims.expires_at == issued.expires_at


def test_alg_none_is_refused() -> None:
    header = b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    token = f"{header}.{b64(json.dumps(own_claims()).encode())}."
    with pytest.raises(tokens.InvalidToken):
        tokens.verify(token, OWN)


@pytest.mark.parametrize("encoding", ["pem", "der"])
def test_hs256_signed_with_the_providers_public_key_is_refused(
    provider: LocalProvider, encoding: str
) -> None:
    """Key confusion: the public key used as an HMAC secret must never verify."""
    public = provider.public_pem() if encoding == "pem" else provider.public_der()
    claims = {
        "iss": provider.issuer,
        "aud": "bgcheck",
        "sub": "x",
        "email": "a@b.edu",
        "iat": int(NOW.timestamp()),
        "exp": int(NOW.timestamp()) + 600,
    }
    forged = forge_hs256(
        {"alg": "HS256", "typ": "JWT", "kid": provider.current_kid}, claims, public
    )
    with pytest.raises(tokens.InvalidToken):
        tokens.verify(forged, provider_verifier(provider))
    with pytest.raises(tokens.InvalidToken):
        tokens.verify(forged, OWN)


def test_a_good_provider_token_verifies(provider: LocalProvider) -> None:
    claims = tokens.verify(provider.token(), provider_verifier(provider))
    assert claims.email == "reviewer@demo.bgcheck.test"


def test_our_own_hs256_token_is_refused_by_the_provider_verifier(provider: LocalProvider) -> None:
    token, _ = tokens.issue(OWN, subject="user-1", now=NOW, lifetime=timedelta(minutes=5))
    with pytest.raises(tokens.InvalidToken):
        tokens.verify(token, provider_verifier(provider))


def test_a_provider_token_with_an_unknown_kid_is_refused(provider: LocalProvider) -> None:
    unpublished = provider.add_key(publish=False)
    with pytest.raises(tokens.InvalidToken, match="unknown key id"):
        tokens.verify(provider.token(kid=unpublished), provider_verifier(provider))


def test_a_tampered_payload_is_refused() -> None:
    token, _ = tokens.issue(OWN, subject="user-1", now=NOW, lifetime=timedelta(minutes=5))
    header, _payload, signature = token.split(".")
    evil = b64(json.dumps(own_claims(sub="admin-user")).encode())
    with pytest.raises(tokens.InvalidToken):
        tokens.verify(f"{header}.{evil}.{signature}", OWN)


@pytest.mark.parametrize(
    ("claims", "why"),
    [
        (own_claims(exp=int(NOW.timestamp()) - 120), "expired"),
        (own_claims(aud="someone-else"), "wrong audience"),
        (own_claims(iss="https://evil.example"), "wrong issuer"),
        (own_claims(exp=None), "no expiry"),
        (own_claims(aud=None), "no audience"),
        (own_claims(iss=None), "no issuer"),
        (own_claims(sub=None), "no subject"),
        (own_claims(jti=None), "no token id"),
        (own_claims(iat=None), "no issue time"),
    ],
)
def test_claims_that_do_not_hold_are_refused(claims: dict, why: str) -> None:
    token = jwt.encode(claims, SECRET, algorithm="HS256")
    with pytest.raises(tokens.InvalidToken):
        tokens.verify(token, OWN)


def test_a_token_signed_with_another_secret_is_refused() -> None:
    token = jwt.encode(own_claims(), "t" * 48, algorithm="HS256")
    with pytest.raises(tokens.InvalidToken):
        tokens.verify(token, OWN)


def test_hs512_with_our_secret_is_refused() -> None:
    token = jwt.encode(own_claims(), SECRET, algorithm="HS512")
    with pytest.raises(tokens.InvalidToken, match="algorithm"):
        tokens.verify(token, OWN)


def test_a_jwe_is_refused() -> None:
    with pytest.raises(tokens.InvalidToken, match="JWE"):
        tokens.verify("eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2R0NNIn0..aW52.Y2lwaGVy.dGFn", OWN)


@given(st.text(max_size=300))
def test_any_string_is_refused_cleanly(garbage: str) -> None:
    with pytest.raises(tokens.InvalidToken):
        tokens.verify(garbage, OWN)


@given(st.lists(st.binary(max_size=60), min_size=3, max_size=3))
def test_any_three_part_token_is_refused_cleanly(parts: list[bytes]) -> None:
    with pytest.raises(tokens.InvalidToken):
        tokens.verify(".".join(b64(part) for part in parts), OWN)


def test_extra_claims_travel_but_never_replace_registered_ones() -> None:
    now = datetime.now(UTC)
    token, _ = tokens.issue(
        OWN, subject="u1", now=now, lifetime=timedelta(minutes=5), extra={"sid": "abc"}
    )
    assert tokens.verify(token, OWN).raw["sid"] == "abc"
    with pytest.raises(ValueError, match="registered"):
        tokens.issue(OWN, subject="u1", now=now, lifetime=timedelta(minutes=5), extra={"sub": "x"})


# -- time claims (issue 15) ------------------------------------------------------------------


def signed(**claims: object) -> str:
    """Our own token issued now, correctly signed, with these claims as given (null and
    all)."""
    now = int(datetime.now(UTC).timestamp())
    usual = own_claims(iat=now, exp=now + 600)
    return jwt.encode(usual | claims, SECRET, algorithm="HS256")


# Each, given the time now, the claims it changes.
HOSTILE_TIMES: dict[str, Callable[[int], dict[str, object]]] = {
    "exp beyond datetime": lambda now: {"exp": 10**12},
    "exp far beyond datetime": lambda now: {"exp": 10**30},
    "exp a fraction": lambda now: {"exp": now + 600.5},
    "exp a string": lambda now: {"exp": str(now + 600)},
    "exp true": lambda now: {"exp": True},
    "exp a list": lambda now: {"exp": [now + 600]},
    "exp null": lambda now: {"exp": None},
    "exp Infinity": lambda now: {"exp": float("inf")},
    "exp NaN": lambda now: {"exp": float("nan")},
    "iat beyond datetime": lambda now: {"iat": 10**12},
    "iat a list": lambda now: {"iat": [now]},
    "iat negative": lambda now: {"iat": -1},
    "nbf a list": lambda now: {"nbf": [now]},
    "nbf beyond datetime": lambda now: {"nbf": 10**12},
}


def test_the_usual_claims_are_accepted() -> None:
    assert tokens.verify(signed(), OWN).subject == "user-1"


@pytest.mark.parametrize("changes", HOSTILE_TIMES.values(), ids=HOSTILE_TIMES.keys())
def test_time_claims_that_are_not_whole_seconds_in_range_are_refused(
    changes: Callable[[int], dict[str, object]],
) -> None:
    # Before issue 15 some crashed inside jose (TypeError, OverflowError) and 10**12 in
    # datetime.fromtimestamp: a 500 for any holder of a correctly signed token.
    with pytest.raises(tokens.InvalidToken):
        tokens.verify(signed(**changes(int(datetime.now(UTC).timestamp()))), OWN)


@given(ahead=st.integers(min_value=tokens.LEEWAY_SECONDS + 1, max_value=10**9))
def test_a_token_issued_beyond_the_clock_skew_is_refused(ahead: int) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    token = signed(iat=int(now.timestamp()) + ahead, exp=int(now.timestamp()) + ahead + 600)
    with pytest.raises(tokens.InvalidToken, match="future"):
        tokens.verify(token, OWN, now=now)


@given(ahead=st.integers(min_value=-3600, max_value=tokens.LEEWAY_SECONDS))
def test_a_token_issued_within_the_clock_skew_is_accepted(ahead: int) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    token = signed(iat=int(now.timestamp()) + ahead, exp=int(now.timestamp()) + 7200)
    assert tokens.verify(token, OWN, now=now).subject == "user-1"


def test_a_provider_token_issued_in_the_future_is_refused(provider: LocalProvider) -> None:
    future = int(datetime.now(UTC).timestamp()) + tokens.LEEWAY_SECONDS + 60
    token = provider.token(kid=min(provider.published), iat=future, exp=future + 600)
    with pytest.raises(tokens.InvalidToken, match="future"):
        tokens.verify(token, provider_verifier(provider))
