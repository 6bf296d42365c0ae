"""Offers racing each other and the listing on PostgreSQL: each race ends one way only, every hold is settled or
released exactly once, and the ledger verifies (the suite's fixture checks it after every test)."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.auth.models import User
from app.core.db import unit_of_work, utcnow
from app.core.errors import Conflict
from app.extensions import db
from app.ledger.models import HOLD_PENDING, HOLD_RELEASED, HOLD_SETTLED
from app.market import services as market
from app.market.models import ACCEPTED, EXPIRED, OPEN, SOLD, WITHDRAWN, Listing, Offer, Trade
from tests.concurrency import run_threads
from tests.market.offers_support import (
    buyer_cost,
    fee_revenue,
    fee_terms,
    fresh,
    held,
    hold_of,
    list_units,
    offer_on,
    seller_net,
    stray_holds,
    wallet,
)

pytestmark = pytest.mark.usefixtures("postgres")


@pytest.fixture
def setup(tradable, make_investor):
    fee_terms()
    seller, investment, prop = tradable
    return seller, investment, prop, make_investor


def user(user_id: int) -> User:
    return db.session.get(User, user_id)


def trades() -> list[Trade]:
    db.session.expire_all()
    return list(db.session.scalars(select(Trade).order_by(Trade.id)))


def test_two_offers_accepted_at_once_for_the_last_units(app, setup):
    seller, investment, prop, make_investor = setup
    listing = list_units(seller, investment, 10)
    buyers = [make_investor(balance="10000.00") for _ in range(2)]
    before = [wallet(b) for b in buyers]
    seller_before, fees_before = wallet(seller), fee_revenue()
    price = prop.unit_price
    offers = [offer_on(b, listing, 10, price) for b in buyers]
    seller_id, offer_ids = seller.id, [o.id for o in offers]

    results = run_threads(app, 2, lambda i: market.accept_offer(user(seller_id), offer_ids[i]).id)
    won = [r for r in results if isinstance(r, int)]
    assert len(won) == 1 and all(isinstance(r, Conflict) for r in results if not isinstance(r, int)), results
    assert len(trades()) == 1 and fresh(Listing, listing.id).status == SOLD
    winner = 0 if isinstance(results[0], int) else 1
    loser = 1 - winner
    assert fresh(Offer, offer_ids[winner]).status == ACCEPTED and hold_of(offers[winner]).status == HOLD_SETTLED
    assert fresh(Offer, offer_ids[loser]).status == EXPIRED and hold_of(offers[loser]).status == HOLD_RELEASED
    assert wallet(buyers[winner]) == before[winner] - buyer_cost(10, price)
    assert wallet(buyers[loser]) == before[loser] and held(buyers[loser]) == held(buyers[winner]) == 0
    assert wallet(seller) == seller_before + seller_net(10, price)
    trade = trades()[0]
    assert fee_revenue() == fees_before + trade.buyer_fee + trade.seller_fee
    assert stray_holds() == []



def test_the_offer_left_short_waits_then_is_released_when_the_listing_sells_out(app, setup):
    seller, investment, prop, make_investor = setup
    listing = list_units(seller, investment, 10)
    buyers = [make_investor(balance="10000.00") for _ in range(3)]
    before = [wallet(b) for b in buyers]
    price = prop.unit_price
    offers = [offer_on(b, listing, 6, price) for b in buyers[:2]]
    seller_id, offer_ids = seller.id, [o.id for o in offers]

    results = run_threads(app, 2, lambda i: market.accept_offer(user(seller_id), offer_ids[i]).id)
    assert sum(isinstance(r, int) for r in results) == 1, results
    loser = 0 if isinstance(results[1], int) else 1
    assert isinstance(results[loser], Conflict)
    short = fresh(Offer, offer_ids[loser])
    assert short.status == OPEN and hold_of(short).status == HOLD_PENDING  # 4 units left: it waits
    assert held(buyers[loser]) == buyer_cost(6, price)
    with unit_of_work():
        market.buy(buyers[2], listing.id, 4, key="the-last-four")
    assert fresh(Listing, listing.id).status == SOLD
    assert fresh(Offer, offer_ids[loser]).status == EXPIRED and hold_of(short).status == HOLD_RELEASED
    assert wallet(buyers[loser]) == before[loser] and held(buyers[loser]) == 0
    assert wallet(buyers[1 - loser]) == before[1 - loser] - buyer_cost(6, price)
    assert len(trades()) == 2
    assert stray_holds() == []



def test_an_offer_accepted_while_the_buyer_withdraws_it_ends_one_way(app, setup):
    seller, investment, prop, make_investor = setup
    listing = list_units(seller, investment, 10)
    for _ in range(3):  # a few rounds: both orders get a chance
        buyer = make_investor(balance="10000.00")
        before, seller_before = wallet(buyer), wallet(seller)
        offer = offer_on(buyer, listing, 1, prop.unit_price)
        ids = (seller.id, buyer.id, offer.id)

        def work(i, ids=ids):
            if i == 0:
                return market.accept_offer(user(ids[0]), ids[2])
            return market.withdraw_offer(user(ids[1]), ids[2])

        results = run_threads(app, 2, work)
        failures = [r for r in results if isinstance(r, Exception)]
        assert len(failures) == 1 and isinstance(failures[0], Conflict), results
        offer = fresh(Offer, offer.id)
        if offer.status == ACCEPTED:
            assert hold_of(offer).status == HOLD_SETTLED and offer.trade_id is not None
            assert wallet(buyer) == before - buyer_cost(1, prop.unit_price)
            assert wallet(seller) == seller_before + seller_net(1, prop.unit_price)
        else:
            assert offer.status == WITHDRAWN and hold_of(offer).status == HOLD_RELEASED
            assert offer.trade_id is None and wallet(buyer) == before and wallet(seller) == seller_before
        assert held(buyer) == 0
    assert stray_holds() == []



def test_a_listing_expiring_while_an_offer_is_accepted_ends_one_way(app, setup):
    seller, investment, prop, make_investor = setup
    outcomes = set()
    for _ in range(3):
        listing = list_units(seller, investment, 2, expires_at=utcnow() + timedelta(hours=1))
        buyer = make_investor(balance="10000.00")
        before = wallet(buyer)
        offer = offer_on(buyer, listing, 2, prop.unit_price)
        ids = (seller.id, offer.id)
        deadline = utcnow() + timedelta(hours=2)

        def work(i, ids=ids, deadline=deadline):
            if i == 0:
                return market.accept_offer(user(ids[0]), ids[1])
            return market.expire_listings(deadline)

        results = run_threads(app, 2, work)
        offer, closed = fresh(Offer, offer.id), fresh(Listing, listing.id)
        if offer.status == ACCEPTED:
            assert closed.status == SOLD and results[1] == 0
            assert hold_of(offer).status == HOLD_SETTLED
            assert wallet(buyer) == before - buyer_cost(2, prop.unit_price)
        else:
            assert isinstance(results[0], Conflict) and results[1] == 1, results
            assert closed.status == EXPIRED and offer.status == EXPIRED
            assert hold_of(offer).status == HOLD_RELEASED and wallet(buyer) == before
        assert held(buyer) == 0
        outcomes.add(offer.status)
    assert db.session.scalar(select(func.count()).select_from(Trade)) == sum(
        1 for o in db.session.scalars(select(Offer)) if o.status == ACCEPTED)
    assert stray_holds() == []
