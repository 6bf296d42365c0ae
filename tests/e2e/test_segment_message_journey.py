"""Support writes to the investors of a property: composes the message, previews it as they will read it, confirms
the number of recipients, watches it send on the progress bar (the task runs once the page shows the bar), and the
demo investor finds it among the portal's notifications. Screenshots go to test-artifacts/segment-message-*.png."""
import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from app.extensions import db
from app.properties.models import Property
from app.seed import INVESTOR_PASSWORD, seed_demo
from app.support import message_tasks, messages
from app.support.message_models import StaffMessage
from tests.e2e.staff import staff_page

pytestmark = pytest.mark.e2e

SUBJECT = "Northgate: the annual report is out"
BODY = "The annual report of Northgate Logistics Park is in your documents.\nOccupancy stayed at 97 %."


def test_support_sends_a_message_to_a_propertys_investors_who_read_it_in_the_portal(
        browser, live_server, artifacts_dir, monkeypatch):
    shot = lambda p, name: p.screenshot(path=str(artifacts_dir / f"segment-message-{name}.png"), full_page=True)  # noqa: E731
    logins = {login.email: login for login in seed_demo()}  # the demo commits as it goes
    northgate = db.session.scalar(select(Property).where(Property.title == "Northgate Logistics Park"))
    queued: list[int] = []  # the sending task, held until the page shows its progress bar
    monkeypatch.setattr(messages, "enqueue_after_commit", lambda task, message_id: queued.append(message_id))

    page = staff_page(browser, live_server, logins["support@example.com"])
    errors: list[str] = []  # the compose script and the progress bar run under the site's policy, without errors
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
    page.goto(f"{live_server}/admin/staff_messages/")
    page.get_by_test_id("compose").click()
    page.select_option("#segment", "property")
    expect(page.locator("#property_id")).to_be_visible()
    expect(page.locator("#days")).to_be_hidden()  # only the field the chosen recipients need
    page.select_option("#property_id", str(northgate.id))
    page.fill("#subject", SUBJECT)
    page.fill("#body", BODY)
    page.check("#send_email")
    page.fill("#reason", "Annual report published")
    shot(page, "1-compose")
    page.get_by_test_id("preview").click()

    expect(page.get_by_test_id("preview-title")).to_have_text(SUBJECT)
    expect(page.get_by_test_id("preview-email")).to_contain_text("This message comes from the Freehold team")
    count = int(page.get_by_test_id("recipient-count").inner_text())
    assert count >= 2  # the demo investor and co-investors hold Northgate
    shot(page, "2-preview")
    page.get_by_test_id("confirm").click()
    expect(page.get_by_text(f"Sending to {count} investors.")).to_be_visible()
    expect(page.get_by_test_id("progress")).to_be_visible()
    expect(page.get_by_test_id("progress")).to_contain_text(f"0 / {count}")
    shot(page, "3-sending")

    assert len(queued) == 1
    message_tasks.send_staff_message(queued[0])  # the worker; the bar polls its status and the page reloads when sent
    expect(page.get_by_test_id("message-status").first).to_have_text("sent", timeout=15_000)
    expect(page.get_by_test_id("progress")).to_contain_text(f"{count} / {count}")
    expect(page.locator("[data-progress-bar]")).to_have_text("100%")
    shot(page, "4-sent")
    assert errors == []
    db.session.expire_all()
    assert db.session.get(StaffMessage, queued[0]).sent_count == count

    investor = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    investor.goto(f"{live_server}/login")
    investor.fill("#email", "investor@example.com")
    investor.fill("#password", INVESTOR_PASSWORD)
    investor.click("button[type=submit]")
    investor.goto(f"{live_server}/notifications")
    expect(investor.get_by_text(SUBJECT)).to_be_visible()
    expect(investor.get_by_text("Occupancy stayed at 97 %.")).to_be_visible()
    shot(investor, "5-investor")
