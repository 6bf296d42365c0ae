"""Trades written as rows (the listing sold, the trade settled) at a chosen price and time, for the tests of what
is read from trades (surveillance, the console's tape): settlement itself is tested with the market's services."""
from __future__ import annotations

import itertools
from datetime import datetime, timedelta

from app.auth.models import LoginAttempt
from app.core.db import unit_of_work, utcnow
from app.core.money import Money
from app.extensions import db
from app.investing import services as investing
from app.market.models import SOLD, Listing, Trade

_keys = itertools.count(1)


def holding(user, p, amount: str = "200.00"):
    """An investment of `user` in the open property `p`, bought through the investing services."""
    with unit_of_work():
        return investing.invest(user, p.id, Money.parse(amount, p.currency), acknowledged=True)


def trade_row(p, *, seller, buyer, seller_investment, units: int = 1, price: int | None = None,
              unit_price: int | None = None, settled_at: datetime | None = None) -> Trade:
    """A settled trade of `units` at `price` a unit (minor units; default the nominal value), committed."""
    nominal = unit_price or p.unit_price
    price = price or nominal
    when = settled_at or utcnow()
    with unit_of_work():
        listing = Listing(property_id=p.id, investment_id=seller_investment.id, seller_id=seller.id,
                          currency=p.currency, units=units, units_remaining=0, unit_price=nominal,
                          price_per_unit=price, seller_fee_bps=0, seller_fee_min=0, buyer_fee_bps=0, buyer_fee_min=0,
                          status=SOLD, expires_at=when + timedelta(days=30), created_at=when - timedelta(hours=1),
                          closed_at=when, close_reason="sold")
        db.session.add(listing)
        db.session.flush()
        trade = Trade(listing_id=listing.id, property_id=p.id, seller_id=seller.id, buyer_id=buyer.id,
                      seller_investment_id=seller_investment.id, currency=p.currency, units=units, unit_price=nominal,
                      price_per_unit=price, amount=units * price, buyer_fee=0, seller_fee=0,
                      idempotency_key=f"test-trade:{next(_keys)}:{when.timestamp()}", settled_at=when)
        db.session.add(trade)
        db.session.flush()
        return trade


def signed_in(user, *, ip: str, agent: str = "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0", success: bool = True,
              days_ago: int = 1) -> None:
    """A sign-in attempt of `user` from `ip` with the browser `agent`."""
    with unit_of_work():
        db.session.add(LoginAttempt(user_id=user.id, email=user.email, ip=ip, user_agent=agent, channel="portal",
                                    success=success, reason="ok" if success else "bad_password",
                                    created_at=utcnow() - timedelta(days=days_ago)))
