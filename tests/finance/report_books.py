"""A small set of books across months for the report tests: deposits, payouts paid and waiting, investments, returns
and distributions, with business dates moved into earlier months (the records' dates, never a journal entry's) and
a clock that can be set back for the entries themselves."""
from __future__ import annotations

from contextlib import contextmanager
from datetime import UTC, datetime

from sqlalchemy import update

import app.core.db as core_db
from app.core.db import unit_of_work
from app.core.money import Money
from app.extensions import db
from app.finance.reports import add_months
from app.payouts import services as payouts


@contextmanager
def clock_at(moment: datetime):
    """Every utcnow() (record defaults, journal entries' created_at) answers `moment` inside the block."""
    real = core_db.datetime

    class Frozen(real):  # type: ignore[misc, valid-type]
        @classmethod
        def now(cls, tz=None):
            return moment if tz is not None else moment.replace(tzinfo=None)

    core_db.datetime = Frozen
    try:
        yield
    finally:
        core_db.datetime = real


def month_start(months_back: int, today=None) -> datetime:
    today = today or datetime.now(UTC).date()
    first = add_months(today.replace(day=1), -months_back)
    return datetime(first.year, first.month, 1, tzinfo=UTC)


def mid_month(months_back: int) -> datetime:
    return month_start(months_back).replace(day=15, hour=12)


def move(model, row_id: int, **values) -> None:
    with unit_of_work():
        db.session.execute(update(model).where(model.id == row_id).values(**values)
                           .execution_options(synchronize_session=False))


def paid_payout(user, method, amount: str, *, finance, finance2):
    """A payout requested, approved (by two finance users when it needs them) and marked paid."""
    with unit_of_work():
        payout = payouts.request_payout(user, Money.parse(amount, "USD"), method.id)
    with unit_of_work():
        payout = db.session.merge(payout)
        if payouts.approve(payout, actor=finance) != "approved":
            payouts.approve(payout, actor=finance2)
    with unit_of_work():
        payout = db.session.merge(payout)
        payouts.mark_paid(payout, actor=finance, bank_reference=f"REF{payout.id}")
    return payout


def waiting_payout(user, method, amount: str):
    with unit_of_work():
        return payouts.request_payout(user, Money.parse(amount, "USD"), method.id)
