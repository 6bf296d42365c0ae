"""Each beat job's latest run is recorded by the workers (start, outcome, duration, a short result), and a job that
has not run since its schedule was last due is late — on the jobs page and for alerting (overdue_jobs)."""
from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from celery import shared_task
from sqlalchemy import select

from app.core.db import unit_of_work
from app.extensions import db
from app.ops.models import FAILED, OK, RUNNING, BeatJob
from app.ops.schedule import describe, overdue_jobs, previous_due

SEEN: list[str] = []


@shared_task(name="tests.ops.nightly")
def nightly(fail=False, api_token=None):
    SEEN.append(beat_row("tests-nightly").last_status if beat_row("tests-nightly") else "none")
    if fail:
        raise ValueError("the bank file is missing")
    return {"purged": 3, "api_token": api_token}


def beat_row(name: str) -> BeatJob | None:
    with db.session.no_autoflush:
        return db.session.scalars(select(BeatJob).where(BeatJob.name == name)).first()


@pytest.fixture
def scheduled(app, monkeypatch):
    """tests.ops.nightly as if the beat schedule ran it under the entry "tests-nightly"."""
    recorder = app.extensions["celery"].ops_recorder
    monkeypatch.setitem(recorder.beat, "tests.ops.nightly", ["tests-nightly"])
    SEEN.clear()
    return app.extensions["celery"].tasks["tests.ops.nightly"]


def test_a_successful_run_is_recorded_with_its_result_and_duration(scheduled):
    scheduled.apply(kwargs={"api_token": "tok_4f9a8b7c6d5e4f3a2b1c0d9e8f7a"})
    assert SEEN == [RUNNING]  # marked running, in its own transaction, before the task's body ran
    db.session.expire_all()
    job = beat_row("tests-nightly")
    assert job.task == "tests.ops.nightly" and job.last_status == OK
    assert job.last_started_at <= job.last_finished_at and job.last_ok_at == job.last_finished_at
    assert job.last_duration_ms is not None and job.last_duration_ms >= 0
    assert '"purged": 3' in job.last_result and "tok_4f9a" not in job.last_result and job.last_error is None


def test_a_failed_run_is_recorded_with_its_error(scheduled):
    scheduled.apply(kwargs={"api_token": "t"})
    with pytest.raises(ValueError):
        scheduled.apply(kwargs={"fail": True})
    db.session.expire_all()
    job = beat_row("tests-nightly")
    assert job.last_status == FAILED and job.last_error == "ValueError: the bank file is missing"
    assert job.last_ok_at is not None and job.last_ok_at < job.last_finished_at  # the earlier success stays


def test_a_real_beat_task_records_its_schedule_entry(app):
    app.extensions["celery"].tasks["notifications.requeue_stuck"].apply()
    db.session.expire_all()
    job = beat_row("notifications-requeue-stuck")
    assert job.last_status == OK and job.last_result == "0"


def test_recording_never_breaks_the_task(scheduled, monkeypatch):
    recorder = scheduled.app.ops_recorder

    def broken(*args, **kwargs):
        raise RuntimeError("the database is away")

    monkeypatch.setattr(recorder, "_jobs", broken)
    assert scheduled.apply().get() == {"purged": 3, "api_token": None}


NOW = datetime(2026, 12, 3, 14, 0, tzinfo=UTC)


def set_run(name: str, task: str, started: datetime) -> None:
    with unit_of_work():
        db.session.add(BeatJob(name=name, task=task, last_started_at=started, last_status=OK))


def test_schedules_in_words(app):
    from app.tasks import BEAT_SCHEDULE

    assert describe(BEAT_SCHEDULE["payments-sweep-inbox"]["schedule"]) == "every 60 s"
    assert describe(BEAT_SCHEDULE["notifications-requeue-stuck"]["schedule"]) == "every 5 min"
    assert describe(BEAT_SCHEDULE["ledger-verify-nightly"]["schedule"]) == "daily at 02:30 UTC"
    assert describe(BEAT_SCHEDULE["kyc-flag-overdue"]["schedule"]) == "hourly at :05"
    assert previous_due(BEAT_SCHEDULE["ledger-verify-nightly"]["schedule"], NOW) == NOW.replace(hour=2, minute=30)
    assert previous_due(BEAT_SCHEDULE["ledger-verify-nightly"]["schedule"], NOW.replace(hour=1)) == \
        NOW.replace(hour=2, minute=30) - timedelta(days=1)


def test_a_job_whose_last_run_is_older_than_its_previous_due_time_is_late(app):
    set_run("ledger-verify-nightly", "ledger.verify", NOW - timedelta(days=1, hours=12))  # missed today's 02:30
    set_run("payments-reconcile-daily", "payments.reconcile", NOW.replace(hour=3, minute=10, second=4))  # fresh
    set_run("payments-sweep-inbox", "payments.sweep_inbox", NOW - timedelta(hours=1))  # every 60 s: stopped
    set_run("notifications-requeue-stuck", "notifications.requeue_stuck", NOW - timedelta(minutes=3))  # fresh
    late = {job.name: job for job in overdue_jobs(NOW)}
    assert "ledger-verify-nightly" in late and "payments-sweep-inbox" in late
    assert "payments-reconcile-daily" not in late and "notifications-requeue-stuck" not in late
    ledger = late["ledger-verify-nightly"]
    assert (ledger.task, ledger.due_at, ledger.last_started_at) == (
        "ledger.verify", NOW.replace(hour=2, minute=30), NOW - timedelta(days=1, hours=12))
    assert "retention-nightly" not in late  # never recorded: watched from its first start


def test_a_job_just_due_is_not_late_within_the_grace(app):
    set_run("kyc-flag-overdue", "kyc.flag_overdue", NOW - timedelta(hours=1))  # hourly at :05
    assert "kyc-flag-overdue" not in {j.name for j in overdue_jobs(NOW.replace(hour=13, minute=7))}
    assert "kyc-flag-overdue" in {j.name for j in overdue_jobs(NOW.replace(hour=13, minute=11))}


def test_the_page_lists_every_beat_job_and_highlights_late_ones(app, client, make_user, login):
    set_run("payments-sweep-inbox", "payments.sweep_inbox", datetime.now(UTC) - timedelta(hours=2))
    set_run("notifications-requeue-stuck", "notifications.requeue_stuck", datetime.now(UTC) - timedelta(seconds=30))
    login(make_user(role="finance"))
    html = client.get("/admin/ops/").get_data(as_text=True)
    from app.tasks import BEAT_SCHEDULE

    for name in BEAT_SCHEDULE:
        assert f'id="job-{name}"' in html
    assert 'id="job-payments-sweep-inbox" class="table-warning" data-late="yes"' in html
    assert 'id="job-notifications-requeue-stuck" class="" data-late="no"' in html
    assert "daily at 02:30 UTC" in html and "2 h ago" in html and re.search(r"\b3[0-9] s ago", html)
