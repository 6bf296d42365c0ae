"""Investors' statements: asking for one (a year, or any range of days), listing them, and preparing one (the task's
body): the data step by step with its progress saved after each step, then the PDF and the CSV in private storage
under keys fixed by the statement's id, so a retried task writes the same files again and never a second row."""
from __future__ import annotations

import logging
from datetime import date

from flask_babel import force_locale, pgettext
from flask_babel import gettext as _
from sqlalchemy import extract, select
from sqlalchemy.exc import IntegrityError

from app.account.statement_data import STEPS, StatementData, TooManyLines
from app.account.statement_files import csv_bytes, pdf_bytes
from app.account.statement_lines import describe_lines
from app.account.statement_models import (
    FAILED,
    KIND_RANGE,
    KIND_YEAR,
    QUEUED,
    READY,
    RUNNING,
    Statement,
)
from app.auth.models import User
from app.core.db import enqueue_after_commit, unit_of_work, utcnow
from app.core.errors import NotFound, ValidationError
from app.core.storage import get_storage
from app.extensions import db
from app.ledger.models import USER_KINDS, Account, JournalEntry, Posting

log = logging.getLogger(__name__)

MAX_YEARS = 5
MAX_DAYS = MAX_YEARS * 366
FIRST_YEAR = 2000
TASK = "account.generate_statement"
LIST_LIMIT = 50
PROGRESS_TOTAL = len(STEPS) + 2  # the data steps, the PDF, the CSV


def today() -> date:
    return utcnow().date()


def check_range(first: date | None, last: date | None, *, now: date | None = None) -> tuple[date, date]:
    """The days a statement covers, both included; a ValidationError names each field that is wrong."""
    now = now or today()
    errors: dict[str, list[str]] = {}
    if first is None:
        errors["from"] = [pgettext("statement", "Enter the first day.")]
    if last is None:
        errors["to"] = [pgettext("statement", "Enter the last day.")]
    if first is not None and last is not None:
        if first > last:
            errors["to"] = [_("The last day comes before the first day.")]
        elif last > now:
            errors["to"] = [_("The last day cannot be in the future.")]
        elif (last - first).days >= MAX_DAYS:
            errors["from"] = [_("A statement covers at most %(years)s years.", years=MAX_YEARS)]
        elif first.year < FIRST_YEAR:
            errors["from"] = [_("The first day is too early.")]
    if errors or first is None or last is None:
        raise ValidationError(_("The dates of the statement are not valid."), errors)
    return first, last


def year_range(year: int, *, now: date | None = None) -> tuple[date, date]:
    """A calendar year; the current one runs to today."""
    now = now or today()
    if year < FIRST_YEAR or year > now.year:
        raise ValidationError(_("No statement for that year."), {"year": [_("Choose a year with activity.")]})
    return date(year, 1, 1), min(date(year, 12, 31), now)


def activity_years(user_id: int) -> list[int]:
    """The years in which the investor's wallet or held account moved, newest first (one query)."""
    year = extract("year", JournalEntry.created_at)
    rows = db.session.scalars(
        select(year).distinct().select_from(Posting).join(JournalEntry, JournalEntry.id == Posting.entry_id)
        .join(Account, Account.id == Posting.account_id)
        .where(Account.user_id == user_id, Account.kind.in_(USER_KINDS)))
    return sorted({int(y) for y in rows}, reverse=True)


def _active_key(user_id: int, first: date, last: date) -> str:
    return f"{user_id}:{first.isoformat()}:{last.isoformat()}"


def request_statement(user: User, first: date, last: date, *, locale: str, kind: str = KIND_RANGE
                      ) -> tuple[Statement, bool]:
    """A statement for the range, queued for the task (after commit); or the one for the same range already being
    prepared (False). Does not commit."""
    first, last = check_range(first, last)
    key = _active_key(user.id, first, last)
    existing = db.session.scalar(select(Statement).where(Statement.active_key == key))
    if existing is not None:
        return existing, False
    statement = Statement(user_id=user.id, kind=kind if kind in (KIND_YEAR, KIND_RANGE) else KIND_RANGE,
                          first_day=first, last_day=last, status=QUEUED, active_key=key, locale=locale[:8],
                          progress_done=0, progress_total=PROGRESS_TOTAL, created_at=utcnow())
    try:
        with db.session.begin_nested():
            db.session.add(statement)
            db.session.flush()
    except IntegrityError:  # the same request, at the same moment, from another tab or device
        existing = db.session.scalar(select(Statement).where(Statement.active_key == key))
        if existing is None:
            raise
        return existing, False
    enqueue_after_commit(TASK, statement.id)
    return statement, True


def statements_of(user_id: int, *, year: int | None = None, limit: int = LIST_LIMIT) -> list[Statement]:
    query = select(Statement).where(Statement.user_id == user_id)
    if year is not None:
        query = query.where(Statement.first_day <= date(year, 12, 31), Statement.last_day >= date(year, 1, 1))
    return list(db.session.scalars(query.order_by(Statement.created_at.desc(), Statement.id.desc()).limit(limit)))


def for_owner(statement_id: int, user_id: int) -> Statement:
    """The user's own statement; anyone else's is not found."""
    statement = db.session.get(Statement, statement_id)
    if statement is None or statement.user_id != user_id:
        raise NotFound(_("No such statement."))
    return statement


def file_of(statement: Statement, what: str) -> tuple[bytes, str, str]:
    """A ready statement's file: its bytes, content type and a download name."""
    key = statement.pdf_key if what == "pdf" else statement.csv_key if what == "csv" else None
    if statement.status != READY or not key:
        raise NotFound(_("This statement is not ready."))
    name = f"freehold-statement-{statement.first_day.isoformat()}-to-{statement.last_day.isoformat()}.{what}"
    return get_storage().get(key), "application/pdf" if what == "pdf" else "text/csv; charset=utf-8", name


# the task's body ---------------------------------------------------------------------------------------------------
def _advance(statement_id: int, done: int) -> None:
    db.session.execute(Statement.__table__.update().where(Statement.id == statement_id)
                       .values(progress_done=done))


def generate(statement_id: int) -> str:
    """Prepare the statement: safe to run again (a redelivered or retried task rewrites the same two files under
    the same keys; a ready statement is left as it is). Returns the status it ends in."""
    with unit_of_work():
        statement = db.session.get(Statement, statement_id, with_for_update=True)
        if statement is None or statement.status in (READY, FAILED):
            return statement.status if statement is not None else "missing"
        statement.status, statement.progress_done, statement.error = RUNNING, 0, None
        statement.progress_total = PROGRESS_TOTAL
        user_id, first, last, locale = statement.user_id, statement.first_day, statement.last_day, statement.locale
        investor = db.session.get(User, user_id)
        name = investor.full_name if investor is not None else ""
        created_at = statement.created_at
    data = StatementData(user_id, first, last, currency="USD")
    done = 0
    try:
        with force_locale(locale):
            for step in STEPS:
                with unit_of_work():
                    step(data)
                    done += 1
                    _advance(statement_id, done)
            data.descriptions = describe_lines(user_id, data.lines)  # the one place lines get their words
            pdf = pdf_bytes(data, name, created_at)
            with unit_of_work():
                done += 1
                _advance(statement_id, done)
            csv = csv_bytes(data)
        storage = get_storage()
        pdf_key, csv_key = f"statements/{user_id}/{statement_id}.pdf", f"statements/{user_id}/{statement_id}.csv"
        storage.put(pdf_key, pdf, "application/pdf")
        storage.put(csv_key, csv, "text/csv")
    except TooManyLines:
        return _finish(statement_id, FAILED, error=_in(locale, "Too many movements for one statement: choose a "
                                                                "shorter period."))
    except Exception:  # the investor may ask again; the cause is in the log
        log.exception("statement %s failed", statement_id)
        return _finish(statement_id, FAILED, error=_in(locale, "This statement could not be prepared. Please "
                                                                "ask for it again."))
    return _finish(statement_id, READY, pdf_key=pdf_key, csv_key=csv_key)


def _in(locale: str, text: str) -> str:
    with force_locale(locale):
        return _(text)


def _finish(statement_id: int, status: str, *, error: str | None = None, pdf_key: str | None = None,
            csv_key: str | None = None) -> str:
    with unit_of_work():
        statement = db.session.get(Statement, statement_id, with_for_update=True)
        if statement is None:
            return "missing"
        statement.status, statement.error, statement.active_key = status, error, None
        statement.finished_at = utcnow()
        if status == READY:
            statement.pdf_key, statement.csv_key = pdf_key, csv_key
            statement.progress_done = statement.progress_total
    return status
