"""Market fixtures. `tradable` is a holding that can be listed at once: a property allowing resale, its funding
window closed long ago, no lock-up, and an active, fully paid holding of 20 units of 100.00 (its seller verified,
identity approved, with money left in the wallet). `make_tradable` makes more, with options."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

from app.core.db import unit_of_work, utcnow
from app.core.money import Money
from app.extensions import db
from app.investing import services as investing
from app.investing.models import Investment
from app.properties.models import Property

UNIT_PRICE = 10_000  # 100.00


@pytest.fixture
def make_tradable(make_property, make_investor):
    """make_tradable(units=20, unit_price=10_000, seller=None, balance="10000.00", **property columns) ->
    (seller, investment, property)."""

    def _make(*, units: int = 20, unit_price: int = UNIT_PRICE, seller=None, balance: str = "10000.00",
              **columns):
        options = {"resale_allowed": True, "resale_lockup_days": 0, "unit_price": unit_price,
                   "min_investment": unit_price, "max_investment": max(units * unit_price, 1_000_000), **columns}
        p = make_property(**options)
        seller = seller or make_investor(balance)
        with unit_of_work():
            inv = investing.invest(seller, p.id, Money(units * unit_price, p.currency), acknowledged=True)
            if inv.units == 0:  # where investing does not count units yet, count them as it would
                inv.units = investing.units_in(inv.paid_amount, p.unit_price)
                db.session.execute(update(Property).where(Property.id == p.id)
                                   .values(units_sold=Property.units_sold + inv.units))
            long_ago = utcnow() - timedelta(days=400)
            db.session.execute(update(Property).where(Property.id == p.id).values(
                funding_starts_at=long_ago - timedelta(days=30), funding_ends_at=long_ago))
        db.session.expire_all()
        return seller, db.session.get(Investment, inv.id), db.session.get(Property, p.id)

    return _make


@pytest.fixture
def tradable(make_tradable):
    """(seller, investment, property): 20 units of 100.00, listable now."""
    return make_tradable()
