"""What an investor sees of their investments: holdings with returns earned and the next return, the portfolio's
totals, returns received by month and one holding's installments and return calendar.

Reading only; every function runs a fixed number of queries whatever the number of holdings (no N+1)."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import cast, overload

from sqlalchemy import func, select
from sqlalchemy.orm import contains_eager

from app.core.db import utcnow
from app.core.errors import NotFound
from app.core.money import Money
from app.extensions import db
from app.investing import services
from app.investing.models import (
    ACTIVE,
    DIST_PAID,
    DUE,
    LIVE,
    PAYING,
    DeclaredDistribution,
    DistributionShare,
    Investment,
    ReturnPayment,
    ScheduledReturn,
)
from app.properties.models import Property


@dataclass(frozen=True)
class Period:
    """One period of a return calendar: paid (from its payment row) or still to pay (from the calendar)."""

    period_index: int
    due_on: date
    amount: int
    capital: int
    last: bool
    paid: bool
    paid_at: datetime | None = None


def calendar(inv: Investment, *, upcoming_limit: int | None = None) -> list[Period]:
    """The investment's whole return calendar in period order: the periods paid, then those still to pay (only
    the first `upcoming_limit` of them if given). Two queries."""
    last_index = inv.property.return_periods if inv.property is not None else None
    paid = [Period(r.period_index, r.due_on, r.amount, r.capital, r.period_index == last_index, True, r.paid_at)
            for r in db.session.scalars(select(ReturnPayment).where(ReturnPayment.investment_id == inv.id)
                                        .order_by(ReturnPayment.period_index))]
    query = (select(ScheduledReturn).where(ScheduledReturn.investment_id == inv.id)
             .order_by(ScheduledReturn.period_index))
    if upcoming_limit is not None:
        query = query.limit(upcoming_limit)
    upcoming = [Period(r.period_index, r.due_on, r.amount, r.capital, r.last, False)
                for r in db.session.scalars(query)]
    return paid + upcoming


@dataclass
class Holding:
    investment: Investment
    returns_earned: int
    next_return: ScheduledReturn | None
    # the return calendar (paid periods with their date); only filled for one holding's detail
    schedule: list[Period] = field(default_factory=list)

    # shortcuts the templates and the API read
    @property
    def id(self) -> int:
        return self.investment.id

    @property
    def prop(self):
        return self.investment.property

    @property
    def currency(self) -> str:
        return self.investment.currency

    @overload
    def money(self, minor: int) -> Money: ...
    @overload
    def money(self, minor: None) -> None: ...
    def money(self, minor: int | None) -> Money | None:
        return None if minor is None else Money(minor, self.currency)

    @property
    def next_return_date(self) -> date | None:
        return self.next_return.due_on if self.next_return else None

    @property
    def next_return_amount(self) -> Money | None:
        if not self.next_return:
            return None
        return self.money(self.next_return.amount + self.next_return.capital)

    @property
    def due_installments(self) -> list:
        return [i for i in self.investment.installments if i.status == DUE]

    @property
    def next_installment(self):
        due = self.due_installments
        return due[0] if due else None


def _extra_returns(investment_ids: list[int]) -> dict[int, int]:
    """Shares of declared distributions already paid, per investment."""
    if not investment_ids:
        return {}
    rows = db.session.execute(
        select(DistributionShare.investment_id, func.sum(DistributionShare.amount))
        .join(DeclaredDistribution, DeclaredDistribution.id == DistributionShare.distribution_id)
        .where(DistributionShare.investment_id.in_(investment_ids), DeclaredDistribution.status == DIST_PAID)
        .group_by(DistributionShare.investment_id)).all()
    return {i: int(total or 0) for i, total in rows}


def _holdings(investments: list[Investment]) -> list[Holding]:
    ids = [inv.id for inv in investments]
    earned = services.returns_earned(ids)
    for inv_id, extra in _extra_returns(ids).items():
        earned[inv_id] = earned.get(inv_id, 0) + extra
    upcoming = services.next_returns(ids)
    return [Holding(inv, earned.get(inv.id, 0), upcoming.get(inv.id) if inv.status == ACTIVE else None)
            for inv in investments]


def _query(user_id: int, status: str | None = None):
    query = (select(Investment).join(Investment.property).options(contains_eager(Investment.property))
             .where(Investment.user_id == user_id))
    if status == "live":
        query = query.where(Investment.status.in_(LIVE))
    elif status == "closed":
        query = query.where(Investment.status.not_in(LIVE))
    elif status:
        query = query.where(Investment.status == status)
    return query, Property


def holdings(user_id: int, *, page: int = 1, per_page: int = 20, status: str | None = None
             ) -> tuple[list[Holding], int]:
    """The user's investments, newest first, with returns earned and the next return; and their count.
    `status` is one investment status, "live" (paying and active) or "closed" (the others)."""
    query, _ = _query(user_id, status)
    # a list shows each property's title and terms: its photos, documents, FAQ and amenities (four more queries
    # each time, loaded with every property by default) load only if something reads them
    query = query.options(*(contains_eager(Investment.property).lazyload(getattr(Property, name))
                            for name in ("amenities", "faqs", "photos", "documents")))
    total = db.session.execute(
        select(func.count()).select_from(query.with_only_columns(Investment.id).subquery())).scalar_one()
    rows = list(db.session.scalars(query.order_by(Investment.id.desc()).limit(per_page)
                                   .offset((page - 1) * per_page)).unique())
    return _holdings(rows), total


def holding(user_id: int, investment_id: int, *, upcoming_limit: int | None = None) -> Holding:
    """One of the user's investments with its whole calendar (404 for anyone else's). `upcoming_limit` keeps only
    that many unpaid periods (a lifetime calendar runs 25 years ahead)."""
    query, _ = _query(user_id)
    inv = db.session.scalar(query.where(Investment.id == investment_id))
    if inv is None:
        raise NotFound("no such investment")
    result = _holdings([inv])[0]
    result.schedule = calendar(inv, upcoming_limit=upcoming_limit)
    return result


def held_in(user_id: int, property_id: int) -> dict | None:
    """The user's live investments in one property: {"count", "amount"}, or None."""
    count, amount, currency = db.session.execute(
        select(func.count(Investment.id), func.coalesce(func.sum(Investment.amount), 0), func.min(Investment.currency))
        .where(Investment.user_id == user_id, Investment.property_id == property_id,
               Investment.status.in_(LIVE))).one()
    return {"count": int(count), "amount": Money(int(amount), currency)} if count else None


def calendar_size(investment_id: int) -> tuple[int, int]:
    """(paid, unpaid) periods in an investment's calendar."""
    paid = db.session.scalar(select(func.count(ReturnPayment.id)).where(ReturnPayment.investment_id == investment_id))
    unpaid = db.session.scalar(select(func.count(ScheduledReturn.id))
                               .where(ScheduledReturn.investment_id == investment_id))
    return int(paid or 0), int(unpaid or 0)


@dataclass(frozen=True)
class Summary:
    invested: Money          # committed in live investments (every installment)
    paid_in: Money           # of which paid so far
    returns_earned: Money    # every return received, also from closed investments
    holdings: int            # live investments
    next_return_date: date | None
    next_return_amount: Money | None  # everything due to the user on that date



def summary(user_id: int, currency: str) -> Summary:
    """The totals of a portfolio, in four queries."""
    invested, paid, count = db.session.execute(
        select(func.coalesce(func.sum(Investment.amount), 0), func.coalesce(func.sum(Investment.paid_amount), 0),
               func.count(Investment.id))
        .where(Investment.user_id == user_id, Investment.status.in_(LIVE))).one()
    earned = db.session.scalar(select(func.coalesce(func.sum(ReturnPayment.amount), 0))
                               .join(Investment, Investment.id == ReturnPayment.investment_id)
                               .where(Investment.user_id == user_id)) or 0
    earned += db.session.scalar(
        select(func.coalesce(func.sum(DistributionShare.amount), 0))
        .join(DeclaredDistribution, DeclaredDistribution.id == DistributionShare.distribution_id)
        .where(DistributionShare.user_id == user_id, DeclaredDistribution.status == DIST_PAID)) or 0
    upcoming = (select(ScheduledReturn.due_on, ScheduledReturn.amount, ScheduledReturn.capital)
                .join(Investment, Investment.id == ScheduledReturn.investment_id)
                .where(ScheduledReturn.user_id == user_id, Investment.status == ACTIVE))
    first = db.session.scalar(select(func.min(upcoming.subquery().c.due_on)))
    amount = None
    if first is not None:
        sub = upcoming.where(ScheduledReturn.due_on == first).subquery()
        amount = Money(int(db.session.scalar(select(func.sum(sub.c.amount + sub.c.capital))) or 0), currency)
    return Summary(Money(int(invested), currency), Money(int(paid), currency), Money(int(earned), currency),
                   int(count), first, amount)


@dataclass(frozen=True)
class MonthTotal:
    month: date     # the first day of the month
    amount: Money

    @property
    def label(self) -> str:
        return self.month.strftime("%b %Y")


def _month_start(day: date, back: int = 0) -> date:
    index = day.year * 12 + day.month - 1 - back
    return date(index // 12, index % 12 + 1, 1)


def returns_by_month(user_id: int, currency: str, *, months: int = 12, today: date | None = None
                     ) -> list[MonthTotal]:
    """Returns received in each of the last `months` months (this one included), oldest first, zero months too.
    A scheduled return counts in the month it fell due (the daily run pays it that day); a declared distribution in
    the month it was paid. Capital paid back is not a return and is left out."""
    today = today or utcnow().date()
    start = _month_start(today, months - 1)
    totals: dict[date, int] = {_month_start(today, back): 0 for back in range(months)}
    for due_on, amount in db.session.execute(
            select(ReturnPayment.due_on, ReturnPayment.amount)
            .join(Investment, Investment.id == ReturnPayment.investment_id)
            .where(Investment.user_id == user_id, ReturnPayment.due_on >= start)):
        key = _month_start(due_on)
        if key in totals:
            totals[key] += amount
    for paid_at, amount in db.session.execute(
            select(DeclaredDistribution.paid_at, DistributionShare.amount)
            .join(DeclaredDistribution, DeclaredDistribution.id == DistributionShare.distribution_id)
            .where(DistributionShare.user_id == user_id, DeclaredDistribution.status == DIST_PAID,
                   DeclaredDistribution.paid_at.is_not(None))):
        key = _month_start(cast("datetime", paid_at).date())  # the query keeps only those paid
        if key in totals:
            totals[key] += amount
    return [MonthTotal(month, Money(totals[month], currency)) for month in sorted(totals)]


def installment_fees(holding: Holding, today: date | None = None) -> dict[int, int]:
    """The late fee each unpaid installment would carry if paid today, by installment index."""
    if holding.investment.status != PAYING:
        return {}
    today = today or utcnow().date()
    p = holding.investment.property
    return {i.index: services.late_fee_for(i, p, today) for i in holding.due_installments}
