"""A property cancelled while its units are on the market: its open listings close, the offers' held money goes back
to the buyers, and every current holder (the buyer of a trade included) is refunded what they hold."""
from __future__ import annotations

from sqlalchemy import select

from app.core.db import unit_of_work
from app.extensions import db
from app.investing.models import CANCELLED as HOLDING_CANCELLED
from app.investing.models import Investment
from app.ledger.models import HOLD_RELEASED, Hold
from app.market import services as market
from app.market.models import CANCELLED, REJECTED, Listing, Offer
from app.properties import services as properties
from app.properties.models import Property
from tests.market.support import held, list_units, money, wallet


def test_cancelling_the_property_closes_its_listings_and_releases_held_offers(tradable, make_investor, manager):
    seller, investment, prop = tradable
    listing = list_units(seller, investment, 10)
    buyer, bidder = make_investor("5000.00"), make_investor("5000.00")
    with unit_of_work():
        trade = market.buy(buyer, listing.id, 2, key="before-the-cancel")
    with unit_of_work():
        offer = market.make_offer(bidder, listing.id, 3, money("95.00"))
    bidder_before, buyer_before, seller_before = wallet(bidder), wallet(buyer), wallet(seller)
    cost = offer.held_amount
    assert held(bidder) == cost > 0

    with unit_of_work():
        properties.cancel(db.session.get_one(Property, prop.id), actor=manager, reason="Planning permission refused")

    db.session.expire_all()
    closed = db.session.get_one(Listing, listing.id)
    assert closed.status == CANCELLED and "cancelled" in (closed.close_reason or "")
    ended = db.session.get_one(Offer, offer.id)
    assert ended.status == REJECTED
    assert db.session.get_one(Hold, ended.hold_id).status == HOLD_RELEASED
    assert held(bidder) == 0 and wallet(bidder) == bidder_before + cost
    # the current holders get back the nominal value they hold, the buyer's trade cost is not the refund's measure
    bought = db.session.get_one(Investment, trade.buyer_investment_id)
    kept = db.session.get_one(Investment, investment.id)
    assert bought.status == kept.status == HOLDING_CANCELLED
    assert bought.units == bought.units_listed == kept.units_listed == 0
    assert wallet(buyer) == buyer_before + 2 * prop.unit_price
    assert wallet(seller) == seller_before + 18 * prop.unit_price
    assert db.session.scalars(select(Listing).where(Listing.status == "open")).all() == []
