"""Alerts: each problem the checks see is told once to every active admin and finance user (one e-mail and one in-app
message each, nobody else), told once more when it is gone, and not repeated while it lasts."""
from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta

import pytest
from celery.schedules import crontab
from celery.signals import worker_ready, worker_shutdown
from sqlalchemy import bindparam, func, select, text

from app.core import audit
from app.core.db import utcnow
from app.extensions import db
from app.investing import returns
from app.investing.models import FAILED, SUCCEEDED, DistributionRun
from app.ledger.tasks import verify_ledger
from app.notifications.models import Notification
from app.ops import alerts, checks, worker
from app.ops.alerts import Alert
from app.ops.models import DISCARDED, RETRIED, BeatJob, FailedTask
from app.ops.schedule import overdue_jobs, previous_fire
from app.ops.tasks import audit_verify
from app.payments.models import ReconciliationItem, WebhookInbox
from tests import support
from tests.concurrency import run_threads
from tests.investing.test_distribution import book, periods

RAISED, RESOLVED = alerts.RAISED_EVENT, alerts.RESOLVED_EVENT


@pytest.fixture
def people(make_user):
    """Who is told (two admins, a finance user) and who is not (compliance, support, an investor, a blocked
    admin)."""
    told = [make_user(role="admin"), make_user(role="admin"), make_user(role="finance")]
    blocked = make_user(role="admin")
    blocked.status = "blocked"
    db.session.commit()
    others = [make_user(role="compliance"), make_user(role="support"), make_user(), blocked]
    return told, others


def told(user, event) -> tuple[int, int]:
    """(e-mails, in-app messages) `user` got for `event`."""
    in_app = db.session.scalar(select(func.count(Notification.id)).where(
        Notification.user_id == user.id, Notification.event == event, Notification.in_app.is_(True)))
    return len(support.outbox(user.email, event)), in_app


def assert_told(people, event, times):
    staff, others = people
    db.session.expire_all()
    for user in staff:
        assert told(user, event) == (times, times), (user.email, event)
    for user in others:
        assert told(user, event) == (0, 0), (user.email, event)


def check_all():
    outcome = checks.run_checks()
    assert not [name for name, what in outcome.items() if what.startswith("error")], outcome
    db.session.expire_all()


# each problem: make it (committed), then the key its alert has, then fix it (committed) -------------------------------
def _run(status, minutes_ago, error=None):
    at = utcnow() - timedelta(minutes=minutes_ago)
    db.session.add(DistributionRun(as_of=returns.today(), trigger="beat", status=status, payments=0, total=0,
                                   capital=0, batches=0, started_at=at, finished_at=at, error=error))
    db.session.commit()


def returns_run_failed(app):
    _run(SUCCEEDED, 60 * 24)
    _run(FAILED, 30, error="RuntimeError: disk full")
    return "returns_run_failed", lambda: _run(SUCCEEDED, 1)


def reconciliation_mismatch(app):
    item = ReconciliationItem(provider="stripe", reference="pi_123", kind="paid_not_credited", gateway_amount=5000,
                              currency="USD")
    db.session.add(item)
    db.session.commit()

    def fix():
        item.resolved_at = utcnow()
        item.resolution = "credited by hand"
        db.session.commit()
    return "reconciliation_mismatch", fix


def webhook_inbox_stale(app):
    old = WebhookInbox(provider="stripe", event_id="evt_old", type="checkout.session.completed", status="received",
                       received_at=utcnow() - timedelta(minutes=11))
    young = WebhookInbox(provider="stripe", event_id="evt_young", type="checkout.session.completed",
                         status="received", received_at=utcnow() - timedelta(minutes=2))
    db.session.add_all([old, young])
    db.session.commit()

    def fix():
        old.status = "processed"
        old.processed_at = utcnow()
        db.session.commit()
    return "webhook_inbox_stale", fix


def failed_task(app):
    rows = [FailedTask(task_id=f"t-{n}", task_name="payments.process_webhook", exception="ValueError: bad",
                       attempts=3) for n in range(2)]
    db.session.add_all(rows)
    db.session.commit()

    def fix():  # one retried, one discarded: none open any more
        rows[0].status, rows[1].status = RETRIED, DISCARDED
        db.session.commit()
    return "failed_task:payments.process_webhook", fix


def returns_unfunded(app, make_property, make_user):
    p = make_property()
    book(p, make_user(), schedule=periods(1, amount=1_000, first=returns.today() - timedelta(days=3), last=False))

    def fix():
        support.fund_distributions(p.id, 1_000, key=f"test-funding:{p.id}")
        returns.distribute()
    return f"returns_unfunded:{p.id}", fix


def beat_late(app):
    job = BeatJob(name="payments-sweep-inbox", task="payments.sweep_inbox",
                  last_started_at=utcnow() - timedelta(minutes=10), last_status="ok")
    db.session.add(job)
    db.session.commit()

    def fix():
        job.last_started_at = utcnow()
        db.session.commit()
    return "beat_late:payments-sweep-inbox", fix


PROBLEMS = [returns_run_failed, reconciliation_mismatch, webhook_inbox_stale, failed_task, returns_unfunded,
            beat_late]


@pytest.mark.parametrize("problem", PROBLEMS, ids=[p.__name__ for p in PROBLEMS])
def test_a_problem_is_raised_once_and_resolved_once(app, people, problem, make_property, make_user):
    check_all()
    assert alerts.open_alerts() == []  # nothing wrong yet (the people alone are no problem)
    key, fix = problem(app, make_property, make_user) if problem is returns_unfunded else problem(app)
    check_all()
    alert = alerts.open_alert(key)
    assert alert is not None and alert.summary
    assert [a.key for a in alerts.open_alerts()] == [key]
    assert_told(people, RAISED, 1)
    mail = support.outbox(people[0][0].email, RAISED)[0]
    assert alert.summary in mail.body and alerts.KINDS[alert.kind].where in mail.body

    check_all()  # still wrong: nothing more is sent, the alert was seen again
    assert_told(people, RAISED, 1)
    assert_told(people, RESOLVED, 0)
    assert db.session.get(Alert, alert.id).last_seen_at >= alert.raised_at

    fix()
    check_all()
    assert alerts.open_alert(key) is None
    assert db.session.get(Alert, alert.id).resolved_at is not None
    assert_told(people, RESOLVED, 1)
    check_all()
    assert_told(people, RAISED, 1)
    assert_told(people, RESOLVED, 1)


def test_the_in_app_message_says_what_is_wrong_and_where_to_look(app, people):
    webhook_inbox_stale(app)
    check_all()
    note = db.session.scalar(select(Notification).where(Notification.user_id == people[0][2].id,
                                                        Notification.event == RAISED))
    assert note.title == "Alert: Gateway events wait unprocessed in the webhook inbox"
    assert "Money → Webhook inbox" in note.body and "not processed" in note.body


def test_the_same_problem_again_after_it_was_resolved_is_a_new_alert(app, people):
    key, fix = beat_late(app)
    check_all()
    fix()
    check_all()
    job = db.session.scalar(select(BeatJob))
    job.last_started_at = utcnow() - timedelta(minutes=30)
    db.session.commit()
    check_all()
    assert db.session.scalar(select(func.count(Alert.id)).where(Alert.key == key)) == 2
    assert_told(people, RAISED, 2)
    assert_told(people, RESOLVED, 1)


def test_a_broken_check_is_logged_and_the_others_still_run(app, people, monkeypatch, caplog):
    webhook_inbox_stale(app)

    def broken(now):
        raise RuntimeError("database hiccup")

    monkeypatch.setattr(checks, "CHECKS", (checks.Check("returns_run", (alerts.RETURNS_RUN_FAILED,), broken),
                                           *checks.CHECKS[1:]))
    outcome = checks.run_checks()
    assert outcome["returns_run"] == "error: RuntimeError"
    assert alerts.open_alert("webhook_inbox_stale") is not None
    assert "ops check returns_run failed" in caplog.text


# the verifications feed their alerts ---------------------------------------------------------------------------------
@pytest.mark.ledger_tampered
def test_the_nightly_ledger_check_raises_on_a_violation_and_resolves_when_clean(app, people, make_user, fund):
    fund(make_user(), "5.00")
    verify_ledger.apply()
    assert alerts.open_alerts() == []
    db.session.execute(text("UPDATE ledger_accounts SET balance = balance + 7 WHERE kind = 'user_wallet'"))
    db.session.commit()
    verify_ledger.apply()  # the task itself knows nothing of alerts: its result is read after it ran
    alert = alerts.open_alert("ledger_verify")
    assert alert is not None and "violation" in alert.summary and "caches balance" in alert.details
    assert_told(people, RAISED, 1)
    result = app.test_cli_runner().invoke(args=["ledger", "verify"])  # the command feeds it too
    assert result.exit_code == 1
    assert_told(people, RAISED, 1)
    db.session.execute(text("UPDATE ledger_accounts SET balance = balance - 7 WHERE kind = 'user_wallet'"))
    db.session.commit()
    result = app.test_cli_runner().invoke(args=["ledger", "verify"])
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    assert alerts.open_alert("ledger_verify") is None
    assert_told(people, RESOLVED, 1)
    verify_ledger.apply()
    assert_told(people, RESOLVED, 1)


def _tamper_audit(is_postgres, record_id, action):
    if is_postgres:
        db.session.execute(text("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only"))
    db.session.execute(text("UPDATE audit_log SET action = :a WHERE id = :id").bindparams(bindparam("a")),
                       {"a": action, "id": record_id})
    if is_postgres:
        db.session.execute(text("ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only"))
    db.session.commit()
    db.session.expire_all()


def test_the_audit_chain_check_raises_on_a_broken_chain_and_resolves_when_intact(app, people, is_postgres):
    first = audit.record("test.first", reason="one")
    audit.record("test.second", reason="two")
    db.session.commit()
    assert audit_verify.apply().get()["ok"] is True
    assert alerts.open_alerts() == []
    _tamper_audit(is_postgres, first.id, "test.altered")
    outcome = audit_verify.apply().get()
    assert outcome["ok"] is False and outcome["broken_id"] == first.id
    alert = alerts.open_alert("audit_verify")
    assert alert is not None and f"#{first.id}" in alert.summary
    assert_told(people, RAISED, 1)
    result = app.test_cli_runner().invoke(args=["audit", "verify"])
    assert result.exit_code == 1
    assert_told(people, RAISED, 1)
    _tamper_audit(is_postgres, first.id, "test.first")
    result = app.test_cli_runner().invoke(args=["audit", "verify"])
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    assert alerts.open_alert("audit_verify") is None
    assert_told(people, RESOLVED, 1)


def test_a_failing_returns_run_raises_its_alert_as_soon_as_it_ends(app, people, monkeypatch, make_property,
                                                                   make_user):
    from app.investing.tasks import distribute_returns

    p = make_property()
    book(p, make_user(), schedule=periods(1, amount=1_000, first=returns.today() - timedelta(days=1)))
    support.fund_distributions(p.id, 1_000, key="test-funding:run")
    dialect = type(returns.dialect())

    def broken(self, *args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(dialect, "pay_batch", broken)
    result = distribute_returns.apply().get()
    assert result["status"] == FAILED
    db.session.expire_all()
    alert = alerts.open_alert("returns_run_failed")
    assert alert is not None and "disk full" in alert.details
    assert_told(people, RAISED, 1)
    monkeypatch.undo()
    assert distribute_returns.apply().get()["status"] == SUCCEEDED
    db.session.expire_all()
    assert alerts.open_alert("returns_run_failed") is None
    assert_told(people, RESOLVED, 1)


def test_unfunded_returns_due_less_than_a_day_are_not_yet_a_problem(app, people, make_property, make_user):
    p = make_property()
    book(p, make_user(), schedule=periods(1, amount=1_000, first=returns.today(), last=False))
    assert returns.shortfalls()  # it waits for funding...
    check_all()
    assert alerts.open_alerts() == []  # ...but not for a day yet


# at the same moment --------------------------------------------------------------------------------------------------
@pytest.mark.postgres
def test_two_workers_seeing_the_same_problem_at_once_raise_it_once(app, postgres, people, monkeypatch):
    looked = threading.Barrier(2)
    first_look = threading.local()
    original = alerts.open_alert

    def open_alert_together(key):
        """Both workers look for an open alert before either inserts one: the database must settle it."""
        found = original(key)
        if not getattr(first_look, "done", False):
            first_look.done = True
            looked.wait(timeout=20)
        return found

    monkeypatch.setattr(alerts, "open_alert", open_alert_together)

    def see(_):
        return alerts.raise_alert("webhook_inbox_stale", alerts.WEBHOOK_INBOX_STALE, "3 events wait")[1]

    results = run_threads(app, 2, see)
    assert not [r for r in results if isinstance(r, Exception)], results
    assert sorted(results) == [False, True]
    assert db.session.scalar(select(func.count(Alert.id))) == 1
    assert_told(people, RAISED, 1)

    monkeypatch.setattr(alerts, "open_alert", original)

    def resolve(_):
        return alerts.resolve_alert("webhook_inbox_stale") is not None

    results = run_threads(app, 2, resolve)
    assert sorted(results) == [False, True]
    assert_told(people, RESOLVED, 1)


@pytest.mark.postgres
def test_the_database_refuses_a_second_open_alert_for_a_problem(app, postgres):
    from sqlalchemy.exc import IntegrityError

    for _ in range(2):
        db.session.add(Alert(key="k", kind=alerts.BEAT_LATE, summary="s", details=""))
    with pytest.raises(IntegrityError):
        db.session.flush()
    db.session.rollback()


def test_a_resolved_alert_does_not_block_a_new_one(app):
    db.session.add(Alert(key="k", kind=alerts.BEAT_LATE, summary="s", details="", resolved_at=utcnow()))
    db.session.add(Alert(key="k", kind=alerts.BEAT_LATE, summary="s", details=""))
    db.session.commit()
    assert alerts.open_alert("k") is not None


# the worker's own timer ----------------------------------------------------------------------------------------------
def test_the_worker_watch_runs_the_checks_on_its_timer_and_stops(app, people):
    webhook_inbox_stale(app)
    watcher = worker.Watcher(app, interval=0.05).start()
    try:
        deadline = time.monotonic() + 20
        while watcher.runs < 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert watcher.running and watcher.runs >= 1
    finally:
        watcher.stop()
    assert not watcher.running
    runs = watcher.runs
    time.sleep(0.2)
    assert watcher.runs == runs  # stopped: no more rounds
    db.session.expire_all()
    assert alerts.open_alert("webhook_inbox_stale") is not None
    assert_told(people, RAISED, 1)  # however many rounds ran


def test_a_round_that_fails_is_logged_and_the_timer_goes_on(app, monkeypatch, caplog):
    calls = []

    def explode():
        calls.append(1)
        raise RuntimeError("no database")

    monkeypatch.setattr(checks, "run_checks", explode)
    watcher = worker.Watcher(app, interval=0.02).start()
    try:
        deadline = time.monotonic() + 20
        while len(calls) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(calls) >= 2 and watcher.running
    finally:
        watcher.stop()
    assert "ops watch round failed" in caplog.text


def test_a_worker_starts_its_watch_when_ready_and_stops_it_on_shutdown(app):
    worker_ready.send(sender=None)
    try:
        watcher = worker._WATCH["watcher"]
        assert watcher.running and watcher.interval == app.config["OPS_WATCH_SECONDS"]
    finally:
        worker_shutdown.send(sender=None)
    assert "watcher" not in worker._WATCH and not watcher.running


# flask ops check -----------------------------------------------------------------------------------------------------
def test_flask_ops_check_prints_the_open_problems_and_exits_1(app, people):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["ops", "check"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "ops ok: no open alert"
    webhook_inbox_stale(app)
    failed_task(app)
    result = runner.invoke(args=["ops", "check"])
    assert result.exit_code == 1
    assert "webhook_inbox_stale: 1 gateway event(s) received more than 10 minutes ago are not processed" in \
        result.output
    assert "failed_task:payments.process_webhook: The task payments.process_webhook failed for good" in result.output
    assert "ops NOT ok: 2 open alert(s)" in result.output
    assert_told(people, RAISED, 2)  # the command raised them, as a worker would
    result = runner.invoke(args=["ops", "check"])
    assert result.exit_code == 1
    assert_told(people, RAISED, 2)


# which beat jobs are late --------------------------------------------------------------------------------------------
def _at(text_: str) -> datetime:
    return datetime.fromisoformat(text_ + "+00:00")


def test_previous_fire_of_a_crontab():
    nightly = crontab(hour=2, minute=30)
    assert previous_fire(nightly, _at("2026-12-03T10:00:00")) == _at("2026-12-03T02:30:00")
    assert previous_fire(nightly, _at("2026-12-03T02:29:59")) == _at("2026-12-02T02:30:00")
    assert previous_fire(nightly, _at("2026-12-03T02:30:00")) == _at("2026-12-03T02:30:00")
    office = crontab(hour="8-18", minute=0)
    assert previous_fire(office, _at("2026-12-03T07:10:00")) == _at("2026-12-02T18:00:00")
    assert previous_fire(office, _at("2026-12-03T12:59:00")) == _at("2026-12-03T12:00:00")
    mondays = crontab(hour=6, minute=0, day_of_week=1)  # 2026-12-03 is a Thursday
    assert previous_fire(mondays, _at("2026-12-03T12:00:00")) == _at("2026-11-30T06:00:00")
    first_of_month = crontab(hour=0, minute=0, day_of_month=1)
    assert previous_fire(first_of_month, _at("2026-12-03T12:00:00")) == _at("2026-12-01T00:00:00")


def _job(name, task, started):
    db.session.add(BeatJob(name=name, task=task, last_started_at=started, last_status="ok"))
    db.session.commit()


def test_overdue_jobs_against_the_schedule(app, monkeypatch):
    celery = app.extensions["celery"]
    monkeypatch.setitem(celery.conf, "beat_schedule", {
        "every-minute": {"task": "a.tick", "schedule": 60.0},
        "nightly": {"task": "b.night", "schedule": crontab(hour=2, minute=30)},
        "never-ran": {"task": "c.new", "schedule": 60.0},
    })
    now = _at("2026-12-03T10:00:00")
    _job("every-minute", "a.tick", now - timedelta(minutes=3))  # due 2 min ago: within the 5 min grace
    _job("nightly", "b.night", _at("2026-12-03T02:30:01"))
    assert overdue_jobs(now) == []
    late = overdue_jobs(now + timedelta(minutes=4))  # 7 minutes since the last start of an every-minute job
    assert [(j.name, j.task, j.due_at) for j in late] == [("every-minute", "a.tick", now - timedelta(minutes=2))]
    tomorrow = _at("2026-12-04T02:36:00")  # the nightly run of the 4th did not start
    names = {j.name: j for j in overdue_jobs(tomorrow)}
    assert names["nightly"].due_at == _at("2026-12-04T02:30:00")
    assert names["nightly"].last_started_at == _at("2026-12-03T02:30:01")
    assert "never-ran" not in names  # watched from its first recorded start
    assert overdue_jobs(_at("2026-12-04T02:34:00")) and "nightly" not in {
        j.name for j in overdue_jobs(_at("2026-12-04T02:34:00"))}  # within its grace


def test_the_beat_schedule_runs_the_watch_every_minute_and_the_audit_check_nightly(app):
    schedule = app.extensions["celery"].conf.beat_schedule
    assert schedule["ops-watch"]["task"] == "ops.watch" and schedule["ops-watch"]["schedule"] == 60.0
    assert schedule["audit-verify-nightly"]["task"] == "ops.audit_verify"
    assert "ops.watch" in app.extensions["celery"].tasks and "ops.audit_verify" in app.extensions["celery"].tasks


def test_the_watch_task_runs_the_checks(app, people):
    from app.ops.tasks import watch

    beat_late(app)
    outcome = watch.apply().get()
    assert outcome["beat_jobs"] == "1 raised, 0 resolved"
    assert_told(people, RAISED, 1)

