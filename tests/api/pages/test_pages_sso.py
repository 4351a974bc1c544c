"""Signing in to the pages through a real OpenID Connect provider on loopback.

The browser is a TestClient; the provider is ``support.oidc_provider`` over real HTTP.
Redirects are followed by hand: to the provider with httpx, back to bgcheck with the
TestClient (whose cookie jar is the browser's).
"""

from __future__ import annotations

import html
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import col, select

from api.app import create_app
from api.pages.signin import SSO_COOKIE
from api.pages.web import SESSION_COOKIE
from bgcheck.identity import sso
from bgcheck.identity import users as user_service
from bgcheck.models import AuditEvent, utcnow
from bgcheck.platform.db import session_scope
from bgcheck.platform.settings import Settings
from workflow import Role

from support.factories import TEST_ACTOR, make_user
from support.oidc_provider import LocalProvider, running_provider
from support.server import free_port

EMAIL = "sso.reviewer@example.edu"
DISABLED = "sso.disabled@example.edu"
SECRET = "test-client-secret"
CALLBACK = "http://testserver/login/sso/callback"

EXPIRED = "has expired, or it was started in another browser"
UNVERIFIED = "answer could not be verified"


@dataclass
class Site:
    app: FastAPI
    engine: Engine
    provider: LocalProvider
    user_id: uuid.UUID

    def browser(self, base_url: str = "http://testserver") -> TestClient:
        return TestClient(self.app, base_url=base_url, raise_server_exceptions=False)

    def last_event(self) -> AuditEvent:
        with session_scope(self.engine, read_only=True) as session:
            event = session.exec(
                select(AuditEvent).order_by(col(AuditEvent.seq).desc()).limit(1)
            ).one()
            session.expunge(event)
            return event


def settings_for(issuer: str, tmp_path: Any) -> Settings:
    return Settings(
        data_dir=tmp_path,
        embedded_worker=False,
        public_url="http://testserver",
        oidc_issuer=issuer,
        oidc_audience="bgcheck-api",  # the API's audience; ID tokens are for the client id
        oidc_client_id="bgcheck",
        oidc_client_secret=SECRET,
    )


@pytest.fixture(scope="module")
def site(databases, tmp_path_factory) -> Iterator[Site]:  # type: ignore[no-untyped-def]
    engine = databases.new_engine()
    with running_provider() as provider:
        app = create_app(settings_for(provider.issuer, tmp_path_factory.mktemp("sso")), engine)
        with session_scope(engine) as session:
            user_id = make_user(session, Role.REVIEWER, email=EMAIL).id
            disabled = make_user(session, Role.HR, email=DISABLED).id
            user_service.set_active(session, TEST_ACTOR, user_id=disabled, active=False)
        yield Site(app, engine, provider, user_id)
    engine.dispose()


@pytest.fixture(autouse=True)
def provider(site: Site) -> LocalProvider:
    """The provider as each test starts: approving EMAIL, with the right client secret."""
    idp = site.provider
    idp.user_email, idp.deny, idp.id_token_claims = EMAIL, None, {}
    idp.client_secret = SECRET
    return idp


def start(client: TestClient) -> httpx.Response:
    response = client.get("/login/sso", follow_redirects=False)
    assert response.status_code == 303, response.text
    return response


def authorize(url: str) -> str:
    """The provider's sign-in page approves at once: where it sends the browser back."""
    response = httpx.get(url, follow_redirects=False, timeout=5)
    assert response.status_code == 302, response.text
    location = response.headers["location"]
    assert location.startswith(f"{CALLBACK}?")
    return location


def sign_in(client: TestClient) -> httpx.Response:
    return client.get(authorize(start(client).headers["location"]), follow_redirects=False)


def query_of(url: str) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(urlsplit(url).query).items()}


def with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    return parts._replace(query=urlencode(query_of(url) | changes)).geturl()


def set_cookies(response: httpx.Response, name: str) -> list[str]:
    return [value for value in response.headers.get_list("set-cookie") if value.startswith(name)]


def assert_refused(client: TestClient, response: httpx.Response, status: int, message: str) -> None:
    """The sign-in page with the message; no session; the flow cookie gone."""
    assert response.status_code == status, response.text
    text = html.unescape(response.text)
    assert "<h1>Sign in</h1>" in text
    assert message in text
    assert set_cookies(response, SESSION_COOKIE) == []
    assert any("max-age=0" in c.lower() for c in set_cookies(response, SSO_COOKIE))
    home = client.get("/", follow_redirects=False)
    assert home.status_code == 303
    assert home.headers["location"] == "/login"


def test_single_sign_on_signs_in_and_lands_on_the_home_page(site: Site) -> None:
    client = site.browser()
    assert 'href="/login/sso"' in client.get("/login").text
    response = sign_in(client)
    assert response.status_code == 303
    assert response.headers["location"] == "/"
    session_cookie = set_cookies(response, SESSION_COOKIE)[0].lower()
    assert "httponly" in session_cookie
    assert "samesite=lax" in session_cookie
    assert any("max-age=0" in c.lower() for c in set_cookies(response, SSO_COOKIE))
    home = client.get("/", follow_redirects=False)
    assert home.status_code == 200
    assert "Review queue" in home.text  # the roles are bgcheck's
    event = site.last_event()
    assert event.action == "login.succeeded"
    assert event.actor_id == str(site.user_id)
    assert event.data == {"address": "testclient", "method": "sso"}


def test_the_authorization_request_uses_pkce_state_and_nonce(
    site: Site, provider: LocalProvider
) -> None:
    first = start(site.browser()).headers["location"]
    second = start(site.browser()).headers["location"]
    assert first.startswith(f"{provider.issuer}/authorize?")
    query = query_of(first)
    assert query["response_type"] == "code"
    assert query["client_id"] == "bgcheck"
    assert query["redirect_uri"] == CALLBACK
    assert query["scope"] == "openid email"
    assert query["code_challenge_method"] == "S256"
    for name in ("state", "nonce", "code_challenge"):
        assert len(query[name]) >= 43
        assert query[name] != query_of(second)[name]
    assert "@" not in first
    assert SECRET not in first


def test_the_flow_cookie_is_httponly_lax_short_lived_and_scoped(site: Site) -> None:
    cookie = set_cookies(start(site.browser()), SSO_COOKIE)[0].lower()
    assert "httponly" in cookie
    assert "samesite=lax" in cookie
    assert "max-age=600" in cookie
    assert "path=/login/sso" in cookie
    assert "secure" not in cookie  # plain http (the test server)
    secure = set_cookies(start(site.browser("https://testserver")), SSO_COOKIE)[0]
    assert "secure" in secure.lower()


def test_a_wrong_state_is_refused_and_recorded(site: Site) -> None:
    client = site.browser()
    location = authorize(start(client).headers["location"])
    response = client.get(with_query(location, state="not-the-state"), follow_redirects=False)
    assert_refused(client, response, 401, "does not belong to the sign-in started in this browser")
    event = site.last_event()
    assert event.action == "login.failed"
    assert event.data == {
        "address": "testclient",
        "known_account": False,
        "method": "sso",
        "reason": "state_mismatch",
    }


def test_a_replayed_callback_is_refused(site: Site, provider: LocalProvider) -> None:
    client = site.browser()
    flow_cookie = set_cookies(response := start(client), SSO_COOKIE)[0]
    location = authorize(response.headers["location"])
    assert client.get(location, follow_redirects=False).headers["location"] == "/"
    # The same browser: its flow cookie is gone.
    replay = site.browser()
    assert_refused(replay, replay.get(location, follow_redirects=False), 401, EXPIRED)
    # With a copy of the flow cookie: the flow is used up, and the provider is not asked.
    asked = provider.token_requests
    replay.cookies.set(SSO_COOKIE, flow_cookie.split(";")[0].split("=", 1)[1])
    response = replay.get(location, follow_redirects=False)
    assert_refused(replay, response, 401, "was already used")
    assert provider.token_requests == asked


def test_a_callback_without_the_flow_cookie_is_refused(site: Site) -> None:
    client = site.browser()
    location = authorize(start(client).headers["location"])
    client.cookies.clear()
    assert_refused(client, client.get(location, follow_redirects=False), 401, EXPIRED)


def test_an_expired_flow_is_refused(site: Site) -> None:
    started = sso.begin(
        site.app.state.auth, redirect_uri=CALLBACK, now=utcnow() - timedelta(minutes=11)
    )
    client = site.browser()
    client.cookies.set(SSO_COOKIE, started.flow_token)
    location = authorize(started.url)
    assert_refused(client, client.get(location, follow_redirects=False), 401, EXPIRED)


def test_a_code_redeemed_with_another_browsers_verifier_is_refused_by_the_provider(
    site: Site,
) -> None:
    """Code injection: the victim's code, in the attacker's own flow (so the state is
    right): the PKCE verifier is the attacker's, and the provider refuses the code."""
    victim, attacker = site.browser(), site.browser()
    stolen = query_of(authorize(start(victim).headers["location"]))["code"]
    own_state = query_of(start(attacker).headers["location"])["state"]
    injected = f"{CALLBACK}?{urlencode({'code': stolen, 'state': own_state})}"
    response = attacker.get(injected, follow_redirects=False)
    assert_refused(attacker, response, 401, "refused to complete the sign-in")
    assert site.last_event().data["reason"] == "code_refused"


def test_a_wrong_client_secret_is_refused_by_the_provider(
    site: Site, provider: LocalProvider
) -> None:
    provider.client_secret = "the provider expects another"
    client = site.browser()
    assert_refused(client, sign_in(client), 401, "refused to complete the sign-in")


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"nonce": "not-the-flows-nonce"}, "nonce_mismatch"),
        ({"nonce": None}, "nonce_mismatch"),
        ({"aud": "bgcheck-api"}, "invalid_id_token"),  # the API's audience, not ours
        ({"azp": "another-client"}, "invalid_id_token"),
        ({"aud": ["bgcheck", "another-client"]}, "invalid_id_token"),  # no azp
        ({"iss": "https://not-the-issuer.example"}, "invalid_id_token"),
        ({"exp": int(time.time()) - 600}, "invalid_id_token"),
    ],
    ids=["nonce", "no-nonce", "audience", "azp", "audiences", "issuer", "expired"],
)
def test_a_bad_id_token_is_refused(
    site: Site, provider: LocalProvider, claims: dict[str, Any], reason: str
) -> None:
    provider.id_token_claims = claims
    client = site.browser()
    assert_refused(client, sign_in(client), 401, UNVERIFIED)
    assert site.last_event().data["reason"] == reason


@pytest.mark.parametrize("amr", [None, ["pwd"]], ids=["no-amr", "password-only"])
def test_an_id_token_without_a_second_factor_is_refused(
    site: Site, provider: LocalProvider, amr: list[str] | None
) -> None:
    provider.id_token_claims = {"amr": amr}
    client = site.browser()
    assert_refused(client, sign_in(client), 401, "did not confirm a second factor")
    event = site.last_event()
    assert (event.action, event.data["reason"]) == ("login.failed", "no_mfa")


def test_an_id_token_for_several_audiences_with_our_azp_signs_in(
    site: Site, provider: LocalProvider
) -> None:
    provider.id_token_claims = {"aud": ["bgcheck", "another-client"], "azp": "bgcheck"}
    assert sign_in(site.browser()).headers["location"] == "/"


def test_an_unknown_email_is_refused(site: Site, provider: LocalProvider) -> None:
    provider.user_email = "stranger@example.edu"
    client = site.browser()
    assert_refused(client, sign_in(client), 403, "no bgcheck account has your email")
    assert site.last_event().data == {
        "address": "testclient",
        "known_account": False,
        "method": "sso",
        "reason": "unknown_account",
    }


def test_an_unverified_email_is_refused(site: Site, provider: LocalProvider) -> None:
    provider.id_token_claims = {"email_verified": False}
    client = site.browser()
    assert_refused(client, sign_in(client), 403, "did not confirm your email address")


def test_a_disabled_account_is_refused(site: Site, provider: LocalProvider) -> None:
    provider.user_email = DISABLED.upper()  # matched case-insensitively, as for the API
    client = site.browser()
    assert_refused(client, sign_in(client), 403, "Your bgcheck account is disabled.")
    event = site.last_event()
    assert (event.action, event.data["known_account"], event.data["reason"]) == (
        "login.failed",
        True,
        "account_disabled",
    )


def test_a_provider_error_is_refused_without_echoing_it(
    site: Site, provider: LocalProvider
) -> None:
    provider.deny = "access_denied"
    client = site.browser()
    location = authorize(start(client).headers["location"])
    asked = provider.token_requests
    response = client.get(
        with_query(location, error_description="Call 555-0100 <b>now</b>"),
        follow_redirects=False,
    )
    assert_refused(client, response, 401, "did not sign you in")
    assert "555-0100" not in response.text
    assert provider.token_requests == asked


def test_an_unreachable_provider_shows_the_sign_in_page(site: Site, tmp_path: Any) -> None:
    app = create_app(settings_for(f"http://127.0.0.1:{free_port()}", tmp_path), site.engine)
    response = TestClient(app).get("/login/sso", follow_redirects=False)
    assert response.status_code == 502
    assert "cannot be reached" in response.text
    assert set_cookies(response, SSO_COOKIE) == []
