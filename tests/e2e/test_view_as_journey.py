"""Support helps an investor: corrects their profile from the console (the new name goes to compliance, the
identity being approved), then views their portal read-only, where the banner says so, controls are off and a
form post is refused, and stops viewing. Screenshots go to test-artifacts/view-as-*.png."""
from types import SimpleNamespace

import pytest
from playwright.sync_api import expect

from tests.e2e.staff import staff_page
from tests.support import PASSWORD

pytestmark = pytest.mark.e2e


def test_support_edits_a_profile_and_views_the_portal(browser, live_server, artifacts_dir, make_user,
                                                      make_investor):
    support = make_user("helpdesk@example.com", role="support", first_name="Sam", last_name="Support")
    investor = make_investor(email="iris@example.com", first_name="Iris", last_name="Investor")
    page = staff_page(browser, live_server, SimpleNamespace(email=support.email, password=PASSWORD,
                                                            totp_secret=support.totp_secret))
    shot = lambda name: page.screenshot(path=str(artifacts_dir / f"view-as-{name}.png"), full_page=True)  # noqa: E731

    page.goto(f"{live_server}/admin/users/details/?id={investor.id}")
    form = page.get_by_test_id("edit-profile-form")
    form.locator("[name=first_name]").fill("Iris Maria")
    form.locator("[name=phone]").fill("+14155550123")
    form.locator("[name=reason]").fill("Asked on ticket 981")
    shot("1-edit-form")
    page.get_by_test_id("save-profile").click()
    expect(page.locator(".alert-success")).to_contain_text("waits for compliance")
    expect(page.locator(".alert-success")).to_contain_text("unverified")

    view = page.get_by_test_id("view-as")
    view.locator("[name=reason]").fill("Ticket 981: cannot find the wallet")
    page.get_by_test_id("start-view-as").click()
    expect(page.get_by_test_id("view-as-banner")).to_contain_text("You are viewing Iris Investor's portal")
    expect(page.get_by_text("Welcome, Iris")).to_be_visible()
    shot("2-dashboard-banner")
    page.goto(f"{live_server}/account/security")
    expect(page.get_by_test_id("view-as-refused")).to_be_visible()
    shot("3-refused")
    page.goto(f"{live_server}/wallet")
    page.get_by_test_id("stop-viewing").click()
    expect(page.locator(".alert-success")).to_contain_text("You stopped viewing iris@example.com")
    assert "/admin/users/details/" in page.url
