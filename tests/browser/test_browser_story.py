"""The whole story in a real browser (Debian's Chromium driven by Playwright), against
the real app served by ``bgcheck serve`` with the embedded worker and the sandbox vendor:

HR creates a request (first with a mistake) and invites; the candidate consents on a
phone; the vendor answers (an SSN ending 0000: a criminal-record finding); a reviewer
proposes adverse action; a manager approves; the candidate disputes; the reviewer
resolves the dispute and clears; an auditor checks the chain and downloads the trail.

A screenshot of each main page goes to ``tests/browser/screenshots/`` (git-ignored).
When Chromium is missing the test fails; it never skips (``make test`` installs it).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from bgcheck import demo
from bgcheck.identity import mfa
from bgcheck.models import utcnow
from bgcheck.platform import migrate
from bgcheck.platform.db import make_engine, session_scope
from bgcheck.platform.settings import Settings

from support.browser import shot
from support.factories import TEST_ACTOR
from support.mfa import Authenticator, box_for
from support.server import clean_environ, free_port, running_server

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
PASSWORD = demo.DEMO_PASSWORD
VENDOR_DEADLINE_SECONDS = 60


@dataclass
class Served:
    base: str
    log: Path


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """``bgcheck serve`` on a free port: SQLite in a temporary folder, the demo accounts,
    the embedded worker with the sandbox vendor answering at once."""
    data_dir = tmp_path_factory.mktemp("browser")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = clean_environ(
        BGCHECK_DATA_DIR=str(data_dir),
        BGCHECK_EMBEDDED_WORKER="true",
        BGCHECK_SANDBOX_DELAY_SECONDS="0",
        BGCHECK_PUBLIC_URL=base,
        BGCHECK_ORG_NAME="Example University",
        # The default waiting period: with 0 the deadline is the approval itself, and
        # the candidate could not dispute.
        BGCHECK_ADVERSE_WAIT_BUSINESS_DAYS="5",
    )
    engine = make_engine(Settings(data_dir=data_dir))
    migrate.upgrade(engine)
    box = box_for(Settings(data_dir=data_dir))  # the keyring the server will load
    with session_scope(engine) as session:
        # Departments and one account per role, each with the demo's published TOTP secret.
        demo.seed(session, TEST_ACTOR, box, utcnow())
    engine.dispose()
    log_path = data_dir / "serve.log"
    with running_server(env, port, log_path):
        yield Served(base, log_path)


# Each demo account's authenticator app: the published secret, and the steps it used.
APPS: dict[str, Authenticator] = {}


def staff(
    browser: Browser, served: Served, who: str, *, code_shot: str | None = None
) -> tuple[BrowserContext, Page]:
    """Sign in as a demo account: the password, then the code its app shows now."""
    context = browser.new_context(viewport=DESKTOP, base_url=served.base)
    page = context.new_page()
    page.goto("/login")
    page.get_by_label("Email").fill(f"{who}@demo.bgcheck.test")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Enter the code from your app")
    if code_shot:
        shot(page, code_shot)
    # Seeding used the step before it; any step before now is as good a start.
    app = APPS.setdefault(
        who, Authenticator(demo.DEMO_TOTP_SECRET, last_step=mfa.step_at(utcnow()) - 1)
    )
    page.get_by_label("6-digit code").fill(app.code())
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Hello")
    return context, page


def candidate(browser: Browser, served: Served) -> tuple[BrowserContext, Page]:
    context = browser.new_context(
        viewport=PHONE, is_mobile=True, has_touch=True, device_scale_factor=2
    )
    return context, context.new_page()


def link_for_candidate(page: Page) -> str:
    url = page.locator("#invitation-url").input_value()
    assert "/portal/" in url
    return url


def wait_for_state(page: Page, label: str) -> None:
    deadline = time.monotonic() + VENDOR_DEADLINE_SECONDS
    while True:
        page.reload()
        if page.locator("h1 .badge").inner_text().strip() == label:
            return
        if time.monotonic() > deadline:
            pytest.fail(
                f"the case did not reach {label!r}; still {page.locator('h1 .badge').inner_text()}"
            )
        time.sleep(0.5)


def test_the_whole_story(browser: Browser, served: Served) -> None:
    started = time.monotonic()

    # --- HR: sign in, a request with a mistake, then right; invite ------------------------
    login_context = browser.new_context(viewport=DESKTOP, base_url=served.base)
    login_page = login_context.new_page()
    login_page.goto("/login")
    shot(login_page, "01-sign-in")
    login_context.close()

    hr_context, hr = staff(browser, served, "hr", code_shot="01b-sign-in-code")
    hr.get_by_role("link", name="New request").first.click()
    hr.get_by_label("Position title").fill("Locksmith")
    hr.get_by_label("Given name").fill("Jordan")
    hr.get_by_label("Family name").fill("Rivera")
    hr.get_by_label("Email").fill("jordan.rivera-at-example.org")
    hr.get_by_role("button", name="Create the request").click()
    expect(hr.locator(".error-summary")).to_contain_text("must be an email address")
    expect(hr.get_by_label("Email")).to_have_attribute("aria-invalid", "true")
    shot(hr, "02-hr-new-request-with-an-error")
    hr.get_by_label("Email").fill("jordan.rivera@example.org")
    hr.get_by_role("button", name="Create the request").click()
    expect(hr.locator("h1")).to_contain_text("Jordan Rivera")
    expect(hr.locator("h1 .badge")).to_have_text("Draft")
    case_url = hr.url.split("?")[0]
    hr.get_by_role("button", name="Send the invitation").click()
    invitation = link_for_candidate(hr)
    shot(hr, "03-hr-case-invitation-link")

    # --- the candidate, on a phone --------------------------------------------------------
    phone_context, phone = candidate(browser, served)
    phone.goto(invitation)
    expect(phone.get_by_role("heading", level=1)).to_contain_text("Disclosure")
    shot(phone, "04-candidate-disclosure-phone")
    phone.get_by_role("link", name="I have read the disclosure").click()
    phone.get_by_label("Given name").fill("Jordan")
    phone.get_by_label("Family name").fill("Rivera")
    phone.get_by_label("Date of birth", exact=True).fill("1988-02-03")
    phone.get_by_label("Social Security number").fill("123-45-0000")  # sandbox: a record
    phone.get_by_label("Phone").fill("617-555-0123")
    current = phone.locator("#f-addresses-0")
    current.get_by_label("Street address").fill("12 Elm Street")
    current.get_by_label("City").fill("Somerville")
    current.get_by_label("State").fill("MA")
    current.get_by_label("ZIP code").fill("02144")
    current.get_by_label("Lived here from").fill("2019-07-01")
    previous = phone.locator("#f-addresses-1")
    previous.get_by_label("Street address").fill("400 Oak Avenue")
    previous.get_by_label("City").fill("Worcester")
    previous.get_by_label("State").fill("MA")
    previous.get_by_label("ZIP code").fill("01602")
    previous.get_by_label("Lived here from").fill("2012-09-01")
    previous.get_by_label("Until").fill("2019-06-30")
    phone.get_by_label("Type your full name").fill("Jordan Rivera")
    # Forgot the acknowledgement: the form says so and keeps what was typed (not the SSN).
    phone.get_by_role("button", name="Sign and send").click()
    expect(phone.locator(".error-summary")).to_contain_text("Please tick this box")
    expect(phone.get_by_label("City").first).to_have_value("Somerville")
    expect(phone.get_by_label("Social Security number")).to_have_value("")
    shot(phone, "05-candidate-form-phone")
    phone.get_by_label("Social Security number").fill("123-45-0000")
    phone.get_by_label("I have read the disclosure and give").check()
    phone.get_by_role("button", name="Sign and send").click()
    expect(phone.get_by_role("heading", level=1)).to_contain_text("we have your authorization")
    phone_context.close()

    # --- HR: verify identity, order; the vendor answers -------------------------------------
    hr.goto(case_url)
    expect(hr.locator("h1 .badge")).to_have_text("Consent received")
    hr.get_by_label("Type of ID").select_option("drivers_license")
    hr.get_by_label("Last 4 characters").fill("7788")
    hr.get_by_label("I attest that I verified").check()
    hr.get_by_role("button", name="Record the identity check").click()
    expect(hr.locator(".notice")).to_contain_text("Identity check recorded")
    hr.get_by_role("button", name="Order the background check").click()
    # The order's own page first: a reload while its redirect is under way finds no page.
    expect(hr.locator(".notice")).to_contain_text("The background check was ordered")
    wait_for_state(hr, "Pending review")
    assert "123-45" not in hr.content()
    assert "Larceny" not in hr.content()
    hr.get_by_role("link", name="Cases").first.click()
    shot(hr, "06-hr-my-cases")

    # --- the reviewer: the queue, claim, the report, propose adverse action ----------------
    reviewer_context, reviewer = staff(browser, served, "reviewer")
    reviewer.get_by_role("link", name="Review queue").first.click()
    shot(reviewer, "07-reviewer-queue")
    reviewer.get_by_role("link", name="Jordan Rivera").click()
    reviewer.get_by_role("button", name="Claim this case").click()
    expect(reviewer.locator(".notice")).to_contain_text("You claimed this case")
    reviewer.get_by_role("button", name="Show full personal data").click()
    expect(reviewer.locator("#pii")).to_contain_text("400 Oak Avenue")
    reviewer.get_by_role("button", name="Show the report").click()
    expect(reviewer.locator("#report")).to_contain_text("consider")
    shot(reviewer, "08-reviewer-case-report")
    form = reviewer.locator("form.action-propose_adverse")
    findings = form.locator("input[name=finding]")
    assert findings.count() >= 1, "the sandbox report for an SSN ending 0000 has a finding"
    findings.first.check()
    form.get_by_label("Nature and gravity").fill("A theft conviction.")
    form.get_by_label("Time elapsed").fill("Five years; nothing since.")
    form.get_by_label("Relevance to the job").fill("The locksmith holds every master key.")
    form.get_by_role("button", name="Propose adverse action").click()
    expect(reviewer.locator("h1 .badge")).to_have_text("Adverse proposed")

    # --- the manager approves: the pre-adverse notice and its link --------------------------
    manager_context, manager = staff(browser, served, "manager")
    manager.goto(case_url)
    manager.get_by_role("button", name="Show the report").click()
    expect(manager.locator("#report")).to_contain_text("The locksmith holds every master key.")
    manager.get_by_role("button", name="Approve the adverse action").click()
    notice_link = link_for_candidate(manager)
    expect(manager.locator("h1 .badge")).to_have_text("Pre adverse notice")
    shot(manager, "09-manager-approved-notice-link")
    manager_context.close()

    # --- the candidate reads the notice and disputes ---------------------------------------
    phone_context, phone = candidate(browser, served)
    phone.goto(notice_link)
    expect(phone.get_by_role("heading", level=1).first).to_contain_text("Pre-adverse")
    expect(phone.locator("body")).to_contain_text("Summary of Your Rights")
    expect(phone.locator(".deadline")).to_be_visible()
    shot(phone, "10-candidate-notice-phone")
    phone.get_by_label("Your statement").fill("That conviction belongs to another Jordan Rivera.")
    phone.get_by_role("button", name="Send my dispute").click()
    expect(phone.get_by_role("heading", level=1)).to_contain_text("We received your dispute")
    phone_context.close()

    # --- the reviewer resolves the dispute and clears ---------------------------------------
    reviewer.goto(case_url)
    expect(reviewer.locator("h1 .badge")).to_have_text("Disputed")
    reviewer.get_by_role("button", name="Show the report").click()
    expect(reviewer.locator("#report")).to_contain_text("belongs to another Jordan Rivera")
    resolve = reviewer.locator("form.action-resolve_dispute")
    resolve.get_by_label("Corrected the report").check()
    resolve.get_by_label("What changed").fill("The vendor removed the record: another person.")
    resolve.get_by_role("button", name="Resolve the dispute").click()
    expect(reviewer.locator("h1 .badge")).to_have_text("Under review")
    reviewer.locator("form.action-clear").get_by_role("button", name="Clear the candidate").click()
    expect(reviewer.locator("h1 .badge")).to_have_text("Cleared")
    shot(reviewer, "11-reviewer-cleared-timeline")
    reviewer_context.close()

    hr.goto(case_url)
    expect(hr.locator("h1 .badge")).to_have_text("Cleared")
    hr.get_by_role("button", name="Sign out").click()
    expect(hr.get_by_role("status")).to_contain_text("You are signed out")
    hr.goto(case_url)
    expect(hr).to_have_url(re.compile(r"/login$"))
    hr_context.close()

    # --- the auditor: verification and a download ----------------------------------------
    auditor_context, auditor = staff(browser, served, "auditor")
    auditor.get_by_role("link", name="Audit").first.click()
    auditor.get_by_role("button", name="Check the chain now").click()
    expect(auditor.locator(".verification")).to_contain_text("Intact")
    with auditor.expect_download() as download:
        auditor.get_by_role("button", name="Download the audit trail").click()
    saved = Path(download.value.path())
    assert "case.clear" in saved.read_text()
    shot(auditor, "12-auditor-audit")
    auditor_context.close()

    log = served.log.read_text()
    for secret in ("123-45-0000", "123450000", "Oak Avenue", invitation.rsplit("/", 1)[1]):
        assert secret not in log
    print(f"browser story: {time.monotonic() - started:.1f} s")
