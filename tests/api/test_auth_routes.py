"""Signing in and out over HTTP, and the need-to-know list."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Callable, Iterator

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import select

from api.app import create_app
from bgcheck.identity import users as user_service
from bgcheck.models import User
from bgcheck.platform.db import session_scope
from bgcheck.platform.settings import Settings
from workflow import Role

from support.auth import signed_token
from support.factories import PASSWORD, TEST_ACTOR, make_user
from support.mfa import Authenticator, enroll


@pytest.fixture
def engine_with_users(fresh_engine) -> Engine:  # type: ignore[no-untyped-def]
    return fresh_engine()


APPS: dict[str, Authenticator] = {}  # each user's authenticator app, by email


@pytest.fixture
def client(engine_with_users: Engine, tmp_path) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    settings = Settings(data_dir=tmp_path, embedded_worker=False, login_max_failures=2)
    app = create_app(settings, engine_with_users)
    with session_scope(engine_with_users) as session:
        for role, email in ((Role.MANAGER, "manager@example.edu"), (Role.HR, "hr@example.edu")):
            user = make_user(session, role, email=email, password=PASSWORD)
            APPS[email] = enroll(session, app.state.auth.secret_box, user.id, recovery_codes=True)
        make_user(session, Role.AUDITOR, email="new@example.edu", password=PASSWORD)
    with TestClient(app) as client:
        yield client


def sign_in(client: TestClient, email: str, password: str = PASSWORD, otp: str | None = ""):  # type: ignore[no-untyped-def]
    """The token request; ``otp=""``: the current code of the user's app (when the password
    is right: a wrong one must not use up a code), ``None``: no code at all."""
    form = {"username": email, "password": password}
    if otp == "" and password == PASSWORD and email in APPS:
        otp = APPS[email].code()
    if otp:
        form["otp"] = otp
    return client.post("/api/v1/auth/token", data=form)


def test_sign_in_use_and_sign_out(client: TestClient) -> None:
    response = sign_in(client, "manager@example.edu")
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 15 * 60
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    assert client.get("/api/v1/me", headers=headers).json()["roles"] == ["manager"]
    assert client.post("/api/v1/auth/logout", headers=headers).status_code == 204
    after = client.get("/api/v1/me", headers=headers)
    assert after.status_code == 401
    assert after.json()["detail"] == "this access token was signed out"


def test_wrong_password_and_unknown_account_look_the_same(client: TestClient) -> None:
    wrong = sign_in(client, "manager@example.edu", "not the password, sorry")
    unknown = sign_in(client, "nobody@example.edu", "not the password, sorry")
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["detail"] == unknown.json()["detail"]
    assert wrong.headers["content-type"] == "application/problem+json"


def test_repeated_failures_get_429_with_retry_after(client: TestClient) -> None:
    # Two failures reach BGCHECK_LOGIN_MAX_FAILURES=2: the account is blocked for a while.
    statuses = [sign_in(client, "hr@example.edu", "wrong password!!").status_code for _ in range(3)]
    assert statuses == [401, 401, 429]
    refused = sign_in(client, "hr@example.edu")  # even the right password, for now
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) >= 1
    assert refused.headers["content-type"] == "application/problem+json"


def test_the_right_password_without_a_code_says_to_send_one_in_otp(client: TestClient) -> None:
    response = sign_in(client, "manager@example.edu", otp=None)
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"].endswith("/problems/mfa-required")
    assert "form field `otp`" in problem["detail"]


def test_a_wrong_code_is_401_mfa_failed_and_counts_as_a_failure(client: TestClient) -> None:
    wrong = sign_in(client, "hr@example.edu", otp="000000")
    assert wrong.status_code == 401
    assert wrong.json()["type"].endswith("/problems/mfa-failed")
    assert "000000" not in wrong.text
    # BGCHECK_LOGIN_MAX_FAILURES=2: one more failure, of either kind, blocks the account.
    assert sign_in(client, "hr@example.edu", otp=None).status_code == 401
    assert sign_in(client, "hr@example.edu").status_code == 429


def test_a_recovery_code_signs_in_once(client: TestClient) -> None:
    code = APPS["manager@example.edu"].recovery_code()
    assert sign_in(client, "manager@example.edu", otp=code).status_code == 200
    again = sign_in(client, "manager@example.edu", otp=code)
    assert again.status_code == 401
    assert again.json()["type"].endswith("/problems/mfa-failed")


def test_an_account_without_an_authenticator_is_sent_to_the_pages(client: TestClient) -> None:
    response = sign_in(client, "new@example.edu", otp="123456")
    assert response.status_code == 403
    problem = response.json()
    assert problem["type"].endswith("/problems/mfa-not-enrolled")
    assert "/login" in problem["detail"]


def test_the_docs_describe_the_otp_field(client: TestClient) -> None:
    operation = client.get("/openapi.json").json()["paths"]["/api/v1/auth/token"]["post"]
    assert "otp" in operation["description"]
    assert {"401", "403", "429"} <= operation["responses"].keys()
    body = operation["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]
    schema = client.get("/openapi.json").json()["components"]["schemas"][
        body["$ref"].rsplit("/", 1)[1]
    ]
    assert "otp" in schema["properties"]
    assert "otp" not in schema["required"]


@pytest.mark.parametrize("length", [4097, 200_000])
def test_an_overlong_password_is_a_plain_failed_login(client: TestClient, length: int) -> None:
    # passlib refuses over 4,096 characters with an exception: this was a 500 (issue 15).
    response = sign_in(client, "manager@example.edu", "p" * length)
    assert response.status_code == 401, response.text[:300]
    assert (
        response.json()["detail"]
        == sign_in(client, "nobody@example.edu", "x" * 12).json()["detail"]
    )
    assert response.headers["content-type"] == "application/problem+json"


def test_overlong_passwords_count_as_failures(client: TestClient) -> None:
    statuses = [sign_in(client, "hr@example.edu", "p" * 5000).status_code for _ in range(3)]
    assert statuses == [401, 401, 429]


def test_missing_form_fields_are_422(client: TestClient) -> None:
    assert client.post("/api/v1/auth/token", data={"username": "x"}).status_code == 422


@pytest.mark.parametrize(
    "header",
    ["Bearer", "Bearer not-a-token", "Basic dXNlcjpwYXNz", "Bearer a.b.c"],
)
def test_bad_authorization_headers_are_401(client: TestClient, header: str) -> None:
    response = client.get("/api/v1/me", headers={"Authorization": header})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


# Each, given the time now, the claims it changes.
HOSTILE_CLAIMS: dict[str, Callable[[int], dict[str, object]]] = {
    "exp beyond datetime": lambda now: {"exp": 10**12},
    "exp a fraction": lambda now: {"exp": now + 300.5},
    "exp a list": lambda now: {"exp": [now + 300]},
    "exp Infinity": lambda now: {"exp": float("inf")},
    "iat in the future": lambda now: {"iat": now + 3600},
}


@pytest.mark.parametrize("changes", HOSTILE_CLAIMS.values(), ids=HOSTILE_CLAIMS.keys())
def test_a_correctly_signed_token_with_hostile_times_is_a_clean_401(
    client: TestClient, engine_with_users: Engine, changes: Callable[[int], dict[str, object]]
) -> None:
    with session_scope(engine_with_users) as session:
        user_id = session.exec(select(User.id).where(User.email == "hr@example.edu")).one()
    secret = client.app.state.auth.own  # type: ignore[attr-defined]

    def me(claims: dict[str, object]) -> httpx.Response:
        token = signed_token(secret, user_id, **claims)
        return client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})

    assert me({}).status_code == 200  # the same token, left alone, is accepted
    response = me(changes(int(time.time())))
    assert response.status_code == 401, response.text[:300]
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"] == "missing, invalid or expired access token"


def test_need_to_know_lists_cori_access_with_dates(
    client: TestClient, engine_with_users: Engine
) -> None:
    with session_scope(engine_with_users) as session:
        leaver = make_user(session, Role.REVIEWER, email="leaver@example.edu")
        make_user(session, Role.AUDITOR, email="auditor@example.edu")
        user_service.set_roles(session, TEST_ACTOR, user_id=leaver.id, roles=[Role.AUDITOR])
    token = sign_in(client, "manager@example.edu").json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    rows = client.get("/api/v1/users/need-to-know", headers=headers).json()
    by_email = {row["email"]: row for row in rows}
    assert set(by_email) == {"manager@example.edu", "hr@example.edu", "leaver@example.edu"}
    assert by_email["leaver@example.edu"]["roles"] == ["reviewer"]
    assert by_email["leaver@example.edu"]["revoked_at"] is not None
    assert by_email["manager@example.edu"]["revoked_at"] is None

    exported = client.get("/api/v1/users/need-to-know?format=csv", headers=headers)
    assert exported.headers["content-type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(exported.text)))
    assert {row["email"] for row in table} == set(by_email)
