"""The rules every journal entry obeys, posted alone (`post`) or many at once (`post_many`): its key, its lines,
its fingerprint, and the one way a cached balance moves."""
from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence

from sqlalchemy import bindparam, or_, select, update

from app.core.errors import InsufficientFunds, ValidationError
from app.core.money import Money
from app.extensions import db
from app.ledger.models import NO_OVERDRAFT_KINDS, RETURNS_FUNDING, Account

# No single posting may move more than this (keeps every sum far inside BIGINT)
MAX_POSTING = 10**15


def fingerprint(kind: str, lines: Iterable[tuple[int, int]], reverses_id: int | None) -> str:
    """What an entry moves, as a hash: its kind, what it reverses and its (account id, amount) lines in any order.
    A replayed idempotency key is accepted only with the same fingerprint."""
    body = {"kind": kind, "reverses": reverses_id, "lines": sorted((int(a), int(m)) for a, m in lines)}
    return hashlib.sha256(json.dumps(body, separators=(",", ":")).encode()).hexdigest()


def check_key(key: str) -> None:
    if not isinstance(key, str) or not key.strip() or len(key) > 200:
        raise ValidationError("an idempotency key of 1 to 200 characters is required")


def check_lines(lines: Sequence[tuple[int | None, str | None, int]]) -> None:
    """(account id, its currency, amount) lines: at least two, of persisted accounts, integer amounts neither zero
    nor too large, summing to zero in each currency."""
    if len(lines) < 2:
        raise ValidationError("an entry needs at least two postings")
    totals: dict[str, int] = {}
    for account_id, currency, amount in lines:
        if account_id is None or currency is None:
            raise ValidationError("postings need persisted accounts")
        if isinstance(amount, bool) or not isinstance(amount, int):
            raise ValidationError("posting amounts are integers in minor units")
        if amount == 0:
            raise ValidationError("a posting cannot be zero")
        if abs(amount) > MAX_POSTING:
            raise ValidationError("a posting is too large")
        totals[currency] = totals.get(currency, 0) + amount
    unbalanced = {cur: total for cur, total in totals.items() if total != 0}
    if unbalanced:
        raise ValidationError(f"entry does not balance: {unbalanced}")


_accounts = Account.__table__
# one conditional UPDATE per account: never below zero unless the account may go negative
MOVE_BALANCE = (
    update(_accounts)
    .where(_accounts.c.id == bindparam("account_id"),
           or_(_accounts.c.allow_negative.is_(True), _accounts.c.balance + bindparam("delta") >= 0))
    .values(balance=_accounts.c.balance + bindparam("delta"))
)


def expire_balances(account_ids: Iterable[int]) -> None:
    """Forget the cached balance of these accounts in the session: the next read sees the row."""
    ids = set(account_ids)
    for obj in list(db.session.identity_map.values()):
        if isinstance(obj, Account) and obj.id in ids:
            db.session.expire(obj, ["balance"])


def overdrawn(deltas: dict[int, int]) -> InsufficientFunds:
    """The refusal of a posting whose `deltas` ({account id: change}) would take an account below zero, read from
    the balances as they were before it. A property's distributions account is named, with what it holds: it pays
    only what was funded into it (operator funding, app/investing/funding.py)."""
    ids = [a for a, d in deltas.items() if d < 0]
    rows = db.session.execute(select(Account.id, Account.kind, Account.ref, Account.currency, Account.balance)
                              .where(Account.id.in_(ids), Account.kind.in_(NO_OVERDRAFT_KINDS))
                              .order_by(Account.id)).all() if ids else []
    for account_id, kind, ref, currency, balance in rows:
        if kind == RETURNS_FUNDING and balance + deltas[account_id] < 0:
            return InsufficientFunds(
                f"the distributions account of property {ref} holds {Money(balance, currency).display()} and "
                f"cannot pay {Money(-deltas[account_id], currency).display()}: it pays only what was funded into it")
    return InsufficientFunds("insufficient funds")
