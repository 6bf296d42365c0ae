"""An investment's return calendar: the periods still to pay (ScheduledReturn rows, written from the terms by
investing.schedule once the anchor is known), topped up for lifetime terms, read for the next return and the
returns earned, and trimmed to the periods already due when the investment closes. A paid period lives on as its ReturnPayment row."""
from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import delete, func, insert, select, union_all, update

from app.extensions import db
from app.investing import clock, schedule
from app.investing.models import ACTIVE, PAYING, Investment, ReturnPayment, ScheduledReturn
from app.properties.models import Property

LIFETIME_HORIZON_YEARS = 25  # lifetime return calendars are written this far ahead, topped up by the daily job
TOP_UP_WHEN_YEARS_LEFT = 5


def _calendar_limit(terms: schedule.Terms) -> int | None:
    if not terms.is_lifetime:
        return None
    if terms.return_frequency == "days":
        return max(1, LIFETIME_HORIZON_YEARS * 365 // terms.every_days)
    return LIFETIME_HORIZON_YEARS * 12 // schedule.MONTHS_PER_PERIOD[terms.return_frequency]


def write_calendar(inv: Investment, p, *, start_index: int = 1) -> int:
    """Write the investment's return calendar (ScheduledReturn rows) from its anchor; returns rows written."""
    terms = schedule.Terms.from_property(p)
    last_installment = max((i.due_on for i in inv.installments), default=None)
    if (terms.installments_count or 1) <= 1:
        last_installment = None
    closes = p.funding_ends_at.date() if p.funding_ends_at else None
    inv.return_anchor = schedule.return_anchor(closes, inv.invested_on, last_installment)
    limit = _calendar_limit(terms)
    rows = schedule.return_schedule(inv.amount, terms, inv.return_anchor, limit=limit)
    rows = [r for r in rows if r.index >= start_index]
    if rows:
        last_index = None if terms.is_lifetime else terms.return_periods
        db.session.execute(insert(ScheduledReturn), [
            {"investment_id": inv.id, "property_id": inv.property_id, "user_id": inv.user_id,
             "period_index": r.index, "due_on": r.due_on, "amount": r.amount, "capital": r.capital,
             "last": r.index == last_index} for r in rows])
    db.session.flush()
    return len(rows)


def top_up_lifetime_calendars(as_of: date | None = None) -> int:
    """Extend lifetime calendars that have fewer than TOP_UP_WHEN_YEARS_LEFT years ahead; returns rows written.
    A calendar's last period is the latest of the periods still to pay and those paid."""
    as_of = as_of or clock.today()
    horizon = as_of + timedelta(days=365 * TOP_UP_WHEN_YEARS_LEFT)
    periods = union_all(
        select(ScheduledReturn.investment_id, ScheduledReturn.period_index, ScheduledReturn.due_on),
        select(ReturnPayment.investment_id, ReturnPayment.period_index, ReturnPayment.due_on)).subquery()
    last = (select(periods.c.investment_id, func.max(periods.c.period_index).label("last_index"),
                   func.max(periods.c.due_on).label("last_due"))
            .group_by(periods.c.investment_id).subquery())
    rows = db.session.execute(
        select(Investment, Property, last.c.last_index)
        .join(Property, Property.id == Investment.property_id)
        .join(last, last.c.investment_id == Investment.id)
        .where(Investment.status == ACTIVE, Property.return_periods.is_(None), last.c.last_due < horizon)).all()
    written = 0
    for inv, p, last_index in rows:
        terms = schedule.Terms.from_property(p)
        extra = schedule.return_schedule(inv.amount, terms, inv.return_anchor,
                                         limit=last_index + (_calendar_limit(terms) or 0))
        new = [r for r in extra if r.index > last_index]
        if new:
            db.session.execute(insert(ScheduledReturn), [
                {"investment_id": inv.id, "property_id": inv.property_id, "user_id": inv.user_id,
                 "period_index": r.index, "due_on": r.due_on, "amount": r.amount, "capital": 0, "last": False}
                for r in new])
            written += len(new)
    db.session.flush()
    return written


def next_return(inv: Investment) -> ScheduledReturn | None:
    if inv.status != ACTIVE:
        return None
    return db.session.scalar(select(ScheduledReturn).where(ScheduledReturn.investment_id == inv.id)
                             .order_by(ScheduledReturn.period_index).limit(1))


def returns_earned(investment_ids: list[int]) -> dict[int, int]:
    """Returns paid per investment (capital excluded), in one query."""
    if not investment_ids:
        return {}
    rows = db.session.execute(select(ReturnPayment.investment_id, func.sum(ReturnPayment.amount))
                              .where(ReturnPayment.investment_id.in_(investment_ids))
                              .group_by(ReturnPayment.investment_id)).all()
    return {i: int(total or 0) for i, total in rows}


def next_returns(investment_ids: list[int]) -> dict[int, ScheduledReturn]:
    """The next unpaid period per investment, in one query."""
    if not investment_ids:
        return {}
    first = (select(ScheduledReturn.investment_id, func.min(ScheduledReturn.period_index).label("idx"))
             .where(ScheduledReturn.investment_id.in_(investment_ids))
             .group_by(ScheduledReturn.investment_id).subquery())
    rows = db.session.scalars(select(ScheduledReturn).join(
        first, (first.c.investment_id == ScheduledReturn.investment_id) & (first.c.idx == ScheduledReturn.period_index)))
    return {r.investment_id: r for r in rows}


def drop_calendars(investment_ids: list[int], as_of: date | None = None) -> None:
    """An investment closes: drop its periods still to come. The periods already due by `as_of` (default today) and
    unpaid stay owed to whoever held the units on their due date (the row's user_id): a later distribution run pays
    them once the property's distributions account covers them. They lose their capital (the closing refunds the
    whole escrow) and their last flag (the investment is closed already). An investment still being paid for
    (`paying`) never earned a return: all its rows go. Called with the investments locked, before their status
    moves and before any posting: a distribution batch holding some of those periods is waited for (they are then
    paid, and gone), and never waits for us."""
    if not investment_ids:
        return
    as_of = as_of or clock.today()
    paying = select(Investment.id).where(Investment.id.in_(investment_ids), Investment.status == PAYING)
    db.session.execute(delete(ScheduledReturn).where(
        ScheduledReturn.investment_id.in_(investment_ids),
        (ScheduledReturn.due_on > as_of) | ScheduledReturn.investment_id.in_(paying))
        .execution_options(synchronize_session=False))
    db.session.execute(update(ScheduledReturn).where(
        ScheduledReturn.investment_id.in_(investment_ids), (ScheduledReturn.capital != 0) | ScheduledReturn.last)
        .values(capital=0, last=False).execution_options(synchronize_session=False))
