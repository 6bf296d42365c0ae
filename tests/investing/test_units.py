"""Units of offerings and holdings: the unit price (a term), investments in whole units, units kept with every payment
and refund, the offering's units sold, `flask ledger verify` checking both, and how a holding shows its units."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

from app.core.errors import Conflict, ValidationError
from app.extensions import db
from app.investing import services as investing
from app.investing.checks import check_units_sold
from app.investing.models import ACQUIRED_OFFERING, CANCELLED, DEFAULTED, PAYING, Investment
from app.properties import services as properties
from app.properties.models import Property
from tests.investing.holdings_support import TODAY, assert_verified, invest, trade, usd

INSTALLMENTS = {"installments_count": 4, "installment_interval": 1, "installment_unit": "months"}


def _property(p_id: int) -> Property:
    db.session.expire_all()
    return db.session.get_one(Property, p_id)


# units_in and split_two -------------------------------------------------------------------------------------------
def test_units_are_whole_units_of_the_paid_amount():
    assert investing.units_in(100_050, 100) == 1_000
    assert investing.units_in(99, 100) == 0
    assert investing.units_in(500_000, 500_000) == 1
    with pytest.raises(ValueError):
        investing.units_in(100, 0)


@pytest.mark.parametrize("total,part,whole,expected", [
    (1_000, 300, 1_000, (300, 700)),
    (667, 300, 1_000, (200, 467)),      # 200.1 / 466.9: the cent to the larger remainder
    (1, 1, 2, (0, 1)),                  # equal remainders: the seller keeps it
    (5, 333, 1_000, (2, 3)),            # 1.665 / 3.335
    (0, 1, 3, (0, 0)),
    (999, 1_000, 1_000, (999, 0)),
])
def test_split_two_is_exact_to_the_cent(total, part, whole, expected):
    moved, kept = investing.split_two(total, part, whole)
    assert (moved, kept) == expected and moved + kept == total


def test_split_two_always_adds_up():
    for total in range(0, 200, 7):
        for part in range(0, 41):
            moved, kept = investing.split_two(total, part, 40)
            assert moved + kept == total and abs(moved * 40 - total * part) < 40


# investing in whole units ----------------------------------------------------------------------------------------
def test_an_investment_owns_its_units_and_the_offering_counts_them(make_property, make_investor):
    p = make_property()
    a, b = make_investor("5000.00"), make_investor("5000.00")
    first, second = invest(a, p, "1234.00"), invest(b, p, "100.00")
    assert (first.units, second.units) == (1_234, 100)
    assert (first.acquired_by, first.cost_amount, first.units_listed) == (ACQUIRED_OFFERING, None, 0)
    assert _property(p.id).units_sold == 1_334
    assert check_units_sold() == []
    assert_verified()


def test_a_range_offering_takes_whole_units_of_its_unit_price(make_property, make_investor):
    p = make_property(unit_price=2_500, min_investment=25_000, max_investment=1_000_000)
    user = make_investor("5000.00")
    with pytest.raises(ValidationError) as refused:
        investing.invest(user, p.id, usd("260.00"), acknowledged=True)
    assert "in whole units of 25.00 USD" in refused.value.message
    assert refused.value.errors == {"amount": ["In whole units of 25.00 USD."]}
    db.session.rollback()
    inv = invest(user, p, "275.00")
    assert inv.units == 11 and _property(p.id).units_sold == 11


def test_a_fixed_amount_is_its_own_unit_and_installments_complete_it(make_property, make_investor):
    p = make_property(fixed_amount=100_000, min_investment=None, max_investment=None, **INSTALLMENTS)
    assert p.unit_price == 100_000
    user = make_investor("5000.00")
    inv = invest(user, p, "1000.00")
    assert (inv.status, inv.paid_amount, inv.units) == (PAYING, 25_000, 0)
    assert _property(p.id).units_sold == 0
    investing.pay_installments(user, inv.id, all_remaining=True)
    db.session.commit()
    db.session.refresh(inv)
    assert (inv.paid_amount, inv.units) == (100_000, 1)
    assert _property(p.id).units_sold == 1
    assert_verified()


def test_each_installment_adds_its_units(make_property, make_investor):
    p = make_property(**INSTALLMENTS)
    user = make_investor("5000.00")
    inv = invest(user, p, "1000.00")
    assert inv.units == 250 and _property(p.id).units_sold == 250
    investing.pay_installments(user, inv.id)
    db.session.commit()
    db.session.refresh(inv)
    assert inv.units == 500 and _property(p.id).units_sold == 500
    assert_verified()


def test_refunded_holdings_give_their_units_back(make_property, make_investor, manager):
    p = make_property(**INSTALLMENTS)
    paying, other = make_investor("5000.00"), make_investor("5000.00")
    invest(paying, p, "1000.00")
    invest(other, p, "300.00")
    assert _property(p.id).units_sold == 250 + 75
    properties.cancel(_property(p.id), actor=manager, reason="Planning permission refused")
    db.session.commit()
    assert _property(p.id).units_sold == 0
    assert all(inv.units == 0 and inv.status == CANCELLED for inv in db.session.query(Investment))
    assert_verified()


def test_a_holding_cancelled_after_default_gives_its_units_back(make_property, make_investor, make_user):
    p = make_property(**INSTALLMENTS)
    user, other = make_investor("5000.00"), make_investor("5000.00")
    inv = invest(user, p, "1000.00")
    invest(other, p, "100.00")
    for inst in inv.installments[1:]:
        inst.due_on = TODAY - timedelta(days=45)
    db.session.commit()
    investing.cancel_defaulted(inv, actor=make_user(role="finance"), reason="Installments unpaid for 45 days")
    db.session.commit()
    db.session.refresh(inv)
    assert (inv.status, inv.units, inv.units_listed) == (DEFAULTED, 0, 0)
    assert _property(p.id).units_sold == 25  # the other holding's first installment
    assert_verified()


@pytest.mark.ledger_tampered
def test_ledger_verify_finds_units_that_do_not_add_up(make_property, make_investor):
    p = make_property()
    inv = invest(make_investor("5000.00"), p, "100.00")
    db.session.execute(update(Investment).where(Investment.id == inv.id).values(units=99))
    db.session.commit()
    problems = check_units_sold()
    assert f"property #{p.id} records 100 units sold but its holdings (not refunded) own 99" in problems
    assert f"investment #{inv.id} owns 99 units (0 listed) but its paid amount makes 100" in problems


# the unit price is a term ------------------------------------------------------------------------------------------
def test_the_unit_price_is_set_on_a_draft_and_checked_against_the_limits(make_property, manager):
    p = make_property(publish=False)
    assert p.unit_price == 100
    properties.update_property(p, {"unit_price": 5_000}, actor=manager)
    assert p.unit_price == 5_000
    with pytest.raises(ValidationError) as refused:
        properties.update_property(p, {"unit_price": 3_000}, actor=manager)  # 100.00 is not whole units of 30.00
    assert "unit_price" in refused.value.errors
    db.session.rollback()
    with pytest.raises(ValidationError):
        properties.update_property(_property(p.id), {"unit_price": 0}, actor=manager)
    db.session.rollback()
    properties.update_property(_property(p.id), {"resale_lockup_days": 90}, actor=manager)
    assert _property(p.id).resale_lockup_days == 90
    with pytest.raises(ValidationError) as refused:
        properties.update_property(_property(p.id), {"resale_lockup_days": -1}, actor=manager)
    assert "resale_lockup_days" in refused.value.errors


def test_a_fixed_amount_offering_keeps_its_unit_price_in_step(make_property, manager):
    p = make_property(publish=False, fixed_amount=200_000, min_investment=None, max_investment=None)
    assert p.unit_price == 200_000
    properties.update_property(p, {"fixed_amount": 250_000, "unit_price": 7}, actor=manager)
    assert p.unit_price == 250_000


def test_a_published_unit_price_changes_through_approval_and_locks_once_invested(make_property, make_investor,
                                                                                 manager, finance):
    p = make_property()
    request = properties.save(p, {"unit_price": 1_000}, actor=manager)
    assert request is not None and p.unit_price == 100  # waits for finance
    properties.approve(request, actor=finance)
    db.session.commit()
    assert _property(p.id).unit_price == 1_000
    invest(make_investor("5000.00"), p, "100.00")
    with pytest.raises(Conflict):
        properties.save(_property(p.id), {"unit_price": 500}, actor=manager)


# a traded holding ------------------------------------------------------------------------------------------------
def test_transfer_units_refuses_what_is_not_listed_or_not_earning(make_property, make_investor):
    p = make_property(**INSTALLMENTS)
    seller, buyer = make_investor("5000.00"), make_investor("5000.00")
    inv = invest(seller, p, "1000.00")
    kwargs = dict(buyer_id=buyer.id, unit_price=100, cost=100, on=inv.invested_on, at=inv.acknowledged_at,
                  documents_version="v", ip=None, entry_id=None)
    with pytest.raises(Conflict):  # still paying installments
        investing.transfer_units(inv, units=1, **kwargs)
    with pytest.raises(ValidationError):
        investing.transfer_units(inv, units=0, **kwargs)
    q = make_property()
    held = invest(seller, q, "100.00")
    with pytest.raises(Conflict):  # nothing listed
        investing.transfer_units(held, units=1, **kwargs)


def test_a_traded_holding_shows_its_units_and_cost_in_the_api_and_the_portfolio(make_property, make_investor, client,
                                                                               token_for, login):
    p = make_property()
    seller, buyer = make_investor("5000.00"), make_investor("5000.00")
    inv = invest(seller, p, "1000.00")
    bought = trade(inv, buyer, 250, cost=26_300)

    data = client.get(f"/api/v1/investments/{bought.id}", headers=token_for(buyer)).get_json()["data"]
    assert (data["units"], data["acquired_by"], data["units_listed"]) == (250, "trade", 0)
    assert data["cost_amount"] == {"amount": "263.00", "currency": "USD"}
    assert data["amount"] == {"amount": "250.00", "currency": "USD"}
    mine = client.get("/api/v1/investments", headers=token_for(seller)).get_json()["data"]
    assert [(d["units"], d["acquired_by"], d["cost_amount"]) for d in mine] == [(750, "offering", None)]

    login(buyer)
    html = client.get(f"/portfolio/{bought.id}").get_data(as_text=True)
    assert 'data-testid="units">250 units of' in html
    assert "Bought on the market" in html and "263.00" in html
    assert_verified()


def test_installments_paid_while_the_property_is_cancelled_leave_the_units_whole(app, postgres, make_property,
                                                                                make_investor, manager):
    """Installment payments lock the property row first, as a cancellation does: eight investors paying while the
    offering is cancelled never deadlock, and the units sold end at zero with every holding refunded."""
    from app.auth.models import User
    from tests.concurrency import run_threads

    p = make_property(**INSTALLMENTS)
    investors = [make_investor("5000.00") for _ in range(8)]
    holdings = [invest(user, p, "400.00").id for user in investors]
    user_ids, property_id, manager_id = [u.id for u in investors], p.id, manager.id

    def work(index):
        if index == 8:
            properties.cancel(db.session.get_one(Property, property_id),
                              actor=db.session.get_one(User, manager_id), reason="Permit refused")
            return "cancelled"
        investing.pay_installments(db.session.get_one(User, user_ids[index]), holdings[index], all_remaining=True)
        return "paid"

    results = run_threads(app, 9, work)
    assert not any("deadlock" in str(r).lower() for r in results), results
    assert all(not isinstance(r, Exception) or isinstance(r, Conflict) for r in results), results
    p = _property(property_id)
    assert p.status == "cancelled" and p.units_sold == 0
    assert all(inv.units == 0 and inv.status == CANCELLED for inv in db.session.query(Investment))
    assert check_units_sold() == []
    assert_verified()
