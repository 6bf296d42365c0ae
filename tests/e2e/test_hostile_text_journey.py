"""Hostile text in Chromium: an investor registers with a name and an e-mail address made of quotes and script, a
property and an amenity are titled with it, then staff open the console's lists and details and click through its
confirmations (submit for publication, approve, block, bulk delete, row delete, run returns). Nothing runs:
window.__pwned stays undefined, no Content-Security-Policy violation is reported, and every confirmation shows the
hostile text as plain text."""
import pyotp
import pytest
from flask import url_for
from playwright.sync_api import expect
from sqlalchemy import select

from app.auth.models import User
from app.core.db import unit_of_work
from app.extensions import db
from app.investing.models import Investment
from app.kyc import services as kyc
from app.kyc.demo import ensure_forms, sample_image
from app.kyc.models import KycSubmission
from app.properties.models import Amenity, Property, PropertyApproval
from app.seed import seed_demo
from tests.investing.test_distribution import book, periods
from tests.support import PASSWORD, link_in, outbox, totp_now

pytestmark = pytest.mark.e2e

PAYLOAD = """"'><script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">"""
EMAIL = "o'hara.tester@example.com"
# Recorded by the page itself (an init script runs before the page's own and is not subject to its policy).
WATCH = """
window.__violations = [];
document.addEventListener('securitypolicyviolation', function (e) {
  window.__violations.push(e.violatedDirective + ' ' + (e.blockedURI || 'inline') + ' ' + (e.sample || ''));
});
"""


class Browser:
    """One signed-in tab that records every dialog and answers it as told."""

    def __init__(self, browser, base):
        self.base = base
        self.context = browser.new_context(viewport={"width": 1400, "height": 1000})
        self.context.add_init_script(WATCH)
        self.page = self.context.new_page()
        self.dialogs: list[tuple[str, str]] = []
        self.answer = "dismiss"
        self.console: list[str] = []
        self.page.on("dialog", self._dialog)
        self.page.on("console", lambda msg: self.console.append(msg.text) if msg.type == "error" else None)
        self.page.on("pageerror", lambda exc: self.console.append(f"page error: {exc}"))

    def _dialog(self, dialog):
        self.dialogs.append((dialog.type, dialog.message))
        dialog.accept() if self.answer == "accept" else dialog.dismiss()

    def goto(self, path):
        self.page.goto(f"{self.base}{path}")
        self.assert_clean()

    def assert_clean(self):
        page = self.page
        page.wait_for_load_state()
        assert page.evaluate("typeof window.__pwned") == "undefined", page.url
        assert page.evaluate("window.__violations || []") == [], page.url
        assert not [m for m in self.console if "Content Security Policy" in m or "Refused" in m], self.console
        assert not [m for m in self.console if m.startswith("page error")], self.console


def _sign_in_staff(tab, user):
    tab.goto("/login")
    tab.page.fill("#email", user.email)
    tab.page.fill("#password", PASSWORD)
    tab.page.click("button[type=submit]")
    tab.page.fill("#code", totp_now(user))
    tab.page.click("button[type=submit]")
    expect(tab.page).to_have_url(f"{tab.base}/admin/")
    tab.assert_clean()


def test_hostile_names_and_titles_never_run_in_the_portal_or_the_console(browser, live_server, make_user,
                                                                         make_property, artifacts_dir):
    # An investor signs up with script in both names and a quote in the address.
    investor = Browser(browser, live_server)
    investor.goto("/register")
    page = investor.page
    page.fill("#first_name", PAYLOAD)
    page.fill("#last_name", "O'Hara</script><script>window.__pwned=3</script>")
    page.fill("#email", EMAIL)
    page.fill("#password", "Quiet-harbour-lantern-42")
    page.fill("#confirm", "Quiet-harbour-lantern-42")
    page.check("#accept_terms")
    page.click("button[type=submit]")
    expect(page.get_by_test_id("check-email")).to_contain_text(EMAIL)  # the address, shown as text
    investor.assert_clean()
    investor.goto(link_in(outbox(EMAIL, "verify_email")[-1]))  # the mailed link verifies and signs in
    expect(page.get_by_text(PAYLOAD).first).to_be_visible()  # the name, shown as text
    for path in ("/", "/properties", "/wallet", "/portfolio", "/payouts", "/kyc"):
        investor.goto(path)
    page.screenshot(path=str(artifacts_dir / "hostile-portal.png"), full_page=True)
    registered = db.session.scalar(select(User).where(User.email == EMAIL))
    assert registered is not None and registered.first_name == PAYLOAD

    # A draft and an active offering titled with script (the active one owes a return), an amenity named with it.
    draft = make_property(publish=False, title=f"Tower {PAYLOAD}", street=PAYLOAD, description=PAYLOAD)
    active = make_property(title=f"Plaza {PAYLOAD}", return_periods=8)
    book(active, make_user(), schedule=periods(1, amount=1_250))
    with unit_of_work():
        db.session.add(Amenity(name=PAYLOAD[:80]))

    staff = Browser(browser, live_server)
    _sign_in_staff(staff, make_user(role="admin"))
    page = staff.page
    for path in ("/admin/users/", "/admin/properties/", "/admin/amenities/", "/admin/kyc_queue/", "/admin/audit/"):
        staff.goto(path)

    # The audit list's filter menu: "Add Filter" and a filter's name are inert links (href="#"); choosing one adds
    # its row and the page stays where it was
    page.get_by_text("Add Filter").click()
    page.locator("a.filter", has_text="Action").click()
    expect(page.locator("a.remove-filter")).to_have_count(1)
    assert page.url == f"{live_server}/admin/audit/"
    staff.assert_clean()

    # The investor's details: blocking asks with the address as text; dismissed, nothing happens.
    staff.goto(f"/admin/users/details/?id={registered.id}")
    expect(page.get_by_text(EMAIL).first).to_be_visible()
    block = page.locator("form[action$='/block']")
    block.locator("select[name=category]").select_option("compliance")
    block.locator("input[name=reason]").fill("Testing the confirmation")
    block.locator("button[type=submit]").click()
    assert staff.dialogs[-1] == ("confirm", f"Block {EMAIL}?")
    staff.assert_clean()
    db.session.expire_all()
    assert db.session.get(User, registered.id).status == "active"

    # The draft's submit-for-publication confirmation names the title as plain text: dismissed, then accepted.
    staff.goto(f"/admin/properties/details/?id={draft.id}")
    page.screenshot(path=str(artifacts_dir / "hostile-console-property.png"), full_page=True)
    page.get_by_role("button", name="Submit for publication").click()
    assert staff.dialogs[-1] == ("confirm", f"Submit Tower {PAYLOAD} for publication?")
    staff.assert_clean()
    db.session.expire_all()
    assert db.session.scalar(select(PropertyApproval.id).where(PropertyApproval.property_id == draft.id)) is None
    staff.answer = "accept"
    page.get_by_role("button", name="Submit for publication").click()
    expect(page.locator(".alert-success").first).to_be_visible()
    staff.assert_clean()
    db.session.expire_all()
    assert db.session.get(Property, draft.id).status == "draft"  # published only when finance approves
    assert db.session.scalar(select(PropertyApproval.status).where(PropertyApproval.property_id == draft.id)) == "pending"

    # The approval page names the title as plain text too; the admin who submitted cannot approve it.
    staff.goto("/admin/property_approvals/")
    staff.assert_clean()
    request_id = db.session.scalar(select(PropertyApproval.id).where(PropertyApproval.property_id == draft.id))
    staff.goto(f"/admin/property_approvals/details/?id={request_id}")
    page.get_by_role("button", name="Approve").click()
    assert staff.dialogs[-1] == ("confirm", f"Approve the publication of Tower {PAYLOAD}?")
    expect(page.locator(".alert-danger, .alert-error").first).to_be_visible()
    staff.assert_clean()
    db.session.expire_all()
    assert db.session.get(Property, draft.id).status == "draft"

    # Amenities: the bulk delete asks first (dismissed: kept), then the row's delete (accepted: gone).
    staff.answer = "dismiss"
    staff.goto("/admin/amenities/")
    page.locator("input.action-checkbox").first.check()
    page.get_by_text("With selected").click()
    page.locator("[data-model-action=delete]").click()
    assert staff.dialogs[-1][0] == "confirm" and "delete" in staff.dialogs[-1][1].lower()
    staff.assert_clean()
    assert db.session.scalar(select(Amenity.id)) is not None
    staff.answer = "accept"
    page.locator("button[data-confirm]").first.click()
    assert staff.dialogs[-1] == ("confirm", "Are you sure you want to delete this record?")
    expect(page.locator(".alert-success").first).to_be_visible()
    staff.assert_clean()
    db.session.expire_all()
    assert db.session.scalar(select(Amenity.id)) is None

    # Returns preview lists the hostile title as text; "Run now" asks, and runs once accepted.
    staff.goto("/admin/returns_preview/")
    expect(page.get_by_text(f"Plaza {PAYLOAD}").first).to_be_visible()
    page.screenshot(path=str(artifacts_dir / "hostile-console-returns.png"), full_page=True)
    page.click("text=Run now")
    assert staff.dialogs[-1][0] == "confirm" and staff.dialogs[-1][1].startswith("Pay every return due as of ")
    expect(page.get_by_text("started: its run appears under Return runs")).to_be_visible()
    staff.assert_clean()
    for path in ("/admin/distribution_runs/", f"/admin/properties/details/?id={active.id}"):
        staff.goto(path)
    staff.context.close()
    investor.context.close()


def test_compliance_bulk_rejects_a_hostile_case_with_the_reason_chosen_above(browser, live_server, make_user):
    """The KYC queue's bulk reason and comment reach the bulk action through static/js/console.js, after a
    confirmation; the investor's hostile name in the queue runs nothing."""
    applicant = make_user(first_name=PAYLOAD[:100], last_name="</script>")
    with unit_of_work():
        identity, _ = ensure_forms()
        submission = kyc.submit(applicant, identity, {
            "document_type": "passport", "document_number": "X7654321", "issuing_country": "GB",
            "date_of_birth": "1990-01-01"},
            {"front_image": kyc.Upload(sample_image("PASSPORT")), "selfie": kyc.Upload(sample_image("x", (400, 400)))})
    staff = Browser(browser, live_server)
    _sign_in_staff(staff, make_user(role="compliance"))
    staff.goto("/admin/kyc_queue/")
    page = staff.page
    page.select_option("#bulk_reason_code", "unreadable")
    page.fill("#bulk_comment", PAYLOAD)
    page.locator(f"input.action-checkbox[value='{submission.id}']").check()
    page.get_by_text("With selected").click()
    page.locator("[data-model-action=reject]").click()  # dismissed: nothing is decided
    assert staff.dialogs[-1] == ("confirm", "Reject every selected case with the reason chosen above?")
    staff.assert_clean()
    assert db.session.scalar(select(KycSubmission.status).where(KycSubmission.id == submission.id)) == "pending"
    staff.answer = "accept"
    page.get_by_text("With selected").click()
    page.locator("[data-model-action=reject]").click()
    expect(page.get_by_text("1 of 1 case(s) rejected.")).to_be_visible()
    staff.assert_clean()
    db.session.expire_all()
    decided = db.session.get(KycSubmission, submission.id)
    assert decided.status == "rejected" and decided.reason_code == "unreadable" and decided.comment == PAYLOAD
    staff.goto(f"/admin/kyc_queue/case/{submission.id}")
    staff.context.close()


def test_the_demo_pages_break_no_policy(app, browser, live_server, artifacts_dir):
    """Every console list and the main portal pages on the demo data, in Chromium: scripts, styles, images and
    frames all load under the policy (no violation, no script error)."""
    logins = {login.email: login for login in seed_demo()}  # the demo commits as it goes
    investments = db.session.scalars(select(Investment.id).join(User).where(
        User.email == "investor@example.com")).all()
    with app.test_request_context():
        admins = app.extensions["admin"]
        views = admins[0]._views if isinstance(admins, list) else admins._views
        console = [url_for(f"{view.endpoint}.{view._default_view}") for view in views]
        slug = db.session.scalar(select(Property.slug).where(Property.status == "active"))
        console += [url_for("properties.details_view", id=db.session.scalar(select(Property.id))),
                    url_for("properties.edit_view", id=db.session.scalar(select(Property.id))),
                    url_for("notification_templates.create_view")]
    investor = Browser(browser, live_server)
    investor.goto("/login")
    investor.page.fill("#email", "investor@example.com")
    investor.page.fill("#password", "Demo-investor-2026")
    investor.page.click("button[type=submit]")
    investor.assert_clean()
    for path in ("/", "/properties", f"/properties/{slug}", "/portfolio", f"/portfolio/{investments[0]}", "/wallet",
                 "/payouts", "/payouts/new", "/payout-methods", "/deposits/new", "/kyc", "/account/security",
                 "/notifications", "/account/notifications", "/market", "/support", "/statements", "/account/profile"):
        investor.goto(path)
    investor.page.screenshot(path=str(artifacts_dir / "policy-portal-notifications.png"), full_page=True)
    investor.context.close()

    staff = Browser(browser, live_server)
    admin = logins["admin@example.com"]
    staff.goto("/login")
    staff.page.fill("#email", admin.email)
    staff.page.fill("#password", admin.password)
    staff.page.click("button[type=submit]")
    staff.page.fill("#code", pyotp.TOTP(admin.totp_secret).now())
    staff.page.click("button[type=submit]")
    staff.assert_clean()
    for path in console:
        staff.goto(path)
    # An inline list's "Add" (a property's FAQ) adds a row through the static script.
    staff.goto(console[-2])
    rows = staff.page.locator(".inline-field").count()
    staff.page.locator("[data-inline-add]").first.click()
    expect(staff.page.locator(".inline-field")).to_have_count(rows + 1)
    staff.assert_clean()
    staff.page.screenshot(path=str(artifacts_dir / "policy-console-template.png"), full_page=True)
    staff.context.close()
