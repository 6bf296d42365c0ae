"""Shared set-up for the market API tests: a property open to resale whose lock-up is over, a holding in it, a
listing of it, and the figures a refusal must leave unchanged (wallets, listings, offers, trades, holdings, ledger
entries)."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select, update

from app.core.db import unit_of_work, utcnow
from app.core.money import Money
from app.extensions import db
from app.investing import services as investing
from app.investing.models import Investment
from app.ledger import services as ledger
from app.ledger.models import JournalEntry
from app.ledger.services import platform_currency
from app.market import services as market
from app.market.models import Listing, Offer, Trade
from app.properties.models import Property

MARKET = "/api/v1/market"


def resale_property(make_property, **overrides):
    """An active property that allows resale, with no lock-up once its funding window closes."""
    return make_property(**{"resale_allowed": True, "resale_lockup_days": 0, **overrides})


def close_funding(p) -> None:
    """The funding window closed yesterday (the lock-up counts from then)."""
    p.funding_ends_at = utcnow() - timedelta(days=1)
    db.session.commit()


def holding(user, p, amount: str = "500.00") -> Investment:
    """The user's holding in `p`, invested through the service, its units counted."""
    with unit_of_work():
        inv = investing.invest(user, p.id, Money.parse(amount, platform_currency()), acknowledged=True)
        if inv.units == 0 and inv.paid_amount == inv.amount:  # where investing does not count units itself
            inv.units = investing.units_in(inv.paid_amount, p.unit_price)
            db.session.execute(update(Property).where(Property.id == p.id)
                               .values(units_sold=Property.units_sold + inv.units))
    db.session.expire_all()
    return db.session.get(Investment, inv.id)


def listed(seller, investment: Investment, units: int = 100, price: str = "1.00") -> Listing:
    with unit_of_work():
        return market.create_listing(seller, investment.id, units, Money.parse(price, platform_currency()))


def offered(buyer, listing: Listing, units: int = 10, price: str = "0.90", message: str | None = None) -> Offer:
    with unit_of_work():
        return market.make_offer(buyer, listing.id, units, Money.parse(price, platform_currency()),
                                 message=message)


def wallet(user) -> tuple[int, int]:
    """(available, held) in minor units, read afresh."""
    db.session.expire_all()
    balance = ledger.balance_of(user.id)
    return balance.available.minor, balance.held.minor


def snapshot(*users) -> dict:
    """Everything a refused call must leave as it was."""
    db.session.expire_all()

    def count(model) -> int:
        return db.session.scalar(select(func.count()).select_from(model)) or 0

    listings = db.session.execute(select(Listing.id, Listing.status, Listing.units_remaining)
                                  .order_by(Listing.id)).all()
    offers = db.session.execute(select(Offer.id, Offer.status, Offer.held_amount).order_by(Offer.id)).all()
    holdings = db.session.execute(select(Investment.id, Investment.units, Investment.units_listed)
                                  .order_by(Investment.id)).all()
    return {"wallets": [wallet(u) for u in users], "listings": [tuple(r) for r in listings],
            "offers": [tuple(r) for r in offers], "holdings": [tuple(r) for r in holdings],
            "trades": count(Trade), "entries": count(JournalEntry)}
