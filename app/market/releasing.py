"""Ending offers without a trade: the status change and the release of the held money, exactly once.

An offer leaves its live states (open, countered) by one conditional UPDATE of its status; only the transaction
whose UPDATE matched releases the offer's pending hold (app.ledger.services.release, with a key derived from the
hold), so a withdrawal racing a rejection, an expiry or a listing closing releases the money once. Settlement
(a listing selling out), listings (cancelled, expired) and halts call `release_live_offers`; offers.py builds on
the rest. This module imports no other market service, so any of them may import it."""
from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, select, update

from app.core.db import utcnow
from app.core.errors import Conflict
from app.core.money import Money
from app.extensions import db
from app.ledger import services as ledger
from app.ledger.models import Hold
from app.market.models import (
    ACCEPTED,
    COUNTERED,
    EXPIRED,
    OFFER_LIVE,
    OPEN,
    REJECTED,
    WITHDRAWN,
    Listing,
    Offer,
)
from app.notifications.services import notify

# the event that tells the other side an offer ended this way
EVENTS = {
    EXPIRED: "market.offer_expired",
    REJECTED: "market.offer_rejected",
    WITHDRAWN: "market.offer_withdrawn",
    ACCEPTED: "market.offer_accepted",
    COUNTERED: "market.offer_countered",
    OPEN: "market.offer_countered",  # the buyer countered the seller's counter: the offer is open again
}
ENDED = (EXPIRED, REJECTED, WITHDRAWN)
OFFERS_LINK = "/market/offers"


def hold_key(offer_id: int, after_hold_id: int | None = None) -> str:
    """The idempotency key of an offer's hold: the first one, or the one replacing hold `after_hold_id`."""
    base = f"market:offer:{offer_id}:hold"
    return base if after_hold_id is None else f"{base}:after:{after_hold_id}"


def release_key(offer_id: int, hold_id: int) -> str:
    return f"market:offer:{offer_id}:release:{hold_id}"


def claim(offer: Offer, expected: tuple[str, ...], *, now: datetime | None = None, **values: Any) -> None:
    """Move `offer` out of `expected` (a conditional UPDATE: the row lock serialises racers, the loser matches no
    row and gets Conflict) and set `values`; the instance is refreshed. With `now`, only an offer expired by then."""
    condition = [Offer.id == offer.id, Offer.status.in_(expected)]
    if now is not None:
        condition.append(Offer.expires_at <= now)
    matched = cast("CursorResult[Any]", db.session.execute(
        update(Offer).where(*condition).values(**values).execution_options(synchronize_session=False)
    )).rowcount
    db.session.refresh(offer)
    if matched != 1:
        raise Conflict(f"the offer is {offer.status} and can no longer be changed")


def release_hold(offer: Offer, memo: str) -> None:
    """Give the offer's pending hold back to the buyer's wallet (a replay of the same release is a no-op)."""
    if offer.hold_id is None:
        return
    record = db.session.get(Hold, offer.hold_id)
    if record is not None:
        ledger.release(record, key=release_key(offer.id, record.id), memo=memo)


def end_offer(offer: Offer, status: str, reason: str, *, expected: tuple[str, ...] = OFFER_LIVE,
              now: datetime | None = None, **values: Any) -> int:
    """Claim the offer into `status` (rejected, withdrawn, expired) and release its hold, once. Returns the
    amount released."""
    at = utcnow()
    released = offer.held_amount
    claim(offer, expected, now=now, status=status, resolved_at=at, resolution_reason=reason[:500], held_amount=0,
          **values)
    release_hold(offer, f"Offer #{offer.id} {status}: the held money is back in the wallet")
    return released


def context(offer: Offer, listing: Listing, *, message: str | None = None, held: int | None = None,
            **extra: Any) -> dict[str, Any]:
    """What the market's offer notifications are given (plain data; amounts as decimal strings beside
    `currency`): `price` is the price on the table (the seller's counter while the offer is countered)."""
    def amount(minor: int | None) -> str | None:
        return None if minor is None else Money(minor, offer.currency).amount_str()

    price = offer.counter_price_per_unit if offer.status == COUNTERED else offer.price_per_unit
    held = offer.held_amount if held is None else held
    return {
        "title": listing.property.title, "offer_id": offer.id, "listing_id": listing.id, "units": offer.units,
        "currency": offer.currency, "price": amount(price), "offered": amount(offer.price_per_unit),
        "held": amount(held) if held else None, "status": offer.status, "message": message,
        "expires": offer.expires_at.strftime("%Y-%m-%d %H:%M UTC"), **extra,
    }


def tell(recipient: Any, offer: Offer, listing: Listing, event: str | None = None, **extra: Any) -> None:
    notify(recipient, event or EVENTS[offer.status], link=OFFERS_LINK, **context(offer, listing, **extra))


def release_live_offers(listing: Listing, reason: str, status: str = EXPIRED, *, tell_buyers: bool = True) -> int:
    """End every live offer of `listing` (it sold out, was cancelled, expired or trading was halted) with
    `status` (rejected or expired), releasing each hold exactly once; tell each buyer unless `tell_buyers` is
    False (a halt tells both sides itself). Returns how many offers were released. The caller holds the listing."""
    if status not in ENDED:
        raise ValueError(f"offers end as {ENDED}, not {status!r}")
    live = db.session.scalars(
        select(Offer).where(Offer.listing_id == listing.id, Offer.status.in_(OFFER_LIVE)).order_by(Offer.id)
    ).all()
    released = 0
    for offer in live:
        try:
            amount = end_offer(offer, status, reason)
        except Conflict:
            continue  # ended by someone else meanwhile (withdrawn, accepted): its hold is theirs to resolve
        released += 1
        if tell_buyers:
            tell(offer.buyer, offer, listing, reason=reason, held=amount)
    return released
