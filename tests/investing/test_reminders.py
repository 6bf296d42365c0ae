"""Installment reminders: once before the due date, once after, never for paid installments, never twice."""
from datetime import date, timedelta

from sqlalchemy import func, select

from app.core.money import Money
from app.extensions import db
from app.investing import reminders
from app.investing import services as investing
from app.investing.models import Installment
from app.investing.reminder_tasks import installment_reminders, run_reminders
from app.ledger.checks import verify
from app.notifications.models import Notification
from tests.concurrency import run_threads
from tests.support import outbox


def _events(event=None, user=None):
    query = select(Notification).order_by(Notification.id)
    if event:
        query = query.where(Notification.event == event)
    if user:
        query = query.where(Notification.user_id == user.id)
    db.session.expire_all()
    return list(db.session.scalars(query))


def _plan(make_investor, make_property, *, count=3, amount="900.00", late_fee=2_500):
    user = make_investor("10000.00")
    # the smallest investment's installment is large enough for the late fee (at most 10 % of it)
    p = make_property(installments_count=count, installment_interval=1, installment_unit="months",
                      late_fee=late_fee, min_investment=late_fee * 10 * count)
    inv = investing.invest(user, p.id, Money.parse(amount, "USD"), acknowledged=True)
    db.session.commit()
    return user, p, inv


def test_one_reminder_before_and_one_after_each_due_date(make_investor, make_property):
    user, _p, inv = _plan(make_investor, make_property)
    today = date.today()
    second, third = inv.installments[1], inv.installments[2]
    second.due_on = today + timedelta(days=3)  # inside the five-day window
    third.due_on = today + timedelta(days=40)  # not yet
    db.session.commit()

    assert run_reminders(today) == {"before": 1, "after": 0}
    [before] = _events("installment_due_soon", user)
    assert before.context["index"] == 2 and before.context["amount"] == "USD 300.00"
    assert before.context["late_fee"] == "USD 25.00" and before.link == f"/portfolio/{inv.id}"
    assert Money(2500, "USD").local() in before.body  # the in-app text names the late fee, as the investor reads it

    # the same day again, and the next days: nothing new
    assert run_reminders(today) == {"before": 0, "after": 0}
    assert run_reminders(today + timedelta(days=2)) == {"before": 0, "after": 0}

    # the day after the due date: the overdue reminder, once
    after_day = second.due_on + timedelta(days=1)
    assert run_reminders(after_day) == {"before": 0, "after": 1}
    [after] = _events("installment_overdue", user)
    assert after.context["index"] == 2
    assert after.context["default_on"] == (second.due_on + timedelta(days=30)).isoformat()
    assert run_reminders(after_day + timedelta(days=5)) == {"before": 0, "after": 0}
    db.session.refresh(second)
    assert second.reminded_before_at is not None and second.reminded_after_at is not None
    assert [n.event for n in _events(user=user) if n.event.startswith("installment_")] == [
        "installment_due_soon", "installment_overdue"]
    # e-mails are written with the reminders
    mails = outbox(to=user.email, event="installment_overdue")
    assert len(mails) == 1 and f"late fee of {Money(2500, 'USD').local()}" in mails[0].body


def test_paid_installments_are_not_reminded(make_investor, make_property):
    user, _p, inv = _plan(make_investor, make_property, count=2)
    inv.installments[1].due_on = date.today() + timedelta(days=2)
    db.session.commit()
    investing.pay_installments(user, inv.id)
    db.session.commit()
    assert run_reminders(date.today()) == {"before": 0, "after": 0}
    assert run_reminders(date.today() + timedelta(days=10)) == {"before": 0, "after": 0}
    assert _events("installment_due_soon") == [] and _events("installment_overdue") == []


def test_closed_investments_are_not_reminded(make_investor, make_property, make_user):
    _user, _p, inv = _plan(make_investor, make_property)
    for inst in inv.installments[1:]:
        inst.due_on = date.today() - timedelta(days=45)
    db.session.commit()
    investing.cancel_defaulted(inv, actor=make_user(role="finance"), reason="Unpaid for 45 days")
    db.session.commit()
    assert run_reminders(date.today()) == {"before": 0, "after": 0}


def test_a_missed_before_window_sends_only_the_after_reminder(make_investor, make_property):
    _user, _p, inv = _plan(make_investor, make_property, count=2)
    inv.installments[1].due_on = date.today() - timedelta(days=4)
    db.session.commit()
    assert run_reminders(date.today()) == {"before": 0, "after": 1}
    assert _events("installment_due_soon") == []


def test_batches_are_set_based_and_cover_everyone(make_investor, make_property, count_queries):
    today = date.today()
    users = []
    for _ in range(5):
        user, _p, inv = _plan(make_investor, make_property, count=2, amount="500.00")
        inv.installments[1].due_on = today + timedelta(days=1)
        users.append(user)
    db.session.commit()
    assert reminders.pending_count(reminders.BEFORE, today) == 5
    # claimed two at a time, each batch committed: all five reminded, none twice
    assert run_reminders(today, batch=2) == {"before": 5, "after": 0}
    assert {n.user_id for n in _events("installment_due_soon")} == {u.id for u in users}
    assert reminders.pending_count(reminders.BEFORE, today) == 0
    # the claim itself is one statement whatever the batch holds
    db.session.execute(Installment.__table__.update().values(reminded_before_at=None))
    db.session.commit()
    with count_queries() as queries:
        claimed = reminders.claim(reminders.BEFORE, today, limit=500)
    assert len(claimed) == 5 and len([q for q in queries if q.lstrip().upper().startswith("UPDATE")]) == 1
    db.session.rollback()


def test_the_task_is_in_the_beat_schedule_and_runs(make_investor, make_property):
    from app.tasks import BEAT_SCHEDULE

    assert any(entry["task"] == "investing.installment_reminders" for entry in BEAT_SCHEDULE.values())
    _user, _p, inv = _plan(make_investor, make_property, count=2)
    inv.installments[1].due_on = date.today() + timedelta(days=1)
    db.session.commit()
    assert installment_reminders.apply(args=(date.today().isoformat(),)).get() == {"before": 1, "after": 0}
    assert db.session.scalar(select(func.count(Notification.id)).where(
        Notification.event == "installment_due_soon")) == 1
    assert verify().ok, verify().violations


def test_concurrent_runs_remind_each_installment_once(app, postgres, make_investor, make_property):
    today = date.today()
    for _ in range(6):
        _user, _p, inv = _plan(make_investor, make_property, count=2, amount="500.00")
        inv.installments[1].due_on = today - timedelta(days=1)
    db.session.commit()
    results = run_threads(app, 4, lambda i: run_reminders(today, batch=2), commit=False)
    assert all(isinstance(r, dict) for r in results), results
    assert sum(r["after"] for r in results) == 6
    assert len(_events("installment_overdue")) == 6
