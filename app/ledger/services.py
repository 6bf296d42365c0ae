"""Ledger services: post, hold, settle, release, reverse. They flush and never commit.

Every movement is a balanced journal entry with a unique idempotency key. Balances are cached on the account row
and changed only by a conditional UPDATE (`balance + delta >= 0` unless the account may go negative), issued in
account-id order so two transactions never deadlock; on PostgreSQL the UPDATE holds the row lock until commit.
"""
from __future__ import annotations

import hashlib
import json
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Iterable, Sequence

from flask import current_app
from sqlalchemy import bindparam, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from app.core.db import utcnow
from app.core.errors import (
    Conflict,
    IdempotencyConflict,
    IllegalTransition,
    InsufficientFunds,
    NotFound,
    ValidationError,
)
from app.core.money import Money
from app.extensions import db
from app.ledger.models import (
    ACCOUNT_KINDS,
    GATEWAY_CLEARING,
    HOLD_PENDING,
    HOLD_RELEASED,
    HOLD_SETTLED,
    PAYOUTS_IN_TRANSIT,
    USER_HELD,
    USER_KINDS,
    USER_WALLET,
    Account,
    Hold,
    JournalEntry,
    Posting,
)

# No single posting may move more than this (keeps every sum far inside BIGINT)
MAX_POSTING = 10**15
HOLD_KINDS = ("hold", "hold_settle", "hold_release")

_PLATFORM_NAMES = {
    GATEWAY_CLEARING: "Gateway clearing",
    "property_escrow": "Property escrow",
    "returns_funding": "Returns funding",
    "fee_revenue": "Fee revenue",
    PAYOUTS_IN_TRANSIT: "Payouts in transit",
    "rounding": "Rounding residue",
    "adjustments": "Manual adjustments",
    "receivables": "Owed by investor",
}


@dataclass(frozen=True)
class Balance:
    available: Money
    held: Money


def platform_currency() -> str:
    return current_app.config["FREEHOLD_CURRENCY"]


# accounts -------------------------------------------------------------------------------------------------------
def account_code(kind: str, *, user_id: int | None = None, ref: str | None = None) -> str:
    if kind in USER_KINDS:
        return f"user:{user_id}:{kind.removeprefix('user_')}"
    return f"{kind}:{ref}" if ref else kind


def open_user_accounts(user) -> tuple[Account, Account]:
    """Create the wallet and held accounts of a new user (call in the same transaction that creates the user)."""
    if user.id is None:
        db.session.flush()
    currency = platform_currency()
    accounts = []
    for kind, label in ((USER_WALLET, "Wallet"), (USER_HELD, "Held")):
        code = account_code(kind, user_id=user.id)
        account = db.session.scalar(select(Account).where(Account.code == code))
        if account is None:
            account = Account(code=code, kind=kind, name=f"{label} of {user.email}", user_id=user.id,
                              currency=currency, balance=0, allow_negative=False)
            db.session.add(account)
        accounts.append(account)
    db.session.flush()
    return accounts[0], accounts[1]


def user_account(user_id: int, kind: str = USER_WALLET) -> Account:
    account = db.session.scalar(select(Account).where(Account.code == account_code(kind, user_id=user_id)))
    if account is None:
        raise NotFound("this user has no ledger account")
    return account


def platform_account(kind: str, ref: str | None = None) -> Account:
    """The platform account of `kind` (per gateway, per property, ...), created on first use."""
    if kind not in ACCOUNT_KINDS or kind in USER_KINDS:
        raise ValueError(f"not a platform account kind: {kind}")
    code = account_code(kind, ref=ref)
    account = db.session.scalar(select(Account).where(Account.code == code))
    if account is not None:
        return account
    name = _PLATFORM_NAMES.get(kind, kind) + (f": {ref}" if ref else "")
    try:
        with db.session.begin_nested():
            account = Account(code=code, kind=kind, name=name, ref=ref, currency=platform_currency(),
                              balance=0, allow_negative=True)
            db.session.add(account)
    except IntegrityError:  # created by a concurrent transaction
        account = db.session.scalar(select(Account).where(Account.code == code))
    return account


def balance_of(user_id: int) -> Balance:
    rows = db.session.execute(
        select(Account.kind, Account.balance, Account.currency).where(
            Account.user_id == user_id, Account.kind.in_(USER_KINDS))
    ).all()
    currency = platform_currency()
    values = {kind: bal for kind, bal, currency in rows}
    return Balance(Money(values.get(USER_WALLET, 0), currency), Money(values.get(USER_HELD, 0), currency))


# posting --------------------------------------------------------------------------------------------------------
def _fingerprint(kind: str, lines: Sequence[tuple[Account, int]], reverses_id: int | None) -> str:
    body = {"kind": kind, "reverses": reverses_id, "lines": sorted((a.id, amt) for a, amt in lines)}
    return hashlib.sha256(json.dumps(body, separators=(",", ":")).encode()).hexdigest()


def _validate(lines: Sequence[tuple[Account, int]], key: str) -> None:
    if not isinstance(key, str) or not key.strip() or len(key) > 200:
        raise ValidationError("an idempotency key of 1 to 200 characters is required")
    if len(lines) < 2:
        raise ValidationError("an entry needs at least two postings")
    totals: dict[str, int] = {}
    for account, amount in lines:
        if not isinstance(account, Account) or account.id is None:
            raise ValidationError("postings need persisted accounts")
        if isinstance(amount, bool) or not isinstance(amount, int):
            raise ValidationError("posting amounts are integers in minor units")
        if amount == 0:
            raise ValidationError("a posting cannot be zero")
        if abs(amount) > MAX_POSTING:
            raise ValidationError("a posting is too large")
        totals[account.currency] = totals.get(account.currency, 0) + amount
    unbalanced = {cur: total for cur, total in totals.items() if total != 0}
    if unbalanced:
        raise ValidationError(f"entry does not balance: {unbalanced}")


def _replay(existing: JournalEntry, fingerprint: str) -> JournalEntry:
    if existing.fingerprint != fingerprint:
        raise IdempotencyConflict("this idempotency key was already used for a different entry")
    return existing


def entry_by_key(key: str) -> JournalEntry | None:
    return db.session.scalar(select(JournalEntry).where(JournalEntry.idempotency_key == key))


def post(lines: Iterable[tuple[Account, int]], *, key: str, kind: str, memo: str = "",
         actor_id: int | None = None, reverses_id: int | None = None, exclusive: bool = False) -> JournalEntry:
    """Write one balanced entry and move the cached balances. Replaying `key` with the same lines returns the
    first entry and changes nothing; the same key with other lines is an IdempotencyConflict.

    exclusive=True: the caller holds the lock that makes it the only transaction that can post `key` (the row
    lock of the record the entry belongs to) and no line can overdraw, so the replay lookup and the savepoint are
    skipped; any failure then aborts the caller's unit of work, which must roll back."""
    lines = list(lines)
    _validate(lines, key)
    fingerprint = _fingerprint(kind, lines, reverses_id)
    if not exclusive:
        existing = entry_by_key(key)
        if existing is not None:
            return _replay(existing, fingerprint)

    deltas: dict[int, int] = {}
    for account, amount in lines:
        deltas[account.id] = deltas.get(account.id, 0) + amount
    try:
        with nullcontext() if exclusive else db.session.begin_nested():
            entry = JournalEntry(kind=kind, memo=memo[:500], idempotency_key=key, fingerprint=fingerprint,
                                 actor_id=actor_id, reverses_id=reverses_id)
            db.session.add(entry)
            db.session.flush()
            connection = db.session.connection()
            connection.execute(insert(_postings).values(  # one statement; entry.postings loads when asked for
                [{"entry_id": entry.id, "account_id": a.id, "amount": amt} for a, amt in lines]))
            # balances last: the rows they lock (a platform account takes every entry of its kind) stay locked
            # only from here to the caller's commit; a duplicate key has failed above without waiting for them
            for account_id in sorted(deltas):
                if deltas[account_id] == 0:
                    continue
                result = connection.execute(_MOVE_BALANCE, {"account_id": account_id, "delta": deltas[account_id]})
                if result.rowcount != 1:
                    raise InsufficientFunds("insufficient funds")
    except IntegrityError:
        if exclusive:
            raise
        existing = entry_by_key(key)  # a concurrent transaction committed the same key first
        if existing is None:
            raise
        return _replay(existing, fingerprint)
    finally:
        _expire_balances(deltas)
    db.session.expire(entry, ["postings"])
    return entry


_accounts = Account.__table__
_postings = Posting.__table__
# one conditional UPDATE per account: never below zero unless the account may go negative
_MOVE_BALANCE = (
    update(_accounts)
    .where(_accounts.c.id == bindparam("account_id"),
           or_(_accounts.c.allow_negative.is_(True), _accounts.c.balance + bindparam("delta") >= 0))
    .values(balance=_accounts.c.balance + bindparam("delta"))
)


def _expire_balances(account_ids) -> None:
    for obj in list(db.session.identity_map.values()):
        if isinstance(obj, Account) and obj.id in account_ids:
            db.session.expire(obj, ["balance"])


def reverse(entry: JournalEntry, *, key: str, memo: str, actor_id: int | None = None) -> JournalEntry:
    """Undo an entry with a new one carrying the opposite postings. An entry is reversed at most once."""
    if entry.kind in HOLD_KINDS:
        raise IllegalTransition("hold entries are resolved by settling or releasing the hold, not by reversal")
    if not memo or not memo.strip():
        raise ValidationError("a reversal needs a reason", {"memo": ["A reason is required."]})
    already = db.session.scalar(select(JournalEntry).where(JournalEntry.reverses_id == entry.id))
    if already is not None and already.idempotency_key != key:
        raise Conflict(f"entry #{entry.id} was already reversed by entry #{already.id}")
    lines = [(p.account, -p.amount) for p in entry.postings]
    return post(lines, key=key, kind="reversal", memo=memo, actor_id=actor_id, reverses_id=entry.id)


# holds ----------------------------------------------------------------------------------------------------------
def hold(user_id: int, amount: int, *, key: str, memo: str = "", actor_id: int | None = None) -> Hold:
    """Move `amount` from the user's wallet to their held account, pending one resolution."""
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise ValidationError("a hold needs a positive amount")
    wallet, held = user_account(user_id, USER_WALLET), user_account(user_id, USER_HELD)
    entry = post([(wallet, -amount), (held, amount)], key=key, kind="hold", memo=memo, actor_id=actor_id)
    existing = db.session.scalar(select(Hold).where(Hold.hold_entry_id == entry.id))
    if existing is not None:
        return existing
    try:
        with db.session.begin_nested():
            record = Hold(user_id=user_id, amount=amount, currency=wallet.currency, status=HOLD_PENDING,
                          memo=memo[:500], hold_entry_id=entry.id)
            db.session.add(record)
    except IntegrityError:
        record = db.session.scalar(select(Hold).where(Hold.hold_entry_id == entry.id))
    return record


def settle(record: Hold, *, key: str, destination: Account | None = None, memo: str = "",
           actor_id: int | None = None) -> Hold:
    """Pay the held money out to `destination` (payouts in transit by default). Once only."""
    destination = destination or platform_account(PAYOUTS_IN_TRANSIT)
    held = user_account(record.user_id, USER_HELD)
    return _resolve(record, HOLD_SETTLED, [(held, -record.amount), (destination, record.amount)],
                    key=key, kind="hold_settle", memo=memo, actor_id=actor_id)


def release(record: Hold, *, key: str, memo: str = "", actor_id: int | None = None) -> Hold:
    """Give the held money back to the user's wallet. Once only."""
    wallet, held = user_account(record.user_id, USER_WALLET), user_account(record.user_id, USER_HELD)
    return _resolve(record, HOLD_RELEASED, [(held, -record.amount), (wallet, record.amount)],
                    key=key, kind="hold_release", memo=memo, actor_id=actor_id)


def _resolve(record: Hold, status: str, lines, *, key: str, kind: str, memo: str, actor_id: int | None) -> Hold:
    claimed = db.session.execute(
        update(Hold).where(Hold.id == record.id, Hold.status == HOLD_PENDING)
        .values(status=status, resolved_at=utcnow())
        .execution_options(synchronize_session=False)
    ).rowcount
    if claimed != 1:
        db.session.refresh(record)
        done = record.resolution_entry_id and db.session.get(JournalEntry, record.resolution_entry_id)
        if record.status == status and done and done.idempotency_key == key:
            return record  # the same resolution, replayed
        raise IllegalTransition(f"hold #{record.id} is already {record.status}")
    entry = post(lines, key=key, kind=kind, memo=memo or record.memo, actor_id=actor_id)
    db.session.execute(
        update(Hold).where(Hold.id == record.id).values(resolution_entry_id=entry.id)
        .execution_options(synchronize_session=False)
    )
    db.session.refresh(record)
    return record


# reading --------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class StatementLine:
    posting_id: int
    entry_id: int
    kind: str
    memo: str
    account_kind: str
    amount: Money
    created_at: object
    balance: Money | None = None  # the account's balance after this line (statement_export only)


def _statement_query(user_id: int, *, kinds: Sequence[str] | None = None, since=None, until=None):
    """The user's ledger lines (wallet and held), optionally of some entry kinds and between two dates (inclusive,
    UTC calendar days)."""
    from datetime import datetime, time, timedelta, timezone

    query = (
        select(Posting.id, Posting.entry_id, JournalEntry.kind, JournalEntry.memo, Account.kind, Posting.amount,
               Account.currency, JournalEntry.created_at)
        .join(JournalEntry, JournalEntry.id == Posting.entry_id)
        .join(Account, Account.id == Posting.account_id)
        .where(Account.user_id == user_id, Account.kind.in_(USER_KINDS))
    )
    if kinds:
        query = query.where(JournalEntry.kind.in_(list(kinds)))
    if since is not None:
        query = query.where(JournalEntry.created_at >= datetime.combine(since, time(), tzinfo=timezone.utc))
    if until is not None:
        query = query.where(JournalEntry.created_at < datetime.combine(until + timedelta(days=1), time(),
                                                                       tzinfo=timezone.utc))
    return query


def statement(user_id: int, *, page: int = 1, per_page: int = 20, kinds: Sequence[str] | None = None,
              since=None, until=None) -> tuple[list[StatementLine], int]:
    """The user's ledger lines (wallet and held), newest first, with the total count; optionally only some entry
    kinds and only between two dates (inclusive)."""
    base = _statement_query(user_id, kinds=kinds, since=since, until=until)
    total = db.session.scalar(select(func.count()).select_from(base.subquery()))
    rows = db.session.execute(base.order_by(Posting.id.desc()).limit(per_page).offset((page - 1) * per_page)).all()
    return [
        StatementLine(pid, eid, kind, memo, akind, Money(amount, currency), created)
        for pid, eid, kind, memo, akind, amount, currency, created in rows
    ], total


def statement_kinds(user_id: int) -> list[str]:
    """The entry kinds that appear in the user's ledger lines (for filters)."""
    return sorted(db.session.scalars(
        select(JournalEntry.kind).distinct().join(Posting, Posting.entry_id == JournalEntry.id)
        .join(Account, Account.id == Posting.account_id)
        .where(Account.user_id == user_id, Account.kind.in_(USER_KINDS))))


def statement_export(user_id: int, *, kinds: Sequence[str] | None = None, since=None,
                     until=None) -> Iterable[StatementLine]:
    """The user's ledger lines oldest first, each with its account's balance after it (counted over every line,
    whatever the filters), streamed in batches."""
    running = (
        select(Posting.id.label("pid"),
               func.sum(Posting.amount).over(partition_by=Posting.account_id, order_by=Posting.id).label("after"))
        .join(Account, Account.id == Posting.account_id)
        .where(Account.user_id == user_id, Account.kind.in_(USER_KINDS))
        .subquery()
    )
    query = (_statement_query(user_id, kinds=kinds, since=since, until=until)
             .add_columns(running.c.after).join(running, running.c.pid == Posting.id)
             .order_by(Posting.id).execution_options(yield_per=500))
    for pid, eid, kind, memo, akind, amount, currency, created, after in db.session.execute(query):
        yield StatementLine(pid, eid, kind, memo, akind, Money(amount, currency), created, Money(int(after), currency))
