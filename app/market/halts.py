"""Trading halts: finance or compliance stop trading in one property, with a reason, and resume it the same way.
Halting releases every live offer on the property's listings; both sides of those offers and the sellers of its
open listings are told. The caller checks the permission (market.halt); both are audited with the reason."""
from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from app.core import audit
from app.core.db import utcnow
from app.core.errors import Conflict, NotFound, ValidationError
from app.extensions import db
from app.market import notices
from app.market.models import EXPIRED, OFFER_LIVE, OPEN, Listing, Offer, TradingHalt
from app.market.releasing import release_live_offers
from app.market.sql import changed
from app.properties.models import Property

REASON_MAX = 2_000


def _reason(reason: str | None) -> str:
    text = (reason or "").strip()
    if not text:
        raise ValidationError("a reason is required", {"reason": ["Give a reason."]})
    if len(text) > REASON_MAX:
        raise ValidationError("the reason is too long", {"reason": [f"At most {REASON_MAX} characters."]})
    return text


def _property(property_id: int) -> Property:
    p = db.session.get(Property, property_id) if isinstance(property_id, int) else None
    if p is None:
        raise NotFound("no such property")
    return p


def _open_listings(property_id: int) -> list[Listing]:
    """Locked: an offer being made on one of them (it locks its listing) either commits first, and is released
    below, or waits and then sees the halt."""
    return list(db.session.scalars(select(Listing).where(Listing.property_id == property_id,
                                                         Listing.status == OPEN).order_by(Listing.id)
                                   .with_for_update()))


def halt(actor, property_id: int, reason: str) -> TradingHalt:
    """Halt trading in the property: no listing, purchase or offer until resumed. 409 when already halted."""
    why = _reason(reason)
    p = _property(property_id)
    if db.session.scalar(select(TradingHalt.id).where(TradingHalt.property_id == p.id,
                                                      TradingHalt.resumed_at.is_(None))) is not None:
        raise Conflict(f"trading in {p.title} is already halted")
    record = TradingHalt(property_id=p.id, reason=why, halted_by_id=actor.id, halted_at=utcnow())
    try:
        with db.session.begin_nested():
            db.session.add(record)
            db.session.flush()
    except IntegrityError:  # a concurrent halt of the same property won
        raise Conflict(f"trading in {p.title} is already halted") from None
    listings = _open_listings(p.id)
    people = {listing.seller_id: listing.seller for listing in listings}
    for listing in listings:
        for offer in db.session.scalars(select(Offer).where(Offer.listing_id == listing.id,
                                                            Offer.status.in_(OFFER_LIVE))):
            people[offer.buyer_id] = offer.buyer
        release_live_offers(listing, f"trading halted: {why}", EXPIRED, tell_buyers=False)
    audit.record("market.halted", actor=actor, target=record, after={"property_id": p.id}, reason=why)
    notices.tell(people.values(), "market.halted", link=f"/market?property_id={p.id}", title=p.title, reason=why)
    return record


def resume(actor, property_id: int, reason: str) -> TradingHalt:
    """Resume trading in a halted property. 409 when it is not halted."""
    why = _reason(reason)
    p = _property(property_id)
    record = db.session.scalar(select(TradingHalt).where(TradingHalt.property_id == p.id,
                                                         TradingHalt.resumed_at.is_(None)))
    if record is None:
        raise Conflict(f"trading in {p.title} is not halted")
    done = changed(
        update(TradingHalt).where(TradingHalt.id == record.id, TradingHalt.resumed_at.is_(None))
        .values(resumed_at=utcnow(), resumed_by_id=actor.id, resume_reason=why))
    if done != 1:
        raise Conflict(f"trading in {p.title} was resumed meanwhile")
    db.session.refresh(record)
    audit.record("market.resumed", actor=actor, target=record, before={"halt_reason": record.reason},
                 after={"property_id": p.id}, reason=why)
    sellers = [listing.seller for listing in _open_listings(p.id)]
    notices.tell(sellers, "market.resumed", link=f"/market?property_id={p.id}", title=p.title, reason=why)
    return record
