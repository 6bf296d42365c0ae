"""Who may list or buy what, and when: every precondition of a listing and of a purchase, with messages an investor
understands and the field they are about. Nothing here writes."""
from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import select

from app.auth.services import require_verified
from app.core.db import utcnow
from app.core.errors import Conflict, Forbidden, ValidationError
from app.core.money import Money
from app.extensions import db
from app.investing.models import ACTIVE as HOLDING_ACTIVE
from app.investing.models import DUE
from app.kyc import services as kyc
from app.market import fees
from app.market.models import OPEN, Listing, TradingHalt
from app.properties.models import ACTIVE as PROPERTY_ACTIVE
from app.properties.models import FUNDED as PROPERTY_FUNDED
from app.settings import services as settings

TRADABLE_PROPERTY = (PROPERTY_ACTIVE, PROPERTY_FUNDED)
MAX_LISTING_DAYS = 365


def lockup_ends_on(p) -> date | None:
    """The day listing opens: the funding window's close (its end, else the day it was funded) plus the property's
    lock-up (the market's default when it sets none). None while the window has no close yet."""
    closed = p.funding_ends_at or p.funded_at
    if closed is None:
        return None
    days = p.resale_lockup_days if p.resale_lockup_days is not None else settings.value("market.lockup_days")
    return (closed + timedelta(days=days)).date()


def halt_in_force(property_id: int) -> TradingHalt | None:
    return db.session.scalar(select(TradingHalt).where(TradingHalt.property_id == property_id,
                                                       TradingHalt.resumed_at.is_(None)))


def check_property(p, *, now: datetime | None = None) -> None:
    """The property's units may change hands now (409 otherwise)."""
    now = now or utcnow()
    if not p.resale_allowed:
        raise Conflict(f"{p.title} does not allow resale of its units")
    if p.status not in TRADABLE_PROPERTY:
        raise Conflict(f"{p.title} is {p.status}: its units cannot be traded")
    if halt_in_force(p.id) is not None:
        raise Conflict(f"trading in {p.title} is halted")
    ends = lockup_ends_on(p)
    if ends is None or (p.funding_ends_at is not None and p.funding_ends_at > now):
        raise Conflict(f"{p.title} is still open for funding: its units can be listed after its lock-up")
    if now.date() < ends:
        raise Conflict(f"the lock-up of {p.title} ends on {ends:%d %B %Y}: units can be listed from then")


def check_holding(investment) -> None:
    """Fully paid, active, with no installment due (409 otherwise)."""
    if investment.status != HOLDING_ACTIVE:
        raise Conflict(f"this holding is {investment.status} and cannot be listed")
    if investment.paid_amount < investment.amount or any(i.status == DUE for i in investment.installments):
        raise Conflict("this holding still has installments to pay: it can be listed once fully paid")


def check_band(price: int, unit_price: int, currency: str) -> None:
    low, high = fees.price_band(unit_price)
    if not low <= price <= high:
        lo, hi = Money(low, currency).amount_str(), Money(high, currency).amount_str()
        raise ValidationError(f"the price per unit must lie between {lo} and {hi} {currency}",
                              {"price_per_unit": [f"Between {lo} and {hi} {currency}."]})


def check_fee_below(quote) -> None:
    """The seller's fee must be smaller than the trade (the smallest trade is one unit that pays more than it)."""
    if quote.seller_fee >= quote.amount:
        fee = Money(quote.seller_fee, quote.currency).amount_str()
        raise ValidationError(f"the seller's fee ({fee} {quote.currency}) would take the whole trade: "
                              "sell more units or at a higher price", {"units": ["Too small a trade for its fee."]})


def check_listable(user, investment, units, price_per_unit) -> fees.Quote:
    """Everything a listing needs: the user's own holding (the caller looks it up), the seller verified and
    approved for withdrawing, the property tradable, the holding fully paid with `units` free, the price in the
    band, a trade bigger than its fee. Returns the quote at today's fees."""
    fees.check_units(units)
    p = investment.property
    price = fees.check_price(price_per_unit, p.currency)
    require_verified(user)
    kyc.require_approved(user, kyc.WITHDRAW)
    check_property(p)
    check_holding(investment)
    free = investment.units - investment.units_listed
    if units > free:
        detail = f"{free} of its {investment.units} units are free to list" if free else "all of its units are listed"
        raise Conflict(f"this holding cannot list {units} units: {detail}",
                       {"units": [f"At most {free} units." if free else "No units left to list."]})
    check_band(price, p.unit_price, p.currency)
    quote = fees.listing_quote(investment, units, price)
    check_fee_below(quote)
    return quote


def check_expiry(expires_at: datetime | None, now: datetime | None = None) -> datetime:
    """The listing's expiry: the default number of days from now, or a moment in the next 365 days."""
    now = now or utcnow()
    if expires_at is None:
        return now + timedelta(days=settings.value("market.listing_days"))
    if not isinstance(expires_at, datetime) or expires_at.tzinfo is None:
        raise ValidationError("an expiry is a date and time in UTC", {"expires_at": ["A date and time in UTC."]})
    if expires_at <= now:
        raise ValidationError("the expiry must be in the future", {"expires_at": ["Must be in the future."]})
    if expires_at > now + timedelta(days=MAX_LISTING_DAYS):
        raise ValidationError(f"a listing lasts at most {MAX_LISTING_DAYS} days",
                              {"expires_at": [f"At most {MAX_LISTING_DAYS} days from now."]})
    return expires_at


def check_open(listing: Listing, now: datetime | None = None) -> None:
    now = now or utcnow()
    if listing.status != OPEN:
        raise Conflict(f"this listing is {listing.status}")
    if listing.expires_at <= now:
        raise Conflict("this listing has expired")


def check_buyer(user, listing: Listing, units) -> None:
    """The buyer verified and approved for investing, not the seller; the listing open with `units` left; the
    property still tradable (resale allowed, not halted)."""
    fees.check_units(units)
    if user.id == listing.seller_id:
        raise Forbidden("you cannot buy your own units", {"units": ["These are your own units."]})
    require_verified(user)
    kyc.require_approved(user, kyc.INVEST)
    check_open(listing)
    p = listing.property
    if not p.resale_allowed:
        raise Conflict(f"{p.title} does not allow resale of its units")
    if p.status not in TRADABLE_PROPERTY:
        raise Conflict(f"{p.title} is {p.status}: its units cannot be traded")
    if halt_in_force(p.id) is not None:
        raise Conflict(f"trading in {p.title} is halted")
    if units > listing.units_remaining:
        raise Conflict(f"only {listing.units_remaining} units of this listing remain",
                       {"units": [f"At most {listing.units_remaining}."]})
