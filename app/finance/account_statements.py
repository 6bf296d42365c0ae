"""Any ledger account's statement between two days: opening balance, its lines with a running balance (a page at a
time), closing balance, all from one read so that opening + lines = closing. Only reads."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from app.core.db import utcnow
from app.core.money import Money
from app.extensions import db
from app.finance.reports import BadRange, _at, _first_of
from app.ledger.models import Account, JournalEntry, Posting

# account statements --------------------------------------------------------------------------------------------------
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def parse_day(text: str | None, name: str, default: date) -> date:
    if not text:
        return default
    try:
        if not _DAY.fullmatch(text.strip()):
            raise ValueError(text)
        return date.fromisoformat(text.strip())
    except ValueError:
        raise BadRange(f"{name}: a date is written YYYY-MM-DD") from None


@dataclass
class Statement:
    account: Account
    first: date
    last: date
    opening: int
    closing: int
    count: int
    page: int
    page_size: int
    page_opening: int
    lines: list[dict]

    @property
    def pages(self) -> int:
        return max(1, -(-self.count // self.page_size))

    def money(self, minor: int) -> Money:
        return Money(minor, self.account.currency)


MAX_STATEMENT_DAYS = 3660
PAGE_SIZE = 100


def statement_range(from_text: str | None, to_text: str | None, *, today: date | None = None) -> tuple[date, date]:
    today = today or utcnow().date()
    last = parse_day(to_text, "to", today)
    first = parse_day(from_text, "from", _first_of(last))
    if first > last:
        raise BadRange("from: the first day comes after the last")
    if (last - first).days > MAX_STATEMENT_DAYS:
        raise BadRange("at most ten years at a time")
    if first.year < 2000 or last.year > 2999:
        raise BadRange("days from 2000 to 2999")
    return first, last


def _lines_in(account_id: int, start: datetime, end: datetime):
    return (select(Posting.id, Posting.amount, JournalEntry.id.label("entry_id"), JournalEntry.created_at,
                   JournalEntry.kind, JournalEntry.memo)
            .join(JournalEntry, JournalEntry.id == Posting.entry_id)
            .where(Posting.account_id == account_id, JournalEntry.created_at >= start, JournalEntry.created_at < end)
            .order_by(JournalEntry.created_at, Posting.id))


def _posted_since(account_id: int, since: datetime):
    return (select(func.coalesce(func.sum(Posting.amount), 0)).join(JournalEntry, JournalEntry.id == Posting.entry_id)
            .where(Posting.account_id == account_id, JournalEntry.created_at >= since).scalar_subquery())


def statement(account: Account, first: date, last: date, *, page: int = 0, page_size: int = PAGE_SIZE) -> Statement:
    """Opening balance (before `first`), the lines from `first` to `last` (whole UTC days) with a running balance,
    a page at a time, and the closing balance (after `last`). The balances come from the account's own balance less
    what was posted after each point, read in one statement with the count: the closing balance of a range that
    ends today is the account's balance."""
    start, end = _at(first), _at(last + timedelta(days=1))
    balance, after_start, after_end, count = db.session.execute(select(
        select(Account.balance).where(Account.id == account.id).scalar_subquery(),
        _posted_since(account.id, start), _posted_since(account.id, end),
        select(func.count()).select_from(_lines_in(account.id, start, end).subquery()).scalar_subquery())).one()
    opening, closing = int(balance) - int(after_start), int(balance) - int(after_end)
    page = max(0, min(page, max(0, -(-int(count) // page_size) - 1)))
    before = 0
    if page:
        skipped = _lines_in(account.id, start, end).limit(page * page_size).subquery()
        before = int(db.session.execute(select(func.coalesce(func.sum(skipped.c.amount), 0))).scalar_one())
    running = opening + before
    lines = []
    for row in db.session.execute(_lines_in(account.id, start, end).limit(page_size).offset(page * page_size)).all():
        running += int(row.amount)
        lines.append({"posting_id": row.id, "entry_id": row.entry_id, "at": row.created_at, "kind": row.kind,
                      "memo": row.memo, "amount": int(row.amount), "balance": running})
    return Statement(account, first, last, opening, closing, int(count), page, page_size, opening + before, lines)


def statement_rows(account: Account, first: date, last: date, *, limit: int) -> tuple[int, int, list[list[Any]]]:
    """Opening, closing and every line (at most `limit`; more is a BadRange) for an export."""
    head = statement(account, first, last, page=0, page_size=1)
    if head.count > limit:
        raise BadRange(f"{head.count} lines: at most {limit} in one export, narrow the dates")
    start, end = _at(first), _at(last + timedelta(days=1))
    currency = account.currency
    running = head.opening
    rows: list[list[Any]] = []
    for row in db.session.execute(_lines_in(account.id, start, end)).all():
        running += int(row.amount)
        at = row.created_at if row.created_at.tzinfo else row.created_at.replace(tzinfo=UTC)
        rows.append([f"{at:%Y-%m-%d %H:%M:%S}", row.entry_id, row.kind, row.memo, Money(int(row.amount), currency),
                     Money(running, currency)])
    return head.opening, head.closing, rows
