"""An investor opens a support ticket with a file in the portal, support answers it in the console (after an
internal note the investor never sees), and the investor reads the reply and finds the notification."""
import pyotp
import pytest
from playwright.sync_api import expect

from app.auth import mfa, totp
from app.extensions import db
from tests.core import files
from tests.support import PASSWORD, outbox

pytestmark = pytest.mark.e2e


def test_investor_asks_and_support_answers(page, browser, live_server, artifacts_dir, make_user, tmp_path):
    shot = lambda p, name: p.screenshot(path=str(artifacts_dir / f"ticket-{name}.png"), full_page=True)  # noqa: E731
    make_user("lena@example.com", first_name="Lena")
    agent = make_user("helpdesk@example.com", role="support", two_factor=False)
    secret = totp.new_secret()
    mfa.provision(agent, secret)
    db.session.commit()
    receipt = tmp_path / "receipt.pdf"
    receipt.write_bytes(files.minimal_pdf())

    page.goto(f"{live_server}/login")
    page.fill("#email", "lena@example.com")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.get_by_test_id("support-link").click()
    page.get_by_test_id("new-ticket").click()
    page.fill("#f-subject", "Where is my deposit?")
    page.select_option("#f-category", "deposits")
    page.fill("#f-body", "I sent 1,000 USD by bank transfer on Monday. The receipt is attached.")
    page.set_input_files("#f-attachments", str(receipt))
    shot(page, "1-new")
    page.get_by_role("button", name="Send", exact=True).click()
    expect(page.get_by_text("is open. We will answer")).to_be_visible()
    expect(page.get_by_test_id("ticket-status")).to_have_text("waiting for support")
    expect(page.get_by_role("link", name="receipt.pdf")).to_be_visible()
    ticket_url = page.url
    shot(page, "2-opened")

    staff = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    staff.on("dialog", lambda dialog: dialog.accept())
    staff.goto(f"{live_server}/login")
    staff.fill("#email", "helpdesk@example.com")
    staff.fill("#password", PASSWORD)
    staff.click("button[type=submit]")
    staff.fill("#code", pyotp.TOTP(secret).now())
    staff.click("button[type=submit]")
    staff.goto(f"{live_server}/admin/tickets/")
    shot(staff, "3-queue")
    staff.get_by_role("link", name="Where is my deposit?").click()
    expect(staff.get_by_role("link", name="receipt.pdf")).to_be_visible()
    staff.fill("#note-body", "Checked the bank file: the transfer came in today.")
    staff.get_by_role("button", name="Add note").click()
    expect(staff.get_by_text("Internal note added.")).to_be_visible()
    staff.fill("#reply-body", "Hello Lena, your transfer arrived this morning and is in your wallet now.")
    staff.get_by_role("button", name="Send reply").click()
    expect(staff.get_by_text("Reply sent; the investor is notified.")).to_be_visible()
    expect(staff.get_by_test_id("internal-note")).to_be_visible()
    shot(staff, "4-answered")

    page.goto(ticket_url)
    expect(page.get_by_test_id("ticket-status")).to_have_text("answered")
    expect(page.get_by_text("your transfer arrived this morning")).to_be_visible()
    expect(page.get_by_text("Checked the bank file")).to_have_count(0)
    shot(page, "5-reply")
    page.click("[data-testid=bell]")
    expect(page.get_by_text("Support replied to ticket #")).to_be_visible()
    assert outbox(to="lena@example.com", event="ticket_replied")
    shot(page, "6-notified")
