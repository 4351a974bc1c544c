"""Single sign-on against a real OpenID Connect provider running on loopback."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from api.app import create_app
from bgcheck.platform.db import session_scope
from bgcheck.platform.settings import Settings
from workflow import Role

from support.factories import make_user
from support.forgery import forge_hs256
from support.oidc_provider import LocalProvider, running_provider

EMAIL = "sso.reviewer@example.edu"


@pytest.fixture
def provider() -> Iterator[LocalProvider]:
    with running_provider() as idp:
        yield idp


@pytest.fixture
def client(provider: LocalProvider, fresh_engine, tmp_path) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    engine: Engine = fresh_engine()
    with session_scope(engine) as session:
        make_user(session, Role.REVIEWER, email=EMAIL)
    settings = Settings(
        data_dir=tmp_path,
        embedded_worker=False,
        oidc_issuer=provider.issuer,
        oidc_audience="bgcheck",
        oidc_jwks_min_refresh_seconds=0,
    )
    with TestClient(create_app(settings, engine), raise_server_exceptions=False) as client:
        yield client


def me(client: TestClient, token: str):  # type: ignore[no-untyped-def]
    return client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})


def test_a_provider_token_for_a_known_email_signs_in(
    client: TestClient, provider: LocalProvider
) -> None:
    response = me(client, provider.token(email=EMAIL.upper()))
    assert response.status_code == 200
    assert response.json()["email"] == EMAIL
    assert response.json()["roles"] == ["reviewer"]


def test_an_unknown_email_is_forbidden(client: TestClient, provider: LocalProvider) -> None:
    response = me(client, provider.token(email="stranger@example.edu"))
    assert response.status_code == 403
    assert "no bgcheck account" in response.json()["detail"]


def test_an_unverified_email_is_forbidden(client: TestClient, provider: LocalProvider) -> None:
    assert me(client, provider.token(email=EMAIL, email_verified=False)).status_code == 403


@pytest.mark.parametrize(
    "claims",
    [
        {"aud": "another-app"},
        {"iss": "https://not-the-issuer.example"},
        {"exp": int(time.time()) - 600},
        {"exp": None},
        {"sub": None},
    ],
    ids=["audience", "issuer", "expired", "no-exp", "no-sub"],
)
def test_bad_provider_tokens_are_401(
    client: TestClient, provider: LocalProvider, claims: dict
) -> None:
    response = me(client, provider.token(email=EMAIL, **claims))
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


def test_a_rotated_provider_key_is_fetched_on_first_sight(
    client: TestClient, provider: LocalProvider
) -> None:
    assert me(client, provider.token(email=EMAIL)).status_code == 200
    fetched = provider.jwks_requests
    provider.add_key()
    assert me(client, provider.token(email=EMAIL)).status_code == 200
    assert provider.jwks_requests == fetched + 1


def test_an_unpublished_key_is_refused(client: TestClient, provider: LocalProvider) -> None:
    secret_kid = provider.add_key(publish=False)
    assert me(client, provider.token(kid=secret_kid, email=EMAIL)).status_code == 401


@pytest.mark.parametrize("encoding", ["pem", "der"])
def test_hs256_signed_with_the_providers_public_key_is_401(
    client: TestClient, provider: LocalProvider, encoding: str
) -> None:
    public = provider.public_pem() if encoding == "pem" else provider.public_der()
    now = int(time.time())
    claims = {
        "iss": provider.issuer,
        "aud": "bgcheck",
        "sub": "x",
        "email": EMAIL,
        "email_verified": True,
        "iat": now,
        "exp": now + 300,
    }
    header = {"alg": "HS256", "typ": "JWT", "kid": provider.current_kid}
    assert me(client, forge_hs256(header, claims, public)).status_code == 401


@pytest.mark.parametrize(
    "amr", [None, ["pwd"], ["pwd", "otp"], "pwd"], ids=["no-amr", "pwd", "otp-only", "bare"]
)
def test_a_provider_token_without_a_second_factor_is_401(
    client: TestClient, provider: LocalProvider, amr: object
) -> None:
    response = me(client, provider.token(email=EMAIL, amr=amr))
    assert response.status_code == 401
    problem = response.json()
    assert problem["type"].endswith("/problems/sso-mfa-required")
    assert "did not confirm a second factor" in problem["detail"]
    assert "sign in there with MFA" in problem["detail"]


def test_which_amr_and_acr_show_mfa_is_configurable(
    provider: LocalProvider, fresh_engine, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    engine: Engine = fresh_engine()
    with session_scope(engine) as session:
        make_user(session, Role.REVIEWER, email=EMAIL)
    settings = Settings(
        data_dir=tmp_path,
        embedded_worker=False,
        oidc_issuer=provider.issuer,
        oidc_audience="bgcheck",
        oidc_mfa_amr="hwk, otp",
        oidc_mfa_acr="urn:example:loa:2",
    )
    with TestClient(create_app(settings, engine), raise_server_exceptions=False) as client:
        assert me(client, provider.token(email=EMAIL, amr=["pwd", "otp"])).status_code == 200
        assert me(client, provider.token(email=EMAIL, amr=["hwk"])).status_code == 200
        loa2 = provider.token(email=EMAIL, amr=None, acr="urn:example:loa:2")
        assert me(client, loa2).status_code == 200
        # "mfa" is not one of the configured values here.
        assert me(client, provider.token(email=EMAIL, amr=["mfa"])).status_code == 401
        loa1 = provider.token(email=EMAIL, amr=None, acr="urn:example:loa:1")
        assert me(client, loa1).status_code == 401
