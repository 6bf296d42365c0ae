"""Fixtures of the portal's market pages: a holding whose units can be listed now, a listing of it, and fee terms."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

from app.core.db import unit_of_work, utcnow
from app.core.money import Money
from app.extensions import db
from app.investing import services as investing
from app.investing.models import Investment
from app.market import services as market
from app.properties.models import Property
from tests.support import set_setting

UNIT = 10_000  # 100.00 a unit


@pytest.fixture
def market_fees(app):
    """1 % for the buyer and for the seller, at least 0.50 each; the price band 50-150 % of nominal."""
    for key, value in (("market.buyer_fee_bps", 100), ("market.buyer_fee_min", 50), ("market.seller_fee_bps", 100),
                       ("market.seller_fee_min", 50)):
        set_setting(key, value)


@pytest.fixture
def make_holding(make_property, market_fees):
    """make_holding(investor, amount="1000.00", title=None): a fully paid holding of whole 100.00 units in a
    property that allows resale, its funding window closed and lock-up over."""
    made: dict[str, Property] = {}

    def _make(user, amount: str = "1000.00", *, title: str | None = None, prop: Property | None = None):
        p = prop
        if p is None:
            fields = {"title": title} if title else {}
            p = make_property(resale_allowed=True, resale_lockup_days=0, unit_price=UNIT, min_investment=UNIT,
                              **fields)
            made[p.title] = p
        with unit_of_work():
            if p.funding_ends_at and p.funding_ends_at < utcnow():  # reopen for this investment
                db.session.execute(update(Property).where(Property.id == p.id)
                                   .values(funding_ends_at=utcnow() + timedelta(days=1)))
            inv = investing.invest(user, p.id, Money.parse(amount, p.currency), acknowledged=True,
                                   documents_version=investing.offering_version(db.session.get(Property, p.id)))
            if inv.units == 0:  # where investing does not count units yet, count them as it would
                inv.units = investing.units_in(inv.paid_amount, p.unit_price)
                db.session.execute(update(Property).where(Property.id == p.id)
                                   .values(units_sold=Property.units_sold + inv.units))
            db.session.execute(update(Property).where(Property.id == p.id)
                               .values(funding_ends_at=utcnow() - timedelta(days=1)))
        db.session.expire_all()
        return db.session.get(Investment, inv.id)

    return _make


@pytest.fixture
def make_listing():
    def _list(seller, inv: Investment, units: int = 5, price: str = "110.00"):
        with unit_of_work():
            listing = market.create_listing(seller, inv.id, units, Money.parse(price, inv.currency))
        return listing

    return _list
