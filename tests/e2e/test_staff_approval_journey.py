"""Two admins reset a staff member's two-factor authentication: the demo's admin proposes it from the user's page,
nothing changes yet; the demo's second admin signs in, opens the request in the queue and approves it; the
compliance officer's 2FA is off in the database. Screenshots go to test-artifacts/staff-approval-*.png."""
import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from app.auth.models import StaffActionRequest, User
from app.extensions import db
from app.seed import seed_demo
from tests.e2e.staff import staff_page

pytestmark = pytest.mark.e2e


def _compliance():
    db.session.expire_all()
    return db.session.scalar(select(User).where(User.email == "compliance@example.com"))


def test_an_admin_proposes_a_staff_2fa_reset_and_a_second_admin_approves(browser, live_server, artifacts_dir):
    shot = lambda p, name: p.screenshot(path=str(artifacts_dir / f"staff-approval-{name}.png"), full_page=True)  # noqa: E731
    logins = {login.email: login for login in seed_demo()}  # the demo commits as it goes
    target = _compliance()
    assert target.totp_enabled

    first = staff_page(browser, live_server, logins["admin@example.com"])
    first.goto(f"{live_server}/admin/users/details/?id={target.id}")
    reset = first.locator("form[action$='/reset-2fa']")
    reset.locator("input[name=reason]").fill("Lost phone; identity confirmed on a video call")
    reset.get_by_role("button", name="Reset two-factor authentication").click()
    expect(first.get_by_text("takes effect when a second admin approves it")).to_be_visible()
    expect(first.get_by_test_id("pending-staff-request")).to_contain_text("proposed by admin@example.com")
    shot(first, "1-proposed")
    assert _compliance().totp_enabled  # not before the second admin
    request = db.session.scalar(select(StaffActionRequest))
    assert request.status == "pending"

    second = staff_page(browser, live_server, logins["admin2@example.com"])
    second.goto(f"{live_server}/admin/staff_requests/")
    expect(second.get_by_text("compliance@example.com")).to_be_visible()
    shot(second, "2-queue")
    second.goto(f"{live_server}/admin/staff_requests/details/?id={request.id}")
    second.fill("#approve-reason", "Checked the video call notes")
    second.get_by_test_id("approve").click()
    expect(second.get_by_text("Approved: reset two-factor authentication compliance@example.com")).to_be_visible()
    expect(second.get_by_test_id("request-status")).to_have_text("approved")
    shot(second, "3-approved")

    after = _compliance()
    assert not after.totp_enabled and after.totp_secret is None
    db.session.refresh(request)
    assert request.status == "approved" and request.decided_by.email == "admin2@example.com"
