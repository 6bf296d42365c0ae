"""What an offer refuses, with a clear 4xx and nothing written: strangers, the wrong side, the wrong state,
absurd prices and units, hostile messages, money the buyer does not have."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.core.db import unit_of_work, utcnow
from app.core.errors import Conflict, DomainError, Forbidden, InsufficientFunds, NotFound, ValidationError
from app.core.money import Money
from app.extensions import db
from app.ledger.models import Hold, JournalEntry
from app.market import services as market
from app.market.models import MESSAGE_MAX, OPEN, Offer, Trade
from tests.market.offers_support import (
    buyer_cost,
    fee_terms,
    fresh,
    held,
    list_units,
    money,
    offer_on,
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
    fee_terms()
    seller, investment, prop = tradable
    listing = list_units(seller, investment, 10)
    buyer = make_investor(balance="10000.00")
    return seller, buyer, listing, prop


def counts() -> tuple[int, int, int, int]:
    db.session.expire_all()
    return tuple(db.session.scalar(select(func.count()).select_from(model))  # type: ignore[return-value]
                 for model in (Offer, Hold, JournalEntry, Trade))


def refused(error: type[DomainError], action) -> DomainError:
    before = counts()
    with pytest.raises(error) as caught, unit_of_work():
        action()
    assert counts() == before, "a refusal wrote something"
    assert 400 <= caught.value.status < 500
    return caught.value


def test_strangers_see_no_offer_of_others(market_setup, make_investor):
    _seller, buyer, listing, prop = market_setup
    offer = offer_on(buyer, listing, 2, prop.unit_price)
    stranger = make_investor(balance="10000.00")
    price = money(listing, prop.unit_price)
    for action in (lambda: market.accept_offer(stranger, offer.id), lambda: market.reject_offer(stranger, offer.id),
                   lambda: market.withdraw_offer(stranger, offer.id),
                   lambda: market.counter_offer(stranger, offer.id, price),
                   lambda: market.accept_offer(buyer, 10**12), lambda: market.withdraw_offer(buyer, "1")):
        assert refused(NotFound, action).status == 404
    assert fresh(Offer, offer.id).status == OPEN


def test_each_side_does_only_its_part(market_setup):
    seller, buyer, listing, prop = market_setup
    offer = offer_on(buyer, listing, 2, prop.unit_price)
    refused(Forbidden, lambda: market.accept_offer(buyer, offer.id))  # the buyer's own open offer
    refused(Forbidden, lambda: market.withdraw_offer(seller, offer.id))
    refused(Conflict, lambda: market.counter_offer(buyer, offer.id, money(listing, prop.unit_price * 11 // 10)))
    refused(Conflict, lambda: market.reject_offer(buyer, offer.id))  # the buyer withdraws instead
    with unit_of_work():
        market.counter_offer(seller, offer.id, money(listing, prop.unit_price * 12 // 10))
    refused(Conflict, lambda: market.accept_offer(seller, offer.id))  # waits for the buyer
    refused(Conflict, lambda: market.counter_offer(seller, offer.id, money(listing, prop.unit_price * 13 // 10)))
    refused(Conflict, lambda: market.reject_offer(seller, offer.id))


def test_an_offer_on_your_own_listing_or_twice_on_one_listing(market_setup):
    seller, buyer, listing, prop = market_setup
    refused(Forbidden, lambda: market.make_offer(seller, listing.id, 1, money(listing, prop.unit_price)))
    offer_on(buyer, listing, 1, prop.unit_price)
    refused(Conflict, lambda: market.make_offer(buyer, listing.id, 1, money(listing, prop.unit_price)))
    refused(Conflict, lambda: market.make_offer(buyer, listing.id, 11, money(listing, prop.unit_price)))
    refused(NotFound, lambda: market.make_offer(buyer, 10**9, 1, money(listing, prop.unit_price)))


def test_an_expired_offer_can_no_longer_be_accepted(market_setup):
    seller, buyer, listing, prop = market_setup
    offer = offer_on(buyer, listing, 2, prop.unit_price, expires_at=utcnow() + timedelta(hours=1))
    with unit_of_work():
        db.session.execute(Offer.__table__.update().values(expires_at=utcnow() - timedelta(seconds=1)))
    refused(Conflict, lambda: market.accept_offer(seller, offer.id))
    refused(Conflict, lambda: market.counter_offer(seller, offer.id, money(listing, prop.unit_price * 11 // 10)))
    with unit_of_work():
        assert market.expire_offers() == 1
    refused(Conflict, lambda: market.accept_offer(seller, offer.id))
    refused(Conflict, lambda: market.withdraw_offer(buyer, offer.id))


def test_absurd_prices_and_units_are_refused(market_setup):
    seller, buyer, listing, prop = market_setup
    unit, cur = prop.unit_price, listing.currency
    other = "EUR" if cur != "EUR" else "USD"
    for price in (Money(0, cur), Money(-unit, cur), Money(1, cur), Money(unit * 10, cur), Money(10**15, cur),
                  Money(unit, other), unit, "1.00", None, 1.5):
        error = refused(ValidationError, lambda p=price: market.make_offer(buyer, listing.id, 1, p))
        assert error.errors and "price_per_unit" in error.errors
    for units in (0, -1, 1.5, "2", True, None, 10**10):
        error = refused(ValidationError, lambda u=units: market.make_offer(buyer, listing.id, u, Money(unit, cur)))
        assert error.errors and "units" in error.errors
    refused(ValidationError, lambda: market.make_offer(buyer, listing.id, 1, Money(unit, cur),
                                                       expires_at=utcnow() - timedelta(minutes=1)))
    offer = offer_on(buyer, listing, 1, unit)
    refused(ValidationError, lambda: market.counter_offer(seller, offer.id, Money(unit * 10, cur)))
    refused(ValidationError, lambda: market.counter_offer(seller, offer.id, Money(unit, cur)))  # the same price


def test_hostile_messages_stay_plain_text_and_short(market_setup, make_investor):
    seller, buyer, listing, prop = market_setup
    markup = '<script>alert("x")</script> <b>bold</b> {{ 7*7 }} \'; DROP TABLE market_offers; --'
    offer = offer_on(buyer, listing, 1, prop.unit_price, message=markup)
    assert fresh(Offer, offer.id).buyer_message == markup  # kept as typed; every page escapes it
    other = make_investor(balance="10000.00")
    for text in ("x" * (MESSAGE_MAX + 1), "hello\x00world", "bell\x07", "evil \u202etxt.exe", "zero\u200bwidth",
                 "escape \x1b[31mred"):
        error = refused(ValidationError, lambda t=text: market.make_offer(other, listing.id, 1,
                                                                           money(listing, prop.unit_price),
                                                                           message=t))
        assert error.errors and "message" in error.errors
    limit = offer_on(other, listing, 1, prop.unit_price, message="  line one\r\nline two\t" + "y" * 470 + "  ")
    assert fresh(Offer, limit.id).buyer_message == "line one\nline two\t" + "y" * 470
    with unit_of_work():
        market.reject_offer(seller, limit.id, message="   ")
    assert fresh(Offer, limit.id).seller_message is None


def test_an_offer_needs_the_money_in_the_wallet(market_setup, make_investor):
    _seller, _buyer, listing, prop = market_setup
    poor = make_investor(balance="1.00")
    before = wallet(poor)
    refused(InsufficientFunds, lambda: market.make_offer(poor, listing.id, 10, money(listing, prop.unit_price)))
    assert wallet(poor) == before and held(poor) == 0


def test_the_buyer_cannot_top_up_a_counter_they_cannot_afford(market_setup, make_investor):
    seller, _buyer, listing, prop = market_setup
    unit = prop.unit_price
    cost_low = buyer_cost(10, unit * 8 // 10)
    tight = make_investor(balance=str(Money(cost_low + 20, listing.currency).amount_str()))
    offer = offer_on(tight, listing, 10, unit * 8 // 10)
    with unit_of_work():
        market.counter_offer(seller, offer.id, money(listing, unit * 15 // 10))
    refused(InsufficientFunds, lambda: market.accept_offer(tight, offer.id))
    offer = fresh(Offer, offer.id)
    assert offer.status == "countered" and held(tight) == offer.held_amount


def test_no_offer_while_trading_is_halted(market_setup, make_user):
    _seller, buyer, listing, prop = market_setup
    officer = make_user(role="compliance")
    with unit_of_work():
        market.halt(officer, prop.id, "price manipulation suspected")
    refused(Conflict, lambda: market.make_offer(buyer, listing.id, 1, money(listing, prop.unit_price)))
    with unit_of_work():
        market.resume(officer, prop.id, "reviewed: nothing wrong")
    offer = offer_on(buyer, listing, 1, prop.unit_price)
    assert fresh(Offer, offer.id).status == OPEN
