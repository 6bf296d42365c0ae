"""Prefunded offers: the cost is held when the offer is made, and every way an offer ends settles or releases
that hold exactly once; wallets and fee revenue move to the cent."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.core.db import unit_of_work, utcnow
from app.core.errors import Conflict
from app.extensions import db
from app.investing.models import Investment
from app.ledger.models import HOLD_PENDING, HOLD_RELEASED, HOLD_SETTLED
from app.market import services as market
from app.market.models import ACCEPTED, COUNTERED, EXPIRED, OPEN, REJECTED, WITHDRAWN, Listing, Offer, Trade
from app.notifications.models import Notification
from tests.market.offers_support import (
    BUYER_BPS,
    SELLER_BPS,
    buyer_cost,
    entries,
    fee_revenue,
    fee_terms,
    fresh,
    half_even_fee,
    held,
    hold_of,
    list_units,
    money,
    offer_holds,
    offer_on,
    seller_net,
    stray_holds,
    wallet,
)


@pytest.fixture(autouse=True)
def _no_stray_holds():
    """After every test: no money held for an offer that is no longer live."""
    yield
    assert stray_holds() == []


@pytest.fixture
def market_setup(tradable, make_investor):
    """A listing of 10 units at the nominal price, a buyer with 10,000.00, the offer tests' fee terms."""
    fee_terms()
    seller, investment, prop = tradable
    listing = list_units(seller, investment, 10)
    buyer = make_investor(balance="10000.00")
    return seller, buyer, listing, prop


def events(user, event: str) -> int:
    return db.session.scalar(select(func.count()).select_from(Notification)
                             .where(Notification.user_id == user.id, Notification.event == event))


def test_making_an_offer_holds_its_whole_cost_and_tells_the_seller(market_setup):
    seller, buyer, listing, prop = market_setup
    price = prop.unit_price * 9 // 10
    before = wallet(buyer)
    offer = offer_on(buyer, listing, 4, price, message="  Would you take this?  ")
    cost = buyer_cost(4, price)
    assert cost == 4 * price + half_even_fee(4 * price, BUYER_BPS)
    offer = fresh(Offer, offer.id)
    assert (offer.status, offer.units, offer.price_per_unit, offer.held_amount) == (OPEN, 4, price, cost)
    assert offer.buyer_fee == cost - 4 * price
    assert offer.buyer_message == "Would you take this?"
    assert wallet(buyer) == before - cost and held(buyer) == cost
    record = hold_of(offer)
    assert (record.status, record.amount, record.user_id) == (HOLD_PENDING, cost, buyer.id)
    assert offer.expires_at <= listing.expires_at
    assert events(seller, "market.offer_received") == 1


def test_withdrawing_releases_the_hold_once(market_setup):
    seller, buyer, listing, prop = market_setup
    before = wallet(buyer)
    offer = offer_on(buyer, listing, 2, prop.unit_price)
    with unit_of_work():
        market.withdraw_offer(buyer, offer.id)
    assert fresh(Offer, offer.id).status == WITHDRAWN and fresh(Offer, offer.id).held_amount == 0
    assert hold_of(offer).status == HOLD_RELEASED
    assert wallet(buyer) == before and held(buyer) == 0
    with pytest.raises(Conflict), unit_of_work():
        market.withdraw_offer(buyer, offer.id)
    assert wallet(buyer) == before and entries("hold_release") == 1
    assert events(seller, "market.offer_withdrawn") == 1


def test_the_seller_rejecting_releases_the_hold_and_tells_the_buyer(market_setup):
    seller, buyer, listing, prop = market_setup
    before = wallet(buyer)
    offer = offer_on(buyer, listing, 3, prop.unit_price)
    with unit_of_work():
        market.reject_offer(seller, offer.id, message="Too low for me")
    offer = fresh(Offer, offer.id)
    assert (offer.status, offer.seller_message) == (REJECTED, "Too low for me")
    assert hold_of(offer).status == HOLD_RELEASED and wallet(buyer) == before and held(buyer) == 0
    assert events(buyer, "market.offer_rejected") == 1
    with pytest.raises(Conflict), unit_of_work():
        market.reject_offer(seller, offer.id)
    assert entries("hold_release") == 1


def test_accepting_settles_from_the_hold_to_the_cent(market_setup):
    seller, buyer, listing, prop = market_setup
    price = prop.unit_price * 11 // 10
    buyer_before, seller_before, fees_before = wallet(buyer), wallet(seller), fee_revenue()
    offer = offer_on(buyer, listing, 4, price)
    with unit_of_work():
        trade = market.accept_offer(seller, offer.id)
    amount = 4 * price
    assert (trade.units, trade.price_per_unit, trade.amount, trade.buyer_id) == (4, price, amount, buyer.id)
    assert trade.buyer_fee == half_even_fee(amount, BUYER_BPS) and trade.seller_fee == half_even_fee(amount, SELLER_BPS)
    offer = fresh(Offer, offer.id)
    assert (offer.status, offer.trade_id, offer.held_amount) == (ACCEPTED, trade.id, 0)
    assert hold_of(offer).status == HOLD_SETTLED
    assert wallet(buyer) == buyer_before - buyer_cost(4, price) and held(buyer) == 0
    assert wallet(seller) == seller_before + seller_net(4, price)
    assert fee_revenue() == fees_before + trade.buyer_fee + trade.seller_fee
    assert fresh(Listing, listing.id).units_remaining == 6
    bought = db.session.get(Investment, fresh(Trade, trade.id).buyer_investment_id)
    assert (bought.user_id, bought.units, bought.acquired_by) == (buyer.id, 4, "trade")
    assert events(buyer, "market.offer_accepted") == 1
    with pytest.raises(Conflict), unit_of_work():
        market.accept_offer(seller, offer.id)
    assert db.session.scalar(select(func.count()).select_from(Trade)) == 1


def test_a_cheaper_counter_accepted_by_the_buyer_returns_the_excess(market_setup):
    seller, buyer, listing, prop = market_setup
    high, counter = prop.unit_price * 12 // 10, prop.unit_price * 11 // 10
    before, seller_before = wallet(buyer), wallet(seller)
    offer = offer_on(buyer, listing, 5, high)
    # the seller may ask less than was offered (a counter is any other price in the band)
    with unit_of_work():
        market.counter_offer(seller, offer.id, money(listing, counter), message="Let us meet here")
    offer = fresh(Offer, offer.id)
    assert (offer.status, offer.counter_price_per_unit, offer.countered_by_id) == (COUNTERED, counter, seller.id)
    assert offer.held_amount == buyer_cost(5, high) and held(buyer) == buyer_cost(5, high)  # nothing moved yet
    assert events(buyer, "market.offer_countered") == 1
    told = db.session.scalars(select(Notification).where(Notification.user_id == buyer.id,
                                                         Notification.event == "market.offer_countered")).one()
    assert told.context["price"] == money(listing, counter).amount_str()  # the price now on the table
    assert told.context["message"] == "Let us meet here" and told.context["units"] == 5
    with unit_of_work():
        trade = market.accept_offer(buyer, offer.id)
    assert trade.price_per_unit == counter
    assert wallet(buyer) == before - buyer_cost(5, counter) and held(buyer) == 0
    assert wallet(seller) == seller_before + seller_net(5, counter)
    assert events(seller, "market.offer_accepted") == 1


def test_a_dearer_counter_accepted_by_the_buyer_tops_the_hold_up_first(market_setup):
    seller, buyer, listing, prop = market_setup
    low, counter = prop.unit_price * 8 // 10, prop.unit_price * 13 // 10
    before, fees_before = wallet(buyer), fee_revenue()
    offer = offer_on(buyer, listing, 5, low)
    with unit_of_work():
        market.counter_offer(seller, offer.id, money(listing, counter))
    with unit_of_work():
        trade = market.accept_offer(buyer, offer.id)
    assert wallet(buyer) == before - buyer_cost(5, counter) and held(buyer) == 0
    assert fee_revenue() == fees_before + trade.buyer_fee + trade.seller_fee
    first, second = offer_holds(offer.id)
    assert (first.status, first.amount) == (HOLD_RELEASED, buyer_cost(5, low))
    assert (second.status, second.amount) == (HOLD_SETTLED, buyer_cost(5, counter))


def test_the_buyer_countering_back_moves_the_hold_up_or_down(market_setup):
    seller, buyer, listing, prop = market_setup
    unit = prop.unit_price
    before = wallet(buyer)
    offer = offer_on(buyer, listing, 5, unit * 8 // 10)
    with unit_of_work():
        market.counter_offer(seller, offer.id, money(listing, unit * 12 // 10))
    with unit_of_work():
        market.counter_offer(buyer, offer.id, money(listing, unit), message="Halfway?")
    offer = fresh(Offer, offer.id)
    assert (offer.status, offer.price_per_unit, offer.counter_price_per_unit) == (OPEN, unit, None)
    assert offer.held_amount == buyer_cost(5, unit) and hold_of(offer).amount == buyer_cost(5, unit)
    assert wallet(buyer) == before - buyer_cost(5, unit) and held(buyer) == buyer_cost(5, unit)
    assert events(seller, "market.offer_countered") == 1
    with unit_of_work():
        market.counter_offer(seller, offer.id, money(listing, unit * 11 // 10))
    with unit_of_work():
        market.counter_offer(buyer, offer.id, money(listing, unit * 9 // 10))  # lower than before
    assert held(buyer) == buyer_cost(5, unit * 9 // 10) and wallet(buyer) == before - buyer_cost(5, unit * 9 // 10)
    holds = offer_holds(offer.id)
    assert [h.status for h in holds] == [HOLD_RELEASED, HOLD_RELEASED, HOLD_PENDING]
    with unit_of_work():
        market.withdraw_offer(buyer, offer.id)
    assert wallet(buyer) == before and held(buyer) == 0


def test_offers_past_their_expiry_are_expired_and_released_once(market_setup):
    seller, buyer, listing, prop = market_setup
    before = wallet(buyer)
    soon = utcnow() + timedelta(hours=1)
    offer = offer_on(buyer, listing, 2, prop.unit_price, expires_at=soon)
    with unit_of_work():
        assert market.expire_offers() == 0  # not yet
    with unit_of_work():
        assert market.expire_offers(soon + timedelta(seconds=1)) == 1
    with unit_of_work():
        assert market.expire_offers(soon + timedelta(minutes=2)) == 0
    offer = fresh(Offer, offer.id)
    assert offer.status == EXPIRED and hold_of(offer).status == HOLD_RELEASED
    assert wallet(buyer) == before and entries("hold_release") == 1
    assert events(buyer, "market.offer_expired") == 1 and events(seller, "market.offer_expired") == 1


def test_an_offer_never_outlives_its_listing(market_setup):
    _seller, buyer, listing, prop = market_setup
    offer = offer_on(buyer, listing, 1, prop.unit_price, expires_at=listing.expires_at + timedelta(days=30))
    assert fresh(Offer, offer.id).expires_at == fresh(Listing, listing.id).expires_at


@pytest.mark.parametrize("close", ["cancelled", "expired", "sold out"])
def test_a_listing_that_closes_releases_every_live_offer_once(market_setup, make_investor, close):
    seller, buyer, listing, prop = market_setup
    other = make_investor(balance="10000.00")
    before, other_before = wallet(buyer), wallet(other)
    first = offer_on(buyer, listing, 3, prop.unit_price)
    second = offer_on(other, listing, 2, prop.unit_price)
    with unit_of_work():
        market.counter_offer(seller, second.id, money(listing, prop.unit_price * 11 // 10))
    third = make_investor(balance="10000.00")
    with unit_of_work():
        if close == "cancelled":
            market.cancel_listing(seller, listing.id, reason="changed my mind")
        elif close == "expired":
            market.expire_listings(fresh(Listing, listing.id).expires_at + timedelta(seconds=1))
        else:
            market.buy(third, listing.id, 10, key="buy-all")
    for offer in (first, second):
        offer = fresh(Offer, offer.id)
        assert offer.status in (REJECTED, EXPIRED) and offer.held_amount == 0
        assert hold_of(offer).status == HOLD_RELEASED
    assert wallet(buyer) == before and wallet(other) == other_before
    assert held(buyer) == held(other) == 0 and entries("hold_release") == 2


def test_a_trading_halt_releases_every_live_offer(market_setup, make_user):
    _seller, buyer, listing, prop = market_setup
    before = wallet(buyer)
    offer = offer_on(buyer, listing, 3, prop.unit_price)
    officer = make_user(role="compliance")
    with unit_of_work():
        market.halt(officer, prop.id, "unusual trading pattern")
    assert fresh(Offer, offer.id).status in (REJECTED, EXPIRED)
    assert hold_of(offer).status == HOLD_RELEASED and wallet(buyer) == before and held(buyer) == 0
    assert entries("hold_release") == 1


def test_the_expiry_job_expires_listings_and_offers(market_setup, app):
    from app.market.tasks import expire
    from app.tasks import BEAT_SCHEDULE

    _seller, buyer, listing, prop = market_setup
    offer = offer_on(buyer, listing, 1, prop.unit_price)
    with unit_of_work():  # the listing and its offer both past their expiry
        db.session.execute(Listing.__table__.update().values(expires_at=utcnow() - timedelta(seconds=1)))
        db.session.execute(Offer.__table__.update().values(expires_at=utcnow() - timedelta(seconds=1)))
    result = expire.apply().get()
    assert result["listings"] == 1 and result["offers"] == 0  # the listing's expiry released its offer
    assert fresh(Offer, offer.id).status == EXPIRED and hold_of(offer).status == HOLD_RELEASED
    assert expire.apply().get() == {"listings": 0, "offers": 0}
    assert BEAT_SCHEDULE["market-expire"] == {"task": "market.expire", "schedule": 60.0}
    assert "market.expire" in app.extensions["celery"].tasks
