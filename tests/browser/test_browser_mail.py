"""E-mail in a real browser, against ``bgcheck serve`` with the embedded worker and the
embedded mailbox (no ``BGCHECK_MAIL_URL``):

HR invites; the worker delivers the invitation into the Maildir; the candidate opens the
link **from the e-mail** (read with ``bgcheck.mail.mailbox``, the code behind ``bgcheck
mail show``), on a phone; HR sends a new invitation and the new e-mail's link works while
the old one does not. An administrator reads the Sent mail page, a message and the
outbox; a reviewer sends a pre-adverse notice again (a demo case waits in its period).

Screenshots (phone and desktop) go to ``tests/browser/screenshots/mail-*.png``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect
from sqlmodel import select

from bgcheck import demo
from bgcheck.identity import mfa
from bgcheck.mail import mailbox
from bgcheck.models import JobKind, JobStatus, OutboxJob, utcnow
from bgcheck.platform import migrate
from bgcheck.platform.db import make_engine, session_scope
from bgcheck.platform.settings import Settings

from support.browser import shot
from support.cases import case_context
from support.factories import TEST_ACTOR
from support.mfa import Authenticator, box_for
from support.server import clean_environ, free_port, running_server

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
MAIL_DEADLINE_SECONDS = 30
PORTAL = re.compile(r"https?://\S+/portal/[A-Za-z0-9_-]+")


@dataclass
class Served:
    base: str
    settings: Settings
    log: Path

    @property
    def mail_dir(self) -> Path:
        return self.settings.mail_dir


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """``bgcheck serve`` on a free port, SQLite, the demo accounts and demo cases."""
    data_dir = tmp_path_factory.mktemp("browser-mail")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = clean_environ(
        BGCHECK_DATA_DIR=str(data_dir),
        BGCHECK_EMBEDDED_WORKER="true",
        BGCHECK_SANDBOX_DELAY_SECONDS="0",
        BGCHECK_PUBLIC_URL=base,
        BGCHECK_ORG_NAME="Example University",
        BGCHECK_ADVERSE_WAIT_BUSINESS_DAYS="5",
    )
    settings = Settings(data_dir=data_dir, public_url=base, org_name="Example University")
    engine = make_engine(settings)
    migrate.upgrade(engine)
    box = box_for(settings)
    with session_scope(engine) as session:
        demo.seed(session, TEST_ACTOR, box, utcnow())
    with session_scope(engine) as session:
        demo.seed_cases(session, case_context(settings), utcnow())
    engine.dispose()
    log_path = data_dir / "serve.log"
    with running_server(env, port, log_path):
        yield Served(base, settings, log_path)


APPS: dict[str, Authenticator] = {}


def staff(
    browser: Browser, served: Served, who: str, *, viewport: dict[str, int] = DESKTOP
) -> tuple[BrowserContext, Page]:
    context = browser.new_context(viewport=viewport, base_url=served.base)
    page = context.new_page()
    page.goto("/login")
    page.get_by_label("Email").fill(f"{who}@demo.bgcheck.test")
    page.get_by_label("Password").fill(demo.DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    app = APPS.setdefault(
        who, Authenticator(demo.DEMO_TOTP_SECRET, last_step=mfa.step_at(utcnow()) - 1)
    )
    page.get_by_label("6-digit code").fill(app.code())
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Hello")
    return context, page


def phone(browser: Browser) -> tuple[BrowserContext, Page]:
    context = browser.new_context(
        viewport=PHONE, is_mobile=True, has_touch=True, device_scale_factor=2
    )
    return context, context.new_page()


def link_in_mail(served: Served, to: str, *, not_in: frozenset[str] = frozenset()) -> str:
    """The portal link in the text part of the newest message to ``to``, once the
    embedded worker has delivered one whose key is not in ``not_in``."""
    deadline = time.monotonic() + MAIL_DEADLINE_SECONDS
    while True:
        found = [
            stored
            for stored in mailbox.stored_messages(served.mail_dir)
            if to in stored.to and stored.key not in not_in
        ]
        if found:
            text = mailbox.show(served.mail_dir, found[-1].key).text or ""
            (link,) = set(PORTAL.findall(text))
            return link
        if time.monotonic() > deadline:
            pytest.fail(f"no e-mail to {to} reached the mailbox in {MAIL_DEADLINE_SECONDS} s")
        time.sleep(0.3)


def keys_to(served: Served, to: str) -> frozenset[str]:
    return frozenset(s.key for s in mailbox.stored_messages(served.mail_dir) if to in s.to)


def no_horizontal_overflow(page: Page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    viewport = page.evaluate("window.innerWidth")
    assert width <= viewport, f"{page.url}: {width}px wide in a {viewport}px viewport"


def test_the_invitation_from_the_mailbox_and_the_admin_pages(
    browser: Browser, served: Served
) -> None:
    to = "ada.quill@example.org"
    # --- HR invites ------------------------------------------------------------------------
    hr_context, hr = staff(browser, served, "hr")
    hr.get_by_role("link", name="New request").first.click()
    hr.get_by_label("Position title").fill("Glazier")
    hr.get_by_label("Given name").fill("Ada")
    hr.get_by_label("Family name").fill("Quill")
    hr.get_by_label("Email").fill(to)
    hr.get_by_role("button", name="Create the request").click()
    expect(hr.locator("h1")).to_contain_text("Ada Quill")
    case_url = hr.url.split("?")[0]
    hr.get_by_role("button", name="Send the invitation").click()
    expect(hr.locator("#invitation-url")).to_be_visible()

    # --- the candidate opens the link in the e-mail, on a phone ----------------------------
    first = link_in_mail(served, to)
    candidate_context, candidate = phone(browser)
    candidate.goto(first)
    expect(candidate.get_by_role("heading", level=1)).to_contain_text("Disclosure")
    no_horizontal_overflow(candidate)
    shot(candidate, "mail-01-candidate-from-the-email-phone")

    # --- HR sends a new invitation: a new e-mail, the old link dead ------------------------
    before = keys_to(served, to)
    hr.goto(case_url)
    hr.locator("form.action-invite").get_by_role("button").click()
    expect(hr.locator("#invitation-url")).to_be_visible()
    second = link_in_mail(served, to, not_in=before)
    assert second != first
    assert candidate.goto(first).status == 404  # type: ignore[union-attr]
    candidate.goto(second)
    expect(candidate.get_by_role("heading", level=1)).to_contain_text("Disclosure")
    candidate_context.close()
    hr_context.close()

    # A mail server that refused an invitation for good (what a 5xx leaves): a dead job.
    engine = make_engine(served.settings)
    with session_scope(engine) as session:
        job = session.exec(select(OutboxJob).where(OutboxJob.kind == JobKind.MAIL)).first()
        assert job is not None
        job.status, job.attempts, job.last_error = JobStatus.DEAD, 1, "MailRejected: 550"
        session.add(job)
    engine.dispose()

    # --- the administrator: Sent mail, a message, the outbox, on both screens -------------
    for name, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        admin_context, admin = staff(browser, served, "admin", viewport=viewport)
        admin.get_by_role("link", name="Sent mail").first.click()
        expect(admin.get_by_role("heading", level=1)).to_have_text("Sent mail")
        expect(admin.locator("ol.mail-list")).to_contain_text(to)
        no_horizontal_overflow(admin)
        shot(admin, f"mail-02-sent-mail-{name}")
        admin.locator("ol.mail-list a").first.click()
        expect(admin.locator("pre.mail-text")).to_contain_text("/portal/")
        expect(admin.locator("pre.mail-text")).to_contain_text(second.rsplit("/", 1)[1])
        no_horizontal_overflow(admin)
        shot(admin, f"mail-03-message-{name}")
        admin.get_by_role("link", name="Outbox").first.click()
        expect(admin.get_by_role("heading", level=1)).to_have_text("Outbox")
        no_horizontal_overflow(admin)
        shot(admin, f"mail-04-outbox-{name}")
        if name == "phone":  # the dead job goes back to the queue (and the worker sends it)
            admin.get_by_role("button", name="Send again").click()
            expect(admin.locator(".notice")).to_contain_text("back in the queue")
        admin_context.close()

    # --- a reviewer sends the pre-adverse notice of a demo case again ---------------------
    for name, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        reviewer_context, reviewer = staff(browser, served, "reviewer", viewport=viewport)
        reviewer.get_by_role("link", name="Review queue").first.click()
        reviewer.get_by_role("link", name="Margaret Hamilton").click()
        expect(reviewer.locator("h1 .badge")).to_have_text("Pre adverse notice")
        reviewer.get_by_role("button", name="Send a new link to the notice").click()
        expect(reviewer.locator(".notice")).to_contain_text("A new link to the notice")
        notice = reviewer.locator("#invitation-url").input_value()
        no_horizontal_overflow(reviewer)
        shot(reviewer, f"mail-05-case-after-notice-resend-{name}")
        reviewer_context.close()
        reader_context, reader = phone(browser)
        reader.goto(notice)
        expect(reader.get_by_role("heading", level=1).first).to_contain_text("Pre-adverse")
        reader_context.close()

    log = served.log.read_text()
    for secret in (first, second, notice):
        assert secret.rsplit("/", 1)[1] not in log
