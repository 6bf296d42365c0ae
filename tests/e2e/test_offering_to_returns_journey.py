"""Four eyes on money, in Chromium, from an offering to its returns: the demo's property manager submits a draft
offering for publication; finance opens it in the approval queue, sees what it commits the platform to pay and
approves it; finance proposes funding a property's distributions from the shortfalls page, a second finance user
approves the funding; a run started from the console pays the funded periods, and what is not funded waits.
Screenshots go to test-artifacts/offering-*.png."""
import functools

import pytest
from playwright.sync_api import expect
from sqlalchemy import func, select

from app.core.db import unit_of_work
from app.extensions import db
from app.investing import funding
from app.investing.models import DistributionFunding, Investment, ReturnPayment, ScheduledReturn
from app.properties.models import Property, PropertyApproval
from app.seed import seed_demo
from tests.e2e.staff import staff_page
from tests.factories import PropertyFactory
from tests.investing.test_distribution import assert_consistent
from tests.investing.test_distribution_console import _portfolio

pytestmark = pytest.mark.e2e


@pytest.fixture
def make_property(make_property):
    """The terms of the investing tests the portfolio comes from: eight quarterly periods."""
    return functools.partial(make_property, return_periods=8)


def _fresh(model, id_):
    db.session.expire_all()
    return db.session.get(model, id_)


def test_an_offering_is_approved_funded_by_two_and_a_run_pays(browser, live_server, make_property, make_user,
                                                              artifacts_dir):
    shot = lambda p, name: p.screenshot(path=str(artifacts_dir / f"offering-{name}.png"), full_page=True)  # noqa: E731
    logins = {login.email: login for login in seed_demo()}  # the demo commits as it goes
    with unit_of_work():
        draft = PropertyFactory(publish=False, title="Riverside <Depot> & Co")  # ready to submit, hostile title
    draft_id = draft.id

    # the property manager submits the draft: nothing is published yet
    manager = staff_page(browser, live_server, logins["properties@example.com"])
    manager.goto(f"{live_server}/admin/properties/details/?id={draft_id}")
    manager.get_by_test_id("submit").click()
    expect(manager.get_by_text("Withdraw the request")).to_be_visible()
    shot(manager, "1-submitted")
    assert _fresh(Property, draft_id).status == "draft"
    request = db.session.scalar(select(PropertyApproval).where(PropertyApproval.property_id == draft_id))
    assert request.status == "pending"

    # finance sees the terms and the commitment at full funding, and approves
    finance = staff_page(browser, live_server, logins["finance@example.com"])
    finance.goto(f"{live_server}/admin/property_approvals/")
    expect(finance.get_by_text("Riverside <Depot> & Co").first).to_be_visible()
    finance.goto(f"{live_server}/admin/property_approvals/details/?id={request.id}")
    expect(finance.get_by_text("full funding").first).to_be_visible()
    shot(finance, "2-approval")
    finance.get_by_test_id("approve").click()
    expect(finance.get_by_text("approved", exact=False).first).to_be_visible()
    assert _fresh(Property, draft_id).status == "active"
    assert _fresh(PropertyApproval, request.id).decided_by.email == "finance@example.com"

    # two properties with returns due and nothing funded: both wait
    harbour, mill = _portfolio(make_property, make_user)
    finance.goto(f"{live_server}/admin/returns_shortfalls/")
    expect(finance.get_by_text("Harbour Lofts").first).to_be_visible()
    shot(finance, "3-shortfalls")
    finance.get_by_role("link", name="Fund", exact=True).first.click()
    expect(finance).to_have_url(f"{live_server}/admin/distribution-funding/propose?property_id={harbour.id}")
    finance.fill("#amount", "50.00")  # both due periods of Harbour Lofts: 12.50 and 37.50
    finance.fill("#bank_reference", "OPERATOR-HARBOUR-2026-12")
    finance.fill("#note", "Rent received for the overdue quarters")
    finance.get_by_role("button", name="Propose").click()
    expect(finance.locator(".alert-success")).to_contain_text("a second finance user must approve it")
    shot(finance, "4-proposed")
    proposal = db.session.scalar(select(DistributionFunding).where(DistributionFunding.property_id == harbour.id))
    assert proposal.status == "proposed" and funding.distributions_balance(harbour.id) == 0  # not before the second

    # the proposer cannot approve it; a second finance user does
    assert finance.get_by_role("button", name="Approve").count() == 0
    second = staff_page(browser, live_server, logins["finance2@example.com"])
    second.goto(f"{live_server}/admin/distribution-funding/details/?id={proposal.id}")
    expect(second.get_by_text("OPERATOR-HARBOUR-2026-12").first).to_be_visible()
    second.get_by_role("button", name="Approve").click()
    expect(second.get_by_text("approved", exact=False).first).to_be_visible()
    shot(second, "5-funded")
    assert _fresh(DistributionFunding, proposal.id).status == "approved"
    assert funding.distributions_balance(harbour.id) == 5_000

    # the preview shows what is funded and what waits; a run from the console pays the funded periods only
    second.goto(f"{live_server}/admin/returns_preview/")
    expect(second.get_by_text("Harbour Lofts").first).to_be_visible()
    shot(second, "6-preview")
    second.click("text=Run now")
    expect(second.get_by_text("started: its run appears under Return runs")).to_be_visible()
    db.session.expire_all()
    paid = db.session.scalars(select(ReturnPayment)).all()
    harbour_investments = set(db.session.scalars(select(Investment.id).where(Investment.property_id == harbour.id)))
    assert sorted(p.amount for p in paid if p.investment_id in harbour_investments) == [1_250, 1_250, 2_500]
    assert funding.distributions_balance(harbour.id) == 0
    waiting = db.session.scalar(select(func.count(ScheduledReturn.id)).where(
        ScheduledReturn.property_id == mill.id, ScheduledReturn.amount > 0))
    assert waiting == 1  # Mill Yard's return waits for funding (its capital came back from escrow)
    second.goto(f"{live_server}/admin/returns_shortfalls/")
    expect(second.get_by_text("Mill Yard").first).to_be_visible()
    shot(second, "7-after-run")
    for page in (manager, finance, second):
        page.context.close()
    assert_consistent()
