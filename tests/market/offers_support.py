"""Helpers of the offer tests: a listing to offer on, what wallets and holds hold, the fee terms in force."""
from __future__ import annotations

from sqlalchemy import func, select

from app.core.db import unit_of_work
from app.core.money import Money
from app.extensions import db
from app.ledger.models import FEE_REVENUE, Account, Hold, JournalEntry
from app.ledger.services import balance_of
from app.market import services as market
from app.market.models import Listing, Offer
from tests.support import set_setting

# fee terms of the offer tests: 1.5 % for the buyer (at least 0.50), 1 % for the seller (at least 0.50)
BUYER_BPS, SELLER_BPS, FEE_MIN = 150, 100, 50


def fee_terms() -> None:
    set_setting("market.buyer_fee_bps", BUYER_BPS)
    set_setting("market.buyer_fee_min", FEE_MIN)
    set_setting("market.seller_fee_bps", SELLER_BPS)
    set_setting("market.seller_fee_min", FEE_MIN)


def half_even_fee(amount: int, bps: int) -> int:
    """amount x bps / 10,000 rounded half-even to the cent, at least FEE_MIN (written out, not the service's)."""
    quotient, rest = divmod(amount * bps, 10_000)
    if rest * 2 > 10_000 or (rest * 2 == 10_000 and quotient % 2 == 1):
        quotient += 1
    return max(quotient, FEE_MIN)


def buyer_cost(units: int, price: int) -> int:
    return units * price + half_even_fee(units * price, BUYER_BPS)


def seller_net(units: int, price: int) -> int:
    return units * price - half_even_fee(units * price, SELLER_BPS)


def list_units(seller, investment, units: int, price: int | None = None, **kwargs) -> Listing:
    prop = investment.property
    with unit_of_work():
        return market.create_listing(seller, investment.id, units, Money(price or prop.unit_price, prop.currency),
                                     **kwargs)


def money(listing: Listing, minor: int) -> Money:
    return Money(minor, listing.currency)


def offer_on(buyer, listing: Listing, units: int, price: int, **kwargs) -> Offer:
    with unit_of_work():
        return market.make_offer(buyer, listing.id, units, money(listing, price), **kwargs)


def wallet(user) -> int:
    db.session.expire_all()
    return balance_of(user.id).available.minor


def held(user) -> int:
    db.session.expire_all()
    return balance_of(user.id).held.minor


def fee_revenue() -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.coalesce(func.sum(Account.balance), 0)).where(Account.kind == FEE_REVENUE))


def fresh(model, ident):
    db.session.expire_all()
    return db.session.get(model, ident)


def hold_of(offer: Offer) -> Hold:
    offer = fresh(Offer, offer.id)
    return db.session.get(Hold, offer.hold_id)


def entries(kind: str) -> int:
    return db.session.scalar(select(func.count()).select_from(JournalEntry).where(JournalEntry.kind == kind))


def offer_holds(offer_id: int) -> list[Hold]:
    """Every hold ever made for the offer (its first and those replacing it), oldest first."""
    keys = select(JournalEntry.id).where(JournalEntry.idempotency_key.like(f"market:offer:{offer_id}:hold%"))
    return list(db.session.scalars(select(Hold).where(Hold.hold_entry_id.in_(keys)).order_by(Hold.id)))


def stray_holds() -> list[Hold]:
    """Pending holds of offers that no live offer points at: money held for nothing (must be none)."""
    from app.ledger.models import HOLD_PENDING
    from app.market.models import OFFER_LIVE

    db.session.expire_all()
    live = select(Offer.hold_id).where(Offer.status.in_(OFFER_LIVE), Offer.hold_id.is_not(None))
    offer_entries = select(JournalEntry.id).where(JournalEntry.idempotency_key.like("market:offer:%"))
    return list(db.session.scalars(select(Hold).where(Hold.status == HOLD_PENDING, Hold.id.not_in(live),
                                                      Hold.hold_entry_id.in_(offer_entries))))
