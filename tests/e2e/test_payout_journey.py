"""An investor withdraws, two finance users approve (above the two-person threshold), one marks it paid with
the bank reference, and the investor sees it paid. Screenshots of the portal and console pages go to
test-artifacts/payout-*.png; the ledger verifies at the end."""
import pytest
from playwright.sync_api import expect

from app.extensions import db
from app.ledger.checks import verify
from app.seed import seed_demo
from tests.e2e.staff import staff_page

pytestmark = pytest.mark.e2e


def test_investor_withdraws_two_approve_one_pays(page, browser, live_server, artifacts_dir):
    shot = lambda p, name: p.screenshot(path=str(artifacts_dir / f"payout-{name}.png"), full_page=True)  # noqa: E731
    logins = {login.email: login for login in seed_demo()}  # the demo commits as it goes

    page.set_viewport_size({"width": 1280, "height": 900})
    page.on("dialog", lambda dialog: dialog.accept())
    page.goto(f"{live_server}/login")
    page.fill("#email", "investor@example.com")
    page.fill("#password", "Demo-investor-2026")
    page.click("button[type=submit]")
    page.click("nav >> text=Payouts")
    expect(page.get_by_text("No payouts yet.")).to_be_visible()
    page.get_by_test_id("withdraw").click()
    page.fill("#amount", "12000.00")
    page.get_by_role("button", name="See the fee").click()
    expect(page.get_by_test_id("fee")).to_have_text("$61.00")  # 0.5 % + 1.00
    expect(page.get_by_test_id("total")).to_have_text("$12,061.00")
    shot(page, "1-portal-quote")
    page.get_by_role("button", name="Request payout").click()
    expect(page.get_by_test_id("payout-status")).to_have_text("requested")
    payout_id = page.url.rstrip("/").rsplit("/", 1)[-1]
    shot(page, "2-portal-requested")
    page.goto(f"{live_server}/payout-methods")
    expect(page.get_by_test_id("methods")).to_contain_text("••••••••6789")
    shot(page, "3-portal-bank-accounts")

    first = staff_page(browser, live_server, logins["finance@example.com"])
    first.goto(f"{live_server}/admin/payouts/")
    expect(first.get_by_text(f"Open #{payout_id}")).to_be_visible()
    shot(first, "4-console-queue")
    first.click(f"text=Open #{payout_id}")
    expect(first.get_by_test_id("risk-flags")).to_contain_text("First payout")
    expect(first.get_by_test_id("risk-flags")).to_contain_text("Amount above threshold")
    expect(first.get_by_test_id("kyc-status")).to_have_text("approved")
    shot(first, "5-console-case")
    first.get_by_test_id("approve").click()
    expect(first.get_by_text("First approval recorded")).to_be_visible()
    expect(first.get_by_test_id("payout-status")).to_have_text("requested")

    second = staff_page(browser, live_server, logins["finance2@example.com"])
    second.goto(f"{live_server}/admin/payouts/case/{payout_id}")
    second.get_by_test_id("approve").click()
    expect(second.get_by_text("Approved.")).to_be_visible()
    expect(second.get_by_test_id("payout-status")).to_have_text("approved")
    shot(second, "6-console-approved")

    first.reload()
    first.fill("#bank_reference", "TRF-2026-0001")
    first.get_by_test_id("mark-paid").click()
    expect(first.get_by_text("Marked paid.")).to_be_visible()
    expect(first.get_by_test_id("payout-status")).to_have_text("paid")
    shot(first, "7-console-paid")

    page.goto(f"{live_server}/payouts/{payout_id}")
    expect(page.get_by_test_id("payout-status")).to_have_text("paid")
    expect(page.get_by_test_id("bank-reference")).to_contain_text("TRF-2026-0001")
    shot(page, "8-portal-paid")
    page.goto(f"{live_server}/payouts")
    expect(page.get_by_test_id(f"status-{payout_id}")).to_have_text("paid")
    expect(page.get_by_test_id("held")).to_have_text("$0.00")
    shot(page, "9-portal-list")

    db.session.rollback()
    report = verify()
    assert report.ok, report.violations
