"""A user's ledger lines (wallet and held): the statement page, its filters, and the export with running balances."""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import Select, func, select

from app.core.money import Money
from app.extensions import db
from app.ledger.models import USER_KINDS, Account, JournalEntry, Posting


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


def _statement_query(user_id: int, *, kinds: Sequence[str] | None = None, since: date | None = None,
                     until: date | None = None) -> Select[int, int, str, str, str, int, str, datetime]:
    """The user's ledger lines (wallet and held), optionally of some entry kinds and between two dates (inclusive,
    UTC calendar days)."""
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
        query = query.where(JournalEntry.created_at >= datetime.combine(since, time(), tzinfo=UTC))
    if until is not None:
        query = query.where(JournalEntry.created_at < datetime.combine(until + timedelta(days=1), time(),
                                                                       tzinfo=UTC))
    return query


def statement(user_id: int, *, page: int = 1, per_page: int = 20, kinds: Sequence[str] | None = None,
              since: date | None = None, until: date | None = None) -> tuple[list[StatementLine], int]:
    """The user's ledger lines (wallet and held), newest first, with the total count; optionally only some entry
    kinds and only between two dates (inclusive)."""
    base = _statement_query(user_id, kinds=kinds, since=since, until=until)
    total = db.session.execute(select(func.count()).select_from(base.subquery())).scalar_one()
    rows = db.session.execute(base.order_by(Posting.id.desc()).limit(per_page).offset((page - 1) * per_page)).all()
    return [
        StatementLine(pid, eid, kind, memo, akind, Money(amount, currency), created)
        for pid, eid, kind, memo, akind, amount, currency, created in rows
    ], total


def recent_lines(user_id: int, limit: int = 5) -> list[StatementLine]:
    """The user's newest `limit` ledger lines, without the count statement() adds (a summary needs no pages)."""
    rows = db.session.execute(_statement_query(user_id).order_by(Posting.id.desc()).limit(limit)).all()
    return [StatementLine(pid, eid, kind, memo, akind, Money(amount, currency), created)
            for pid, eid, kind, memo, akind, amount, currency, created in rows]


def statement_kinds(user_id: int) -> list[str]:
    """The entry kinds that appear in the user's ledger lines (for filters)."""
    return sorted(db.session.scalars(
        select(JournalEntry.kind).distinct().join(Posting, Posting.entry_id == JournalEntry.id)
        .join(Account, Account.id == Posting.account_id)
        .where(Account.user_id == user_id, Account.kind.in_(USER_KINDS))))


def statement_export(user_id: int, *, kinds: Sequence[str] | None = None, since: date | None = None,
                     until: date | None = None) -> Iterable[StatementLine]:
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
