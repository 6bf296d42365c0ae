"""Register, verify and sign in through the e-mailed link, turn on 2FA, sign out, sign in with a code: in Chromium."""
import pyotp
import pytest
from playwright.sync_api import expect

from tests.e2e.portal import open_account_menu
from tests.support import link_in, outbox

pytestmark = pytest.mark.e2e


def _mail_link(server: str, to: str, event: str) -> str:
    """The mailed link's page on the live server (mail links are built from BASE_URL, which it stands in for)."""
    return server + link_in(outbox(to, event)[-1])


def test_register_verify_enable_2fa_and_sign_in_with_a_code(page, live_server, artifacts_dir):
    shot = lambda name: page.screenshot(path=str(artifacts_dir / f"identity-{name}.png"), full_page=True)  # noqa: E731
    page.goto(f"{live_server}/register")
    page.fill("#first_name", "Nora")
    page.fill("#last_name", "Quist")
    page.fill("#email", "nora@example.com")
    page.fill("#password", "password1234")  # too common: refused
    page.fill("#confirm", "password1234")
    page.check("#accept_terms")
    page.click("button[type=submit]")
    expect(page.get_by_text("one of the most common passwords")).to_be_visible()
    shot("1-register-refused")

    page.fill("#password", "Quiet-harbour-lantern-42")
    page.fill("#confirm", "Quiet-harbour-lantern-42")
    page.check("#accept_terms")
    page.click("button[type=submit]")
    expect(page.get_by_test_id("check-email")).to_contain_text("nora@example.com")
    shot("2-registered-check-email")

    page.goto(_mail_link(live_server, "nora@example.com", "verify_email"))  # verifies the address, signs in
    expect(page.get_by_text("nora@example.com is verified")).to_be_visible()
    expect(page.get_by_text("Welcome, Nora")).to_be_visible()
    expect(page.get_by_test_id("verify-banner")).to_have_count(0)

    open_account_menu(page)  # the account's pages are under the name
    page.click("text=Security")
    page.click("text=Turn on two-factor authentication")
    expect(page.get_by_test_id("totp-qr")).to_be_visible()
    secret = page.get_by_test_id("totp-secret").inner_text().strip()
    shot("3-enrol")
    page.fill("#code", pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Turn on", exact=True).click()
    codes = page.get_by_test_id("recovery-codes").inner_text().split()
    assert len(codes) == 10
    shot("4-recovery-codes")
    page.click("text=I have saved them")
    expect(page.get_by_text("unused recovery code")).to_be_visible()

    open_account_menu(page)  # the account's pages are under the name
    page.click("text=Sign out")
    page.fill("#email", "nora@example.com")
    page.fill("#password", "Quiet-harbour-lantern-42")
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{live_server}/login/code")
    page.fill("#code", "000000")
    page.click("button[type=submit]")
    expect(page.get_by_text("That code is not correct")).to_be_visible()
    shot("5-wrong-code")
    # the enrolment code's time step is spent: use the next one, as the app would show it
    page.fill("#code", pyotp.TOTP(secret).at(__import__("time").time() + 30))
    page.click("button[type=submit]")
    expect(page.get_by_text("Welcome, Nora")).to_be_visible()
    open_account_menu(page)  # the account's pages are under the name
    page.click("text=Security")
    expect(page.get_by_test_id("recent-sign-ins")).to_contain_text("signed in")
    shot("6-signed-in-with-code")
