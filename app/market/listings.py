"""Listings: an investor offers units of a holding at an asking price until an expiry.

Listed units are reserved on the holding (`units_listed`) by a conditional UPDATE, so two listings can never
reserve the same units; cancelling or expiry frees what is unsold and releases the live offers, exactly once
(the listing leaves `open` by a conditional UPDATE; whoever loses that race is told the listing's state).
Lock order: the listing row, then the holding's row, then offers and ledger accounts."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update

from app.core.db import utcnow
from app.core.errors import Conflict, NotFound
from app.core.money import Money
from app.extensions import db
from app.investing import services as investing
from app.investing.models import ACTIVE as HOLDING_ACTIVE
from app.investing.models import Investment
from app.market import fees, notices, rules
from app.market.models import CANCELLED, EXPIRED, OPEN, REJECTED, Listing
from app.market.releasing import release_live_offers
from app.market.sql import changed

EXPIRE_BATCH = 500


def create_listing(user, investment_id: int, units: int, price_per_unit: Money,
                   expires_at: datetime | None = None) -> Listing:
    """List `units` of the user's holding at `price_per_unit`. 404 for someone else's holding; 403 unverified or
    without KYC for withdrawing; 409 when the property or holding cannot trade or the units are taken; 422 for a
    price outside the band, a bad unit count or expiry."""
    fees.check_units(units)
    inv = investing.get_for_user(investment_id, user)
    quote = rules.check_listable(user, inv, units, price_per_unit)
    now = utcnow()
    expires = rules.check_expiry(expires_at, now)
    reserved = changed(
        update(Investment).where(Investment.id == inv.id, Investment.status == HOLDING_ACTIVE,
                                 Investment.units - Investment.units_listed >= units)
        .values(units_listed=Investment.units_listed + units))
    if reserved != 1:
        db.session.refresh(inv)
        free = max(inv.units - inv.units_listed, 0)
        raise Conflict(f"these units are already listed: {free} of this holding's units are free",
                       {"units": [f"At most {free} units." if free else "No units left to list."]})
    p = inv.property
    listing = Listing(property_id=p.id, investment_id=inv.id, seller_id=user.id, currency=p.currency, units=units,
                      units_remaining=units, unit_price=p.unit_price, price_per_unit=quote.price_per_unit,
                      status=OPEN, expires_at=expires, created_at=now, **fees.fee_terms())
    db.session.add(listing)
    db.session.flush()
    db.session.refresh(inv)
    notices.tell([user], "market.listed", link=f"/market/listings/{listing.id}",
                 **notices.listing_context(listing, net=notices.amount(quote.seller_net, quote.currency),
                                           fee=notices.amount(quote.seller_fee, quote.currency)))
    return listing


def _close(listing: Listing, status: str, reason: str, now: datetime) -> bool:
    """Move an open listing to `status`, free its unsold units, release its live offers. False when it was no
    longer open (another transaction closed or sold it first)."""
    row = db.session.execute(
        update(Listing).where(Listing.id == listing.id, Listing.status == OPEN)
        .values(status=status, closed_at=now, close_reason=reason[:500])
        .returning(Listing.units_remaining, Listing.investment_id)
        .execution_options(synchronize_session=False)).first()
    if row is None:
        db.session.refresh(listing)
        return False
    remaining, investment_id = row
    db.session.execute(update(Investment).where(Investment.id == investment_id)
                       .values(units_listed=Investment.units_listed - remaining)
                       .execution_options(synchronize_session=False))
    db.session.refresh(listing)
    release_live_offers(listing, reason, REJECTED if status == CANCELLED else EXPIRED)
    return True


def cancel_listing(user, listing_id: int, reason: str | None = None) -> Listing:
    """The seller withdraws what is unsold. 404 for anyone else; 409 when it is no longer open."""
    listing = db.session.get(Listing, listing_id)
    if listing is None or listing.seller_id != user.id:
        raise NotFound("no such listing")
    if listing.status != OPEN:
        raise Conflict(f"this listing is {listing.status} and cannot be cancelled")
    why = (reason or "").strip()[:500] or "cancelled by the seller"
    if not _close(listing, CANCELLED, why, utcnow()):
        raise Conflict(f"this listing is {listing.status} and cannot be cancelled")
    notices.tell([user], "market.listing_cancelled", link=f"/market/listings/{listing.id}",
                 **notices.listing_context(listing, reason=why))
    return listing


def expire_listings(now: datetime | None = None) -> int:
    """Close the open listings whose expiry has passed (a batch per call). Returns how many this call closed."""
    now = now or utcnow()
    due = db.session.scalars(select(Listing).where(Listing.status == OPEN, Listing.expires_at <= now)
                             .order_by(Listing.expires_at, Listing.id).limit(EXPIRE_BATCH)).all()
    closed = 0
    for listing in due:
        if _close(listing, EXPIRED, "the listing expired", now):
            closed += 1
            notices.tell([listing.seller], "market.listing_expired", link=f"/market/listings/{listing.id}",
                         **notices.listing_context(listing))
    return closed
