"""Finance in the console: the installments due and overdue, an investment in default cancelled with a refund, then a
declared distribution previewed, declared, approved by a second finance user and paid. Screenshots of each console
page go to test-artifacts/investing-*.png; the ledger verifies at the end."""
from datetime import date, timedelta

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from app.auth import services as auth
from app.core.db import unit_of_work
from app.core.money import Money
from app.extensions import db
from app.investing import services as investing
from app.kyc.demo import approve_identity
from app.ledger.checks import verify
from app.payments import services as payments
from app.properties.models import Property
from app.seed import seed_demo
from tests.e2e.staff import staff_page
from tests.support import fund_distributions

pytestmark = pytest.mark.e2e


@unit_of_work
def _investors(count):
    reviewer = auth.user_by_email("compliance@example.com")
    users = [auth.user_by_email("investor@example.com")]
    for n in range(count - 1):
        user = auth.create_user(f"holder{n + 1}@example.com", "Correct-horse-battery-9", first_name="Holder",
                                last_name=str(n + 1), roles=("investor",), verified=True, terms_accepted=True)
        approve_identity(user, reviewer)
        payments.complete_deposit(payments.create_deposit(user.id, Money.parse("20000.00", "USD"), "bank_transfer"))
        users.append(user)
    return users


def test_finance_cancels_a_default_and_pays_a_declared_distribution(browser, live_server, artifacts_dir):
    shot = lambda p, name: p.screenshot(path=str(artifacts_dir / f"investing-{name}.png"), full_page=True)  # noqa: E731
    logins = {login.email: login for login in seed_demo()}  # the demo commits as it goes
    users = _investors(4)
    homes = db.session.scalar(select(Property).where(Property.slug == "oak-park-homes"))
    lofts = db.session.scalar(select(Property).where(Property.slug == "harbour-lofts"))
    today = date.today()
    plans = []
    with unit_of_work():
        for user, overdue in zip(users, (45, 6, -2, 1)):
            inv = investing.invest(user, homes.id, Money.parse("1200.00", "USD"), acknowledged=True)
            for k, inst in enumerate(inv.installments[1:], start=1):
                inst.due_on = today - timedelta(days=overdue) + timedelta(days=30 * (k - 1))
            plans.append(inv)
        for user, amount in zip(users, ("1000.00", "2500.00", "2500.00", "4000.00")):
            investing.invest(user, lofts.id, Money.parse(amount, "USD"), acknowledged=True)
    fund_distributions(lofts.id, 100_000, key="journey-funding:lofts")  # the operator funded October's rent
    defaulted = plans[0]

    finance = staff_page(browser, live_server, logins["finance@example.com"])
    finance.goto(f"{live_server}/admin/installments/")
    expect(finance.get_by_test_id("installment-summary")).to_contain_text("in default")
    shot(finance, "1-installments")
    finance.goto(f"{live_server}/admin/investments/")
    shot(finance, "2-investments")
    finance.goto(f"{live_server}/admin/investments/details/?id={defaulted.id}")
    expect(finance.get_by_text("Cancel after default and refund")).to_be_visible()
    shot(finance, "3-investment-in-default")
    finance.fill("input[name=reason]", "Installments unpaid for 45 days; reminders sent")
    finance.get_by_role("button", name="Cancel after default and refund").click()
    expect(finance.locator(".alert-success")).to_contain_text(f"Investment #{defaulted.id} cancelled")
    shot(finance, "4-investment-cancelled")

    finance.goto(f"{live_server}/admin/declared_distributions/")
    finance.get_by_role("link", name="Declare a distribution…").click()
    finance.select_option("#property_id", str(lofts.id))
    finance.fill("#label", "Rent October 2026")
    finance.fill("#period_start", (today - timedelta(days=30)).isoformat())
    finance.fill("#period_end", today.isoformat())
    finance.fill("#amount", "1000.00")
    finance.fill("#note", "October rent after the manager's fee")
    finance.get_by_role("button", name="Preview the split").click()
    expect(finance.get_by_test_id("split-total")).to_have_text("USD 1,000.00")
    shot(finance, "5-declare-preview")
    finance.get_by_role("button", name="Declare (draft)").click()
    expect(finance.get_by_text("a second finance user must approve it").first).to_be_visible()
    distribution_url = finance.url
    shot(finance, "6-declared-draft")

    second = staff_page(browser, live_server, logins["finance2@example.com"])
    second.goto(distribution_url)
    second.get_by_role("button", name="Approve this split").click()
    expect(second.get_by_text("Approved: the split is frozen")).to_be_visible()
    shot(second, "7-approved")

    finance.goto(distribution_url)
    finance.get_by_role("button", name="Pay now").click()
    expect(finance.get_by_text("Paid USD 1,000.00 to the investors")).to_be_visible()
    shot(finance, "8-paid")
    finance.goto(f"{live_server}/admin/declared_distributions/")
    shot(finance, "9-declared-list")

    db.session.expire_all()
    report = verify()
    assert report.ok, report.violations
