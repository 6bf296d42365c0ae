"""What the console and the command line show of returns: the dry run per property (what is funded and will be
paid, what waits), the funding shortfalls (due periods the distributions accounts do not cover), the recent runs
and one line about a run. Reading only."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import select

from app.core.db import utcnow
from app.core.money import Money
from app.extensions import db
from app.investing.models import DistributionRun
from app.investing.returns.funded import PREVIEW, WAITING
from app.ledger import services as ledger
from app.ledger.models import RETURNS_FUNDING
from app.properties.models import Property


@dataclass(frozen=True)
class PreviewLine:
    """What a run as of a date would do for one property: what is funded (paid) and what waits for funding."""

    property_id: int
    title: str
    currency: str
    investors: int       # paid by the run
    payments: int        # paid by the run (moving money)
    periods: int         # calendar rows paid by the run
    returns: int         # returns paid by the run
    capital: int         # capital back paid by the run (from escrow: funded or not)
    funding_balance: int  # the property's distributions account now
    waiting_periods: int = 0   # periods (due dates) that wait for funding
    waiting_payments: int = 0  # their calendar rows
    waiting_returns: int = 0   # their returns: what the account lacks to pay them

    @property
    def total(self) -> int:
        return self.returns + self.capital

    @property
    def funding_after(self) -> int:
        return self.funding_balance - self.returns

    @property
    def to_fund(self) -> int:
        """What the account still needs for the periods that wait."""
        return max(self.waiting_returns - self.funding_after, 0) if self.waiting_returns else 0


def preview(as_of: date) -> list[PreviewLine]:
    """The dry run: per property, what a run as of `as_of` would pay (the funded periods, and the capital back of
    every due period) and what would wait for funding. Reads only."""
    rows = db.session.execute(PREVIEW, {"as_of": as_of}).all()
    ids = sorted({int(r[0]) for r in rows})
    props = {pid: (title, currency) for pid, title, currency in db.session.execute(
        select(Property.id, Property.title, Property.currency).where(Property.id.in_(ids)))} if ids else {}
    lines: dict[int, dict] = {}
    for pid, funded, investors, payments, periods, calendar_rows, returns_, capital, balance in rows:
        line = lines.setdefault(int(pid), {"investors": 0, "payments": 0, "periods": 0, "returns": 0, "capital": 0,
                                           "balance": int(balance or 0), "waiting_periods": 0,
                                           "waiting_payments": 0, "waiting_returns": 0})
        line["capital"] += int(capital)
        if int(funded):
            line.update(investors=int(investors), payments=int(payments), periods=int(calendar_rows),
                        returns=int(returns_))
        else:
            line.update(waiting_periods=int(periods), waiting_payments=int(calendar_rows),
                        waiting_returns=int(returns_))
    out = [PreviewLine(pid, props[pid][0], props[pid][1], v["investors"], v["payments"], v["periods"], v["returns"],
                       v["capital"], v["balance"], v["waiting_periods"], v["waiting_payments"], v["waiting_returns"])
           for pid, v in lines.items()]
    return sorted(out, key=lambda x: (x.title, x.property_id))


@dataclass(frozen=True)
class Shortfall:
    """A property whose due return periods wait for funding."""

    property_id: int
    title: str
    currency: str
    periods: int          # periods (due dates) waiting
    oldest_due: date      # the oldest of them
    needed: int           # their returns
    balance: int          # the property's distributions account now
    account_code: str
    due_total: int = 0    # the returns of every due period, the funded ones (paid by the next run) included

    @property
    def to_fund(self) -> int:
        """What the operator still has to put in for every waiting period to be paid: the balance goes first to the
        funded periods, which the next run pays."""
        return max(max(self.due_total, self.needed) - self.balance, 0)

    @property
    def fund_url(self) -> str:
        return f"/admin/distribution-funding/propose?property_id={self.property_id}"


def shortfalls(as_of: date | None = None) -> list[Shortfall]:
    """The due return periods the distributions accounts do not cover, per property, most to fund first."""
    as_of = as_of or utcnow().date()
    rows = db.session.execute(WAITING, {"as_of": as_of}).all()
    ids = [int(r[0]) for r in rows]
    props = {pid: (title, currency) for pid, title, currency in db.session.execute(
        select(Property.id, Property.title, Property.currency).where(Property.id.in_(ids)))} if ids else {}
    out = []
    for pid, count, oldest, needed, balance, due_total in rows:
        pid = int(pid)
        out.append(Shortfall(pid, props[pid][0], props[pid][1], int(count), _as_date(oldest), int(needed or 0),
                             int(balance or 0), ledger.account_code(RETURNS_FUNDING, ref=str(pid)),
                             int(due_total or 0)))
    return sorted(out, key=lambda x: (-x.to_fund, x.oldest_due, x.property_id))


def _as_date(value) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


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
