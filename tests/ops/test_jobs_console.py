"""Operations → Jobs: tasks that failed for good are recorded with their secrets removed, and admins retry (once,
with the original arguments) or discard them with a reason, audited; finance only looks; other staff are refused."""
from __future__ import annotations

import json

import pytest
from celery import shared_task
from celery.exceptions import Retry
from sqlalchemy import func, select

from app.core.audit import AuditRecord
from app.extensions import db
from app.ops.models import DISCARDED, OPEN, RETRIED, FailedTask
from app.ops.scrub import REDACTED
from tests.support import csrf_from

CALLS: list[dict] = []
BEHAVIOUR = {"fail": True}
CARD = "4242424242424242"
API_TOKEN = "tok_live_4f9a8b7c6d5e4f3a2b1c0d9e"
BEARER = "sk_live_51HxYz0123456789abcdefGHIJ"


@shared_task(name="tests.ops.charge")
def charge(amount, bearer, *, card_number, api_token, note=None):
    """A task that fails while BEHAVIOUR says so: a test-only stand-in for a gateway call."""
    CALLS.append({"amount": amount, "bearer": bearer, "card_number": card_number, "api_token": api_token,
                  "note": note})
    if BEHAVIOUR["fail"]:
        raise RuntimeError(f"gateway down for {bearer}")
    return {"charged": amount}


@pytest.fixture(autouse=True)
def _reset():
    CALLS.clear()
    BEHAVIOUR["fail"] = True
    yield
    BEHAVIOUR["fail"] = True


def fail_once(app) -> FailedTask:
    """Run the task the way a worker does (apply: the task's signals fire) and let it fail."""
    task = app.extensions["celery"].tasks["tests.ops.charge"]
    with pytest.raises(RuntimeError):
        task.apply(args=[1250, BEARER], kwargs={"card_number": CARD, "api_token": API_TOKEN, "note": "monthly"},
                   task_id="failed-charge-1")
    db.session.expire_all()
    return db.session.scalars(select(FailedTask).where(FailedTask.task_id == "failed-charge-1")).one()


def audits(action: str) -> list[AuditRecord]:
    return list(db.session.scalars(select(AuditRecord).where(AuditRecord.action == action)))


def test_a_task_that_fails_for_good_is_recorded_with_its_secrets_removed(app):
    row = fail_once(app)
    assert row.status == OPEN and row.task_name == "tests.ops.charge" and row.attempts == 1
    assert json.loads(row.args) == [1250, REDACTED]
    assert json.loads(row.kwargs) == {"api_token": REDACTED, "card_number": REDACTED, "note": "monthly"}
    assert "RuntimeError: gateway down for" in row.exception and BEARER not in row.exception
    assert "raise RuntimeError" in row.traceback
    assert CARD not in row.args + row.kwargs and API_TOKEN not in row.args + row.kwargs
    # the original arguments are kept for Retry, encrypted at rest
    raw = db.session.execute(db.text("SELECT payload FROM failed_tasks WHERE id = :id"), {"id": row.id}).scalar()
    assert CARD not in raw and json.loads(row.payload)["kwargs"]["card_number"] == CARD


def test_the_same_task_failing_again_counts_attempts(app):
    fail_once(app)
    row = fail_once(app)
    assert row.attempts == 2 and row.last_failed_at >= row.first_failed_at
    assert db.session.scalar(select(func.count(FailedTask.id))) == 1


@shared_task(name="tests.ops.flaky", bind=True, max_retries=2)
def flaky(self, order_id):
    CALLS.append({"order_id": order_id, "retries": self.request.retries})
    try:
        raise ConnectionError("the gateway timed out")
    except ConnectionError as exc:
        raise self.retry(exc=exc, countdown=0) from exc


def test_retried_attempts_are_not_failures_for_good_only_the_last_one_is(app):
    task = app.extensions["celery"].tasks["tests.ops.flaky"]
    with pytest.raises(Retry):  # the first attempt asks to be tried again: not a failure for good
        task.apply(args=[7], task_id="flaky-1")
    assert db.session.scalar(select(func.count(FailedTask.id))) == 0
    with pytest.raises(ConnectionError):  # the third attempt (two retries spent) fails for good
        task.apply(args=[7], task_id="flaky-1", retries=2)
    db.session.expire_all()
    [row] = db.session.scalars(select(FailedTask)).all()
    assert row.task_name == "tests.ops.flaky" and row.attempts == 3 and "the gateway timed out" in row.exception


def test_the_page_shows_failed_tasks_scrubbed_with_a_collapsed_traceback(app, client, make_user, login):
    fail_once(app)
    login(make_user(role="admin"))
    html = client.get("/admin/ops/").get_data(as_text=True)
    assert "tests.ops.charge" in html and "1 open" in html
    assert CARD not in html and API_TOKEN not in html and BEARER not in html and REDACTED in html
    assert "<details><summary>Traceback</summary>" in html
    assert "Retry" in html and "Discard" in html and 'data-confirm="Send tests.ops.charge again' in html


def test_retry_runs_the_task_once_with_its_original_arguments_even_when_posted_twice(app, client, make_user, login):
    row = fail_once(app)
    admin = make_user(role="admin")
    login(admin)
    BEHAVIOUR["fail"] = False
    token = csrf_from(client.get("/admin/ops/").get_data(as_text=True))
    calls_before = len(CALLS)
    first = client.post(f"/admin/ops/failed/{row.id}/retry", data={"csrf_token": token, "reason": "gateway is back"},
                        follow_redirects=True)
    second = client.post(f"/admin/ops/failed/{row.id}/retry", data={"csrf_token": token, "reason": "double click"},
                         follow_redirects=True)
    assert "Sent again" in first.get_data(as_text=True)
    assert "already retried" in second.get_data(as_text=True)
    assert len(CALLS) == calls_before + 1  # exactly one more run
    assert CALLS[-1] == {"amount": 1250, "bearer": BEARER, "card_number": CARD, "api_token": API_TOKEN,
                         "note": "monthly"}
    db.session.expire_all()
    row = db.session.get(FailedTask, row.id)
    assert row.status == RETRIED and row.resolved_by_id == admin.id and row.retried_task_id
    [record] = audits("ops.task_retried")
    assert record.reason == "gateway is back" and record.actor_id == admin.id
    assert record.after["retried_task_id"] == row.retried_task_id
    assert CARD not in json.dumps(record.after)


def test_retry_and_discard_need_a_reason(app, client, make_user, login):
    row = fail_once(app)
    login(make_user(role="admin"))
    token = csrf_from(client.get("/admin/ops/").get_data(as_text=True))
    for action in ("retry", "discard"):
        html = client.post(f"/admin/ops/failed/{row.id}/{action}", data={"csrf_token": token, "reason": "  "},
                           follow_redirects=True).get_data(as_text=True)
        assert "A reason is required" in html
    db.session.expire_all()
    assert db.session.get(FailedTask, row.id).status == OPEN and len(CALLS) == 1


def test_discard_takes_the_task_off_the_open_list(app, client, make_user, login):
    row = fail_once(app)
    admin = make_user(role="admin")
    login(admin)
    token = csrf_from(client.get("/admin/ops/").get_data(as_text=True))
    html = client.post(f"/admin/ops/failed/{row.id}/discard", data={"csrf_token": token, "reason": "test data"},
                       follow_redirects=True).get_data(as_text=True)
    assert "Discarded" in html and "0 open" in html
    db.session.expire_all()
    assert db.session.get(FailedTask, row.id).status == DISCARDED
    [record] = audits("ops.task_discarded")
    assert record.reason == "test data" and record.actor_id == admin.id
    # a discarded task can no longer be retried
    html = client.post(f"/admin/ops/failed/{row.id}/retry", data={"csrf_token": token, "reason": "changed my mind"},
                       follow_redirects=True).get_data(as_text=True)
    assert "already discarded" in html and len(CALLS) == 1


def test_finance_sees_the_page_but_cannot_act(app, client, make_user, login):
    row = fail_once(app)
    finance = make_user(role="finance")
    login(finance)
    page = client.get("/admin/ops/")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "tests.ops.charge" in html
    assert "Retry</button>" not in html and "Discard</button>" not in html
    token = csrf_from(client.get("/account/security").get_data(as_text=True))
    BEHAVIOUR["fail"] = False
    for action in ("retry", "discard"):
        response = client.post(f"/admin/ops/failed/{row.id}/{action}", data={"csrf_token": token, "reason": "x"})
        assert response.status_code == 403
    db.session.expire_all()
    assert db.session.get(FailedTask, row.id).status == OPEN and len(CALLS) == 1
    refused = audits("console.forbidden")
    assert [(r.actor_id, r.after["permission"], r.after["method"]) for r in refused] == [
        (finance.id, "ops.jobs", "POST")] * 2


@pytest.mark.parametrize("role", ["support", "compliance", "property_manager"])
def test_other_staff_are_refused(app, client, make_user, login, role):
    row = fail_once(app)
    login(make_user(role=role))
    assert client.get("/admin/ops/").status_code == 403
    token = csrf_from(client.get("/account/security").get_data(as_text=True))
    assert client.post(f"/admin/ops/failed/{row.id}/retry", data={"csrf_token": token, "reason": "x"}
                       ).status_code == 403
    db.session.expire_all()
    assert db.session.get(FailedTask, row.id).status == OPEN


def test_the_dashboard_counts_open_failed_tasks(app, client, make_user, login):
    fail_once(app)
    login(make_user(role="finance"))
    html = client.get("/admin/").get_data(as_text=True)
    assert "Failed tasks" in html and "/admin/ops/#failed-tasks" in html
