"""Work queued with after_commit runs only once the data is durable; rollbacks drop it."""
from celery import shared_task

from app.auth.models import Role
from app.core.db import after_commit, enqueue_after_commit
from app.extensions import db

RAN: list = []


@shared_task(name="tests.record")
def record_task(value):
    # reads what the enqueuing transaction committed
    RAN.append((value, db.session.query(Role).filter_by(name=value).count()))


def test_callback_runs_after_commit_not_before():
    calls = []
    after_commit(calls.append, "sent")
    assert calls == []
    db.session.commit()
    assert calls == ["sent"]
    db.session.commit()
    assert calls == ["sent"]  # once


def test_rollback_drops_the_queue():
    calls = []
    after_commit(calls.append, "never")
    db.session.rollback()
    db.session.commit()
    assert calls == []


def test_savepoint_rollback_drops_only_what_it_queued():
    calls = []
    after_commit(calls.append, "outer")
    nested = db.session.begin_nested()
    after_commit(calls.append, "inner")
    nested.rollback()
    db.session.commit()
    assert calls == ["outer"]


def test_enqueued_task_sees_committed_data():
    RAN.clear()
    db.session.add(Role(name="auditor", description="x"))
    enqueue_after_commit(record_task, "auditor")
    assert RAN == []
    db.session.commit()
    assert RAN == [("auditor", 1)]


def test_celery_is_configured_for_reliability(app):
    conf = app.extensions["celery"].conf
    assert conf.task_acks_late is True
    assert conf.task_reject_on_worker_lost is True
    assert conf.task_serializer == "json" and conf.accept_content == ["json"]
    assert "ledger-verify-nightly" in conf.beat_schedule


def test_ledger_verify_task_reports_ok(make_user, fund):
    from app.ledger.tasks import verify_ledger

    fund(make_user(), "12.34")
    result = verify_ledger.delay().get()
    assert result["ok"] is True and result["entries"] == 1


def test_task_enters_the_app_context_itself_in_a_worker(make_user, fund):
    """A worker has no app context: the task must push one (and see the data)."""
    import contextvars

    from flask import has_app_context

    from app.ledger.tasks import verify_ledger

    fund(make_user(), "1.00")

    def in_worker():
        assert not has_app_context()
        return verify_ledger.apply().get()

    result = contextvars.Context().run(in_worker)
    assert result["ok"] is True and result["entries"] == 1
