"""The demo market on Northgate Logistics Park (resale allowed, its lock-up over), made through the market services
so that every amount is a real ledger entry: a past trade between two co-investors on the tape, the demo investor's
open listing of part of their holding, and a co-investor's open offer on it with its cost held from their wallet.

Deterministic and idempotent: each step looks for what it would make and makes it only when it is missing."""
from __future__ import annotations

from sqlalchemy import select

from app.core.db import in_unit_of_work, unit_of_work
from app.core.money import Money
from app.extensions import db
from app.investing.demo import ensure_funds
from app.investing.models import ACQUIRED_OFFERING, ACTIVE, Investment
from app.market import services as market
from app.market.models import Listing, Offer, Trade
from app.properties.models import Property

NORTHGATE = "northgate-logistics"
# the trade on the tape: co-investor 1 lists part of a holding, co-investor 2 buys every unit of it
TAPE_UNITS, TAPE_PRICE, TAPE_KEY = 1_500, "1.03", "demo-seed-northgate-trade"
# the demo investor lists part of their holding; co-investor 3 offers a little less for some of it
LISTING_UNITS, LISTING_PRICE = 400, "1.05"
OFFER_UNITS, OFFER_PRICE = 150, "1.02"
OFFER_MESSAGE = "Happy to take these at 1.02 a unit."


def _holding(user, p: Property) -> Investment | None:
    """The user's fully paid holding of the offering itself (not one bought on the market), the largest first."""
    return db.session.scalar(select(Investment).where(
        Investment.user_id == user.id, Investment.property_id == p.id, Investment.status == ACTIVE,
        Investment.acquired_by == ACQUIRED_OFFERING).order_by(Investment.units.desc(), Investment.id).limit(1))


def _cost(units: int, price: str, currency: str) -> int:
    """What a buyer needs in the wallet for `units` at `price`: the amount and a generous fee."""
    amount = units * Money.parse(price, currency).minor
    return amount + amount // 10 + 10_000


def seed_market(investor, coinvestors: dict) -> None:
    """The demo market; `coinvestors` maps 1, 2, 3 to the co-investors. Commits step by step: call it outside any
    unit of work, once the demo offerings are funded."""
    if in_unit_of_work():
        raise RuntimeError("the demo market commits step by step: seed it outside a unit of work")
    p = db.session.scalar(select(Property).where(Property.slug == NORTHGATE))
    if p is None or not p.resale_allowed:
        return
    seller, buyer, bidder = coinvestors[1], coinvestors[2], coinvestors[3]

    with unit_of_work():  # a past trade between two co-investors
        if db.session.scalar(select(Trade.id).where(Trade.property_id == p.id).limit(1)) is None:
            holding = _holding(seller, p)
            if holding is not None:
                listing = market.create_listing(seller, holding.id, TAPE_UNITS, Money.parse(TAPE_PRICE, p.currency))
                ensure_funds(buyer, _cost(TAPE_UNITS, TAPE_PRICE, p.currency))
                market.buy(buyer, listing.id, TAPE_UNITS, key=TAPE_KEY, ip="127.0.0.1")

    with unit_of_work():  # the demo investor's open listing
        listing_id = db.session.scalar(select(Listing.id).where(Listing.property_id == p.id,
                                                                Listing.seller_id == investor.id).order_by(Listing.id))
        if listing_id is None:
            holding = _holding(investor, p)
            if holding is None:
                return
            listing_id = market.create_listing(investor, holding.id, LISTING_UNITS,
                                               Money.parse(LISTING_PRICE, p.currency)).id

    with unit_of_work():  # a co-investor's open offer on it, held from their wallet
        offered = db.session.scalar(select(Offer.id).where(Offer.listing_id == listing_id,
                                                           Offer.buyer_id == bidder.id).limit(1))
        if offered is None:
            ensure_funds(bidder, _cost(OFFER_UNITS, OFFER_PRICE, p.currency))
            market.make_offer(bidder, listing_id, OFFER_UNITS, Money.parse(OFFER_PRICE, p.currency),
                              message=OFFER_MESSAGE)
