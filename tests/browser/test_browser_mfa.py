"""Multi-factor sign-in in a real browser (Debian's Chromium driven by Playwright), against
the real app served by ``bgcheck serve`` on SQLite:

a fresh account's first sign-in sets up its authenticator app (the secret read from the
page, the code computed with pyotp), shows the recovery codes, and signs in; then a sign-in
with the app's code; then one with a recovery code, which is refused the second time; a
wrong code gets the plain-words error; after a reset an administrator proposed and a manager
approved on the Approvals page, the next sign-in sets up an app again. On a phone and on a
desktop.

Screenshots go to ``tests/browser/screenshots/`` (git-ignored).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pyotp
import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import Engine
from sqlmodel import select

from bgcheck.audit import AuditActor
from bgcheck.identity import account_links, mfa, proposals
from bgcheck.identity import users as user_service
from bgcheck.identity.actors import load_actor
from bgcheck.models import AuditEvent, User, utcnow
from bgcheck.platform import migrate
from bgcheck.platform.db import make_engine, session_scope
from bgcheck.platform.settings import Settings
from workflow import Role

from support.browser import shot
from support.factories import PASSWORD, make_user
from support.mfa import Authenticator
from support.server import clean_environ, free_port, running_server

VIEWPORTS = {
    "phone": {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True},
    "desktop": {"viewport": {"width": 1280, "height": 800}},
}
WRONG_CODE = "The code did not match. Enter the 6 digits your authenticator app shows now."


@dataclass
class Served:
    base: str
    engine: Engine

    def new_account(self, name: str, role: Role = Role.REVIEWER) -> str:
        email = f"{name}@example.edu"
        with session_scope(self.engine) as session:
            make_user(session, role, email=email, password=PASSWORD)
        return email

    def user_id(self, email: str) -> uuid.UUID:
        with session_scope(self.engine, read_only=True) as session:
            return session.exec(select(User.id).where(User.email == email)).one()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    data_dir = tmp_path_factory.mktemp("browser-mfa")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = clean_environ(
        BGCHECK_DATA_DIR=str(data_dir),
        BGCHECK_EMBEDDED_WORKER="false",
        BGCHECK_PUBLIC_URL=base,
        BGCHECK_ORG_NAME="Example University",
    )
    engine = make_engine(Settings(data_dir=data_dir))
    migrate.upgrade(engine)
    with running_server(env, port, data_dir / "serve.log"):
        yield Served(base, engine)
    engine.dispose()


def password_step(page: Page, email: str) -> None:
    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def sign_out(page: Page) -> None:
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("status")).to_contain_text("You are signed out")


def heading(page: Page) -> str:
    return page.get_by_role("heading", level=1).inner_text().strip()


def enroll(page: Page, email: str, device: str, prefix: str) -> tuple[Authenticator, list[str]]:
    """Forced enrollment, as a person does it: read the key off the page into the app."""
    password_step(page, email)
    expect(page.get_by_role("heading", level=1)).to_have_text("Set up your authenticator app")
    expect(page.locator(".qr-box svg")).to_be_visible()
    box = page.locator(".qr-box svg").bounding_box()
    assert box is not None
    assert box["width"] >= 150  # big enough to scan from a screen
    assert box["x"] + box["width"] <= VIEWPORTS[device]["viewport"]["width"]  # type: ignore[index]
    shot(page, f"{prefix}-enroll-{device}")
    secret = page.locator(".secret-key code").inner_text().replace(" ", "")
    assert re.fullmatch(r"[A-Z2-7]{32}", secret)
    app = Authenticator(secret)

    page.get_by_label("6-digit code").fill("000000")
    page.get_by_role("button", name="Check the code").click()
    expect(page.locator(".error-message")).to_contain_text(WRONG_CODE)
    expect(page.get_by_label("6-digit code")).to_have_attribute("aria-invalid", "true")
    assert page.locator(".secret-key code").inner_text().replace(" ", "") == secret

    page.get_by_label("6-digit code").fill(app.code())
    page.get_by_role("button", name="Check the code").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Save your recovery codes")
    codes = [code.strip() for code in page.locator(".recovery-codes code").all_inner_texts()]
    assert len(codes) == mfa.RECOVERY_CODE_COUNT
    shot(page, f"{prefix}-recovery-codes-{device}")
    # Not signed in until the codes are saved: no other page opens.
    other = page.context.new_page()
    other.goto("/cases")
    expect(other.get_by_role("heading", level=1)).to_have_text("Sign in")
    other.close()
    page.get_by_role("button", name="I have saved these codes").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Hello")
    return app, codes


@pytest.mark.parametrize("device", ["phone", "desktop"])
def test_multi_factor_sign_in_end_to_end(browser: Browser, served: Served, device: str) -> None:
    email = served.new_account(f"mfa-{device}")
    context = browser.new_context(base_url=served.base, **VIEWPORTS[device])  # type: ignore[arg-type]
    page = context.new_page()

    # 1. First sign-in: set up the app, see the recovery codes, signed in.
    app, codes = enroll(page, email, device, "mfa-1")
    assert pyotp.TOTP(app.secret).now()  # the key on the page is a real TOTP secret
    shot(page, f"mfa-1-signed-in-{device}")
    sign_out(page)

    # 2. With the app's code; a wrong one first, which says what to do.
    password_step(page, email)
    expect(page.get_by_role("heading", level=1)).to_have_text("Enter the code from your app")
    page.get_by_label("6-digit code").fill("123 45")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator(".error-summary")).to_contain_text(WRONG_CODE)
    expect(page.locator(".error-message")).to_contain_text(WRONG_CODE)
    shot(page, f"mfa-2-wrong-code-{device}")
    page.get_by_label("6-digit code").fill(app.code())
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Hello")
    sign_out(page)

    # 3. With a recovery code, instead of the app.
    password_step(page, email)
    page.get_by_role("link", name="Use a recovery code instead").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Use a recovery code")
    shot(page, f"mfa-3-recovery-code-{device}")
    page.get_by_label("Recovery code").fill(codes[0])
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Account")
    expect(page.get_by_role("status")).to_contain_text(
        f"{mfa.RECOVERY_CODE_COUNT - 1} of {mfa.RECOVERY_CODE_COUNT} are left"
    )
    shot(page, f"mfa-3-account-after-recovery-{device}")
    sign_out(page)

    # ...and the same recovery code a second time: refused.
    password_step(page, email)
    page.get_by_role("link", name="Use a recovery code instead").click()
    page.get_by_label("Recovery code").fill(codes[0])
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator(".error-message")).to_contain_text("each works only once")
    expect(page.get_by_role("heading", level=1)).to_have_text("Use a recovery code")

    # 4. The phone is lost: an administrator proposes a reset, a manager approves it on
    # the Approvals page, and the next sign-in sets up an app again.
    with session_scope(served.engine) as session:
        admin = make_user(session, Role.ADMIN)
        proposer = load_actor(session, admin.id)
        assert proposer is not None
        proposals.propose_mfa_reset(session, proposer, user_id=served.user_id(email), now=utcnow())
    manager = browser.new_context(base_url=served.base, **VIEWPORTS[device])  # type: ignore[arg-type]
    desk = manager.new_page()
    enroll(desk, served.new_account(f"mfa-manager-{device}", Role.MANAGER), device, "mfa-4-mgr")
    desk.get_by_role("link", name="Approvals").click()
    expect(desk.get_by_role("heading", level=2)).to_contain_text("Reset the second factor")
    shot(desk, f"mfa-4-approvals-{device}")
    desk.get_by_role("button", name="Approve").click()
    expect(desk.get_by_role("status")).to_contain_text("The change was approved.")
    expect(desk.locator(".empty")).to_contain_text("Nothing is waiting")
    manager.close()
    context.clear_cookies()
    enroll(page, email, device, "mfa-4-after-reset")
    context.close()

    with session_scope(served.engine, read_only=True) as session:
        trail = [e.action for e in session.exec(select(AuditEvent)).all()]
        data = " ".join(str(e.data) for e in session.exec(select(AuditEvent)).all())
    assert {"mfa.enrolled", "mfa.recovery_code_used", "mfa.failed", "mfa.reset"} <= set(trail)
    assert app.secret not in data
    assert codes[0] not in data


def test_the_account_page_on_a_phone(browser: Browser, served: Served) -> None:
    email = served.new_account("mfa-account")
    context = browser.new_context(base_url=served.base, **VIEWPORTS["phone"])  # type: ignore[arg-type]
    page = context.new_page()
    app, _ = enroll(page, email, "phone", "mfa-5")
    page.get_by_role("link", name="Account").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Account")
    shot(page, "mfa-5-account-phone")
    page.get_by_label("6-digit code from your authenticator app").fill(app.code())
    page.get_by_role("button", name="Make new recovery codes").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Your new recovery codes")
    assert page.locator(".recovery-codes code").count() == mfa.RECOVERY_CODE_COUNT
    page.get_by_role("link", name="I have saved these codes").click()
    page.get_by_role("link", name="Move to a new authenticator app").click()
    expect(page.locator(".qr-box svg")).to_be_visible()
    shot(page, "mfa-5-new-app-phone")
    new_app = Authenticator(page.locator(".secret-key code").inner_text().replace(" ", ""))
    page.get_by_label("Code from the new app").fill(new_app.code())
    page.get_by_label("Code from your current app, or a recovery code").fill(app.code())
    page.get_by_role("button", name="Switch to the new app").click()
    expect(page.get_by_role("status")).to_contain_text("new authenticator app is set up")
    context.close()


@pytest.mark.parametrize("device", ["phone", "desktop"])
def test_a_new_account_sets_its_own_password_then_its_app(
    browser: Browser, served: Served, device: str
) -> None:
    """No administrator chooses the password: the person opens their one-time link."""
    email = f"newcomer-{device}@example.edu"
    with session_scope(served.engine) as session:
        admin = make_user(session, Role.ADMIN)
        user = user_service.create_user(
            session,
            AuditActor.user(admin.id),
            email=email,
            display_name="New Comer",
            roles=[Role.AUDITOR],
        )
        _, token = account_links.issue(
            session, AuditActor.user(admin.id), user_id=user.id, now=utcnow()
        )
    context = browser.new_context(base_url=served.base, **VIEWPORTS[device])  # type: ignore[arg-type]
    page = context.new_page()
    page.goto(f"/set-password/{token}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Set your password")
    expect(page.get_by_text(email)).to_be_visible()
    page.get_by_label("New password").fill("password1234")
    page.get_by_label("Repeat the password").fill("password1234")
    page.get_by_role("button", name="Set my password").click()
    expect(page.locator(".error-summary")).to_contain_text("breached")
    shot(page, f"set-password-refused-{device}")
    page.get_by_label("New password").fill(PASSWORD)
    page.get_by_label("Repeat the password").fill(PASSWORD)
    page.get_by_role("button", name="Set my password").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Your password is set")
    shot(page, f"set-password-done-{device}")
    page.get_by_role("link", name="Sign in").click()
    enroll(page, email, device, f"newcomer-{device}")
    page.goto(f"/set-password/{token}")  # used: it works once
    expect(page.get_by_role("heading", level=1)).to_have_text("Not found")
    context.close()
