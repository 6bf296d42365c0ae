"""What the console and the command line show of returns: the dry run per property, the distributions accounts
below zero, the recent runs and one line about a run. Reading only."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import Date, bindparam, select, text

from app.core.money import Money
from app.extensions import db
from app.investing.models import DistributionRun
from app.ledger import services as ledger
from app.ledger.models import RETURNS_FUNDING
from app.properties.models import Property


@dataclass(frozen=True)
class PreviewLine:
    """What a run as of a date would pay for one property."""

    property_id: int
    title: str
    currency: str
    investors: int
    payments: int
    periods: int
    returns: int
    capital: int
    funding_balance: int  # the property's distributions account now

    @property
    def total(self) -> int:
        return self.returns + self.capital

    @property
    def funding_after(self) -> int:
        return self.funding_balance - self.returns


PREVIEW = text("""
    SELECT s.property_id, p.title, p.currency, COUNT(DISTINCT s.user_id),
           SUM(CASE WHEN s.amount + s.capital > 0 THEN 1 ELSE 0 END), COUNT(*),
           COALESCE(SUM(s.amount), 0), COALESCE(SUM(s.capital), 0)
    FROM return_schedule AS s
    JOIN investments AS i ON i.id = s.investment_id
    JOIN properties AS p ON p.id = s.property_id
    WHERE s.due_on <= :as_of AND i.status = 'active'
    GROUP BY s.property_id, p.title, p.currency
    ORDER BY p.title, s.property_id""").bindparams(bindparam("as_of", type_=Date()))


def preview(as_of: date) -> list[PreviewLine]:
    """The dry run: per property, the investors, payments and amounts a run as of `as_of` would pay. Reads only."""
    rows = db.session.execute(PREVIEW, {"as_of": as_of}).all()
    codes = [ledger.account_code(RETURNS_FUNDING, ref=str(r[0])) for r in rows]
    balances = ledger.balances_of_kind(RETURNS_FUNDING) if codes else {}
    return [PreviewLine(int(pid), title, currency, int(investors), int(payments), int(periods), int(returns),
                        int(capital), int(balances.get(code, 0)))
            for (pid, title, currency, investors, payments, periods, returns, capital), code in zip(rows, codes)]


@dataclass(frozen=True)
class Shortfall:
    property_id: int | None
    title: str
    account_code: str
    currency: str
    balance: int

    @property
    def owed(self) -> int:
        return -self.balance


def shortfalls() -> list[Shortfall]:
    """Distributions accounts below zero: what each property's operator owes the platform, largest first."""
    rows = ledger.below_zero(RETURNS_FUNDING)
    ids = [int(r.ref) for r in rows if r.ref and r.ref.isdigit()]
    titles: dict[int | None, str] = dict(db.session.execute(select(Property.id, Property.title).where(Property.id.in_(ids))).all()) \
        if ids else {}
    out = []
    for r in rows:
        pid = int(r.ref) if r.ref and r.ref.isdigit() else None
        out.append(Shortfall(pid, titles.get(pid, f"property {r.ref}"), r.code, r.currency, r.balance))
    return out


def recent_runs(limit: int = 20) -> list[DistributionRun]:
    return list(db.session.scalars(db.select(DistributionRun).order_by(DistributionRun.id.desc()).limit(limit)))


def summary(run: DistributionRun, currency: str | None = None) -> str:
    """One line about a run, for the command line and logs."""
    currency = currency or ledger.platform_currency()
    seconds = (run.duration_ms or 0) / 1000
    line = (f"returns run #{run.id} as of {run.as_of.isoformat()} {run.status}: {run.payments:,} payment(s), "
            f"returns {Money(run.total, currency).display()}")
    if run.capital:
        line += f", capital {Money(run.capital, currency).display()}"
    line += f", {run.batches} batch(es) in {seconds:.1f} s"
    if run.error:
        line += f" — {run.error}"
    return line
