"""An investor sends identity documents, compliance approves them in the console, the investor sees the gate open."""
import pyotp
import pytest
from playwright.sync_api import expect

from app.auth import mfa, totp
from app.extensions import db
from app.kyc.demo import ensure_forms
from tests.core import files
from tests.e2e.portal import open_account_menu
from tests.support import PASSWORD

pytestmark = pytest.mark.e2e


def test_investor_submits_and_compliance_approves(page, browser, live_server, artifacts_dir, make_user, tmp_path):
    shot = lambda p, name: p.screenshot(path=str(artifacts_dir / f"kyc-{name}.png"), full_page=True)  # noqa: E731
    identity, _ = ensure_forms()
    make_user("kim@example.com", first_name="Kim")
    reviewer = make_user("reviewer@example.com", role="compliance", two_factor=False)
    secret = totp.new_secret()
    mfa.provision(reviewer, secret)
    db.session.commit()
    front, selfie = tmp_path / "front.jpg", tmp_path / "selfie.png"
    front.write_bytes(files.jpeg_with_gps(120, 80))
    selfie.write_bytes(files.png(60, 60))

    page.goto(f"{live_server}/login")
    page.fill("#email", "kim@example.com")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    open_account_menu(page)  # the account's pages are under the name
    page.click("text=Verification")
    expect(page.get_by_test_id("kyc-next-step")).to_contain_text("Next step: complete Identity")
    page.get_by_role("link", name="Start", exact=True).first.click()
    page.select_option("#f-document_type", "passport")
    page.fill("#f-document_number", "K5550001")
    page.select_option("#f-issuing_country", "GB")
    page.fill("#f-date_of_birth", "1988-08-08")
    page.set_input_files("#f-front_image", str(front))
    page.set_input_files("#f-selfie", str(selfie))
    shot(page, "1-form")
    page.get_by_role("button", name="Submit for review").click()
    expect(page.get_by_text("is submitted")).to_be_visible()
    expect(page.get_by_test_id(f"status-{identity.id}")).to_have_text("pending")
    shot(page, "2-submitted")

    staff = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    staff.goto(f"{live_server}/login")
    staff.fill("#email", "reviewer@example.com")
    staff.fill("#password", PASSWORD)
    staff.click("button[type=submit]")
    staff.fill("#code", pyotp.TOTP(secret).now())
    staff.click("button[type=submit]")
    staff.goto(f"{live_server}/admin/kyc_queue/")
    staff.click("text=Open case")
    expect(staff.get_by_test_id("value-document_number")).to_have_text("K5550001")
    expect(staff.locator("img[alt='Front of the document']")).to_be_visible()
    shot(staff, "3-case")
    staff.keyboard.press("a")  # focuses Approve
    staff.keyboard.press("Enter")
    expect(staff.get_by_text("Decision recorded: approved.")).to_be_visible()
    expect(staff.get_by_test_id("case-status")).to_have_text("approved")
    shot(staff, "4-approved")

    page.reload()
    expect(page.get_by_test_id(f"status-{identity.id}")).to_have_text("approved")
    expect(page.get_by_test_id("kyc-next-step")).to_contain_text("You can invest")
    page.click("[data-testid=bell]")
    expect(page.get_by_text("Identity: approved")).to_be_visible()
    shot(page, "5-gate-open")
