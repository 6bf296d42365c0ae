"""The trial balance: per account, the sum of the postings of entries dated on or before a day, live or as frozen by
a month's close (app/ledger/periods.py), with the rows the escaping export writer takes."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import text

from app.core.money import Money
from app.extensions import db


@dataclass(frozen=True)
class TrialRow:
    account_id: int
    code: str
    name: str
    kind: str
    currency: str
    balance: int

    @property
    def money(self) -> Money:
        return Money(self.balance, self.currency)

    @property
    def debit(self) -> str:
        return Money(self.balance, self.currency).display() if self.balance > 0 else ""

    @property
    def credit(self) -> str:
        return Money(-self.balance, self.currency).display() if self.balance < 0 else ""


TRIAL_BALANCE_HEADER = ["account", "name", "kind", "currency", "debit", "credit", "balance"]


def trial_balance(as_of: date) -> list[TrialRow]:
    """Per account, the sum of the postings of entries dated on or before `as_of` (accounts without any left out)."""
    rows = db.session.execute(text("""
        SELECT a.id, a.code, a.name, a.kind, a.currency, t.total
        FROM (SELECT p.account_id, SUM(p.amount) AS total
              FROM ledger_postings p JOIN ledger_entries e ON e.id = p.entry_id
              WHERE e.effective_date <= :as_of GROUP BY p.account_id) t
        JOIN ledger_accounts a ON a.id = t.account_id
        ORDER BY a.kind, a.code"""), {"as_of": as_of}).all()
    return [TrialRow(i, c, n, k, cur, int(b)) for i, c, n, k, cur, b in rows]


def frozen_trial_balance(close_id: int) -> list[TrialRow]:
    rows = db.session.execute(text("""
        SELECT a.id, a.code, a.name, a.kind, a.currency, l.balance FROM ledger_trial_balance_lines l
        JOIN ledger_accounts a ON a.id = l.account_id WHERE l.close_id = :c ORDER BY a.kind, a.code"""),
        {"c": close_id}).all()
    return [TrialRow(i, c, n, k, cur, int(b)) for i, c, n, k, cur, b in rows]


def totals(rows: list[TrialRow]) -> dict[str, int]:
    """The sum per currency (zero in a sound ledger)."""
    out: dict[str, int] = {}
    for row in rows:
        out[row.currency] = out.get(row.currency, 0) + row.balance
    return out


def export_rows(rows: list[TrialRow]) -> list[list[Any]]:
    """Rows for the escaping writer, amounts as numbers in major units (Money): a positive balance is a debit."""
    out: list[list[Any]] = []
    for r in rows:
        amount = Money(abs(r.balance), r.currency)
        out.append([r.code, r.name, r.kind, r.currency, amount if r.balance > 0 else None,
                    amount if r.balance < 0 else None, r.money])
    return out
