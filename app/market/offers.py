"""Offers on listings. Releasing the live offers of a listing that closes (cancelled, expired, sold out, halted):
each offer leaves its live state once (a conditional UPDATE) and its hold goes back to the buyer's wallet once."""
from __future__ import annotations

from sqlalchemy import select, update

from app.core.db import utcnow
from app.extensions import db
from app.ledger import services as ledger
from app.ledger.models import Hold
from app.market.models import EXPIRED, OFFER_LIVE, Offer
from app.market.sql import changed


def release_live_offers(listing, reason: str, status: str = EXPIRED) -> int:
    """Close every live offer of `listing` with `status` and give its held money back. Returns how many."""
    now = utcnow()
    released = 0
    offers = db.session.scalars(select(Offer).where(Offer.listing_id == listing.id, Offer.status.in_(OFFER_LIVE))
                                .order_by(Offer.id)).all()
    for offer in offers:
        claimed = changed(
        update(Offer).where(Offer.id == offer.id, Offer.status.in_(OFFER_LIVE))
            .values(status=status, resolved_at=now, resolution_reason=reason[:500]))
        if claimed != 1:
            continue  # settled or closed meanwhile by someone else
        if offer.hold_id is not None:
            hold = db.session.get(Hold, offer.hold_id)
            if hold is not None:
                ledger.release(hold, key=f"market:offer:{offer.id}:release", memo=f"Offer #{offer.id}: {reason}"[:500])
        db.session.refresh(offer)
        released += 1
    return released
