"""The split of a declared distribution: pro rata to what each investment has paid (or to what it has paid times
the days it was held within the period), exact to the minor unit by the largest-remainder rule, ties to the earlier
investment (schedule.pro_rata). Live while the declaration is a draft; the stored shares once approved."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import or_, select

from app.auth.models import User
from app.core.money import Money
from app.extensions import db
from app.investing import schedule
from app.investing.models import (
    ACTIVE,
    BASIS_DAYS,
    BASIS_PAID,
    COMPLETED,
    DISCARDED,
    DRAFT,
    LIVE,
    PAYING,
    DeclaredDistribution,
    DistributionShare,
    Investment,
)

BASES = {BASIS_PAID: "paid amount", BASIS_DAYS: "paid amount × days held in the period"}
RESIDUE_RULE = ("Each investor's share is the exact pro-rata amount rounded down to the cent; the cents left over "
                "go one each to the largest remainders, and where remainders are equal, to the earlier investment. "
                "The shares add up exactly to the declared amount.")


@dataclass(frozen=True)
class ShareLine:
    investment_id: int
    user_id: int
    email: str
    invested_on: date
    paid_amount: int
    days: int | None  # days held within the period (days basis only)
    weight: int
    amount: int


@dataclass(frozen=True)
class Split:
    lines: list[ShareLine]
    total: int
    currency: str
    basis: str
    frozen: bool  # True once approved: the stored shares, not a live computation

    @property
    def weight_total(self) -> int:
        return sum(line.weight for line in self.lines)

    @property
    def fingerprint(self) -> str:
        body = f"{self.basis}|{self.total}|" + ";".join(f"{x.investment_id}:{x.weight}:{x.amount}"
                                                        for x in self.lines)
        return hashlib.sha256(body.encode()).hexdigest()

    def share_percent(self, line: ShareLine) -> str:
        total = self.weight_total
        return f"{line.weight * 100 / total:.4f} %" if total else "—"

    def money(self, minor: int) -> Money:
        return Money(minor, self.currency)


def days_held(inv: Investment, period_start: date, period_end: date) -> int:
    """Days within [period_start, period_end] (both included) the investment was held: from the day it was made
    to the day before it closed (to the period's end while it is open)."""
    start = max(inv.invested_on, period_start)
    end = period_end
    if inv.closed_at is not None:
        end = min(end, inv.closed_at.date() - timedelta(days=1))
    return max(0, (end - start).days + 1)


def _eligible(property_id: int, period_start: date, period_end: date, basis: str):
    """The investments sharing in a distribution, with their investors' e-mails, earliest first.

    By paid amount: the live investments (paying or active) made on or before the period's last day. By days
    held: also those completed during the period (they held it until then); refunded ones (cancelled, defaulted)
    never share."""
    statuses = LIVE if basis == BASIS_PAID else (PAYING, ACTIVE, COMPLETED)
    query = (select(Investment, User.email).join(User, User.id == Investment.user_id)
             .where(Investment.property_id == property_id, Investment.status.in_(statuses),
                    Investment.paid_amount > 0, Investment.invested_on <= period_end)
             .order_by(Investment.invested_on, Investment.id))
    if basis == BASIS_DAYS:
        query = query.where(or_(Investment.closed_at.is_(None), Investment.closed_at > datetime.combine(
            period_start, time.min, tzinfo=UTC)))
    return db.session.execute(query).all()


def compute_split(property_id: int, amount: int, currency: str, period_start: date, period_end: date,
                  basis: str) -> Split:
    """The split as it stands now (nothing is written)."""
    rows = []
    for inv, email in _eligible(property_id, period_start, period_end, basis):
        days = days_held(inv, period_start, period_end) if basis == BASIS_DAYS else None
        weight = inv.paid_amount * days if basis == BASIS_DAYS else inv.paid_amount
        if weight > 0:
            rows.append((inv, email, days, weight))
    amounts = schedule.pro_rata(amount, [w for *_, w in rows]) if rows else []
    lines = [ShareLine(investment_id=inv.id, user_id=inv.user_id, email=email, invested_on=inv.invested_on,
                       paid_amount=inv.paid_amount, days=days, weight=weight, amount=part)
             for (inv, email, days, weight), part in zip(rows, amounts)]
    return Split(lines=lines, total=amount, currency=currency, basis=basis, frozen=False)


def split_of(d: DeclaredDistribution) -> Split:
    """What the declaration pays: live while a draft, the stored shares once approved (or paid)."""
    if d.status == DRAFT or (d.status == DISCARDED and d.approved_at is None):
        return compute_split(d.property_id, d.amount, d.currency, d.period_start, d.period_end, d.basis)
    rows = db.session.execute(
        select(DistributionShare, Investment, User.email)
        .join(Investment, Investment.id == DistributionShare.investment_id)
        .join(User, User.id == DistributionShare.user_id)
        .where(DistributionShare.distribution_id == d.id)
        .order_by(Investment.invested_on, Investment.id)).all()
    lines = [ShareLine(investment_id=inv.id, user_id=share.user_id, email=email, invested_on=inv.invested_on,
                       paid_amount=inv.paid_amount,
                       days=days_held(inv, d.period_start, d.period_end) if d.basis == BASIS_DAYS else None,
                       weight=share.weight, amount=share.amount)
             for share, inv, email in rows]
    return Split(lines=lines, total=d.amount, currency=d.currency, basis=d.basis, frozen=True)
