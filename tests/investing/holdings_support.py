"""Helpers of the units and returns-follow-units tests: a holding bought through the investing service with its
calendar moved into the past, and a trade's move of units as the market's settlement makes it."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from app.core.db import utcnow
from app.core.money import Money
from app.extensions import db
from app.investing import returns
from app.investing import services as investing
from app.investing.models import Investment, ReturnPayment, ScheduledReturn
from app.ledger.checks import verify
from app.ledger.models import Account

TODAY = returns.today()


def usd(text: str) -> Money:
    return Money.parse(text, "USD")


def invest(user, p, amount: str) -> Investment:
    inv = investing.invest(user, p.id, usd(amount), acknowledged=True, ip="203.0.113.9")
    db.session.commit()
    return inv


def backdate(inv: Investment, first_due) -> None:
    """Move the holding's calendar (and anchor) so that its first period falls due on `first_due`: a holding of an
    offering that closed earlier."""
    first = db.session.scalar(select(ScheduledReturn.due_on).where(ScheduledReturn.investment_id == inv.id)
                              .order_by(ScheduledReturn.period_index).limit(1))
    shift = first - first_due
    rows = db.session.execute(select(ScheduledReturn.id, ScheduledReturn.due_on)
                              .where(ScheduledReturn.investment_id == inv.id)).all()
    db.session.execute(update(ScheduledReturn), [{"id": rid, "due_on": due - shift} for rid, due in rows])
    anchor, invested_on = db.session.execute(select(Investment.return_anchor, Investment.invested_on)
                                             .where(Investment.id == inv.id)).one()
    db.session.execute(update(Investment).where(Investment.id == inv.id).values(
        return_anchor=anchor - shift, invested_on=invested_on - shift))
    db.session.commit()
    db.session.expire_all()


def calendar(inv_id: int) -> dict[int, tuple]:
    """period index -> (due_on, amount, capital, user_id) of the periods still to pay."""
    rows = db.session.execute(select(ScheduledReturn.period_index, ScheduledReturn.due_on, ScheduledReturn.amount,
                                     ScheduledReturn.capital, ScheduledReturn.user_id)
                              .where(ScheduledReturn.investment_id == inv_id)).all()
    return {r[0]: tuple(r[1:]) for r in rows}


def payments(inv_id: int) -> dict[int, tuple]:
    rows = db.session.execute(select(ReturnPayment.period_index, ReturnPayment.amount, ReturnPayment.capital)
                              .where(ReturnPayment.investment_id == inv_id)).all()
    return {r[0]: (r[1], r[2]) for r in rows}


def trade(seller_inv: Investment, buyer, units: int, *, on=None, cost: int | None = None) -> Investment:
    """Move `units` of the holding to `buyer` as a settled trade does: the units reserved by a listing, the seller's
    holding locked, transfer_units in the trade's transaction."""
    inv = db.session.scalar(select(Investment).where(Investment.id == seller_inv.id).with_for_update()
                            .execution_options(populate_existing=True))
    p = inv.property
    inv.units_listed = units
    db.session.flush()
    bought = investing.transfer_units(inv, buyer_id=buyer.id, units=units, unit_price=p.unit_price,
                                      cost=units * p.unit_price if cost is None else cost, on=on or TODAY,
                                      at=utcnow(), documents_version="v-trade", ip="198.51.100.7", entry_id=None)
    db.session.commit()
    db.session.expire_all()
    return bought


def wallet(user_id: int) -> int:
    return db.session.scalar(select(Account.balance).where(Account.user_id == user_id,
                                                           Account.kind == "user_wallet")) or 0


def escrow(property_id: int) -> int:
    return db.session.scalar(select(Account.balance).where(Account.code == f"property_escrow:{property_id}")) or 0


def assert_verified() -> None:
    db.session.expire_all()
    report = verify()
    assert report.ok, report.violations


def days(n: int):
    return TODAY + timedelta(days=n)
