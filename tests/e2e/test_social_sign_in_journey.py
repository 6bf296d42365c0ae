"""Connect Google from the account page, sign out, sign in with Google: in Chromium, against the fake identity
provider (a real OpenID Connect round trip with a signed ID token)."""
import pytest
from playwright.sync_api import expect

from tests.auth.social_support import switch_on
from tests.e2e.portal import open_account_menu
from tests.fakes.identity_provider import FakeIdentityProvider
from tests.support import PASSWORD

pytestmark = pytest.mark.e2e


@pytest.fixture
def provider(app, monkeypatch):
    server = FakeIdentityProvider().start()
    switch_on(app, monkeypatch, server)
    yield server
    server.stop()


def test_link_google_then_sign_in_with_it(page, live_server, make_user, provider, artifacts_dir):
    shot = lambda name: page.screenshot(path=str(artifacts_dir / f"social-{name}.png"), full_page=True)  # noqa: E731
    make_user("lena@example.com", first_name="Lena")
    provider.approve_as("google-sub-lena", "lena.personal@gmail.example")

    page.goto(f"{live_server}/login")
    expect(page.get_by_role("link", name="Sign in with Google")).to_be_visible()
    page.fill("#email", "lena@example.com")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{live_server}/")

    page.goto(f"{live_server}/account/security")
    page.get_by_test_id("connected-accounts").click()
    expect(page).to_have_url(f"{live_server}/account/connections")
    shot("1-connections")
    page.get_by_role("button", name="Connect Google").click()  # to the provider and straight back
    expect(page.get_by_text("Your Google account is connected")).to_be_visible()
    expect(page.get_by_text("lena.personal@gmail.example")).to_be_visible()
    shot("2-connected")

    open_account_menu(page)  # the account's pages are under the name
    page.locator("#nav").get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(f"{live_server}/login")
    page.get_by_role("link", name="Sign in with Google").click()
    expect(page).to_have_url(f"{live_server}/")
    expect(page.get_by_role("heading", name="Welcome, Lena")).to_be_visible()
    shot("3-signed-in-with-google")
    assert "/token" in provider.paths() and "/jwks" in provider.paths()
