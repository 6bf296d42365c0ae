"""Ledger services: post, post_many, hold, settle, release, reverse. They flush and never commit.

Every movement is a balanced journal entry with a unique idempotency key. Balances are cached on the account row
and changed only by a conditional UPDATE (`balance + delta >= 0` unless the account may go negative), issued in
account-id order so two transactions never deadlock; on PostgreSQL the UPDATE holds the row lock until commit.
This module is the ledger's facade: the accounts (app.ledger.accounts), the bulk form of `post` for batch jobs
(app.ledger.bulk) and the statements (app.ledger.statements) are reached through it.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import nullcontext
from datetime import date
from typing import Any, cast

from sqlalchemy import CursorResult, insert, select, update
from sqlalchemy.exc import IntegrityError

from app.core.db import utcnow
from app.core.errors import (
    Conflict,
    IdempotencyConflict,
    IllegalTransition,
    ValidationError,
)
from app.extensions import db
from app.ledger import periods
from app.ledger.accounts import (
    AccountBalance,
    Balance,
    account_code,
    balance_of,
    balances_of_kind,
    below_zero,
    open_user_accounts,
    platform_account,
    platform_account_ids,
    platform_currency,
    user_account,
    wallet_ids,
)
from app.ledger.bulk import BulkEntry, post_many
from app.ledger.checks import register_check, verify  # other domains add their invariants to verify
from app.ledger.models import (
    HOLD_PENDING,
    HOLD_RELEASED,
    HOLD_SETTLED,
    PAYOUTS_IN_TRANSIT,
    USER_HELD,
    USER_WALLET,
    Account,
    Hold,
    JournalEntry,
    Posting,
)
from app.ledger.rules import (
    MAX_POSTING,
    MOVE_BALANCE,
    check_key,
    check_lines,
    expire_balances,
    fingerprint,
    overdrawn,
)
from app.ledger.statements import StatementLine, recent_lines, statement, statement_export, statement_kinds

__all__ = [
    "HOLD_KINDS",
    "MAX_POSTING",
    "AccountBalance",
    "Balance",
    "BulkEntry",
    "StatementLine",
    "account_code",
    "balance_of",
    "balances_of_kind",
    "below_zero",
    "entry_by_key",
    "hold",
    "open_user_accounts",
    "periods",
    "platform_account",
    "platform_account_ids",
    "platform_currency",
    "post",
    "post_many",
    "recent_lines",
    "register_check",
    "release",
    "reverse",
    "settle",
    "settle_split",
    "statement",
    "statement_export",
    "statement_kinds",
    "user_account",
    "verify",
    "wallet_ids",
]

HOLD_KINDS = ("hold", "hold_settle", "hold_release")
_postings = Posting.__table__


# posting --------------------------------------------------------------------------------------------------------
def _fingerprint(kind: str, lines: Sequence[tuple[Account, int]], reverses_id: int | None) -> str:
    """The fingerprint of an entry with these (account, amount) lines (rules.fingerprint, by account id)."""
    return fingerprint(kind, [(a.id, amt) for a, amt in lines], reverses_id)


def _validate(lines: Sequence[tuple[Account, int]], key: str) -> None:
    check_key(key)
    check_lines([(a.id, a.currency, amt) if isinstance(a, Account) else (None, None, amt) for a, amt in lines])


def _replay(existing: JournalEntry, expected: str) -> JournalEntry:
    if existing.fingerprint != expected:
        raise IdempotencyConflict("this idempotency key was already used for a different entry")
    return existing


def entry_by_key(key: str) -> JournalEntry | None:
    return db.session.scalar(select(JournalEntry).where(JournalEntry.idempotency_key == key))


def post(lines: Iterable[tuple[Account, int]], *, key: str, kind: str, memo: str = "",
         actor_id: int | None = None, reverses_id: int | None = None, exclusive: bool = False,
         effective_date: date | None = None) -> JournalEntry:
    """Write one balanced entry and move the cached balances. Replaying `key` with the same lines returns the
    first entry and changes nothing; the same key with other lines is an IdempotencyConflict.

    exclusive=True: the caller holds the lock that makes it the only transaction that can post `key` (the row
    lock of the record the entry belongs to) and no line can overdraw, so the replay lookup and the savepoint are
    skipped; any failure then aborts the caller's unit of work, which must roll back.

    effective_date: the day the entry counts for (default today, UTC); never in the future nor in or before a
    closed month (periods.ClosedPeriod, checked here and by the database)."""
    lines = list(lines)
    _validate(lines, key)
    effective_date = periods.effective(effective_date)
    entry_fingerprint = _fingerprint(kind, lines, reverses_id)
    if not exclusive:
        existing = entry_by_key(key)
        if existing is not None:
            return _replay(existing, entry_fingerprint)

    deltas: dict[int, int] = {}
    for account, amount in lines:
        deltas[account.id] = deltas.get(account.id, 0) + amount
    try:
        with nullcontext() if exclusive else db.session.begin_nested():
            entry = JournalEntry(kind=kind, memo=memo[:500], idempotency_key=key, fingerprint=entry_fingerprint,
                                 actor_id=actor_id, reverses_id=reverses_id, effective_date=effective_date)
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
                result = connection.execute(MOVE_BALANCE, {"account_id": account_id, "delta": deltas[account_id]})
                if result.rowcount != 1:  # the balances moved so far are rolled back with the entry
                    raise overdrawn({account_id: deltas[account_id]})
    except IntegrityError as exc:
        refused = periods.guard_refusal(exc)  # back-dated into a month closed meanwhile: the database refused it
        if refused is not None:
            raise refused from None
        if exclusive:
            raise
        existing = entry_by_key(key)  # a concurrent transaction committed the same key first
        if existing is None:
            raise
        return _replay(existing, entry_fingerprint)
    finally:
        expire_balances(deltas)
    db.session.expire(entry, ["postings"])
    return entry


def reverse(entry: JournalEntry, *, key: str, memo: str, actor_id: int | None = None,
            effective_date: date | None = None) -> JournalEntry:
    """Undo an entry with a new one carrying the opposite postings. An entry is reversed at most once. The
    reversal goes into the open period (today by default), whatever the day of the entry it undoes: that is how
    an entry of a closed month is corrected."""
    if entry.kind in HOLD_KINDS:
        raise IllegalTransition("hold entries are resolved by settling or releasing the hold, not by reversal")
    if not memo or not memo.strip():
        raise ValidationError("a reversal needs a reason", {"memo": ["A reason is required."]})
    already = db.session.scalar(select(JournalEntry).where(JournalEntry.reverses_id == entry.id))
    if already is not None and already.idempotency_key != key:
        raise Conflict(f"entry #{entry.id} was already reversed by entry #{already.id}")
    lines = [(p.account, -p.amount) for p in entry.postings]
    return post(lines, key=key, kind="reversal", memo=memo, actor_id=actor_id, reverses_id=entry.id,
                effective_date=effective_date)


# holds ----------------------------------------------------------------------------------------------------------
def hold(user_id: int, amount: int, *, key: str, memo: str = "", actor_id: int | None = None,
         effective_date: date | None = None) -> Hold:
    """Move `amount` from the user's wallet to their held account, pending one resolution."""
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise ValidationError("a hold needs a positive amount")
    wallet, held = user_account(user_id, USER_WALLET), user_account(user_id, USER_HELD)
    entry = post([(wallet, -amount), (held, amount)], key=key, kind="hold", memo=memo, actor_id=actor_id,
                 effective_date=effective_date)
    existing = db.session.scalar(select(Hold).where(Hold.hold_entry_id == entry.id))
    if existing is not None:
        return existing
    try:
        with db.session.begin_nested():
            record = Hold(user_id=user_id, amount=amount, currency=wallet.currency, status=HOLD_PENDING,
                          memo=memo[:500], hold_entry_id=entry.id)
            db.session.add(record)
    except IntegrityError:
        existing = db.session.scalar(select(Hold).where(Hold.hold_entry_id == entry.id))
        if existing is None:  # not a concurrent hold of the same entry: the error was another one
            raise
        record = existing
    return record


def settle(record: Hold, *, key: str, destination: Account | None = None, memo: str = "",
           actor_id: int | None = None, effective_date: date | None = None) -> Hold:
    """Pay the held money out to `destination` (payouts in transit by default). Once only."""
    destination = destination or platform_account(PAYOUTS_IN_TRANSIT)
    held = user_account(record.user_id, USER_HELD)
    return _resolve(record, HOLD_SETTLED, [(held, -record.amount), (destination, record.amount)],
                    key=key, kind="hold_settle", memo=memo, actor_id=actor_id, effective_date=effective_date)


def settle_split(record: Hold, lines: Iterable[tuple[Account, int]], *, key: str, memo: str = "",
                 actor_id: int | None = None, kind: str = "hold_settle", effective_date: date | None = None) -> Hold:
    """Pay the held money out to several destinations at once (a market trade: the seller, fee revenue, any
    excess back to the wallet), in one entry. `lines` are (account, positive amount) adding up to the hold's
    amount. Once only, as settle."""
    lines = list(lines)
    if not lines or any(isinstance(amt, bool) or not isinstance(amt, int) or amt <= 0 for _, amt in lines):
        raise ValidationError("a hold is paid out in positive amounts")
    if sum(amt for _, amt in lines) != record.amount:
        raise ValidationError(f"the destinations must add up to the hold's {record.amount}")
    held = user_account(record.user_id, USER_HELD)
    return _resolve(record, HOLD_SETTLED, [(held, -record.amount), *lines],
                    key=key, kind=kind, memo=memo, actor_id=actor_id, effective_date=effective_date)


def release(record: Hold, *, key: str, memo: str = "", actor_id: int | None = None,
            effective_date: date | None = None) -> Hold:
    """Give the held money back to the user's wallet. Once only."""
    wallet, held = user_account(record.user_id, USER_WALLET), user_account(record.user_id, USER_HELD)
    return _resolve(record, HOLD_RELEASED, [(held, -record.amount), (wallet, record.amount)],
                    key=key, kind="hold_release", memo=memo, actor_id=actor_id, effective_date=effective_date)


def _resolve(record: Hold, status: str, lines: Iterable[tuple[Account, int]], *, key: str, kind: str, memo: str,
             actor_id: int | None, effective_date: date | None = None) -> Hold:
    claimed = cast("CursorResult[Any]", db.session.execute(
        update(Hold).where(Hold.id == record.id, Hold.status == HOLD_PENDING)
        .values(status=status, resolved_at=utcnow())
        .execution_options(synchronize_session=False)
    )).rowcount
    if claimed != 1:
        db.session.refresh(record)
        done = record.resolution_entry_id and db.session.get(JournalEntry, record.resolution_entry_id)
        if record.status == status and done and done.idempotency_key == key:
            return record  # the same resolution, replayed
        raise IllegalTransition(f"hold #{record.id} is already {record.status}")
    if effective_date is not None:  # checked before the hold is claimed: a refusal leaves it pending
        effective_date = periods.effective(effective_date)
    entry = post(lines, key=key, kind=kind, memo=memo or record.memo, actor_id=actor_id,
                 effective_date=effective_date)
    db.session.execute(
        update(Hold).where(Hold.id == record.id).values(resolution_entry_id=entry.id)
        .execution_options(synchronize_session=False)
    )
    db.session.refresh(record)
    return record
