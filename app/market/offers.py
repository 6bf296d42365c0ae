"""Prefunded offers on a listing: make, counter, accept, reject, withdraw, expire.

Making an offer holds its whole cost (price x units + the buyer's fee on the listing's fee terms) from the buyer's
wallet through the ledger's holds; from then on the offer always points at one pending hold of exactly
`held_amount`. A counter-offer by the seller changes nothing held; the buyer's counter back (or accepting a dearer
counter) releases the old hold and holds the new cost. Accepting settles the trade from the hold at once
(settlement.settle_trade; a cheaper counter's excess goes back to the wallet). Every way out of the live states is
one conditional UPDATE of the offer's status, so a hold is settled or released exactly once (see releasing.py).

Lock order, shared with listings and settlement: the listing row, then the offer, then the seller's holding, then
the ledger accounts. Making and accepting an offer lock the listing first, so they serialise with cancelling,
expiring and buying from it (an offer is never left live on a closed listing)."""
from __future__ import annotations

import unicodedata
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from app.auth.models import User
from app.core.db import utcnow
from app.core.errors import Conflict, Forbidden, InsufficientFunds, NotFound, ValidationError
from app.core.money import Money
from app.extensions import db
from app.ledger import services as ledger
from app.ledger.models import USER_WALLET, Account, Hold
from app.market import fees, rules, settlement
from app.market.models import (
    ACCEPTED,
    COUNTERED,
    EXPIRED,
    MESSAGE_MAX,
    OFFER_LIVE,
    OPEN,
    REJECTED,
    WITHDRAWN,
    Listing,
    Offer,
    Trade,
)
from app.market.releasing import claim, end_offer, hold_key, release_key, release_live_offers, tell
from app.payments.services import guard_card_funds
from app.settings.services import value as setting

__all__ = ["MESSAGE_MAX", "accept_offer", "clean_message", "counter_offer", "expire_offers", "make_offer",
           "reject_offer", "release_live_offers", "withdraw_offer"]

MAX_UNITS = 10**9
EXPIRE_BATCH = 500
_KEPT_CONTROLS = {"\n", "\t"}


# checking what people send -----------------------------------------------------------------------------------------
def clean_message(message: str | None) -> str | None:
    """A message as plain text: stripped, line ends made \\n, at most MESSAGE_MAX characters, no control or
    formatting characters (bidirectional overrides, zero-width characters) besides new lines and tabs. Markup is
    kept as the characters typed (every page escapes it). Empty: None."""
    if message is None:
        return None
    if not isinstance(message, str):
        raise ValidationError("the message must be text", {"message": ["Must be text."]})
    text = message.replace("\r\n", "\n").replace("\r", "\n").strip()
    if not text:
        return None
    if len(text) > MESSAGE_MAX:
        raise ValidationError(f"the message is longer than {MESSAGE_MAX} characters",
                              {"message": [f"At most {MESSAGE_MAX} characters."]})
    if any(unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co", "Cn") and c not in _KEPT_CONTROLS for c in text):
        raise ValidationError("the message contains control characters",
                              {"message": ["Only plain text: no control or invisible formatting characters."]})
    return text


def _units(units: object) -> int:
    if isinstance(units, bool) or not isinstance(units, int) or units <= 0 or units > MAX_UNITS:
        raise ValidationError("units must be a whole number from 1", {"units": ["A whole number of units from 1."]})
    return units


def _price(listing: Listing, price: object) -> int:
    """The price per unit in minor units: Money of the listing's currency, within the price band."""
    if not isinstance(price, Money):
        raise ValidationError("a price per unit is required", {"price_per_unit": ["A price per unit is required."]})
    if price.currency != listing.currency:
        raise ValidationError(f"the price must be in {listing.currency}",
                              {"price_per_unit": [f"The price must be in {listing.currency}."]})
    low, high = fees.price_band(listing.unit_price)
    if not low <= price.minor <= high:
        band = f"{Money(low, listing.currency).display()} to {Money(high, listing.currency).display()}"
        raise ValidationError(f"the price per unit must be from {band}",
                              {"price_per_unit": [f"From {band} per unit."]})
    return price.minor


def _quote(listing: Listing, units: int, price: int) -> fees.Quote:
    """The cost at `price` under the listing's fee terms; a trade its seller's fee would swallow is refused."""
    quote = fees.quote(listing, units, price)
    if quote.seller_fee >= quote.amount:
        raise ValidationError("the seller's fee would take the whole trade: offer more units or a higher price",
                              {"price_per_unit": ["Too small a trade for its fee."]})
    return quote


def _expiry(listing: Listing, expires_at: object, now: datetime) -> datetime:
    """The offer's expiry: market.offer_days from now by default, never after the listing's own expiry."""
    if expires_at is None:
        when = now + timedelta(days=setting("market.offer_days"))
    elif not isinstance(expires_at, datetime) or expires_at.tzinfo is None:
        raise ValidationError("the expiry must be a date and time with its time zone",
                              {"expires_at": ["A date and time with its time zone."]})
    elif expires_at <= now:
        raise ValidationError("the expiry must be in the future", {"expires_at": ["Must be in the future."]})
    else:
        when = expires_at
    return min(when, listing.expires_at)


# finding things ----------------------------------------------------------------------------------------------------
def _lock_listing(listing_id: int) -> Listing:
    """The listing, its row locked for this transaction (refreshed from the database)."""
    if isinstance(listing_id, bool) or not isinstance(listing_id, int):
        raise NotFound("no such listing")
    listing = db.session.scalar(select(Listing).where(Listing.id == listing_id)
                                .with_for_update().execution_options(populate_existing=True))
    if listing is None:
        raise NotFound("no such listing")
    return listing


def _open(listing: Listing, now: datetime) -> None:
    """The listing open, unexpired, its property not halted."""
    if listing.status != OPEN or listing.expires_at <= now:
        raise Conflict("the listing is no longer open")
    if rules.halt_in_force(listing.property_id) is not None:
        raise Conflict("trading in this property is halted")


def _offer_for(user: User, offer_id: object) -> Offer:
    """An offer the user is a party to (its buyer or its listing's seller), freshly read; anyone else: NotFound."""
    if isinstance(offer_id, bool) or not isinstance(offer_id, int):
        raise NotFound("no such offer")
    offer = db.session.scalar(select(Offer).where(Offer.id == offer_id)
                              .execution_options(populate_existing=True))
    if offer is None or user.id not in (offer.buyer_id, offer.listing.seller_id):
        raise NotFound("no such offer")
    return offer


def _live(offer: Offer, now: datetime) -> None:
    if offer.status not in OFFER_LIVE:
        raise Conflict(f"the offer is {offer.status}")
    if offer.expires_at <= now:
        raise Conflict("the offer has expired")


def _afford(user_id: int, amount: int, currency: str, held: int = 0) -> None:
    """Refuse, before anything moves, what the wallet (plus what this offer holds already) cannot cover."""
    wallet = ledger.user_account(user_id, USER_WALLET)
    have = (db.session.scalar(select(Account.balance).where(Account.id == wallet.id)) or 0) + held
    if have < amount:
        need, can = Money(amount, currency).display(), Money(max(have, 0), currency).display()
        raise InsufficientFunds(f"this offer needs {need} held (price plus fee) and your wallet has {can}: "
                                "add money to your wallet first", {"price_per_unit": [f"Needs {need}; you have {can}."]})


def _rehold(offer: Offer, amount: int) -> None:
    """Replace the offer's pending hold by one of `amount`: release the old one, hold the new (both keyed)."""
    _afford(offer.buyer_id, amount, offer.currency, held=offer.held_amount)
    old = db.session.get(Hold, offer.hold_id) if offer.hold_id is not None else None
    if old is not None:
        ledger.release(old, key=release_key(offer.id, old.id),
                       memo=f"Offer #{offer.id}: the hold is replaced by one at the new price")
    record = ledger.hold(offer.buyer_id, amount, key=hold_key(offer.id, old.id if old is not None else None),
                         memo=f"Offer #{offer.id} on listing #{offer.listing_id}")
    offer.hold_id, offer.held_amount = record.id, amount
    db.session.flush()
    guard_card_funds(offer.buyer_id, amount, debited=True, field="price_per_unit", market=True)


# the service -------------------------------------------------------------------------------------------------------
def make_offer(user: User, listing_id: int, units: int, price_per_unit: Money, expires_at: datetime | None = None,
               message: str | None = None) -> Offer:
    """Offer `price_per_unit` for `units` of the listing; the whole cost is held from the buyer's wallet now."""
    count = _units(units)
    now = utcnow()
    listing = _lock_listing(listing_id)
    _open(listing, now)
    rules.check_buyer(user, listing, count)
    if count > listing.units_remaining:
        raise Conflict(f"only {listing.units_remaining} unit(s) remain", {"units": ["More units than remain."]})
    price = _price(listing, price_per_unit)
    text = clean_message(message)
    when = _expiry(listing, expires_at, now)
    if db.session.scalar(select(Offer.id).where(Offer.listing_id == listing.id, Offer.buyer_id == user.id,
                                                Offer.status.in_(OFFER_LIVE))) is not None:
        raise Conflict("you already have an offer on this listing: change or withdraw it")
    quote = _quote(listing, count, price)
    _afford(user.id, quote.buyer_total, listing.currency)
    offer = Offer(listing_id=listing.id, buyer_id=user.id, currency=listing.currency, units=count,
                  price_per_unit=price, buyer_fee=quote.buyer_fee, held_amount=quote.buyer_total, status=OPEN,
                  expires_at=when, buyer_message=text, created_at=now)
    db.session.add(offer)
    db.session.flush()
    record = ledger.hold(user.id, quote.buyer_total, key=hold_key(offer.id),
                         memo=f"Offer #{offer.id} on listing #{listing.id}")
    offer.hold_id = record.id
    db.session.flush()
    # card money inside its hold is not spent on the market: checked with the wallet locked by the hold
    guard_card_funds(user.id, quote.buyer_total, debited=True, field="price_per_unit", market=True)
    tell(listing.seller, offer, listing, "market.offer_received", message=text)
    return offer


def counter_offer(user: User, offer_id: int, price_per_unit: Money, message: str | None = None) -> Offer:
    """The seller counters an open offer (it waits for the buyer), or the buyer counters a counter-offer back
    (a new price: the hold follows it, and the offer is open for the seller again)."""
    offer = _offer_for(user, offer_id)
    now = utcnow()
    listing = offer.listing
    _live(offer, now)
    _open(listing, now)
    price = _price(listing, price_per_unit)
    text = clean_message(message)
    if user.id == listing.seller_id:
        if offer.status != OPEN:
            raise Conflict("the buyer has not answered your counter-offer yet")
        if price == offer.price_per_unit:
            raise ValidationError("a counter-offer needs another price: accept the offer instead",
                                  {"price_per_unit": ["The offer's own price: accept it instead."]})
        _quote(listing, offer.units, price)
        claim(offer, (OPEN,), status=COUNTERED, counter_price_per_unit=price, countered_by_id=user.id,
              countered_at=now, seller_message=text)
        tell(offer.buyer, offer, listing, message=text)
        return offer
    if offer.status != COUNTERED:
        raise Conflict("the seller has not countered your offer: change it by withdrawing and offering again")
    if price == offer.counter_price_per_unit:
        raise ValidationError("that is the seller's price: accept the counter-offer instead",
                              {"price_per_unit": ["The seller's price: accept the counter-offer instead."]})
    quote = _quote(listing, offer.units, price)
    claim(offer, (COUNTERED,), status=OPEN, price_per_unit=price, buyer_fee=quote.buyer_fee,
          counter_price_per_unit=None, countered_by_id=None, countered_at=None, buyer_message=text)
    _rehold(offer, quote.buyer_total)
    tell(listing.seller, offer, listing, message=text)
    return offer


def accept_offer(user: User, offer_id: int, message: str | None = None) -> Trade:
    """The seller accepts an open offer at its price, or the buyer the seller's counter at the counter price: the
    trade settles at once from the hold (topped up first when the counter costs more than is held)."""
    found = _offer_for(user, offer_id)
    listing = _lock_listing(found.listing_id)
    offer = _offer_for(user, found.id)  # read again under the listing's lock
    now = utcnow()
    text = clean_message(message)
    seller = user.id == listing.seller_id
    if offer.status == OPEN and not seller:
        raise Forbidden("only the seller accepts an open offer")
    if offer.status == COUNTERED and seller:
        raise Conflict("the offer waits for the buyer's answer to your counter-offer")
    _live(offer, now)
    _open(listing, now)
    expected = offer.status
    price = offer.price_per_unit if expected == OPEN or offer.counter_price_per_unit is None \
        else offer.counter_price_per_unit
    quote = fees.quote(listing, offer.units, price)
    said: dict[str, Any] = {"seller_message" if seller else "buyer_message": text} if text else {}
    claim(offer, (expected,), status=ACCEPTED, price_per_unit=price, buyer_fee=quote.buyer_fee, resolved_at=now,
          resolution_reason="accepted by the seller" if seller else "the buyer accepted the counter-offer", **said)
    if quote.buyer_total > offer.held_amount:
        _rehold(offer, quote.buyer_total)
    record = db.session.get(Hold, offer.hold_id)
    trade = settlement.settle_trade(listing, buyer=offer.buyer, units=offer.units, price_per_unit=price,
                                    key=f"market:offer:{offer.id}", hold=record, offer=offer)
    offer.trade_id, offer.held_amount = trade.id, 0
    db.session.flush()
    tell(offer.buyer if seller else listing.seller, offer, listing, "market.offer_accepted", message=text,
         trade_id=trade.id)
    return trade


def reject_offer(user: User, offer_id: int, message: str | None = None) -> Offer:
    """The seller rejects an open offer, or the buyer declines the seller's counter-offer; the hold is released."""
    offer = _offer_for(user, offer_id)
    text = clean_message(message)
    seller = user.id == offer.listing.seller_id
    wanted = OPEN if seller else COUNTERED
    if offer.status != wanted:
        raise Conflict(f"the offer is {offer.status}: " + (
            "it waits for the buyer" if seller and offer.status == COUNTERED else
            "withdraw it instead" if not seller and offer.status == OPEN else "it can no longer be rejected"))
    said: dict[str, Any] = {"seller_message" if seller else "buyer_message": text} if text else {}
    reason = "rejected by the seller" if seller else "the buyer declined the counter-offer"
    amount = end_offer(offer, REJECTED, reason, expected=(wanted,), **said)
    tell(offer.buyer if seller else offer.listing.seller, offer, offer.listing, message=text, reason=reason,
         held=amount)
    return offer


def withdraw_offer(user: User, offer_id: int) -> Offer:
    """The buyer withdraws a live offer; the hold is released."""
    offer = _offer_for(user, offer_id)
    if user.id != offer.buyer_id:
        raise Forbidden("only the buyer withdraws an offer: reject it instead")
    if offer.status not in OFFER_LIVE:
        raise Conflict(f"the offer is {offer.status}")
    amount = end_offer(offer, WITHDRAWN, "withdrawn by the buyer")
    tell(offer.listing.seller, offer, offer.listing, held=amount)
    return offer


def expire_offers(now: datetime | None = None) -> int:
    """End every live offer past its expiry (the beat job, every minute), releasing each hold once; both sides are
    told. At most EXPIRE_BATCH a run (the next minute's run takes the rest). Returns how many expired."""
    now = now or utcnow()
    due = db.session.scalars(select(Offer).where(Offer.status.in_(OFFER_LIVE), Offer.expires_at <= now)
                             .order_by(Offer.expires_at, Offer.id).limit(EXPIRE_BATCH)).all()
    expired = 0
    for offer in due:
        try:
            amount = end_offer(offer, EXPIRED, "expired", now=now)
        except Conflict:
            continue  # accepted, withdrawn or released meanwhile
        expired += 1
        tell([offer.buyer, offer.listing.seller], offer, offer.listing, held=amount)
    return expired
