"""What an investor's statement says, read from the ledger and the holdings in a fixed number of queries whatever
the number of lines: opening balance, every movement of the wallet (available) and held accounts with the running
balance of both together, closing balance (equal to the ledger's available + held at the end of the last day),
holdings with their cost, returns and capital received, fees paid, and a per-year summary for tax purposes.

The lines come from app.finance.account_statements (one account's opening, lines and closing from one read); this
module merges the two accounts of the investor. Only reads."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import case, extract, func, or_, select

from app.core.money import Money
from app.extensions import db
from app.finance import account_statements
from app.investing.models import (
    DIST_PAID,
    DeclaredDistribution,
    DistributionShare,
    Investment,
    ReturnPayment,
)
from app.ledger.models import FEE_REVENUE, USER_HELD, USER_KINDS, USER_WALLET, Account, JournalEntry, Posting
from app.market.models import Trade
from app.market.settlement import TRADE_KIND
from app.payouts.models import PAYOUT_PAID, Payout
from app.properties.models import Property

MAX_LINES = 50_000  # a statement longer than this is refused: a shorter range is asked for


class TooManyLines(ValueError):
    """The range holds more ledger lines than one statement prints."""


@dataclass(frozen=True)
class Line:
    posting_id: int
    entry_id: int
    at: datetime
    kind: str
    memo: str
    account_kind: str  # user_wallet (available) or user_held
    amount: int
    balance: int  # available + held after this line


@dataclass(frozen=True)
class Holding:
    investment_id: int
    property_title: str
    status: str
    currency: str
    cost: int  # what the investor paid for it (a traded holding: price + fee)
    returns_in_period: int
    capital_in_period: int
    returns_to_date: int  # up to the statement's last day
    capital_to_date: int


@dataclass(frozen=True)
class YearSummary:
    year: int
    returns: int
    fees: int


@dataclass
class StatementData:
    user_id: int
    first: date
    last: date
    currency: str
    opening: int = 0
    closing: int = 0
    closing_available: int = 0
    closing_held: int = 0
    lines: list[Line] = field(default_factory=list)
    holdings: list[Holding] = field(default_factory=list)
    fees: int = 0
    years: list[YearSummary] = field(default_factory=list)
    descriptions: list[str] = field(default_factory=list)  # one per line, in the investor's words

    def money(self, minor: int, currency: str | None = None) -> Money:
        return Money(minor, currency or self.currency)

    def _per_entry(self) -> list[int]:
        """What each entry moved in or out of the investor's money as a whole: a hold (available to held) nets to
        nothing and is neither money in nor money out."""
        net: dict[int, int] = defaultdict(int)
        for line in self.lines:
            net[line.entry_id] += line.amount
        return list(net.values())

    @property
    def money_in(self) -> int:
        return sum(amount for amount in self._per_entry() if amount > 0)

    @property
    def money_out(self) -> int:
        return -sum(amount for amount in self._per_entry() if amount < 0)

    @property
    def returns(self) -> int:
        return sum(h.returns_in_period for h in self.holdings)

    @property
    def capital(self) -> int:
        return sum(h.capital_in_period for h in self.holdings)


def _start(d: date) -> datetime:
    return datetime.combine(d, time(), tzinfo=UTC)


def _end(d: date) -> datetime:
    return _start(d + timedelta(days=1))


def movements(data: StatementData) -> None:
    """Opening, lines and closing of the investor's wallet and held accounts, merged in time order."""
    accounts = db.session.scalars(select(Account).where(Account.user_id == data.user_id,
                                                        Account.kind.in_(USER_KINDS)).order_by(Account.id)).all()
    merged: list[tuple[datetime, int, dict, str]] = []
    for account in accounts:
        part = account_statements.statement(account, data.first, data.last, page=0, page_size=MAX_LINES)
        if part.count > MAX_LINES:
            raise TooManyLines(f"{part.count} lines")
        data.opening += part.opening
        data.closing += part.closing
        if account.kind == USER_WALLET:
            data.closing_available = part.closing
        elif account.kind == USER_HELD:
            data.closing_held = part.closing
        data.currency = account.currency
        merged.extend((line["at"], line["posting_id"], line, account.kind) for line in part.lines)
    merged.sort(key=lambda item: (item[0], item[1]))
    running = data.opening
    for at, _pid, line, kind in merged:
        running += line["amount"]
        data.lines.append(Line(line["posting_id"], line["entry_id"], at, line["kind"], line["memo"] or "", kind,
                               line["amount"], running))


def _returns_by(data: StatementData, *, since: date | None, until: date, by_year: bool = False):
    """Returns and capital paid per investment (or per year), from scheduled runs and declared distributions."""
    scheduled_key = extract("year", ReturnPayment.paid_at) if by_year else ReturnPayment.investment_id
    q1 = (select(scheduled_key, func.sum(ReturnPayment.amount), func.sum(ReturnPayment.capital))
          .join(Investment, Investment.id == ReturnPayment.investment_id)
          .where(Investment.user_id == data.user_id, ReturnPayment.paid_at < _end(until)).group_by(scheduled_key))
    declared_key = extract("year", DeclaredDistribution.paid_at) if by_year else DistributionShare.investment_id
    q2 = (select(declared_key, func.sum(DistributionShare.amount))
          .join(DeclaredDistribution, DeclaredDistribution.id == DistributionShare.distribution_id)
          .where(DistributionShare.user_id == data.user_id, DeclaredDistribution.status == DIST_PAID,
                 DeclaredDistribution.paid_at < _end(until)).group_by(declared_key))
    if since is not None:
        q1 = q1.where(ReturnPayment.paid_at >= _start(since))
        q2 = q2.where(DeclaredDistribution.paid_at >= _start(since))
    totals: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for key, returns, capital in db.session.execute(q1).all():
        totals[int(key)][0] += int(returns or 0)
        totals[int(key)][1] += int(capital or 0)
    for key, returns in db.session.execute(q2).all():
        totals[int(key)][0] += int(returns or 0)
    return totals


def holdings(data: StatementData) -> None:
    """Every holding the investor had by the last day, with what it cost and what it paid back."""
    rows = db.session.execute(
        select(Investment.id, Property.title, Investment.status, Investment.currency, Investment.paid_amount,
               Investment.cost_amount)
        .join(Property, Property.id == Investment.property_id)
        .where(Investment.user_id == data.user_id, Investment.invested_on <= data.last)
        .order_by(Investment.invested_on, Investment.id)).all()
    in_period = _returns_by(data, since=data.first, until=data.last)
    to_date = _returns_by(data, since=None, until=data.last)
    for inv_id, title, status, currency, paid, cost in rows:
        period, total = in_period.get(inv_id, [0, 0]), to_date.get(inv_id, [0, 0])
        data.holdings.append(Holding(inv_id, title, status, currency, int(cost if cost is not None else paid),
                                     period[0], period[1], total[0], total[1]))


def _fees_by_year(data: StatementData) -> dict[int, int]:
    """Fees the investor paid: withdrawal fees of paid payouts, their side's fee of market trades, and what went to
    the platform's fee revenue in any other entry that moved the investor's own money (late installment fees, what
    a refund kept). A trade's entry holds both parties' fees, hence its own query."""
    start, end = _start(data.first), _end(data.last)
    payout_year = extract("year", Payout.decided_at)
    payout_fees = (select(payout_year, func.sum(Payout.fee))
                   .where(Payout.user_id == data.user_id, Payout.status == PAYOUT_PAID, Payout.fee > 0,
                          Payout.decided_at >= start, Payout.decided_at < end).group_by(payout_year))
    mine = (select(Posting.entry_id).join(Account, Account.id == Posting.account_id)
            .where(Account.user_id == data.user_id, Account.kind.in_(USER_KINDS)))
    entry_year = extract("year", JournalEntry.created_at)
    kept = (select(entry_year, func.sum(Posting.amount))
            .join(JournalEntry, JournalEntry.id == Posting.entry_id)
            .join(Account, Account.id == Posting.account_id)
            .where(Account.kind == FEE_REVENUE, Posting.entry_id.in_(mine), JournalEntry.kind != TRADE_KIND,
                   JournalEntry.created_at >= start, JournalEntry.created_at < end).group_by(entry_year))
    trade_year = extract("year", Trade.settled_at)
    my_fee = (case((Trade.buyer_id == data.user_id, Trade.buyer_fee), else_=0)
              + case((Trade.seller_id == data.user_id, Trade.seller_fee), else_=0))
    trades = (select(trade_year, func.sum(my_fee))
              .where(or_(Trade.buyer_id == data.user_id, Trade.seller_id == data.user_id),
                     Trade.settled_at >= start, Trade.settled_at < end).group_by(trade_year))
    years: dict[int, int] = defaultdict(int)
    for query in (payout_fees, kept, trades):
        for year, amount in db.session.execute(query).all():
            years[int(year)] += int(amount or 0)
    return years


def fees_and_years(data: StatementData) -> None:
    fees = _fees_by_year(data)
    returns = _returns_by(data, since=data.first, until=data.last, by_year=True)
    data.fees = sum(fees.values())
    data.years = [YearSummary(year, returns.get(year, [0, 0])[0], fees.get(year, 0))
                  for year in range(data.first.year, data.last.year + 1)]


STEPS = (movements, holdings, fees_and_years)
