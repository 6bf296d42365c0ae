"""An investor moves the account to a new e-mail address in Chromium: asks for it on the profile page (with the
password), opens the link mailed to the new address, confirms, and signs in again with the new address."""
import pytest
from playwright.sync_api import expect

from tests.e2e.portal import open_account_menu
from tests.support import PASSWORD, link_in, outbox

pytestmark = pytest.mark.e2e

NEW = "iris.moved@example.com"


def _sign_in(page, server, email):
    page.goto(f"{server}/login")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")


def test_investor_changes_the_email_address(page, live_server, make_investor, artifacts_dir):
    make_investor(email="iris.before@example.com")
    _sign_in(page, live_server, "iris.before@example.com")
    open_account_menu(page)  # the account's pages are under the name
    page.click("nav >> text=Profile")
    expect(page).to_have_url(f"{live_server}/account/profile")
    card = page.locator("#email-card")
    card.locator("input[name=email]").fill(NEW)
    card.locator("input[name=password]").fill(PASSWORD)
    card.locator("button[type=submit]").last.click()
    expect(page.get_by_test_id("pending-email")).to_contain_text(NEW)
    page.screenshot(path=str(artifacts_dir / "profile-email-pending.png"), full_page=True)

    assert outbox(to="iris.before@example.com", event="confirm_email_change") == []
    page.goto(live_server + link_in(outbox(to=NEW, event="confirm_email_change")[-1]))
    page.get_by_test_id("confirm-email").click()
    expect(page.get_by_text(f"Your e-mail address is now {NEW}")).to_be_visible()
    assert outbox(to="iris.before@example.com", event="email_changed")

    open_account_menu(page)  # the account's pages are under the name
    page.click("text=Sign out")
    _sign_in(page, live_server, "iris.before@example.com")
    expect(page).to_have_url(f"{live_server}/login")  # the old address signs in no more
    _sign_in(page, live_server, NEW)
    expect(page).to_have_url(f"{live_server}/")
    open_account_menu(page)  # the account's pages are under the name
    page.click("nav >> text=Profile")
    expect(page.get_by_text(f"Your address is {NEW}.")).to_be_visible()
