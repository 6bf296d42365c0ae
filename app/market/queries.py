"""Reading the market: listings, a user's listings, offers and trades, and per-property figures."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Select, func, or_, select

from app.core.db import utcnow
from app.core.errors import NotFound, ValidationError
from app.extensions import db
from app.market.models import OPEN, Listing, Offer, Trade

SORTS: dict[str, tuple[Any, ...]] = {
    "newest": (Listing.created_at.desc(), Listing.id.desc()),
    "oldest": (Listing.created_at.asc(), Listing.id.asc()),
    "price_asc": (Listing.price_per_unit.asc(), Listing.id.asc()),
    "price_desc": (Listing.price_per_unit.desc(), Listing.id.desc()),
    "expiring": (Listing.expires_at.asc(), Listing.id.asc()),
}


@dataclass(frozen=True)
class Stats:
    last_price: int | None  # per unit, of the latest trade
    volume_30d_units: int
    volume_30d_amount: int
    open_listings: int
    lowest_ask: int | None


def get_listing(listing_id: int) -> Listing:
    listing = db.session.get(Listing, listing_id) if isinstance(listing_id, int) else None
    if listing is None:
        raise NotFound("no such listing")
    return listing


def open_listings(property_id: int | None = None, *, min_price: int | None = None, max_price: int | None = None,
                  sort: str = "newest") -> Select:
    """Open listings not yet expired, filtered and sorted (newest, oldest, price_asc, price_desc, expiring)."""
    if sort not in SORTS:
        raise ValidationError("unknown sort order", {"sort": [f"One of {', '.join(SORTS)}."]})
    query = select(Listing).where(Listing.status == OPEN, Listing.expires_at > utcnow())
    if property_id is not None:
        query = query.where(Listing.property_id == property_id)
    if min_price is not None:
        query = query.where(Listing.price_per_unit >= min_price)
    if max_price is not None:
        query = query.where(Listing.price_per_unit <= max_price)
    return query.order_by(*SORTS[sort])


def listings_of(user) -> list[Listing]:
    return list(db.session.scalars(select(Listing).where(Listing.seller_id == user.id)
                                   .order_by(Listing.created_at.desc(), Listing.id.desc())))


def offers_of(user) -> list[Offer]:
    """Offers the user made and offers on the user's listings, newest first."""
    return list(db.session.scalars(
        select(Offer).join(Listing, Listing.id == Offer.listing_id)
        .where(or_(Offer.buyer_id == user.id, Listing.seller_id == user.id))
        .order_by(Offer.created_at.desc(), Offer.id.desc())))


def trades_of(user) -> list[Trade]:
    return list(db.session.scalars(select(Trade).where(or_(Trade.buyer_id == user.id, Trade.seller_id == user.id))
                                   .order_by(Trade.settled_at.desc(), Trade.id.desc())))


def trade_side(trade: Trade, user) -> str:
    return "buy" if trade.buyer_id == user.id else "sell"


def get_offer_for(user, offer_id: int) -> Offer:
    """An offer the user made or received; anyone else's is indistinguishable from a missing one."""
    offer = db.session.get(Offer, offer_id) if isinstance(offer_id, int) else None
    if offer is None or user.id not in (offer.buyer_id, offer.listing.seller_id):
        raise NotFound("no such offer")
    return offer


def get_trade_for(user, trade_id: int) -> Trade:
    trade = db.session.get(Trade, trade_id) if isinstance(trade_id, int) else None
    if trade is None or user.id not in (trade.buyer_id, trade.seller_id):
        raise NotFound("no such trade")
    return trade


def market_stats(property_ids) -> dict[int, Stats]:
    """Per property: the last traded price, the last 30 days' volume, the open listings and the lowest ask."""
    ids = list(property_ids)
    if not ids:
        return {}
    now = utcnow()
    volume = dict((pid, (units, amount)) for pid, units, amount in db.session.execute(
        select(Trade.property_id, func.sum(Trade.units), func.sum(Trade.amount))
        .where(Trade.property_id.in_(ids), Trade.settled_at >= now - timedelta(days=30))
        .group_by(Trade.property_id)))
    asks = dict((pid, (count, low)) for pid, count, low in db.session.execute(
        select(Listing.property_id, func.count(Listing.id), func.min(Listing.price_per_unit))
        .where(Listing.property_id.in_(ids), Listing.status == OPEN, Listing.expires_at > now)
        .group_by(Listing.property_id)))
    latest = (select(Trade.property_id, func.max(Trade.id).label("last_id"))
              .where(Trade.property_id.in_(ids)).group_by(Trade.property_id).subquery())
    last = dict(db.session.execute(select(Trade.property_id, Trade.price_per_unit)
                                   .join(latest, latest.c.last_id == Trade.id)).all())
    out = {}
    for pid in ids:
        units, amount = volume.get(pid, (0, 0))
        count, low = asks.get(pid, (0, None))
        out[pid] = Stats(last_price=last.get(pid), volume_30d_units=int(units or 0),
                         volume_30d_amount=int(amount or 0), open_listings=int(count or 0),
                         lowest_ask=int(low) if low is not None else None)
    return out
