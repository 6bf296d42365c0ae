"""The figures finance reads: grouped reads over the business records and the ledger, one query per figure whatever
the number of rows, month buckets that PostgreSQL and SQLite compute alike, and any account's statement between two
dates (app/finance/account_statements.py). Everything here only reads.

Which date each figure uses (until journal entries carry an effective date, these are the dates recorded):
- deposits: Deposit.completed_at (credited; succeeded or refunded since); withdrawals: Payout.decided_at of paid
  payouts (the day finance marked them paid);
- funds raised: Installment.paid_at of paid installments (late fees apart);
- returns paid: ReturnPayment.paid_at (scheduled returns) and DeclaredDistribution.paid_at (declared, paid);
- fee revenue: the created_at of the journal entries that post to the fee revenue account, grouped by entry kind;
- payouts waiting: Payout.created_at of payouts requested or approved, not yet paid;
- account statements: the created_at of each journal entry.
Amounts are in the platform's currency (rows in another currency are left out)."""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import case, func, literal_column, select

from app.core.db import utcnow
from app.core.money import Money
from app.extensions import db
from app.investing.models import DIST_PAID, PAID, DeclaredDistribution, Installment, Investment, ReturnPayment
from app.ledger.models import FEE_REVENUE, Account, JournalEntry, Posting
from app.ledger.services import platform_currency
from app.payments.models import (
    DEPOSIT_REFUNDED,
    DEPOSIT_SUCCEEDED,
    DISPUTE_OPEN,
    Deposit,
    Dispute,
    Receivable,
)
from app.payouts.models import PAYOUT_APPROVED, PAYOUT_PAID, PAYOUT_REQUESTED, Payout

MAX_MONTHS = 60
DEFAULT_MONTHS = 12


class BadRange(ValueError):
    """A month or date range the caller gave that cannot be read: the view answers 400 with its message."""


# months ------------------------------------------------------------------------------------------------------------
def _first_of(d: date) -> date:
    return d.replace(day=1)


def add_months(d: date, n: int) -> date:
    index = d.year * 12 + d.month - 1 + n
    return date(index // 12, index % 12 + 1, 1)


def _at(d: date) -> datetime:
    return datetime(d.year, d.month, d.day, tzinfo=UTC)


@dataclass(frozen=True)
class Months:
    """Whole calendar months (UTC), `first` to `last` included (both the first day of their month)."""

    first: date
    last: date

    @property
    def keys(self) -> list[str]:
        out, d = [], self.first
        while d <= self.last:
            out.append(f"{d:%Y-%m}")
            d = add_months(d, 1)
        return out

    @property
    def start(self) -> datetime:
        return _at(self.first)

    @property
    def end(self) -> datetime:
        """The first instant after the range."""
        return _at(add_months(self.last, 1))

    @property
    def args(self) -> dict[str, str]:
        return {"from": f"{self.first:%Y-%m}", "to": f"{self.last:%Y-%m}"}


_MONTH = re.compile(r"[0-9]{4}-[0-9]{2}")


def _month(text: str, name: str) -> date:
    text = text.strip()
    try:
        if not _MONTH.fullmatch(text):
            raise ValueError(text)
        parsed = date(int(text[:4]), int(text[5:]), 1)
    except ValueError:
        raise BadRange(f"{name}: a month is written YYYY-MM") from None
    if not 2000 <= parsed.year <= 2999:
        raise BadRange(f"{name}: a month from 2000 to 2999")
    return parsed


def months(from_text: str | None, to_text: str | None, *, today: date | None = None,
           default: int = DEFAULT_MONTHS) -> Months:
    """The range a request asks for; by default the last `default` months, this one included."""
    today = today or utcnow().date()
    last = _month(to_text, "to") if to_text else _first_of(today)
    first = _month(from_text, "from") if from_text else add_months(last, -(default - 1))
    if first > last:
        raise BadRange("from: the first month comes after the last")
    if (last.year - first.year) * 12 + last.month - first.month + 1 > MAX_MONTHS:
        raise BadRange(f"at most {MAX_MONTHS} months at a time")
    return Months(first, last)


def month_of(column) -> Any:
    """The 'YYYY-MM' of a UTC timestamp column, computed by the database (PostgreSQL or SQLite)."""
    # constants as SQL text, not bound parameters: GROUP BY must repeat the very expression of the select list
    if db.engine.dialect.name == "postgresql":
        return func.to_char(func.timezone(literal_column("'UTC'"), column), literal_column("'YYYY-MM'"))
    return func.strftime(literal_column("'%Y-%m'"), column)


def _by_month(statement) -> dict[str, tuple]:
    return {str(row[0]): tuple(int(v or 0) for v in row[1:]) for row in db.session.execute(statement).all()}


# reports -------------------------------------------------------------------------------------------------------------
@dataclass
class Report:
    """A table (header and rows of cells: str, int, Money) and the chart's series over its labels."""

    key: str
    title: str
    header: list[str]
    rows: list[list[Any]]
    labels: list[str] = field(default_factory=list)
    series: list[tuple[str, str, list[int]]] = field(default_factory=list)  # (name, colour, minor units per label)
    currency: str = ""
    note: str = ""
    totals: list[Any] | None = None

    def export_rows(self) -> Iterable[list[Any]]:
        yield from self.rows
        if self.totals is not None:
            yield self.totals


def deposits_withdrawals(r: Months, currency: str | None = None) -> Report:
    """Money in (deposits credited) and out (payouts paid) per month: two grouped reads."""
    currency = currency or platform_currency()
    month = month_of(Deposit.completed_at)
    deposits = _by_month(select(month, func.count(Deposit.id), func.sum(Deposit.amount))
                         .where(Deposit.status.in_((DEPOSIT_SUCCEEDED, DEPOSIT_REFUNDED)),
                                Deposit.currency == currency, Deposit.completed_at >= r.start,
                                Deposit.completed_at < r.end).group_by(month))
    month = month_of(Payout.decided_at)
    payouts = _by_month(select(month, func.count(Payout.id), func.sum(Payout.amount))
                        .where(Payout.status == PAYOUT_PAID, Payout.currency == currency,
                               Payout.decided_at >= r.start, Payout.decided_at < r.end).group_by(month))
    rows, ins, outs = [], [], []
    for key in r.keys:
        n_in, amount_in = deposits.get(key, (0, 0))
        n_out, amount_out = payouts.get(key, (0, 0))
        ins.append(amount_in)
        outs.append(amount_out)
        rows.append([key, n_in, Money(amount_in, currency), n_out, Money(amount_out, currency),
                     Money(amount_in - amount_out, currency)])
    totals = ["Total", sum(row[1] for row in rows), Money(sum(ins), currency), sum(row[3] for row in rows),
              Money(sum(outs), currency), Money(sum(ins) - sum(outs), currency)]
    return Report("deposits-withdrawals", "Deposits and withdrawals by month",
                  ["Month", "Deposits", "Deposited", "Payouts", "Paid out", "Net"], rows, r.keys,
                  [("Deposited", "#1f5f4a", ins), ("Paid out", "#b35c00", outs)], currency,
                  "Deposits by the day they were credited (refunded ones included, at their full amount); payouts "
                  "by the day they were marked paid (the amount sent, fee apart).", totals)


def funds_raised(r: Months, currency: str | None = None) -> Report:
    """Investors' money moved into offerings' escrow per month (each paid installment; the first is the investment)."""
    currency = currency or platform_currency()
    month = month_of(Installment.paid_at)
    raised = _by_month(select(month, func.count(Installment.id), func.count(func.distinct(Installment.investment_id)),
                              func.sum(Installment.amount))
                       .join(Investment, Investment.id == Installment.investment_id)
                       .where(Installment.status == PAID, Investment.currency == currency,
                              Installment.paid_at >= r.start, Installment.paid_at < r.end).group_by(month))
    rows, amounts = [], []
    for key in r.keys:
        payments, investments, amount = raised.get(key, (0, 0, 0))
        amounts.append(amount)
        rows.append([key, payments, investments, Money(amount, currency)])
    totals = ["Total", sum(row[1] for row in rows), "", Money(sum(amounts), currency)]
    return Report("funds-raised", "Funds raised by month", ["Month", "Payments", "Investments", "Raised"], rows,
                  r.keys, [("Raised", "#1f5f4a", amounts)], currency,
                  "Every installment paid into an offering (the first one is the investment itself), by the day it "
                  "was paid, late fees apart; money later refunded to cancelled investments is still counted here.",
                  totals)


def returns_paid(r: Months, currency: str | None = None) -> Report:
    """Scheduled returns (capital apart) and declared distributions paid to investors per month."""
    currency = currency or platform_currency()
    month = month_of(ReturnPayment.paid_at)
    scheduled = _by_month(select(month, func.count(ReturnPayment.id), func.sum(ReturnPayment.amount),
                                 func.sum(ReturnPayment.capital))
                          .join(Investment, Investment.id == ReturnPayment.investment_id)
                          .where(Investment.currency == currency, ReturnPayment.paid_at >= r.start,
                                 ReturnPayment.paid_at < r.end).group_by(month))
    month = month_of(DeclaredDistribution.paid_at)
    declared = _by_month(select(month, func.count(DeclaredDistribution.id), func.sum(DeclaredDistribution.amount))
                         .where(DeclaredDistribution.status == DIST_PAID, DeclaredDistribution.currency == currency,
                                DeclaredDistribution.paid_at >= r.start, DeclaredDistribution.paid_at < r.end)
                         .group_by(month))
    rows, returns, capital, distributions = [], [], [], []
    for key in r.keys:
        n, amount, cap = scheduled.get(key, (0, 0, 0))
        m, dist = declared.get(key, (0, 0))
        returns.append(amount - cap)
        capital.append(cap)
        distributions.append(dist)
        rows.append([key, n, Money(amount - cap, currency), Money(cap, currency), m, Money(dist, currency),
                     Money(amount + dist, currency)])
    totals = ["Total", sum(row[1] for row in rows), Money(sum(returns), currency), Money(sum(capital), currency),
              sum(row[4] for row in rows), Money(sum(distributions), currency),
              Money(sum(returns) + sum(capital) + sum(distributions), currency)]
    return Report("returns-paid", "Returns paid by month",
                  ["Month", "Scheduled payments", "Returns", "Capital back", "Distributions", "Distributed",
                   "Total paid"], rows, r.keys,
                  [("Returns", "#1f5f4a", returns), ("Capital back", "#6c8ebf", capital),
                   ("Distributions", "#b35c00", distributions)], currency,
                  "Scheduled returns by the day they were paid (the return and the capital given back, apart); "
                  "declared distributions by the day they were paid.", totals)


FEE_SOURCES = {
    "deposit": "Deposit fees",
    "deposit_refund": "Deposit fees given back on refunds",
    "payout_fee": "Payout fees",
    "market_trade": "Market fees",
    "investment": "Late fees",
    "installment": "Late fees",
    "investment_refund": "Kept on cancelled investments",
    "reversal": "Reversals",
}


def fee_source(kind: str) -> str:
    return FEE_SOURCES.get(kind, kind.replace("_", " ").capitalize())


def fee_revenue(r: Months, currency: str | None = None) -> Report:
    """What the fee revenue account earned, by source (the kind of the entry that posted it): one grouped read."""
    currency = currency or platform_currency()
    rows_by_source: dict[str, list[int]] = {}
    statement = (select(JournalEntry.kind, func.count(Posting.id), func.sum(Posting.amount))
                 .select_from(Posting).join(Account, Account.id == Posting.account_id)
                 .join(JournalEntry, JournalEntry.id == Posting.entry_id)
                 .where(Account.kind == FEE_REVENUE, Account.currency == currency,
                        JournalEntry.created_at >= r.start, JournalEntry.created_at < r.end)
                 .group_by(JournalEntry.kind))
    for kind, n, amount in db.session.execute(statement).all():
        source = rows_by_source.setdefault(fee_source(kind), [0, 0])
        source[0] += int(n)
        source[1] += int(amount or 0)
    ordered = sorted(rows_by_source.items(), key=lambda item: (-item[1][1], item[0]))
    rows = [[label, n, Money(amount, currency)] for label, (n, amount) in ordered]
    total = sum(amount for _n, amount in rows_by_source.values())
    return Report("fee-revenue", "Fee revenue by source", ["Source", "Postings", "Revenue"], rows,
                  [label for label, _ in ordered], [("Revenue", "#1f5f4a", [v[1] for _, v in ordered])], currency,
                  "Postings to the fee revenue account, grouped by the kind of entry that made them, by the day the "
                  "entry was posted. A negative line gave revenue back.",
                  ["Total", sum(n for n, _a in rows_by_source.values()), Money(total, currency)])


AGE_BUCKETS = ((0, 1, "Under 1 day"), (1, 3, "1-3 days"), (3, 7, "3-7 days"), (7, 14, "7-14 days"),
               (14, 30, "14-30 days"), (30, None, "30 days or more"))


def payouts_waiting(currency: str | None = None, *, now: datetime | None = None) -> Report:
    """Payouts requested or approved and not yet paid, by how long ago they were requested: one grouped read."""
    currency = currency or platform_currency()
    now = now or utcnow()
    bucket = case(*[(Payout.created_at > now - timedelta(days=lo), literal_column(str(i - 1)))
                    for i, (lo, _hi, _label) in enumerate(AGE_BUCKETS) if i > 0],
                  else_=literal_column(str(len(AGE_BUCKETS) - 1)))
    waiting = (select(bucket.label("bucket"), Payout.amount,
                      case((Payout.status == PAYOUT_APPROVED, 1), else_=0).label("approved"))
               .where(Payout.status.in_((PAYOUT_REQUESTED, PAYOUT_APPROVED)), Payout.currency == currency)
               .subquery())
    found = {int(b): (int(n), int(a or 0), int(r or 0)) for b, n, a, r in db.session.execute(
        select(waiting.c.bucket, func.count(), func.sum(waiting.c.amount), func.sum(waiting.c.approved))
        .group_by(waiting.c.bucket)).all()}
    rows, amounts = [], []
    for i, (_lo, _hi, label) in enumerate(AGE_BUCKETS):
        n, amount, approved = found.get(i, (0, 0, 0))
        amounts.append(amount)
        rows.append([label, n, approved, Money(amount, currency)])
    labels = [label for _lo, _hi, label in AGE_BUCKETS]
    return Report("payouts-waiting", "Payouts waiting by age", ["Waiting since", "Payouts", "Of which approved",
                                                                "Amount"], rows,
                  labels, [("Waiting", "#b35c00", amounts)], currency,
                  f"Payouts requested or approved and not yet paid, by the time since they were requested (as of "
                  f"{now:%Y-%m-%d %H:%M} UTC).",
                  ["Total", sum(row[1] for row in rows), sum(row[2] for row in rows), Money(sum(amounts), currency)])


def open_items(currency: str | None = None) -> Report:
    """Money owed to the platform or in question, as of now: receivables not settled, and disputes (chargebacks) open
    with what is held from wallets for them and what the wallets could not cover. One read."""
    currency = currency or platform_currency()
    open_dispute = (Dispute.status == DISPUTE_OPEN, Dispute.currency == currency)

    def count_sum(model, amount, *where):
        return (select(func.count(model.id)).where(*where).scalar_subquery(),
                select(func.coalesce(func.sum(amount), 0)).where(*where).scalar_subquery())

    figures = db.session.execute(select(
        *count_sum(Receivable, Receivable.amount, Receivable.settled_at.is_(None), Receivable.currency == currency),
        *count_sum(Dispute, Dispute.amount, *open_dispute),
        *count_sum(Dispute, Dispute.held, *open_dispute, Dispute.held > 0),
        *count_sum(Dispute, Dispute.receivable, *open_dispute, Dispute.receivable > 0))).one()
    labels = ("Receivables open", "Disputes open (amount disputed)", "Disputes open: held from wallets",
              "Disputes open: not covered by the wallet")
    items = [(label, int(figures[2 * i]), int(figures[2 * i + 1])) for i, label in enumerate(labels)]
    rows: list[list[Any]] = [[label, count, Money(minor, currency)] for label, count, minor in items]
    return Report("open-items", "Receivables and disputes open", ["Item", "Open", "Amount"], rows,
                  ["Receivables", "Disputed", "Held", "Not covered"], [("Open", "#b35c00", [a for _l, _n, a in items])],
                  currency,
                  "As of now. Receivables: what investors owe after a refund or a dispute of money already spent, not "
                  "yet settled (a dispute's uncovered part is one of them). Disputes: chargebacks not yet won or lost; "
                  "what is held from the wallet for them, and what the wallet could not cover.")


MONTHLY = {"deposits-withdrawals": deposits_withdrawals, "funds-raised": funds_raised,
           "returns-paid": returns_paid, "fee-revenue": fee_revenue}
CURRENT = {"payouts-waiting": payouts_waiting, "open-items": open_items}
TITLES = {"deposits-withdrawals": "Deposits and withdrawals by month", "funds-raised": "Funds raised by month",
          "returns-paid": "Returns paid by month", "fee-revenue": "Fee revenue by source",
          "payouts-waiting": "Payouts waiting by age", "open-items": "Receivables and disputes open"}


def build(key: str, r: Months) -> Report:
    if key in MONTHLY:
        return MONTHLY[key](r)
    return CURRENT[key]()
