"""Effective dates, closed months and the trial balance.

Every journal entry carries an effective date: the day it counts for in the books (default: the day it is posted,
UTC). Finance closes a month that has ended; from then on no entry may carry an effective date in or before it. The
rule is checked here first, with a clear error, and held by the database: a trigger on ledger_entries refuses an
entry dated on or before the one row of ledger_closed_through (docs/decisions/0019-closed-periods-guard.md).

A day of the current month can never be in a closed month (only months that have ended are closed), so an entry
dated in it - every ordinary posting - is neither looked up here nor waits for anything in the database. An entry
dated earlier takes, in the trigger, a shared advisory lock that a close takes exclusively: a close waits for the
back-dated postings in flight to commit, then freezes its trial balance; postings that come after it see the new
closed-through date and are refused. Nothing posted into the month can miss its trial balance.

The close freezes the trial balance as of the month's end (per account, the sum of the postings of entries dated on
or before it). Reopening takes two admins: one proposes with a reason, a different one approves; the month is then
open again and a later close freezes a new trial balance (the earlier one is kept for history).
"""
from __future__ import annotations

import calendar
from datetime import date, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, func, select, text, update
from sqlalchemy.exc import IntegrityError

from app.core import audit
from app.core.db import utcnow
from app.core.errors import Conflict, Forbidden, NotFound, ValidationError
from app.core.security import has_permission
from app.extensions import db
from app.ledger.accounts import platform_currency
from app.ledger.checks import register_check
from app.ledger.models import JournalEntry
from app.ledger.period_models import (
    REOPEN_APPROVED,
    REOPEN_PENDING,
    REOPEN_REFUSED,
    ClosedThrough,
    PeriodClose,
    PeriodReopen,
    TrialBalanceLine,
)
from app.ledger.trial_balance import (  # the trial balance is read through this module too
    TRIAL_BALANCE_HEADER,
    TrialRow,
    export_rows,
    frozen_trial_balance,
    totals,
    trial_balance,
)

# transaction-scoped advisory lock between a close (exclusive) and a back-dated posting (shared, in the trigger of
# ledger_entries): "FHPERIOD" in ASCII. The migration's trigger names the same number.
PERIOD_LOCK_KEY = 0x4648504552494F44
# how the database's guard words its refusal (both engines); post and post_many turn it into ClosedPeriod
GUARD_MESSAGE = "ledger period closed"
MAX_REASON = 2000


class ClosedPeriod(Conflict):
    """An entry dated in or before a closed month: nothing was written."""


def today() -> date:
    return utcnow().date()


def month_bounds(day: date) -> tuple[date, date]:
    """The first and last day of the month of `day`."""
    last = calendar.monthrange(day.year, day.month)[1]
    return day.replace(day=1), day.replace(day=last)


def month_label(day: date) -> str:
    return day.strftime("%Y-%m")


def parse_month(value: object) -> date:
    """'YYYY-MM' (or a date) -> the first day of that month; anything else is a ValidationError."""
    if isinstance(value, date):
        return value.replace(day=1)
    try:
        year, month = str(value or "").strip().split("-")
        return date(int(year), int(month), 1)
    except ValueError:
        raise ValidationError("choose a month as YYYY-MM", {"month": ["Choose a month as YYYY-MM."]}) from None


def parse_day(value: object, field: str = "as_of") -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value or "").strip())
    except ValueError:
        raise ValidationError("choose a date as YYYY-MM-DD", {field: ["Choose a date as YYYY-MM-DD."]}) from None


def closed_through() -> date | None:
    """The last day of the latest closed month, or None when no month is closed."""
    return db.session.scalar(select(ClosedThrough.through).where(ClosedThrough.id == 1))


def _refusal(through: date, day: date) -> ClosedPeriod:
    return ClosedPeriod(
        f"the books are closed through {month_label(through)}: an entry cannot be dated {day.isoformat()}, in or "
        f"before a closed month; post a correction into the open period (today) instead",
        {"effective_date": [f"{month_label(through)} is closed."]})


def effective(day: date | None) -> date:
    """The effective date of an entry posted now: `day` (an operation made as of an earlier day), by default
    today (UTC). A day in the future or in a closed month is refused. A day of the current month needs no look-up:
    a month is closed only once it has ended."""
    now = today()
    if day is None:
        return now
    if type(day) is not date:  # a datetime is a date too, but not a day
        raise ValidationError("an effective date is a date", {"effective_date": ["Choose a date."]})
    if day > now:
        raise ValidationError("an entry cannot be dated in the future", {"effective_date": ["Choose today or earlier."]})
    if day < now.replace(day=1):
        through = closed_through()
        if through is not None and day <= through:
            raise _refusal(through, day)
    return day


def earliest(days: list[date | None]) -> list[date]:
    """effective() for many entries (the bulk form), with at most one look-up."""
    now = today()
    out = [now if d is None else d for d in days]
    given = [d for d in days if d is not None]
    for day in given:
        if type(day) is not date:
            effective(day)  # refused: not a day
    if given:
        effective(min(given))
        if max(given) > now:
            effective(max(given))
    return out


def guard_refusal(exc: IntegrityError) -> ClosedPeriod | None:
    """The ClosedPeriod for the database guard's refusal (a back-dated entry that raced a close), else None."""
    if GUARD_MESSAGE not in str(exc.orig):
        return None
    through = closed_through()
    return ClosedPeriod(f"the books were closed through {month_label(through) if through else 'a month'} "
                        "meanwhile: nothing was written; post into the open period")


def _lock_exclusive() -> None:
    """Closes and reopenings one at a time, and a close after every back-dated posting in flight (PostgreSQL; SQLite
    has one writer at a time)."""
    if db.engine.dialect.name == "postgresql":
        db.session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": PERIOD_LOCK_KEY})


def _set_closed_through(through: date | None) -> None:
    row = db.session.get(ClosedThrough, 1, populate_existing=True)
    if row is None:
        db.session.add(ClosedThrough(id=1, through=through))
    else:
        row.through = through
    db.session.flush()


def _first_open_month_start() -> date:
    """The first day of the current month: months before it have ended. On PostgreSQL the database's clock must
    agree, since the guard's shortcut for entries of the current month reads it."""
    start = today().replace(day=1)
    if db.engine.dialect.name == "postgresql":
        start = min(start, db.session.execute(text(
            "SELECT CAST(date_trunc('month', now() AT TIME ZONE 'UTC') AS date)")).scalar_one())
    return start


def _reason(reason: str | None) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError("a reason is required", {"reason": ["A reason is required."]})
    return reason[:MAX_REASON]


def _require(actor: Any, permission: str) -> None:
    if actor is None or not has_permission(actor, permission):
        raise Forbidden(f"{permission} is needed")


# close --------------------------------------------------------------------------------------------------------------
def close(actor: Any, month: object, reason: str | None) -> PeriodClose:
    """Close a month that has ended and freeze its trial balance. Flushes, never commits."""
    _require(actor, "periods.close")
    reason = _reason(reason)
    start, end = month_bounds(parse_month(month))
    if start >= today().replace(day=1):
        raise ValidationError(f"{month_label(start)} has not ended: only a month that has ended can be closed",
                              {"month": ["Choose a month that has ended."]})
    _lock_exclusive()  # waits for back-dated postings in flight; postings after it see the new date
    if start >= _first_open_month_start():
        raise ValidationError(f"{month_label(start)} has not ended by the database's clock")
    through = closed_through()
    if through is not None and end <= through:
        raise Conflict(f"{month_label(start)} is already closed (the books are closed through {month_label(through)})")
    _set_closed_through(end)
    record = PeriodClose(month_start=start, month_end=end, currency=_currency(), closed_by_id=actor.id,
                         reason=reason, closed_at=utcnow())
    db.session.add(record)
    db.session.flush()
    db.session.execute(text("""
        INSERT INTO ledger_trial_balance_lines (close_id, account_id, balance)
        SELECT :close_id, p.account_id, SUM(p.amount)
        FROM ledger_postings p JOIN ledger_entries e ON e.id = p.entry_id
        WHERE e.effective_date <= :end
        GROUP BY p.account_id
    """), {"close_id": record.id, "end": end})
    record.entries = db.session.scalar(
        select(func.count(JournalEntry.id)).where(JournalEntry.effective_date <= end)) or 0
    unbalanced = _unbalanced(record.id)
    if unbalanced:  # the postings are balanced entry by entry, so this is a broken ledger: refuse to freeze it
        raise Conflict(f"the trial balance as of {end.isoformat()} does not sum to zero: {unbalanced}")
    audit.record("periods.close", actor=actor, target=record, reason=reason,
                 after={"month": month_label(start), "closed_through": end.isoformat(), "entries": record.entries,
                        "previously_closed_through": through.isoformat() if through else None})
    return record


def _currency() -> str:
    return platform_currency()


def _unbalanced(close_id: int) -> dict[str, int]:
    rows = db.session.execute(text("""
        SELECT a.currency, SUM(l.balance) FROM ledger_trial_balance_lines l
        JOIN ledger_accounts a ON a.id = l.account_id WHERE l.close_id = :c
        GROUP BY a.currency HAVING SUM(l.balance) <> 0"""), {"c": close_id}).all()
    return {cur: int(total) for cur, total in rows}


# reopen -------------------------------------------------------------------------------------------------------------
def in_force() -> list[PeriodClose]:
    return list(db.session.scalars(select(PeriodClose).where(PeriodClose.reopened_at.is_(None))
                                   .order_by(PeriodClose.month_start)))


def propose_reopen(actor: Any, close_id: int, reason: str | None) -> PeriodReopen:
    """An admin proposes to reopen the latest closed month; a different admin approves."""
    _require(actor, "periods.reopen")
    reason = _reason(reason)
    record = db.session.get(PeriodClose, close_id)
    if record is None:
        raise NotFound("no such close")
    if record.reopened_at is not None:
        raise Conflict(f"{record.label} was already reopened")
    later = db.session.scalar(select(PeriodClose.month_start).where(
        PeriodClose.reopened_at.is_(None), PeriodClose.month_start > record.month_start)
        .order_by(PeriodClose.month_start.desc()).limit(1))
    if later is not None:
        raise Conflict(f"reopen {month_label(later)} first: only the latest closed month can be reopened")
    proposal = PeriodReopen(close_id=record.id, reason=reason, proposed_by_id=actor.id, status=REOPEN_PENDING)
    try:
        with db.session.begin_nested():
            db.session.add(proposal)
    except IntegrityError:
        raise Conflict(f"a reopening of {record.label} is already waiting for approval") from None
    audit.record("periods.reopen_proposed", actor=actor, target=proposal, reason=reason,
                 after={"month": record.label, "close_id": record.id})
    return proposal


def _decide(actor: Any, reopen_id: int, status: str, reason: str | None) -> PeriodReopen:
    _require(actor, "periods.reopen")
    reason = _reason(reason)
    proposal = db.session.get(PeriodReopen, reopen_id)
    if proposal is None:
        raise NotFound("no such reopening")
    if status == REOPEN_APPROVED and proposal.proposed_by_id == actor.id:
        raise Forbidden("a second admin must approve: you proposed this reopening")
    claimed = cast("CursorResult[Any]", db.session.execute(
        update(PeriodReopen).where(PeriodReopen.id == proposal.id, PeriodReopen.status == REOPEN_PENDING)
        .values(status=status, decided_by_id=actor.id, decided_at=utcnow(), decision_reason=reason)
        .execution_options(synchronize_session=False))).rowcount
    if claimed != 1:
        db.session.refresh(proposal)
        raise Conflict(f"this reopening is already {proposal.status}")
    db.session.refresh(proposal)
    return proposal


def approve_reopen(actor: Any, reopen_id: int, reason: str | None) -> PeriodReopen:
    """A second admin approves: the month is open again (its trial balance is kept for history)."""
    proposal = _decide(actor, reopen_id, REOPEN_APPROVED, reason)
    _lock_exclusive()
    record = db.session.get(PeriodClose, proposal.close_id, populate_existing=True)
    if record is None or record.reopened_at is not None:
        raise Conflict("this month was already reopened")
    record.reopened_at = utcnow()
    db.session.flush()
    latest = db.session.scalar(select(func.max(PeriodClose.month_end)).where(PeriodClose.reopened_at.is_(None)))
    _set_closed_through(latest)
    audit.record("periods.reopen_approved", actor=actor, target=proposal, reason=reason,
                 after={"month": record.label, "proposed_by": proposal.proposed_by_id,
                        "closed_through": latest.isoformat() if latest else None})
    return proposal


def refuse_reopen(actor: Any, reopen_id: int, reason: str | None) -> PeriodReopen:
    """An admin (the proposer included, to withdraw it) turns a proposal down; the month stays closed."""
    proposal = _decide(actor, reopen_id, REOPEN_REFUSED, reason)
    audit.record("periods.reopen_refused", actor=actor, target=proposal, reason=reason,
                 after={"month": proposal.close.label})
    return proposal


def closes() -> list[PeriodClose]:
    """Every close, newest first, reopened ones included."""
    return list(db.session.scalars(select(PeriodClose).order_by(PeriodClose.month_start.desc(),
                                                                PeriodClose.id.desc())))


def months() -> list[dict[str, Any]]:
    """Each month from the first entry's to the last month that has ended, newest first, with its state."""
    first = db.session.scalar(select(func.min(JournalEntry.effective_date)))
    current = today().replace(day=1)
    start = (first or current).replace(day=1)
    through = closed_through()
    closes_in_force = {c.month_start: c for c in in_force()}
    out = []
    day = start
    while day < current:
        _, end = month_bounds(day)
        close_row = closes_in_force.get(day)
        state = "closed" if close_row else ("closed (by a later close)" if through and end <= through else "open")
        out.append({"month": day, "label": month_label(day), "end": end, "state": state, "close": close_row,
                    "closable": through is None or end > through})
        day = end + timedelta(days=1)
    return list(reversed(out))


def pending_reopens() -> list[PeriodReopen]:
    return list(db.session.scalars(select(PeriodReopen).where(PeriodReopen.status == REOPEN_PENDING)
                                   .order_by(PeriodReopen.id)))


def recent_reopens(limit: int = 20) -> list[PeriodReopen]:
    return list(db.session.scalars(select(PeriodReopen).order_by(PeriodReopen.id.desc()).limit(limit)))


# verify -------------------------------------------------------------------------------------------------------------
@register_check
def frozen_trial_balances_hold() -> list[str]:
    """Each trial balance frozen by a close in force still equals what the postings say as of its month's end."""
    out = []
    for close_id, label, end in db.session.execute(select(PeriodClose.id, PeriodClose.month_start,
                                                          PeriodClose.month_end)
                                                   .where(PeriodClose.reopened_at.is_(None))).all():
        frozen = {r.account_id: r.balance for r in frozen_trial_balance(close_id)}
        live = {r.account_id: r.balance for r in trial_balance(end)}
        for account_id in sorted(set(frozen) | set(live)):
            if frozen.get(account_id, 0) != live.get(account_id, 0):
                out.append(f"the trial balance frozen by the close of {month_label(label)} shows account "
                           f"#{account_id} at {frozen.get(account_id, 0)} but its postings as of "
                           f"{end.isoformat()} sum to {live.get(account_id, 0)}")
    return out


@register_check
def closed_through_matches_closes() -> list[str]:
    """The date the database's guard reads is the end of the latest close in force."""
    latest = db.session.scalar(select(func.max(PeriodClose.month_end)).where(PeriodClose.reopened_at.is_(None)))
    through = closed_through()
    if latest != through:
        return [f"the books are guarded as closed through {through} but the latest close in force ends {latest}"]
    return []


__all__ = [
    "TRIAL_BALANCE_HEADER", "ClosedPeriod", "TrialBalanceLine", "TrialRow", "approve_reopen", "close", "closed_through",
    "closes", "effective", "export_rows", "frozen_trial_balance", "in_force", "month_bounds", "months",
    "parse_day", "parse_month", "pending_reopens", "propose_reopen", "recent_reopens", "refuse_reopen",
    "today", "totals", "trial_balance",
]
