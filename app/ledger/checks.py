"""`flask ledger verify`: prove the ledger's invariants with set-based SQL.

Other domains add their own invariants with `register_check` (e.g. units sold per property equal investments).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Row, text

from app.core.money import Money
from app.extensions import db

Check = Callable[[], list[str]]
_EXTRA_CHECKS: list[Check] = []


def register_check(check: Check) -> Check:
    if check not in _EXTRA_CHECKS:
        _EXTRA_CHECKS.append(check)
    return check


@dataclass
class Report:
    entries: int
    accounts: int
    violations: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.violations


def _rows(sql: str) -> Sequence[Row[*tuple[Any, ...]]]:
    return db.session.execute(text(sql)).all()


def unbalanced_entries() -> list[str]:
    return [f"entry #{e} does not balance in {cur}: postings sum to {total}" for e, cur, total in _rows(
        """SELECT p.entry_id, a.currency, SUM(p.amount) FROM ledger_postings p
           JOIN ledger_accounts a ON a.id = p.account_id
           GROUP BY p.entry_id, a.currency HAVING SUM(p.amount) <> 0 ORDER BY p.entry_id""")]


def thin_entries() -> list[str]:
    return [f"entry #{e} has {n} posting(s); at least two are required" for e, n in _rows(
        """SELECT e.id, COUNT(p.id) FROM ledger_entries e LEFT JOIN ledger_postings p ON p.entry_id = e.id
           GROUP BY e.id HAVING COUNT(p.id) < 2 ORDER BY e.id""")]


def stale_balances() -> list[str]:
    return [f"account {code} caches balance {cached} but its postings sum to {actual}" for code, cached, actual in _rows(
        """SELECT a.code, a.balance, COALESCE(s.total, 0) FROM ledger_accounts a
           LEFT JOIN (SELECT account_id, SUM(amount) AS total FROM ledger_postings GROUP BY account_id) s
             ON s.account_id = a.id
           WHERE a.balance <> COALESCE(s.total, 0) ORDER BY a.code""")]


def ledger_total() -> list[str]:
    return [f"the ledger does not sum to zero in {cur}: {total}" for cur, total in _rows(
        """SELECT a.currency, SUM(p.amount) FROM ledger_postings p JOIN ledger_accounts a ON a.id = p.account_id
           GROUP BY a.currency HAVING SUM(p.amount) <> 0""")]


def negative_accounts() -> list[str]:
    return [f"account {code} is negative ({balance}) but may not be" for code, balance in _rows(
        """SELECT code, balance FROM ledger_accounts WHERE allow_negative = false AND balance < 0 ORDER BY code""")]


def negative_distributions() -> list[str]:
    """A property's distributions account pays only what was funded into it: never below zero, whatever its
    allow_negative flag says."""
    return [f"the distributions account of property {ref} is negative: {Money(balance, currency).display()}"
            for ref, currency, balance in _rows(
                """SELECT ref, currency, balance FROM ledger_accounts
                   WHERE kind = 'returns_funding' AND balance < 0 ORDER BY code""")]


def held_matches_holds() -> list[str]:
    return [f"account {code} holds {balance} but its pending holds total {pending}" for code, balance, pending in _rows(
        """SELECT a.code, a.balance, COALESCE(h.total, 0) FROM ledger_accounts a
           LEFT JOIN (SELECT user_id, SUM(amount) AS total FROM ledger_holds WHERE status = 'pending'
                      GROUP BY user_id) h ON h.user_id = a.user_id
           WHERE a.kind = 'user_held' AND a.balance <> COALESCE(h.total, 0) ORDER BY a.code""")]


def reversals_mirror() -> list[str]:
    return [f"reversal #{r} does not mirror entry #{o} on account {a}" for r, o, a in _rows(
        """SELECT r.id, r.reverses_id, x.account_id FROM ledger_entries r
           JOIN (SELECT entry_id, account_id, SUM(amount) AS total FROM ledger_postings GROUP BY entry_id, account_id) x
             ON x.entry_id IN (r.id, r.reverses_id)
           WHERE r.reverses_id IS NOT NULL
           GROUP BY r.id, r.reverses_id, x.account_id HAVING SUM(x.total) <> 0""")]


CORE_CHECKS: list[Check] = [
    unbalanced_entries, thin_entries, stale_balances, ledger_total, negative_accounts, negative_distributions,
    held_matches_holds, reversals_mirror,
]


def verify() -> Report:
    entries = db.session.execute(text("SELECT COUNT(*) FROM ledger_entries")).scalar_one()
    accounts = db.session.execute(text("SELECT COUNT(*) FROM ledger_accounts")).scalar_one()
    report = Report(entries=entries, accounts=accounts)
    for check in CORE_CHECKS + _EXTRA_CHECKS:
        report.violations.extend(check())
    return report
