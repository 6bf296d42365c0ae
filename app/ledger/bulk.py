"""`post_many`: many journal entries in one call, for batch jobs (a distribution run posts thousands at a time).

The rules are `post`'s, entry by entry: the same checks of the key and the lines, the same fingerprint, the same
answer to a key already posted (the same lines: that entry, and nothing moves; other lines: IdempotencyConflict),
the same conditional move of each cached balance (never below zero unless the account may go negative), accounts
locked in id order. What changes is the number of statements: a fixed handful per call, whatever the number of
entries. On PostgreSQL the rows travel as arrays and each step is one set-based statement (`INSERT ... SELECT FROM
unnest(...)`, `UPDATE ... FROM unnest(...)`), and the balance of each entry per currency and the existence of its
accounts are checked by the database's own guard of postings (a refusal is a ValidationError); on SQLite, which has
no such guard, rows go by executemany and every rule is checked here. All of an entry's postings are in one INSERT,
as that guard requires (docs/decisions/0001-statement-level-ledger-guards.md).

The call is all or nothing: it runs in a savepoint, so a refusal leaves the caller's transaction as it was.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import CursorResult, bindparam, text
from sqlalchemy.exc import IntegrityError

from app.core.db import UTCDateTime, utcnow
from app.core.errors import IdempotencyConflict, InsufficientFunds, ValidationError
from app.extensions import db
from app.ledger import periods
from app.ledger.rules import MOVE_BALANCE, check_key, check_lines, expire_balances, fingerprint, overdrawn

_NOW = bindparam("now", type_=UTCDateTime())


@dataclass(frozen=True)
class BulkEntry:
    """One entry of a bulk posting. `lines` are (account id, amount in minor units), as `post` takes (account,
    amount); at least two, summing to zero in each currency. `effective_date`: as `post` takes it (default today,
    UTC; never in the future nor in a closed month)."""

    key: str
    kind: str
    lines: Sequence[tuple[int, int]]
    memo: str = ""
    actor_id: int | None = None
    effective_date: date | None = None


def post_many(entries: Sequence[BulkEntry]) -> list[int]:
    """Write the entries and move the cached balances; returns each entry's id, in the order given (for a key
    already posted with the same lines, that entry's id). Flushes, never commits."""
    entries = list(entries)
    if not entries:
        return []
    sql = _Postgres() if db.engine.dialect.name == "postgresql" else _SQLite()
    fingerprints = _checked(entries, sql)
    days = periods.earliest([e.effective_date for e in entries])  # one look-up at most, only for back-dated ones
    now = utcnow()
    ids: list[int | None] = [None] * len(entries)
    moved: set[int] = set()
    short: dict[int, int] = {}
    try:
        with db.session.begin_nested():
            known = sql.existing([e.key for e in entries]) if sql.LOOKS_FIRST else {}
            fresh = []
            for n, entry in enumerate(entries):
                if entry.key in known:
                    ids[n] = _replay(known[entry.key], fingerprints[n])
                else:
                    fresh.append(n)
            if fresh:
                try:
                    created = sql.insert_entries([entries[n] for n in fresh], [fingerprints[n] for n in fresh],
                                                 [days[n] for n in fresh], now)
                except IntegrityError as exc:  # back-dated into a month closed meanwhile: the database refused it
                    refused = periods.guard_refusal(exc)
                    if refused is None:
                        raise
                    raise refused from None
                taken = [n for n in fresh if entries[n].key not in created]
                if taken:  # posted before, or by a concurrent transaction that committed first: those stand
                    theirs = sql.existing([entries[n].key for n in taken])
                    for n in taken:
                        ids[n] = _replay(theirs[entries[n].key], fingerprints[n])
                fresh = [n for n in fresh if entries[n].key in created]
                for n in fresh:
                    ids[n] = created[entries[n].key]
            if fresh:
                try:
                    sql.insert_postings([(created[entries[n].key], account_id, amount) for n in fresh
                                         for account_id, amount in entries[n].lines])
                except IntegrityError as exc:  # PostgreSQL's guard of postings: a currency unbalanced, an account missing
                    raise ValidationError(str(exc.orig).splitlines()[0]) from None
                deltas: dict[int, int] = {}
                for n in fresh:
                    for account_id, amount in entries[n].lines:
                        deltas[account_id] = deltas.get(account_id, 0) + amount
                deltas = {a: d for a, d in deltas.items() if d}
                moved = set(deltas)
                # balances last, in account-id order (as post does): those rows stay locked until the caller commits
                if sql.move_balances(dict(sorted(deltas.items()))) != len(deltas):
                    short = deltas
                    raise InsufficientFunds("insufficient funds")
    except InsufficientFunds:
        if short:  # the savepoint is rolled back: the balances read now are those before the call
            raise overdrawn(short) from None
        raise
    finally:
        expire_balances(moved)
    return ids  # type: ignore[return-value]


def _checked(entries: list[BulkEntry], sql: _Postgres | _SQLite) -> list[str]:
    """Each entry checked as `post` checks one (key, lines, balance per currency); their fingerprints."""
    keys = set()
    for entry in entries:
        check_key(entry.key)
        if entry.key in keys:
            raise ValidationError(f"idempotency key {entry.key!r} is given twice in one bulk posting")
        keys.add(entry.key)
    account_ids = {a for entry in entries for a, _ in entry.lines if type(a) is int}
    currencies = sql.currencies(account_ids)
    out = []
    for entry in entries:
        lines = list(entry.lines)
        check_lines([(a, currencies.get(a), amount) if a in account_ids else (None, None, amount)
                     for a, amount in lines])
        out.append(fingerprint(entry.kind, lines, None))
    return out


def _ints(values: Iterable[int]) -> str:
    """Integers for `CAST(string_to_array(:x, ',') AS BIGINT[])`: a long list travels as one string, much cheaper
    to send than an array parameter built element by element."""
    return ",".join(map(str, values))


def _replay(existing: tuple[int, str], expected: str) -> int:
    entry_id, found = existing
    if found != expected:
        raise IdempotencyConflict("this idempotency key was already used for a different entry")
    return entry_id


class _Postgres:
    """Arrays in, one set-based statement per step. Each entry's balance per currency and its accounts' existence
    are checked by the database's own guard of postings, once per INSERT (a refusal is a ValidationError); here
    only what needs no lookup (each entry sums to zero). A key already taken is found by the INSERT itself."""

    LOOKS_FIRST = False
    EXISTING = text("SELECT idempotency_key, id, fingerprint FROM ledger_entries "
                    "WHERE idempotency_key = ANY(CAST(:keys AS TEXT[]))")
    ENTRIES = text("""
        INSERT INTO ledger_entries (kind, memo, idempotency_key, fingerprint, actor_id, created_at, effective_date)
        SELECT e.kind, e.memo, e.key, e.fp, e.actor, :now, e.day
        FROM unnest(CAST(:kinds AS TEXT[]), CAST(:memos AS TEXT[]), CAST(:keys AS TEXT[]), CAST(:fps AS TEXT[]),
                    CAST(:actors AS BIGINT[]), CAST(:days AS DATE[]))
             WITH ORDINALITY AS e(kind, memo, key, fp, actor, day, n)
        ORDER BY e.n
        ON CONFLICT (idempotency_key) DO NOTHING
        RETURNING idempotency_key, id
    """).bindparams(_NOW)
    POSTINGS = text("""
        INSERT INTO ledger_postings (entry_id, account_id, amount)
        SELECT * FROM unnest(CAST(string_to_array(:entries, ',') AS BIGINT[]),
                             CAST(string_to_array(:accounts, ',') AS BIGINT[]),
                             CAST(string_to_array(:amounts, ',') AS BIGINT[]))
    """)
    LOCK = text("SELECT count(*) FROM (SELECT 1 FROM ledger_accounts "
                "WHERE id = ANY(CAST(string_to_array(:ids, ',') AS BIGINT[])) ORDER BY id FOR NO KEY UPDATE) AS locked")
    BALANCES = text("""
        UPDATE ledger_accounts AS a SET balance = a.balance + d.delta
        FROM unnest(CAST(string_to_array(:ids, ',') AS BIGINT[]), CAST(string_to_array(:deltas, ',') AS BIGINT[]))
             AS d(id, delta)
        WHERE a.id = d.id AND (a.allow_negative OR a.balance + d.delta >= 0)
    """)

    def currencies(self, account_ids: set[int]) -> dict[int, str]:
        return dict.fromkeys(account_ids, "")  # one pseudo-currency: each entry must at least sum to zero

    def existing(self, keys: list[str]) -> dict[str, tuple[int, str]]:
        return {k: (i, fp) for k, i, fp in db.session.execute(self.EXISTING, {"keys": keys})}

    def insert_entries(self, entries: list[BulkEntry], fps: list[str], days: list[date],
                       now: datetime) -> dict[str, int]:
        return dict(db.session.execute(self.ENTRIES, {
            "kinds": [e.kind for e in entries], "memos": [e.memo[:500] for e in entries],
            "keys": [e.key for e in entries], "fps": fps, "actors": [e.actor_id for e in entries],
            "days": days, "now": now}).all())

    def insert_postings(self, rows: list[tuple[int, int, int]]) -> None:
        entries, accounts, amounts = zip(*rows)
        db.session.execute(self.POSTINGS, {"entries": _ints(entries), "accounts": _ints(accounts),
                                           "amounts": _ints(amounts)})

    def move_balances(self, deltas: dict[int, int]) -> int:
        if not deltas:
            return 0
        ids = _ints(deltas)
        db.session.execute(self.LOCK, {"ids": ids}).scalar_one()  # rows locked in id order, none sent back
        return cast("CursorResult[Any]", db.session.execute(
            self.BALANCES, {"ids": ids, "deltas": _ints(deltas.values())})).rowcount


class _SQLite:
    """The embedded default, one writer at a time: rows by executemany. SQLite has no guard of its own on postings
    (no triggers), so each account's currency is looked up and every rule checked here."""

    LOOKS_FIRST = True

    EXISTING = text("SELECT idempotency_key, id, fingerprint FROM ledger_entries "
                    "WHERE idempotency_key IN (SELECT value FROM json_each(:keys))")
    ENTRIES = text("INSERT INTO ledger_entries (kind, memo, idempotency_key, fingerprint, actor_id, created_at, "
                   "effective_date) VALUES (:kind, :memo, :key, :fp, :actor, :now, :day)").bindparams(_NOW)
    POSTINGS = text("INSERT INTO ledger_postings (entry_id, account_id, amount) VALUES (:entry, :account, :amount)")

    def currencies(self, account_ids: set[int]) -> dict[int, str]:
        query = text("SELECT id, currency FROM ledger_accounts WHERE id IN (SELECT value FROM json_each(:ids))")
        return dict(db.session.execute(query, {"ids": json.dumps(sorted(account_ids))}).all()) if account_ids else {}

    def existing(self, keys: list[str]) -> dict[str, tuple[int, str]]:
        return {k: (i, fp) for k, i, fp in db.session.execute(self.EXISTING, {"keys": json.dumps(keys)})}

    def insert_entries(self, entries: list[BulkEntry], fps: list[str], days: list[date],
                       now: datetime) -> dict[str, int]:
        # one writer at a time: a key written since `existing` read them would make this INSERT fail, whole
        db.session.execute(self.ENTRIES, [
            {"kind": e.kind, "memo": e.memo[:500], "key": e.key, "fp": fp, "actor": e.actor_id, "now": now,
             "day": day.isoformat()} for e, fp, day in zip(entries, fps, days)])
        return {k: i for k, i, _ in db.session.execute(self.EXISTING, {"keys": json.dumps([e.key for e in entries])})}

    def insert_postings(self, rows: list[tuple[int, int, int]]) -> None:
        db.session.execute(self.POSTINGS, [{"entry": e, "account": a, "amount": m} for e, a, m in rows])

    def move_balances(self, deltas: dict[int, int]) -> int:
        if not deltas:
            return 0
        return cast("CursorResult[Any]", db.session.execute(
            MOVE_BALANCE, [{"account_id": a, "delta": d} for a, d in deltas.items()])).rowcount

