"""The secondary market in Chromium: a seller lists units of a holding, a buyer makes an offer (its cost held), the
seller counters, the buyer accepts the counter, and the buyer finds the holding in the portfolio with its next
return. Screenshots go to test-artifacts/market-*.png; the ledger verifies at the end."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect
from sqlalchemy import update

from app.core.db import unit_of_work, utcnow
from app.core.money import Money
from app.extensions import db
from app.investing import services as investing
from app.ledger.checks import verify
from app.properties.models import Property
from tests.support import PASSWORD, set_setting

pytestmark = pytest.mark.e2e


def _listable_holding(make_property, seller):
    """10 units of 100.00 of a property that allows resale, its funding closed and its lock-up over."""
    p = make_property(title="Northgate Logistics Park", resale_allowed=True, resale_lockup_days=0, unit_price=10_000,
                      min_investment=10_000)
    with unit_of_work():
        inv = investing.invest(seller, p.id, Money(100_000, p.currency), acknowledged=True)
        if inv.units == 0:  # where investing does not count units yet, count them as it would
            inv.units = investing.units_in(inv.paid_amount, p.unit_price)
            db.session.execute(update(Property).where(Property.id == p.id)
                               .values(units_sold=Property.units_sold + inv.units))
        db.session.execute(update(Property).where(Property.id == p.id)
                           .values(funding_ends_at=utcnow() - timedelta(days=2)))
    return inv.id


def _signed_in(browser, live_server, email):
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    page.on("dialog", lambda dialog: dialog.accept())  # data-confirm: the user agrees
    page.goto(f"{live_server}/login")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    expect(page.get_by_test_id("available")).to_be_visible()
    return page


def test_list_offer_counter_accept_and_the_buyer_holds_the_units(browser, live_server, artifacts_dir,
                                                                 make_investor, make_property):
    shot = lambda p, name: p.screenshot(path=str(artifacts_dir / f"market-{name}.png"), full_page=True)  # noqa: E731
    for key, value in (("market.buyer_fee_bps", 100), ("market.buyer_fee_min", 50), ("market.seller_fee_bps", 100),
                       ("market.seller_fee_min", 50)):
        set_setting(key, value)
    seller = make_investor("1500.00", email="sam@example.com", first_name="Sam", last_name="Seller")
    make_investor("2000.00", email="bea@example.com", first_name="Bea", last_name="Buyer")
    investment_id = _listable_holding(make_property, seller)

    # the seller lists 5 units at 110.00 from the holding's page
    sam = _signed_in(browser, live_server, "sam@example.com")
    sam.click("nav >> text=Portfolio")
    sam.get_by_test_id("holdings").get_by_role("row").filter(has_text="Northgate").get_by_role(
        "link", name="Details").click()
    sam.get_by_test_id("sell-units").click()
    expect(sam.get_by_test_id("units-available")).to_have_text("10 units available")
    expect(sam.get_by_test_id("band")).to_have_text("Allowed: $50.00 to $150.00.")
    sam.fill("#units", "5")
    sam.fill("#price", "110.00")
    sam.get_by_test_id("sell-review").click()
    expect(sam.get_by_test_id("quote-fee")).to_have_text("$5.50")  # 1 % of 550.00
    expect(sam.get_by_test_id("quote-net")).to_have_text("$544.50")
    shot(sam, "1-seller-confirms-the-listing")
    sam.get_by_test_id("sell-confirm").click()
    expect(sam.get_by_text("Listed 5 units of Northgate Logistics Park at $110.00 per unit.")).to_be_visible()
    expect(sam.get_by_test_id("returns-rule")).to_contain_text("00:00 UTC")
    shot(sam, "2-seller-listing")

    # the buyer finds it on the market and offers 100.00 a unit for 3 units
    bea = _signed_in(browser, live_server, "bea@example.com")
    bea.click("nav >> text=Market")
    expect(bea.get_by_test_id("listings")).to_contain_text("Northgate Logistics Park")
    expect(bea.get_by_test_id("property-stats")).to_contain_text("Lowest ask: $110.00")
    shot(bea, "3-market")
    bea.get_by_test_id("listing-row").get_by_role("link", name="View").click()
    expect(bea.get_by_test_id("returns-rule")).to_contain_text("stay with the seller")
    offer = bea.get_by_test_id("offer-card")
    offer.get_by_label("Units").fill("3")
    offer.get_by_label("Price per unit (USD)").fill("100.00")
    offer.get_by_label("Message to the seller (optional)").fill("Would you take 100?")
    shot(bea, "4-listing-with-offer-form")
    bea.get_by_test_id("offer-review").click()
    expect(bea.get_by_test_id("quote-amount")).to_have_text("$300.00")
    expect(bea.get_by_test_id("quote-fee")).to_have_text("$3.00")
    expect(bea.get_by_test_id("quote-held")).to_have_text("$303.00")
    expect(bea.get_by_test_id("quote-after")).to_have_text("$1,697.00")
    shot(bea, "5-offer-confirm")
    bea.get_by_test_id("offer-confirm").click()
    expect(bea.get_by_test_id("held")).to_contain_text("$303.00")
    shot(bea, "6-buyer-offers")

    # the seller counters at 105.00
    sam.goto(f"{live_server}/market/mine")
    received = sam.get_by_test_id("offer-received")
    expect(received).to_contain_text("3 units at $100.00")
    expect(received).to_contain_text("Would you take 100?")
    received.get_by_label("Your price per unit (USD)").fill("105.00")
    received.get_by_label("Message (optional)").fill("Meet me at 105")
    received.get_by_test_id("counter").click()
    expect(sam.get_by_text("Counter-offer sent")).to_be_visible()
    expect(sam.get_by_test_id("offer-received").get_by_test_id("status")).to_have_text("Countered")
    shot(sam, "7-seller-countered")

    # the buyer accepts the counter: 3 x 105.00 + 3.15 fee = 318.15, 15.15 more than held
    bea.goto(f"{live_server}/market/mine")
    expect(bea.get_by_test_id("counter-offer")).to_contain_text("$105.00")
    expect(bea.get_by_test_id("counter-total")).to_have_text("$318.15")
    shot(bea, "8-buyer-sees-the-counter")
    bea.get_by_test_id("accept-counter").click()
    expect(bea.get_by_text("You bought 3 units for $318.15, the fee included.")).to_be_visible()
    expect(bea).to_have_url(re.compile(r"/portfolio/\d+$"))
    expect(bea.get_by_test_id("acquired-by-trade")).to_contain_text("$318.15")
    expect(bea.get_by_test_id("amount")).to_have_text("$300.00")  # the nominal value of 3 units
    expect(bea.get_by_test_id("next-return")).to_have_text(re.compile(r"\w{3} \d{1,2}, \d{4}"))  # "Apr 3, 2027"
    shot(bea, "9-buyer-holding")

    bea.click("nav >> text=Portfolio")
    expect(bea.get_by_test_id("holdings")).to_contain_text("Bought on the market for $318.15")
    bea.click("nav >> text=Wallet")
    expect(bea.get_by_text("Bought 3 units of Northgate Logistics Park on the market").first).to_be_visible()
    expect(bea.get_by_text("Offer held: 3 units of Northgate Logistics Park").first).to_be_visible()
    expect(bea.get_by_test_id("available")).to_have_text("$1,681.85")
    shot(bea, "10-buyer-wallet")

    sam.goto(f"{live_server}/portfolio/{investment_id}")
    expect(sam.get_by_test_id("sold-units")).to_contain_text("3 units of this holding sold on the market")
    sam.click("nav >> text=Wallet")
    expect(sam.get_by_text("Sold 3 units of Northgate Logistics Park on the market")).to_be_visible()
    shot(sam, "11-seller-wallet")

    db.session.rollback()
    report = verify()
    assert report.ok, report.violations
