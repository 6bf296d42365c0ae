"""Effective dates, closing a month, the frozen trial balance, the database's guard, and reopening with two admins.
Runs on SQLite and PostgreSQL alike (the races are in test_periods_postgres.py)."""
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from app.core.audit import AuditRecord
from app.core.db import unit_of_work
from app.core.errors import Conflict, Forbidden, ValidationError
from app.extensions import db
from app.investing import returns
from app.investing.models import SUCCEEDED
from app.ledger import services as ledger
from app.ledger.checks import verify
from app.ledger.models import FEE_REVENUE, GATEWAY_CLEARING, USER_WALLET, JournalEntry
from app.ledger.period_models import PeriodClose
from app.ledger.periods import ClosedPeriod
from tests import support

periods = ledger.periods
TODAY = periods.today()
COLLECTED_ON = TODAY  # tests/conftest.py reads this module again if the date changes during a run
THIS_MONTH = TODAY.replace(day=1)
LAST_MONTH = (THIS_MONTH - timedelta(days=1)).replace(day=1)
TWO_AGO = (LAST_MONTH - timedelta(days=1)).replace(day=1)
LAST_END = THIS_MONTH - timedelta(days=1)


def _credit(user_id: int, minor: int, key: str, day: date | None = None) -> JournalEntry:
    """A deposit-like entry of `minor` into the user's wallet, dated `day` (default today)."""
    wallet = ledger.user_account(user_id, USER_WALLET)
    clearing = ledger.platform_account(GATEWAY_CLEARING, "bank_transfer")
    return ledger.post([(clearing, -minor), (wallet, minor)], key=key, kind="deposit", effective_date=day)


@pytest.fixture
def booked(make_user):
    """An investor with entries dated two months ago, last month and today, committed."""
    user = make_user()
    with unit_of_work():
        _credit(user.id, 10_000, "tb-two-ago", TWO_AGO + timedelta(days=9))
        _credit(user.id, 2_500, "tb-last", LAST_MONTH + timedelta(days=4))
        _credit(user.id, 700, "tb-today")
    return user


def _close(actor, month=LAST_MONTH, reason="month end") -> PeriodClose:
    with unit_of_work():
        return periods.close(actor, month if isinstance(month, str) else periods.month_label(month), reason)


def test_an_entry_is_dated_today_by_default_or_as_of_an_earlier_day(booked):
    days = dict(db.session.execute(select(JournalEntry.idempotency_key, JournalEntry.effective_date)).all())
    assert days == {"tb-two-ago": TWO_AGO + timedelta(days=9), "tb-last": LAST_MONTH + timedelta(days=4),
                    "tb-today": TODAY}
    with pytest.raises(ValidationError, match="future"):
        _credit(booked.id, 1, "tomorrow", TODAY + timedelta(days=1))
    with pytest.raises(ValidationError, match="is a date"):
        _credit(booked.id, 1, "a-time", datetime.combine(TODAY, datetime.min.time()))
    db.session.rollback()
    assert ledger.entry_by_key("tomorrow") is None and ledger.entry_by_key("a-time") is None


def test_close_freezes_the_trial_balance_as_of_the_month_end(booked, finance):
    record = _close(finance)
    assert (record.month_start, record.month_end, record.entries) == (LAST_MONTH, LAST_END, 2)
    assert periods.closed_through() == LAST_END
    frozen = {r.code: r.balance for r in periods.frozen_trial_balance(record.id)}
    wallet_code = ledger.user_account(booked.id, USER_WALLET).code
    assert frozen == {wallet_code: 12_500, "gateway_clearing:bank_transfer": -12_500}  # today's 7.00 is not in it
    assert frozen == {r.code: r.balance for r in periods.trial_balance(LAST_END)}
    assert periods.totals(periods.frozen_trial_balance(record.id)) == {"USD": 0}
    live = periods.trial_balance(TODAY)  # the live one as of today matches the cached balances
    assert {r.code: r.balance for r in live}[wallet_code] == ledger.user_account(booked.id, USER_WALLET).balance
    assert periods.totals(live) == {"USD": 0}
    audit = db.session.scalars(select(AuditRecord).where(AuditRecord.action == "periods.close")).one()
    assert (audit.actor_id, audit.reason, audit.after["month"]) == (finance.id, "month end", LAST_MONTH.strftime("%Y-%m"))
    assert verify().ok


def test_posting_into_a_closed_month_is_refused_in_code_with_the_month_named(booked, finance):
    _close(finance)
    label = LAST_MONTH.strftime("%Y-%m")
    for day in (LAST_END, LAST_MONTH, TWO_AGO):
        with pytest.raises(ClosedPeriod, match=f"closed through {label}") as refused:
            _credit(booked.id, 100, f"late-{day}", day)
        assert refused.value.status == 409
        db.session.rollback()
    with pytest.raises(ClosedPeriod):
        ledger.hold(booked.id, 100, key="late-hold", effective_date=LAST_END)
    db.session.rollback()
    with pytest.raises(ClosedPeriod):
        ledger.post_many([ledger.BulkEntry(key="late-bulk", kind="fee", effective_date=LAST_END, lines=[
            (ledger.user_account(booked.id, USER_WALLET).id, -100), (ledger.platform_account(FEE_REVENUE).id, 100)])])
    db.session.rollback()
    assert ledger.entry_by_key("late-hold") is None and ledger.entry_by_key("late-bulk") is None
    with unit_of_work():  # today is always open
        _credit(booked.id, 100, "on-time")
    assert verify().ok


@pytest.mark.parametrize("day_offset", [0, 20])
def test_the_database_refuses_a_raw_insert_dated_in_a_closed_month(booked, finance, day_offset):
    _close(finance)
    day = LAST_MONTH + timedelta(days=day_offset)
    with pytest.raises(DBAPIError, match="ledger period closed"):
        db.session.execute(text(
            "INSERT INTO ledger_entries (kind, memo, idempotency_key, fingerprint, created_at, effective_date) "
            "VALUES ('raw', '', 'raw-late', 'x', :now, :day)"), {"now": TODAY, "day": day})
    db.session.rollback()
    entry = ledger.entry_by_key("tb-today")
    with pytest.raises(DBAPIError, match=r"never changed|append-only"):  # an entry is not moved into (or out of) a month either
        db.session.execute(text("UPDATE ledger_entries SET effective_date = :day WHERE id = :id"),
                           {"day": LAST_END, "id": entry.id})
    db.session.rollback()
    assert ledger.entry_by_key("raw-late") is None


def test_a_reversal_of_an_entry_of_a_closed_month_goes_into_the_open_period(booked, finance):
    record = _close(finance)
    before = periods.frozen_trial_balance(record.id)
    original = ledger.entry_by_key("tb-last")
    with unit_of_work():
        reversal = ledger.reverse(original, key="fix-tb-last", memo="wrong amount", actor_id=finance.id)
    assert reversal.effective_date == TODAY and reversal.reverses_id == original.id
    assert periods.frozen_trial_balance(record.id) == before == periods.trial_balance(LAST_END)
    with pytest.raises(ClosedPeriod):
        ledger.reverse(ledger.entry_by_key("tb-two-ago"), key="fix-2", memo="x", effective_date=LAST_END)
    db.session.rollback()
    assert verify().ok


def test_close_refusals(booked, finance, make_user):
    with pytest.raises(ValidationError, match="has not ended"):
        _close(finance, THIS_MONTH)
    with pytest.raises(ValidationError, match="reason"):
        _close(finance, reason="  ")
    with pytest.raises(ValidationError, match="YYYY-MM"):
        _close(finance, "last month")
    with pytest.raises(Forbidden):
        _close(make_user(role="support"))
    _close(finance)
    with pytest.raises(Conflict, match="already closed"):
        _close(finance)
    with pytest.raises(Conflict, match="already closed"):  # a month before the closed-through date is closed too
        _close(finance, TWO_AGO)
    assert db.session.scalar(select(func.count(PeriodClose.id))) == 1


def test_reopening_takes_two_admins_and_a_new_close_freezes_a_new_trial_balance(booked, finance, make_user):
    admin1, admin2 = make_user(role="admin"), make_user(role="admin")
    first = _close(finance)
    with pytest.raises(Forbidden), unit_of_work():
        periods.propose_reopen(finance, first.id, "late invoice")
    with unit_of_work():
        proposal = periods.propose_reopen(admin1, first.id, "late invoice")
    with pytest.raises(Conflict, match="already waiting"), unit_of_work():
        periods.propose_reopen(admin2, first.id, "again")
    with pytest.raises(Forbidden, match="second admin"), unit_of_work():
        periods.approve_reopen(admin1, proposal.id, "self")
    with pytest.raises(Forbidden), unit_of_work():
        periods.approve_reopen(finance, proposal.id, "finance")
    assert periods.closed_through() == LAST_END
    with unit_of_work():
        periods.approve_reopen(admin2, proposal.id, "agreed")
    assert periods.closed_through() is None
    with pytest.raises(Conflict, match="already approved"), unit_of_work():
        periods.approve_reopen(admin2, proposal.id, "twice")
    with unit_of_work():  # the month is open again: the late entry goes in
        _credit(booked.id, 300, "late-invoice", LAST_END)
    second = _close(finance, reason="closed again")
    assert {r.balance for r in periods.frozen_trial_balance(second.id)} == {12_800, -12_800}
    assert {r.balance for r in periods.frozen_trial_balance(first.id)} == {12_500, -12_500}  # kept for history
    db.session.expire_all()
    assert db.session.get(PeriodClose, first.id).reopened_at is not None
    assert [c.id for c in periods.closes()] == [second.id, first.id]
    actions = db.session.scalars(select(AuditRecord.action).where(AuditRecord.action.like("periods.%"))
                                 .order_by(AuditRecord.id)).all()
    assert actions == ["periods.close", "periods.reopen_proposed", "periods.reopen_approved", "periods.close"]
    assert verify().ok


def test_only_the_latest_closed_month_is_reopened_and_a_proposal_can_be_refused(booked, finance, make_user):
    admin1, admin2 = make_user(role="admin"), make_user(role="admin")
    older = _close(finance, TWO_AGO)
    _close(finance, LAST_MONTH)
    with pytest.raises(Conflict, match="only the latest"), unit_of_work():
        periods.propose_reopen(admin1, older.id, "old")
    latest = periods.in_force()[-1]
    with unit_of_work():
        proposal = periods.propose_reopen(admin1, latest.id, "maybe")
    with unit_of_work():
        periods.refuse_reopen(admin2, proposal.id, "no need")
    assert periods.closed_through() == LAST_END and periods.pending_reopens() == []
    with unit_of_work():  # reopening the latest brings the guard back to the month before it
        proposal = periods.propose_reopen(admin1, latest.id, "late invoice")
        periods.approve_reopen(admin2, proposal.id, "ok")
    assert periods.closed_through() == older.month_end
    assert verify().ok


def test_verify_finds_a_frozen_trial_balance_that_no_longer_matches(booked, finance):
    record = _close(finance)
    db.session.execute(text("UPDATE ledger_trial_balance_lines SET balance = balance + 1 WHERE close_id = :c "
                            "AND balance > 0"), {"c": record.id})
    violations = verify().violations
    assert any(f"close of {record.label}" in v for v in violations), violations
    db.session.rollback()
    assert verify().ok


def test_bulk_entries_carry_their_effective_date(make_user):
    user = make_user()
    wallet = ledger.user_account(user.id, USER_WALLET).id
    clearing = ledger.platform_account(GATEWAY_CLEARING, "bank_transfer").id
    db.session.commit()
    with unit_of_work():
        ids = ledger.post_many([
            ledger.BulkEntry(key="b1", kind="deposit", lines=[(clearing, -100), (wallet, 100)]),
            ledger.BulkEntry(key="b2", kind="deposit", lines=[(clearing, -200), (wallet, 200)],
                             effective_date=LAST_END)])
    days = [db.session.get(JournalEntry, i).effective_date for i in ids]
    assert days == [TODAY, LAST_END]


def test_the_returns_run_still_pays_after_a_close(make_user, make_property, finance):
    from tests.investing.test_distribution import book
    from tests.investing.test_distribution import periods as schedule

    investor = make_user()
    prop = make_property()
    book(prop, investor, schedule=schedule(2, amount=1_000))
    support.fund_distributions(prop.id, 2_000)
    _close(finance)
    run = returns.distribute(LAST_END)  # as of a day in the closed month: paid into the open period
    assert run.status == SUCCEEDED and run.payments >= 1
    assert verify().ok
