"""Buying outright: some or all of a listing's remaining units at its asking price, settled at once."""
from __future__ import annotations

from uuid import uuid4

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from app.core.errors import NotFound, ValidationError
from app.extensions import db
from app.market import fees, rules
from app.market.models import Listing, Trade
from app.market.settlement import replayed, settle_new, trade_by_key

KEY_MAX = 100


def buy_key(user, key: str | None) -> str:
    """The trade's idempotency key: the buyer's own key (an `Idempotency-Key`), scoped to them."""
    if key is None:
        return f"market:buy:{user.id}:{uuid4().hex}"
    if not isinstance(key, str) or not key.strip() or len(key) > KEY_MAX:
        raise ValidationError(f"an idempotency key has 1 to {KEY_MAX} characters",
                              {"key": [f"1 to {KEY_MAX} characters."]})
    return f"market:buy:{user.id}:{key}"


def buy(user, listing_id: int, units: int, *, key: str | None = None, ip: str | None = None) -> Trade:
    """Buy `units` of the listing at its asking price: the wallet pays price x units plus the buyer's fee.
    Replaying `key` returns the first trade and moves nothing. 404 no such listing; 403 unverified, without KYC
    for investing, or the seller; 409 closed, halted or fewer units left; 422 bad units or not enough money."""
    fees.check_units(units)
    trade_key = buy_key(user, key)
    listing = _listing(listing_id) if isinstance(listing_id, int) else None
    if listing is None:
        raise NotFound("no such listing")
    if key is not None:
        existing = trade_by_key(trade_key)
        if existing is not None:  # before the checks: the first purchase may have taken the last units
            return replayed(existing, listing, user, units, listing.price_per_unit)
    rules.check_buyer(user, listing, units)
    return settle_new(listing, buyer=user, units=units, price_per_unit=listing.price_per_unit, key=trade_key,
                      ip=ip)


def _listing(listing_id: int) -> Listing | None:
    """The listing and its property in one query; the property's collections (photos, FAQ, amenities, documents)
    stay unloaded until something reads them."""
    return db.session.scalar(select(Listing).where(Listing.id == listing_id)
                             .options(joinedload(Listing.property).lazyload("*")))
