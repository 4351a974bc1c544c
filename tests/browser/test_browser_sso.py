"""Single sign-on in a real browser: Debian's Chromium signs in to ``bgcheck serve``
through the loopback OpenID Connect provider of ``support.oidc_provider``.

The provider is another site (``localhost``, bgcheck is ``127.0.0.1``), so this checks
what a TestClient cannot: that the flow cookie comes back with the provider's cross-site
redirect (``SameSite=Lax``), and that nothing in the pages' CSP stops the redirects.
When Chromium is missing the test fails; it never skips (``make test`` installs it).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, expect

from bgcheck import demo
from bgcheck.models import utcnow
from bgcheck.platform import migrate
from bgcheck.platform.db import make_engine, session_scope
from bgcheck.platform.settings import Settings

from support.factories import TEST_ACTOR
from support.mfa import box_for
from support.oidc_provider import LocalProvider, running_provider
from support.server import clean_environ, free_port, running_server


@pytest.fixture(scope="module")
def provider() -> Iterator[LocalProvider]:
    with running_provider() as idp:
        idp.issuer = idp.issuer.replace("127.0.0.1", "localhost")  # another site
        yield idp


@pytest.fixture(scope="module")
def served(provider: LocalProvider, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``bgcheck serve`` with the demo accounts and the provider as its single sign-on."""
    data_dir = tmp_path_factory.mktemp("browser-sso")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = clean_environ(
        BGCHECK_DATA_DIR=str(data_dir),
        BGCHECK_EMBEDDED_WORKER="false",
        BGCHECK_PUBLIC_URL=base,
        BGCHECK_OIDC_ISSUER=provider.issuer,
        BGCHECK_OIDC_AUDIENCE=provider.client_id,
        BGCHECK_OIDC_CLIENT_ID=provider.client_id,
        BGCHECK_OIDC_CLIENT_SECRET=str(provider.client_secret),
    )
    engine = make_engine(Settings(data_dir=data_dir))
    migrate.upgrade(engine)
    with session_scope(engine) as session:
        # reviewer@demo.bgcheck.test, the provider's user (its TOTP is not used by SSO)
        demo.seed(session, TEST_ACTOR, box_for(Settings(data_dir=data_dir)), utcnow())
    engine.dispose()
    with running_server(env, port, data_dir / "serve.log"):
        yield base


def test_a_reviewer_signs_in_through_the_provider(
    browser: Browser, served: str, provider: LocalProvider
) -> None:
    context = browser.new_context(base_url=served)
    page = context.new_page()
    page.goto("/login")
    page.get_by_role("link", name="Sign in with single sign-on").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Hello")
    assert page.url == f"{served}/"
    cookies = {cookie["name"]: cookie for cookie in context.cookies()}
    assert cookies["bgcheck_session"]["httpOnly"]
    assert "bgcheck_sso" not in cookies  # used up
    menu = page.get_by_role("navigation", name="Main")
    expect(menu.get_by_role("link", name="Review queue")).to_be_visible()  # bgcheck's roles
    context.close()


def test_an_unknown_person_is_told_why_and_not_signed_in(
    browser: Browser, served: str, provider: LocalProvider
) -> None:
    provider.user_email = "stranger@example.edu"
    context = browser.new_context(base_url=served)
    page = context.new_page()
    page.goto("/login")
    page.get_by_role("link", name="Sign in with single sign-on").click()
    expect(page.get_by_role("alert")).to_contain_text("no bgcheck account has your email")
    assert page.url.startswith(f"{served}/login/sso/callback?")
    assert "bgcheck_session" not in {cookie["name"] for cookie in context.cookies()}
    context.close()
