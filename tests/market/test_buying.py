"""Buying outright: the buyer pays price x units plus the buyer's fee, the seller receives price x units less the
seller's fee, fee revenue both fees, and the units move to a new holding of the buyer, in one transaction."""
import pytest
from sqlalchemy import func, select, update

from app.core.db import unit_of_work
from app.core.errors import Conflict, DomainError, Forbidden, IdempotencyConflict, InsufficientFunds, NotFound
from app.extensions import db
from app.investing.models import Investment
from app.ledger.models import JournalEntry
from app.market import services as market
from app.market.models import Listing, Trade
from app.notifications.models import Notification
from app.properties.models import Property
from tests.market.support import fee_revenue, list_units, wallet


def _buy(user, listing, units, **kwargs):
    with unit_of_work():
        return market.buy(user, listing.id, units, **kwargs)


def test_buying_moves_money_and_units_in_one_entry(tradable, make_investor):
    seller, inv, _p = tradable
    buyer = make_investor("5000.00")
    listing = list_units(seller, inv, 5, "101.50")
    seller_before, revenue_before = wallet(seller), fee_revenue()
    trade = _buy(buyer, listing, 2, ip="203.0.113.9")
    # 2 x 101.50 = 203.00; 1 % = 2.03 each side
    assert (trade.amount, trade.buyer_fee, trade.seller_fee) == (20_300, 203, 203)
    assert wallet(buyer) == 500_000 - 20_503
    assert wallet(seller) == seller_before + 20_097
    assert fee_revenue() == revenue_before + 406
    entry = db.session.get(JournalEntry, trade.entry_id)
    assert (entry.kind, entry.idempotency_key) == ("market_trade", trade.idempotency_key)
    bought = db.session.get(Investment, trade.buyer_investment_id)
    assert (bought.user_id, bought.units, bought.amount, bought.acquired_by, bought.cost_amount) == (
        buyer.id, 2, 20_000, "trade", 20_503)
    sold_from = db.session.get(Investment, inv.id)
    assert (sold_from.units, sold_from.units_listed, sold_from.amount) == (18, 3, 180_000)
    assert db.session.get(Listing, listing.id).units_remaining == 3
    events = dict(db.session.execute(select(Notification.user_id, Notification.event)
                                     .where(Notification.event.in_(["market.sold", "market.bought"]))).all())
    assert events == {seller.id: "market.sold", buyer.id: "market.bought"}


def test_buying_the_last_units_sells_the_listing_out(tradable, make_investor):
    seller, inv, _p = tradable
    listing = list_units(seller, inv, 20)
    _buy(make_investor(), listing, 20)
    db.session.expire_all()
    assert db.session.get(Listing, listing.id).status == "sold"
    done = db.session.get(Investment, inv.id)
    assert (done.status, done.units, done.units_listed, done.amount) == ("sold", 0, 0, 0)


def test_replaying_a_purchase_returns_the_first_trade(tradable, make_investor):
    seller, inv, _p = tradable
    buyer = make_investor()
    listing = list_units(seller, inv, 3)
    first = _buy(buyer, listing, 3, key="order-1")
    paid = wallet(buyer)
    again = _buy(buyer, listing, 3, key="order-1")  # the listing is sold out: the replay still answers
    assert again.id == first.id and wallet(buyer) == paid
    assert db.session.scalar(select(func.count(Trade.id))) == 1
    with pytest.raises(IdempotencyConflict):
        _buy(buyer, listing, 2, key="order-1")


def _nothing_written(listing, buyer, before):
    db.session.expire_all()
    assert db.session.scalar(select(func.count(Trade.id))) == 0
    assert db.session.get(Listing, listing.id).units_remaining == listing.units
    assert wallet(buyer) == before


@pytest.mark.parametrize("units", [0, -1, 1.5, "1", True, 10**10, 6])
def test_bad_unit_counts_are_refused(tradable, make_investor, units):
    seller, inv, _p = tradable
    buyer = make_investor()
    listing = list_units(seller, inv, 5)
    before = wallet(buyer)
    with pytest.raises(DomainError) as refused:
        _buy(buyer, listing, units)
    assert refused.value.status in (409, 422) and "units" in refused.value.errors
    _nothing_written(listing, buyer, before)


def test_buying_from_yourself_is_forbidden(tradable):
    seller, inv, _p = tradable
    listing = list_units(seller, inv, 5)
    before = wallet(seller)
    with pytest.raises(Forbidden):
        _buy(seller, listing, 1)
    _nothing_written(listing, seller, before)


def test_a_wallet_short_of_the_price_and_fee_is_refused(tradable, make_investor):
    seller, inv, _p = tradable
    buyer = make_investor("200.00")
    listing = list_units(seller, inv, 5)
    with pytest.raises(InsufficientFunds, match=r"costs USD 202\.00"):  # 2 x 100.00 + 2.00 fee
        _buy(buyer, listing, 2)
    _nothing_written(listing, buyer, 20_000)
    _buy(buyer, listing, 1)
    assert wallet(buyer) == 20_000 - 10_100


def test_buyer_needs_kyc_and_a_verified_email(tradable, make_investor):
    seller, inv, _p = tradable
    listing = list_units(seller, inv, 5)
    for buyer in (make_investor(kyc=False), make_investor(None, verified=False)):
        before = wallet(buyer)
        with pytest.raises(Forbidden):
            _buy(buyer, listing, 1)
        _nothing_written(listing, buyer, before)


@pytest.mark.parametrize("change", [{"resale_allowed": False}, {"status": "cancelled"}])
def test_property_no_longer_tradable(tradable, make_investor, change):
    seller, inv, p = tradable
    listing = list_units(seller, inv, 5)
    buyer = make_investor()
    with unit_of_work():
        db.session.execute(update(Property).where(Property.id == p.id).values(**change))
    with pytest.raises(Conflict):
        _buy(buyer, listing, 1)
    _nothing_written(listing, buyer, 1_000_000)


def test_halted_trading_refuses_purchases(tradable, make_investor, finance):
    seller, inv, p = tradable
    listing = list_units(seller, inv, 5)
    buyer = make_investor()
    with unit_of_work():
        market.halt(finance, p.id, "Valuation under review")
    with pytest.raises(Conflict, match="halted"):
        _buy(buyer, listing, 1)
    with unit_of_work():
        market.resume(finance, p.id, "Valuation confirmed")
    assert _buy(buyer, listing, 1).units == 1


def test_closed_or_missing_listings(tradable, make_investor):
    seller, inv, _p = tradable
    buyer = make_investor()
    listing = list_units(seller, inv, 5)
    with unit_of_work():
        market.cancel_listing(seller, listing.id)
    with pytest.raises(Conflict, match="cancelled"):
        _buy(buyer, listing, 1)
    with pytest.raises(NotFound), unit_of_work():
        market.buy(buyer, 999, 1)
