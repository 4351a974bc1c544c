"""The second factor in the pages: forced enrollment, the code step, recovery codes, the
account page. Driven through the TestClient on both databases; the browser walk is
tests/browser/test_browser_mfa.py."""

from __future__ import annotations

import html
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import col, select

from api.app import create_app
from api.pages.web import MFA_COOKIE, SECURITY_HEADERS, SESSION_COOKIE
from bgcheck.identity import mfa
from bgcheck.models import AuditEvent, LoginThrottle, User, utcnow
from bgcheck.platform.db import session_scope
from bgcheck.platform.settings import Settings
from workflow import Role

from support.factories import PASSWORD, TEST_ACTOR, make_user
from support.mfa import Authenticator, enroll
from support.pages import csrf_of, error_messages

WRONG_CODE = "The code did not match. Enter the 6 digits your authenticator app shows now."


@dataclass
class Site:
    app: FastAPI
    engine: Engine

    def browser(self) -> TestClient:
        return TestClient(self.app, raise_server_exceptions=False)

    def person(self, *, enrolled: bool = True, role: Role = Role.REVIEWER) -> Person:
        email = f"mfa-{uuid.uuid4().hex[:8]}@example.edu"
        with session_scope(self.engine) as session:
            user = make_user(session, role, email=email, password=PASSWORD)
            app = (
                enroll(session, self.app.state.auth.secret_box, user.id, recovery_codes=True)
                if enrolled
                else None
            )
        return Person(self, user.id, email, app)

    def actions(self) -> list[str]:
        with session_scope(self.engine, read_only=True) as session:
            return list(session.exec(select(AuditEvent.action).order_by(col(AuditEvent.seq))))

    def last_event(self) -> AuditEvent:
        with session_scope(self.engine, read_only=True) as session:
            event = session.exec(select(AuditEvent).order_by(col(AuditEvent.seq).desc())).first()
            assert event is not None
            session.expunge(event)
            return event


@dataclass
class Person:
    site: Site
    user_id: uuid.UUID
    email: str
    app: Authenticator | None

    def __post_init__(self) -> None:
        self.client = self.site.browser()

    def password(self, password: str = PASSWORD) -> httpx.Response:
        form = self.client.get("/login")
        return self.client.post(
            "/login",
            data={"email": self.email, "password": password, "csrf_token": csrf_of(form.text)},
            follow_redirects=False,
        )

    def code_page(self, query: str = "") -> httpx.Response:
        return self.client.get(f"/login/code{query}", follow_redirects=False)

    def send_code(self, code: str, *, recovery: bool = False) -> httpx.Response:
        page = self.code_page("?with=recovery" if recovery else "")
        field = "recovery_code" if recovery else "code"
        data = {field: code, "method": "recovery" if recovery else "totp"}
        return self.client.post(
            "/login/code", data=data | {"csrf_token": csrf_of(page.text)}, follow_redirects=False
        )

    def signed_in(self) -> bool:
        return self.client.get("/", follow_redirects=False).status_code == 200


@pytest.fixture(scope="module")
def site(databases, tmp_path_factory) -> Iterator[Site]:  # type: ignore[no-untyped-def]
    engine = databases.new_engine()
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("pages-mfa"),
        embedded_worker=False,
        login_max_failures=3,
        login_max_failures_per_address=1000,  # every test client is "testclient"
    )
    app = create_app(settings, engine)
    with TestClient(app, raise_server_exceptions=False):
        yield Site(app, engine)
    engine.dispose()


def forgive(site: Site) -> None:
    """Forget the failed logins a test counted on purpose (the site is the module's)."""
    with session_scope(site.engine) as session:
        for row in session.exec(select(LoginThrottle)).all():
            session.delete(row)


def setup_values(response: httpx.Response) -> tuple[str, str]:
    """The secret shown for typing (spaces removed) and the sealed copy the form carries."""
    text = response.text
    secret = re.search(r'class="secret-key"[^>]*><code>([A-Z2-7 ]+)</code>', text)
    pending = re.search(r'name="pending" value="([^"]+)"', text)
    assert secret, text
    assert pending, text
    return secret.group(1).replace(" ", ""), pending.group(1)


def recovery_codes_of(response: httpx.Response) -> list[str]:
    return re.findall(r"<li><code>([0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4})</code></li>", response.text)


# -- forced enrollment ---------------------------------------------------------------------


def test_a_first_sign_in_sets_up_the_app_then_shows_the_codes_once(site: Site) -> None:
    person = site.person(enrolled=False)
    first = person.password()
    assert (first.status_code, first.headers["location"]) == (303, "/login/enroll")
    assert SESSION_COOKIE not in first.headers.get("set-cookie", "")

    page = person.client.get("/login/enroll")
    assert page.status_code == 200
    assert '<svg xmlns="http://www.w3.org/2000/svg" viewBox=' in page.text
    assert 'class="qr"' in page.text
    assert "<script" not in page.text.replace('<script src="/static/app.js" defer></script>', "")
    assert page.headers["Content-Security-Policy"] == SECURITY_HEADERS["Content-Security-Policy"]
    secret, pending = setup_values(page)
    assert secret not in pending  # carried back sealed
    # Nothing is stored until the app's code shows it has the secret.
    with session_scope(site.engine, read_only=True) as session:
        assert session.get(User, person.user_id).totp_secret is None  # type: ignore[union-attr]

    # Not signed in yet: no page opens before the enrollment is finished.
    assert person.client.get("/", follow_redirects=False).headers["location"] == "/login"
    assert person.client.get("/account", follow_redirects=False).status_code == 303

    app = Authenticator(secret)
    wrong = person.client.post(
        "/login/enroll",
        data={"code": "000000", "pending": pending, "csrf_token": csrf_of(page.text)},
    )
    assert wrong.status_code == 422
    assert error_messages(wrong.text) == [WRONG_CODE]
    assert setup_values(wrong) == (secret, setup_values(wrong)[1])  # the same secret again
    assert 'aria-invalid="true"' in wrong.text

    shown = person.client.post(
        "/login/enroll",
        data={"code": app.code(), "pending": pending, "csrf_token": csrf_of(page.text)},
    )
    assert shown.status_code == 200
    codes = recovery_codes_of(shown)
    assert len(codes) == mfa.RECOVERY_CODE_COUNT
    assert "I have saved these codes" in shown.text
    assert not person.signed_in()
    # A reload does not show them again, nor the form sent again.
    again = person.client.get("/login/enroll")
    assert recovery_codes_of(again) == []
    assert "are not shown again" in again.text
    resent = person.client.post(
        "/login/enroll",
        data={"code": app.code(), "pending": pending, "csrf_token": csrf_of(page.text)},
    )
    assert recovery_codes_of(resent) == []
    assert "are not shown again" in resent.text

    done = person.client.post(
        "/login/enroll/done", data={"csrf_token": csrf_of(shown.text)}, follow_redirects=False
    )
    assert (done.status_code, done.headers["location"]) == (303, "/")
    assert any(
        "max-age=0" in c.lower() for c in done.headers.get_list("set-cookie") if MFA_COOKIE in c
    )
    assert person.signed_in()
    assert site.actions()[-4:] == [
        "mfa.failed",
        "mfa.enrolled",
        "mfa.recovery_codes_generated",
        "login.succeeded",
    ]
    assert site.last_event().data["method"] == "password+totp"


def test_the_finished_enrollment_starts_one_session_only(site: Site) -> None:
    person = site.person(enrolled=False)
    person.password()
    page = person.client.get("/login/enroll")
    secret, pending = setup_values(page)
    shown = person.client.post(
        "/login/enroll",
        data={
            "code": Authenticator(secret).code(),
            "pending": pending,
            "csrf_token": csrf_of(page.text),
        },
    )
    step_cookie = person.client.cookies[MFA_COOKIE]
    form = {"csrf_token": csrf_of(shown.text)}
    assert (
        person.client.post("/login/enroll/done", data=form, follow_redirects=False).status_code
        == 303
    )
    copy = site.browser()
    copy.cookies.set(MFA_COOKIE, step_cookie, path="/login")
    replay = copy.post("/login/enroll/done", data=form, follow_redirects=False)
    assert replay.status_code == 401
    assert SESSION_COOKIE not in replay.headers.get("set-cookie", "")


def test_a_form_from_another_users_setup_page_does_not_fit(site: Site) -> None:
    mallory, victim = site.person(enrolled=False), site.person(enrolled=False)
    mallory.password()
    secret, pending = setup_values(mallory.client.get("/login/enroll"))
    victim.password()
    page = victim.client.get("/login/enroll")
    response = victim.client.post(
        "/login/enroll",
        data={
            "code": Authenticator(secret).code(),
            "pending": pending,
            "csrf_token": csrf_of(page.text),
        },
    )
    assert response.status_code == 422
    assert "out of date" in html.unescape(response.text)
    with session_scope(site.engine, read_only=True) as session:
        assert session.get(User, victim.user_id).totp_secret is None  # type: ignore[union-attr]


def test_an_enrolled_account_never_reaches_enrollment(site: Site) -> None:
    person = site.person()
    assert person.password().headers["location"] == "/login/code"
    assert person.client.get("/login/enroll", follow_redirects=False).headers["location"] == (
        "/login/code"
    )


# -- the code step -------------------------------------------------------------------------


def test_the_code_signs_in_and_a_wrong_one_says_what_to_do(site: Site) -> None:
    person = site.person()
    assert person.app is not None
    person.password()
    page = person.code_page()
    assert page.status_code == 200
    assert 'autocomplete="one-time-code"' in page.text
    assert 'inputmode="numeric"' in page.text
    assert 'href="/login/code?with=recovery"' in page.text
    wrong = person.send_code("000000")
    assert wrong.status_code == 401
    assert error_messages(wrong.text) == [WRONG_CODE]
    assert not person.signed_in()
    right = person.send_code(person.app.code())
    assert (right.status_code, right.headers["location"]) == (303, "/")
    assert person.signed_in()
    event = site.last_event()
    assert (event.action, event.data["method"]) == ("login.succeeded", "password+totp")


def test_a_recovery_code_signs_in_once(site: Site) -> None:
    person = site.person()
    assert person.app is not None
    code = person.app.recovery_code()
    person.password()
    recovery_page = person.code_page("?with=recovery")
    assert "Recovery code" in recovery_page.text
    signed = person.send_code(code.lower(), recovery=True)
    assert signed.headers["location"] == "/account?signed_in_with=recovery_code"
    account = person.client.get(signed.headers["location"])
    assert f"{mfa.RECOVERY_CODE_COUNT - 1} of {mfa.RECOVERY_CODE_COUNT} are left" in account.text

    again = Person(site, person.user_id, person.email, person.app)  # another browser
    again.password()
    refused = again.send_code(code, recovery=True)
    assert refused.status_code == 401
    assert error_messages(refused.text) == [
        "The recovery code did not match an unused one. Enter one of the recovery codes you "
        "saved (like 7K3D-Q9XF-M2PA); each works only once."
    ]


def test_wrong_codes_are_throttled_with_the_password_failures(site: Site) -> None:
    person = site.person()
    assert person.app is not None
    person.password()
    counted = 0
    while counted < 3:  # BGCHECK_LOGIN_MAX_FAILURES here; slowed in between
        answer = person.send_code("000000")
        if answer.status_code == 429:
            time.sleep(1.1)
        else:
            assert answer.status_code == 401
            counted += 1
    throttled = person.send_code(person.app.code())
    assert throttled.status_code == 429
    assert "try again in" in html.unescape(throttled.text)
    assert not person.signed_in()
    forgive(site)


def test_no_step_cookie_or_a_foreign_form_gets_no_further(site: Site) -> None:
    person = site.person()
    expired = person.code_page()
    assert expired.status_code == 401
    assert "took longer than 10 minutes" in expired.text
    assert "<h1>Sign in</h1>" in expired.text
    person.password()
    forged = person.client.post("/login/code", data={"code": "123456", "csrf_token": "forged"})
    assert forged.status_code == 403
    # The step cookie is no session, and a session is no step cookie.
    stranger = site.browser()
    stranger.cookies.set(SESSION_COOKIE, person.client.cookies[MFA_COOKIE])
    assert stranger.get("/", follow_redirects=False).status_code == 303


def test_after_a_reset_the_next_sign_in_enrolls_again(site: Site) -> None:
    person = site.person()
    with session_scope(site.engine) as session:
        mfa.reset(session, TEST_ACTOR, user_id=person.user_id, now=utcnow())
    assert person.password().headers["location"] == "/login/enroll"
    # A code page opened before the reset sends the person on to enrollment.
    assert person.code_page().headers["location"] == "/login/enroll"


# -- the account page ----------------------------------------------------------------------


def signed_in(site: Site) -> Person:
    person = site.person()
    assert person.app is not None
    person.password()
    assert person.send_code(person.app.code()).status_code == 303
    return person


def test_the_account_page_shows_the_status_and_is_in_the_menu(site: Site) -> None:
    person = signed_in(site)
    home = person.client.get("/")
    assert 'href="/account"' in home.text
    page = person.client.get("/account")
    assert "Set up on" in page.text
    assert f"{mfa.RECOVERY_CODE_COUNT} of {mfa.RECOVERY_CODE_COUNT} unused" in page.text


def test_new_recovery_codes_need_a_current_code_and_replace_the_old(site: Site) -> None:
    person = signed_in(site)
    assert person.app is not None
    old = list(person.app.recovery_codes)
    page = person.client.get("/account")
    wrong = person.client.post(
        "/account/recovery-codes", data={"code": "000000", "csrf_token": csrf_of(page.text)}
    )
    assert wrong.status_code == 401
    assert error_messages(wrong.text) == [WRONG_CODE]
    # A recovery code does not make new recovery codes.
    with_recovery = person.client.post(
        "/account/recovery-codes", data={"code": old[0], "csrf_token": csrf_of(page.text)}
    )
    assert with_recovery.status_code == 401
    forgive(site)  # two failures slow the next attempt down
    made = person.client.post(
        "/account/recovery-codes",
        data={"code": person.app.code(), "csrf_token": csrf_of(page.text)},
    )
    assert made.status_code == 200
    new = recovery_codes_of(made)
    assert len(new) == mfa.RECOVERY_CODE_COUNT
    assert not set(new) & set(old)
    assert "earlier recovery codes no longer work" in made.text
    with session_scope(site.engine) as session, pytest.raises(mfa.CodeRefused):
        mfa.verify(
            session,
            site.app.state.auth.secret_box,
            user_id=person.user_id,
            code=old[1],
            now=utcnow(),
        )
    forgive(site)


def test_moving_to_a_new_app_needs_both_codes(site: Site) -> None:
    person = signed_in(site)
    assert person.app is not None
    page = person.client.get("/account/authenticator")
    assert page.status_code == 200
    secret, pending = setup_values(page)
    new_app = Authenticator(secret)
    csrf = csrf_of(page.text)

    wrong_new = person.client.post(
        "/account/authenticator",
        data={
            "code": "000000",
            "current_code": "999999",  # not looked at: the new app's code comes first
            "pending": pending,
            "csrf_token": csrf,
        },
    )
    assert wrong_new.status_code == 422
    assert "code from your new app did not match" in error_messages(wrong_new.text)[0]
    assert setup_values(wrong_new)[0] == secret

    wrong_current = person.client.post(
        "/account/authenticator",
        data={
            "code": new_app.code(),
            "current_code": "000000",
            "pending": pending,
            "csrf_token": csrf,
        },
    )
    assert wrong_current.status_code == 401
    assert error_messages(wrong_current.text) == [WRONG_CODE]

    moved = person.client.post(
        "/account/authenticator",
        data={
            "code": new_app.code(),
            "current_code": person.app.code(),
            "pending": pending,
            "csrf_token": csrf,
        },
        follow_redirects=False,
    )
    assert (moved.status_code, moved.headers["location"]) == (303, "/account?changed=authenticator")
    assert "new authenticator app is set up" in person.client.get(moved.headers["location"]).text
    with session_scope(site.engine, read_only=True) as session:
        user = session.get(User, person.user_id)
        assert user is not None
        assert user.totp_secret is not None
        assert site.app.state.auth.secret_box.open(user.totp_secret, user_id=user.id) == secret
    assert site.last_event().action == "mfa.enrolled"
    assert site.last_event().data == {"replaced": True}
    forgive(site)
