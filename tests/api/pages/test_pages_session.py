"""Signing in and out of the pages: the cookie, CSRF, renewal and revocation."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from datetime import timedelta

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from api.app import create_app
from api.pages.web import (
    LOGIN_COOKIE,
    MAX_SESSION,
    MFA_COOKIE,
    SECURITY_HEADERS,
    SESSION_COOKIE,
    WebSessions,
)
from bgcheck.models import utcnow
from bgcheck.platform.db import session_scope
from bgcheck.platform.settings import Settings
from workflow import Event, Role, State

from support.auth import access_token, signed_token
from support.factories import PASSWORD, make_user
from support.mfa import Authenticator, enroll
from support.pages import Office, csrf_of, session_token
from support.pages import sign_in as sign_in_with

APPS: dict[str, Authenticator] = {}  # the authenticator app of each user made here


def cookie_header(response, name: str) -> str:  # type: ignore[no-untyped-def]
    found = [value for value in response.headers.get_list("set-cookie") if value.startswith(name)]
    assert found, f"no {name} cookie set"
    return found[0]


@pytest.fixture
def with_password(office: Office) -> str:
    """A user with a password and an authenticator app (``APPS[email]``)."""
    email = f"pages-{uuid.uuid4().hex[:8]}@example.edu"
    with session_scope(office.engine) as session:
        user = make_user(session, Role.HR, email=email, password=PASSWORD)
        APPS[email] = enroll(session, office.app.state.auth.secret_box, user.id)
    return email


def sign_in(client: TestClient, email: str, password: str = PASSWORD):  # type: ignore[no-untyped-def]
    """Both steps: the password, then the code (the answer to the last one)."""
    return sign_in_with(client, email, password, APPS[email])


def test_the_password_alone_starts_no_session(office: Office, with_password: str) -> None:
    client = office.anonymous()
    response = sign_in_with(client, with_password, PASSWORD)  # no app: the first step only
    assert (response.status_code, response.headers["location"]) == (303, "/login/code")
    assert SESSION_COOKIE not in response.headers.get("set-cookie", "")
    step = cookie_header(response, MFA_COOKIE).lower()
    assert "httponly" in step
    assert "samesite=lax" in step
    assert "path=/login" in step
    assert "max-age=600" in step
    assert client.get("/", follow_redirects=False).headers["location"] == "/login"
    # The second-step cookie is neither a session nor an API token.
    token = client.cookies[MFA_COOKIE]
    other = office.anonymous()
    other.cookies.set(SESSION_COOKIE, token)
    assert other.get("/", follow_redirects=False).status_code == 303
    assert (
        office.anonymous()
        .get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
        .status_code
        == 401
    )


def test_sign_in_sets_an_httponly_lax_session_cookie(office: Office, with_password: str) -> None:
    client = office.anonymous()
    response = sign_in(client, with_password)
    assert response.status_code == 303
    assert response.headers["location"] == "/"
    cookie = cookie_header(response, SESSION_COOKIE).lower()
    assert "httponly" in cookie
    assert "samesite=lax" in cookie
    assert "secure" not in cookie  # plain http (the test server)
    assert "path=/" in cookie
    assert client.get("/", follow_redirects=False).status_code == 200


def test_the_cookie_is_secure_over_https(office: Office, with_password: str) -> None:
    client = TestClient(office.app, base_url="https://testserver")
    first = sign_in_with(client, with_password, PASSWORD)
    assert "secure" in cookie_header(first, MFA_COOKIE).lower()
    response = sign_in(client, with_password)
    assert "secure" in cookie_header(response, SESSION_COOKIE).lower()
    assert "secure" in cookie_header(client.get("/login"), LOGIN_COOKIE).lower()


def test_a_wrong_password_shows_a_message_and_no_session(
    office: Office, with_password: str
) -> None:
    client = office.anonymous()
    response = sign_in(client, with_password, "not the password at all")
    assert response.status_code == 401
    assert "Wrong email or password." in response.text
    assert SESSION_COOKIE not in response.headers.get("set-cookie", "")


def test_an_overlong_password_shows_the_wrong_password_message(
    office: Office, with_password: str
) -> None:
    client = office.anonymous()
    response = sign_in(client, with_password, "p" * 100_000)
    assert response.status_code == 401, response.text[:300]
    assert "Wrong email or password." in response.text
    assert SESSION_COOKIE not in response.headers.get("set-cookie", "")


# Each, given the time now, the claims it changes.
SESSION_CLAIMS: dict[str, Callable[[int], dict[str, object]]] = {
    "exp beyond datetime": lambda now: {"exp": 10**12},
    "exp a list": lambda now: {"exp": [now + 300]},
    "iat in the future": lambda now: {"iat": now + 3600},
    "auth_time beyond datetime": lambda now: {"auth_time": 10**12},
    "auth_time a fraction": lambda now: {"auth_time": now + 0.5},
    "auth_time after iat": lambda now: {"auth_time": now + 20},
}


@pytest.mark.parametrize("changes", SESSION_CLAIMS.values(), ids=SESSION_CLAIMS.keys())
def test_a_correctly_signed_session_with_hostile_times_sends_to_sign_in(
    office: Office, changes: Callable[[int], dict[str, object]]
) -> None:
    secret = WebSessions.for_app(office.app).secret

    def visit(claims: dict[str, object]) -> httpx.Response:
        now = int(time.time())
        normal = {"sid": "s" * 22, "auth_time": now, "iat": now}
        cookie = signed_token(secret, office.users["hr"], **normal | claims)
        client = office.anonymous()
        client.cookies.set(SESSION_COOKIE, cookie)
        return client.get("/cases", follow_redirects=False)

    assert visit({}).status_code == 200  # the same session, left alone, is accepted
    response = visit(changes(int(time.time())))
    assert response.status_code == 303, response.text[:300]
    assert response.headers["location"] == "/login"


def test_empty_sign_in_fields_are_refused_before_any_check(office: Office) -> None:
    client = office.anonymous()
    csrf = csrf_of(client.get("/login").text)
    response = client.post("/login", data={"email": "", "password": "", "csrf_token": csrf})
    assert response.status_code == 422
    assert "Enter your email and your password." in response.text


@pytest.mark.parametrize("token", [None, "", "forged-token"])
def test_sign_in_without_the_forms_csrf_token_is_refused(
    office: Office, with_password: str, token: str | None
) -> None:
    client = office.anonymous()
    client.get("/login")
    data = {"email": with_password, "password": PASSWORD}
    if token is not None:
        data["csrf_token"] = token
    response = client.post("/login", data=data, follow_redirects=False)
    assert response.status_code == 403
    assert "reload the page" in response.text.lower()
    assert SESSION_COOKIE not in response.headers.get("set-cookie", "")


def test_sign_in_csrf_token_is_bound_to_the_browsers_cookie(
    office: Office, with_password: str
) -> None:
    attacker, victim = office.anonymous(), office.anonymous()
    stolen = csrf_of(attacker.get("/login").text)
    victim.get("/login")
    response = victim.post(
        "/login",
        data={"email": with_password, "password": PASSWORD, "csrf_token": stolen},
        follow_redirects=False,
    )
    assert response.status_code == 403


def test_signed_in_forms_refuse_a_missing_wrong_or_foreign_csrf_token(office: Office) -> None:
    case_id = office.new_case()
    hr = office.staff("hr")
    other = office.staff("manager")
    version = str(office.case(case_id).version)
    for token in (None, "wrong", other.csrf()):
        data = {"reason": "withdrawn", "version": version}
        if token is not None:
            data["csrf_token"] = token
        response = hr.client.post(
            f"/cases/{case_id}/events/cancel", data=data, follow_redirects=False
        )
        assert response.status_code == 403, token
        assert "did not come from bgcheck" in response.text
    assert office.state(case_id) is State.DRAFT


def test_sign_out_revokes_the_session_and_its_renewals(office: Office) -> None:
    hr = office.staff("other_hr")
    sid = "fixed-sid-for-this-test"
    first = session_token(office.app, office.users["other_hr"], sid=sid)
    renewal = session_token(office.app, office.users["other_hr"], sid=sid)
    hr.client.cookies.set(SESSION_COOKIE, first)
    assert hr.get("/").status_code == 200
    response = hr.post("/logout")
    assert response.status_code == 303
    assert response.headers["location"] == "/login?signed_out=1"
    assert "max-age=0" in cookie_header(response, SESSION_COOKIE).lower()
    for token in (first, renewal):
        client = office.anonymous()
        client.cookies.set(SESSION_COOKIE, token)
        answer = client.get("/", follow_redirects=False)
        assert answer.status_code == 303
        assert answer.headers["location"] == "/login"
    del office.browsers["other_hr"]


def test_a_session_ends_after_the_maximum_whatever_the_renewals(office: Office) -> None:
    started = utcnow() - MAX_SESSION - timedelta(minutes=1)
    token = session_token(office.app, office.users["hr"], now=started)
    client = office.anonymous()
    client.cookies.set(SESSION_COOKIE, token)
    assert client.get("/", follow_redirects=False).status_code == 303


def test_an_aging_session_is_renewed_in_the_cookie(office: Office) -> None:
    idle = office.app.state.auth.token_lifetime
    token = session_token(office.app, office.users["hr"], now=utcnow() - idle * 0.75)
    client = office.anonymous()
    client.cookies.set(SESSION_COOKIE, token)
    response = client.get("/", follow_redirects=False)
    assert response.status_code == 200
    renewed = cookie_header(response, SESSION_COOKIE)
    assert token not in renewed
    assert "httponly" in renewed.lower()


def test_session_tokens_and_api_tokens_are_not_interchangeable(office: Office) -> None:
    user_id = office.users["hr"]
    page_token = session_token(office.app, user_id)
    api = office.anonymous().get("/api/v1/me", headers={"Authorization": f"Bearer {page_token}"})
    assert api.status_code == 401
    client = office.anonymous()
    client.cookies.set(SESSION_COOKIE, access_token(office.app, user_id))
    assert client.get("/", follow_redirects=False).status_code == 303


def test_pages_send_security_headers_and_no_store(office: Office) -> None:
    response = office.staff("hr").get("/cases")
    for name, value in SECURITY_HEADERS.items():
        assert response.headers[name] == value
    assert office.anonymous().get("/login").headers["Cache-Control"] == "no-store"


def test_pages_are_not_part_of_the_api_schema(office: Office) -> None:
    paths = office.app.openapi()["paths"]
    assert all(path.startswith(("/api/", "/healthz", "/readyz", "/metrics")) for path in paths)


def test_single_sign_on_is_offered_only_when_configured(engine: Engine, tmp_path) -> None:  # type: ignore[no-untyped-def]
    plain = TestClient(create_app(Settings(data_dir=tmp_path, embedded_worker=False), engine))
    assert "single sign-on" not in plain.get("/login").text.lower()
    assert plain.get("/login/sso").status_code == 404
    api_only = Settings(
        data_dir=tmp_path,
        embedded_worker=False,
        oidc_issuer="https://login.example.edu/realms/staff",
        oidc_audience="bgcheck",
    )
    client = TestClient(create_app(api_only, engine))  # bearer tokens only: no client id
    assert "single sign-on" not in client.get("/login").text.lower()
    assert client.get("/login/sso").status_code == 404
    assert client.get("/login/sso/callback").status_code == 404
    browser = api_only.model_copy(update={"oidc_client_id": "bgcheck"})
    client = TestClient(create_app(browser, engine))
    assert re.search(r'href="/login/sso"', client.get("/login").text)


def test_an_event_after_sign_out_changes_nothing(office: Office) -> None:
    case_id = office.new_case()
    client = office.anonymous()
    response = client.post(
        f"/cases/{case_id}/events/invite", data={"csrf_token": "x"}, follow_redirects=False
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/login"
    assert office.state(case_id) is State.DRAFT
    office.fire("hr", case_id, Event.CANCEL, {"reason": "cleanup"})
