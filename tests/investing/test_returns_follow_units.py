"""Returns follow the units: a holding traded in the middle of its term keeps the periods due on or before the
trade; every later period, the capital back, declared distributions and a cancellation refund go to the buyer for
the units moved, split to the cent. Runs on SQLite and PostgreSQL (the distribution engine's two paths)."""
from __future__ import annotations

from sqlalchemy import update

from app.extensions import db
from app.investing import returns, schedule
from app.investing import services as investing
from app.investing.declared_split import compute_split
from app.investing.models import (
    ACQUIRED_TRADE,
    ACTIVE,
    BASIS_DAYS,
    BASIS_PAID,
    CANCELLED,
    COMPLETED,
    SOLD,
    Investment,
)
from app.investing.return_calendar import top_up_lifetime_calendars
from app.properties import services as properties
from app.properties.models import Property
from tests.investing.holdings_support import (
    TODAY,
    assert_verified,
    backdate,
    calendar,
    days,
    escrow,
    invest,
    payments,
    trade,
    wallet,
)

MONTHLY = {"return_frequency": "monthly", "return_periods": 8, "return_rate_bps": 800, "capital_back": True}


def _due_total(cal: dict, *, through=TODAY) -> int:
    return sum(amount + capital for due, amount, capital, _ in cal.values() if due <= through)


def test_a_holding_sold_mid_period_keeps_the_periods_due_before_and_splits_the_rest_to_the_cent(
        make_property, make_investor, fund_distributions):
    p = make_property(**MONTHLY)
    seller, buyer = make_investor("5000.00"), make_investor("5000.00")
    inv = invest(seller, p, "1000.00")
    backdate(inv, days(-75))
    before = calendar(inv.id)
    on = days(-30)

    bought = trade(inv, buyer, 300, on=on, cost=31_500)

    sold, bought = db.session.get(Investment, inv.id), db.session.get(Investment, bought.id)
    assert (sold.units, sold.amount, sold.paid_amount, sold.escrow_amount, sold.status) == (700, 70_000, 70_000,
                                                                                           70_000, ACTIVE)
    assert (bought.units, bought.amount, bought.escrow_amount, bought.acquired_by, bought.cost_amount,
            bought.user_id, bought.return_anchor) == (300, 30_000, 30_000, ACQUIRED_TRADE, 31_500, buyer.id,
                                                      sold.return_anchor)
    kept, moved = calendar(sold.id), calendar(bought.id)
    for k, (due, amount, capital, _) in before.items():
        if due <= on:  # due before the trade: the seller's, whole
            assert kept[k] == (due, amount, capital, seller.id) and k not in moved
            continue
        to_buyer, to_seller = investing.split_two(amount, 30_000, 100_000)
        assert moved[k] == (due, to_buyer, investing.split_two(capital, 30_000, 100_000)[0], buyer.id)
        assert kept[k][1] == to_seller and moved[k][1] + kept[k][1] == amount
        assert moved[k][2] + kept[k][2] == capital
    assert moved[8][2] == 30_000 and kept[8][2] == 70_000
    assert any(due <= on for due, *_ in before.values()) and any(on < due <= TODAY for due, *_ in before.values())
    db.session.refresh(p)
    assert p.units_sold == 1_000
    assert_verified()

    fund_distributions(p.id, 10_000)
    seller_before, buyer_before = wallet(seller.id), wallet(buyer.id)
    run = returns.distribute()
    assert run.status == "succeeded"
    assert wallet(seller.id) - seller_before == _due_total(kept) > 0
    assert wallet(buyer.id) - buyer_before == _due_total(moved) > 0
    assert run.total == _due_total(before)  # together, exactly what the one holding would have been paid
    assert sum(a for a, _ in payments(sold.id).values()) + sum(a for a, _ in payments(bought.id).values()) \
        == _due_total(before)
    assert_verified()


def test_selling_every_unit_leaves_a_sold_holding_that_is_still_paid_its_past_due_periods(
        make_property, make_investor, fund_distributions):
    p = make_property(**MONTHLY)
    seller, buyer = make_investor("5000.00"), make_investor("5000.00")
    inv = invest(seller, p, "1000.00")
    backdate(inv, days(-75))
    before = calendar(inv.id)
    on = days(-30)

    bought = trade(inv, buyer, 1_000, on=on)

    sold = db.session.get(Investment, inv.id)
    assert (sold.status, sold.amount, sold.paid_amount, sold.escrow_amount, sold.units, sold.units_listed) == (
        SOLD, 0, 0, 0, 0, 0)
    assert sold.closed_at is not None
    kept, moved = calendar(sold.id), calendar(bought.id)
    assert kept == {k: row for k, row in before.items() if row[0] <= on}  # unpaid, still the seller's
    assert {k: row[:3] for k, row in moved.items()} == {k: row[:3] for k, row in before.items() if row[0] > on}
    assert_verified()

    fund_distributions(p.id, 10_000)
    seller_before, buyer_before = wallet(seller.id), wallet(buyer.id)
    returns.distribute()
    assert wallet(seller.id) - seller_before == _due_total(kept) > 0
    assert wallet(buyer.id) - buyer_before == _due_total(moved) > 0
    db.session.refresh(sold)
    assert sold.status == SOLD and not calendar(sold.id)
    assert_verified()


def test_the_capital_back_is_split_by_the_units_and_both_holdings_complete(make_property, make_investor,
                                                                          fund_distributions):
    p = make_property(**(MONTHLY | {"return_periods": 4}))
    seller, buyer = make_investor("5000.00"), make_investor("5000.00")
    inv = invest(seller, p, "1000.00")
    backdate(inv, days(-100))  # every period is due by today
    before = calendar(inv.id)
    bought = trade(inv, buyer, 300, on=days(-55))
    kept, moved = calendar(inv.id), calendar(bought.id)
    assert sorted(moved) == [3, 4] and moved[4][2] == 30_000 and kept[4][2] == 70_000

    fund_distributions(p.id, 10_000)
    seller_before, buyer_before, escrow_before = wallet(seller.id), wallet(buyer.id), escrow(p.id)
    run = returns.distribute()
    assert run.capital == 100_000 and run.total == _due_total(before) - 100_000
    assert wallet(buyer.id) - buyer_before == _due_total(moved)
    assert wallet(seller.id) - seller_before == _due_total(kept)
    assert escrow_before - escrow(p.id) == 100_000
    for holding in (db.session.get(Investment, inv.id), db.session.get(Investment, bought.id)):
        assert holding.status == COMPLETED and holding.escrow_amount == 0
    assert (db.session.get(Investment, inv.id).units, db.session.get(Investment, bought.id).units) == (700, 300)
    assert db.session.get(Property, p.id).units_sold == 1_000  # completed holdings keep their units
    assert_verified()


def test_a_holding_whose_term_ended_is_not_traded_before_its_capital_comes_back(make_property, make_investor):
    from app.core.errors import Conflict

    p = make_property(**(MONTHLY | {"return_periods": 2}))
    seller, buyer = make_investor("5000.00"), make_investor("5000.00")
    inv = invest(seller, p, "1000.00")
    backdate(inv, days(-40))
    try:
        trade(inv, buyer, 100)
    except Conflict as exc:
        assert "end of its term" in exc.message
    else:
        raise AssertionError("traded a holding whose capital is due")
    db.session.rollback()
    assert db.session.get(Investment, inv.id).units == 1_000


def test_cancelling_the_property_after_a_trade_refunds_the_current_holders_their_nominal(
        make_property, make_investor, manager):
    p = make_property(**MONTHLY)
    seller, buyer = make_investor("5000.00"), make_investor("5000.00")
    inv = older_holding(p, seller, "1001.50")  # 1,001 units and 0.50 that is not a whole unit
    bought = trade(inv, buyer, 300)
    assert db.session.get(Investment, inv.id).units == 701
    seller_before, buyer_before = wallet(seller.id), wallet(buyer.id)
    assert escrow(p.id) == 100_150

    properties.cancel(db.session.get(Property, p.id), actor=manager, reason="Planning permission refused")
    db.session.commit()
    db.session.expire_all()

    assert wallet(buyer.id) - buyer_before == 30_000
    assert wallet(seller.id) - seller_before == 70_150  # the rest, the remainder included
    assert escrow(p.id) == 0
    for holding, refunded in ((db.session.get(Investment, inv.id), 70_150),
                              (db.session.get(Investment, bought.id), 30_000)):
        assert (holding.status, holding.refunded_amount, holding.units, holding.units_listed) == (
            CANCELLED, refunded, 0, 0)
        assert not calendar(holding.id)
    assert db.session.get(Property, p.id).units_sold == 0
    assert_verified()


def older_holding(p, user, amount: str) -> Investment:
    """An investment made before the offering's unit price was 1.00 (a remainder that is not a whole unit)."""
    db.session.execute(update(Property).where(Property.id == p.id).values(unit_price=50))
    db.session.commit()
    inv = invest(user, p, amount)
    units = inv.paid_amount // 100
    db.session.execute(update(Investment).where(Investment.id == inv.id).values(units=units))
    db.session.execute(update(Property).where(Property.id == p.id).values(unit_price=100, units_sold=units))
    db.session.commit()
    db.session.expire_all()
    return inv


def test_declared_distributions_follow_the_units(make_property, make_investor):
    p = make_property(**MONTHLY)
    seller, buyer = make_investor("5000.00"), make_investor("5000.00")
    inv = invest(seller, p, "1000.00")
    backdate(inv, days(-75))
    bought = trade(inv, buyer, 300, on=days(-30))

    by_paid = {line.investment_id: line.amount
               for line in compute_split(p.id, 10_001, "USD", days(-60), days(-1), BASIS_PAID).lines}
    assert by_paid == {inv.id: 7_001, bought.id: 3_000}  # 70/30, the odd cent to the larger remainder

    split = compute_split(p.id, 10_000, "USD", days(-60), days(-1), BASIS_DAYS)
    lines = {line.investment_id: line for line in split.lines}
    assert lines[bought.id].days == 30  # from the trade date
    assert lines[inv.id].days == 60
    assert lines[inv.id].weight == 70_000 * 60 and lines[bought.id].weight == 30_000 * 30
    assert sum(line.amount for line in split.lines) == 10_000


def test_a_lifetime_calendar_topped_up_after_a_trade_pays_each_side_on_its_own_units(make_property, make_investor):
    """Periods written by the top-up after a trade are each holding's return on its own nominal value (the stated
    rule in app/investing/holdings.py): the two sides together differ from the unsplit holding's period by at most
    two cents, and over all the topped-up periods by at most two cents."""
    p = make_property(return_frequency="monthly", return_periods=None, capital_back=False, return_rate_bps=700)
    seller, buyer = make_investor("5000.00"), make_investor("5000.00")
    inv = invest(seller, p, "1000.00")
    bought = trade(inv, buyer, 333)
    last_before = max(calendar(inv.id))

    written = top_up_lifetime_calendars(TODAY.replace(year=TODAY.year + 21))
    db.session.commit()
    assert written > 0
    terms = schedule.Terms.from_property(db.session.get(Property, p.id))
    kept, moved = calendar(inv.id), calendar(bought.id)
    new = [k for k in kept if k > last_before]
    assert new and sorted(new) == sorted(k for k in moved if k > last_before)
    drift = 0
    for k in new:
        assert kept[k][1] == schedule.return_amount(66_700, terms, k)
        assert moved[k][1] == schedule.return_amount(33_300, terms, k)
        difference = kept[k][1] + moved[k][1] - schedule.return_amount(100_000, terms, k)
        assert abs(difference) <= 2
        drift += difference
    assert abs(drift) <= 2
