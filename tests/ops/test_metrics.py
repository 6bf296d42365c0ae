"""GET /metrics: what it shows (request times by route, figures read from the database, task runs), who may read
it, and the Celery worker's own metrics server."""
from __future__ import annotations

import urllib.request
from datetime import timedelta

import pytest
from celery import shared_task, signals
from prometheus_client import REGISTRY

from app.core import metrics as core_metrics
from app.core.db import unit_of_work, utcnow
from app.extensions import db
from app.kyc.demo import ensure_forms
from app.kyc.models import KycSubmission
from app.ledger import services as ledger
from app.ops import metrics as ops_metrics
from app.ops.models import BeatJob, FailedTask
from app.payments.models import WebhookInbox
from app.payouts.models import Payout
from app.tasks import BEAT_SCHEDULE
from tests.ops.scrape import samples, value
from tests.payouts.helpers import usable_method
from tests.support import free_port

TOKEN = "a-metrics-token-long-enough"


def scrape(client, **kwargs) -> str:
    response = client.get("/metrics", **kwargs)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.content_type.startswith("text/plain; version=")
    return response.get_data(as_text=True)


def counted(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


# what the page shows -----------------------------------------------------------------------------------------------
def reset_page_requests() -> float:
    """Requests to the reset page so far, whatever their status (an earlier test's may have had another)."""
    return sum(counted("freehold_http_request_duration_seconds_count", endpoint="/password/reset/<token>",
                       method="GET", status=status) for status in ("2xx", "3xx", "4xx", "5xx"))


def test_request_times_are_labelled_by_route_pattern_never_by_path(client):
    before = reset_page_requests()
    client.get("/healthz")
    client.get("/password/reset/secret-reset-token-123")
    client.get("/no/such/page-with-secret-xyz")
    text = scrape(client)
    assert value(text, "freehold_http_request_duration_seconds_count", endpoint="/healthz", method="GET",
                 status="2xx") >= 1
    reset = [labels for (name, labels) in samples(text)
             if name == "freehold_http_request_duration_seconds_count"
             and dict(labels)["endpoint"] == "/password/reset/<token>"]
    assert reset, "the reset page's route pattern is a label"
    assert reset_page_requests() == before + 1
    assert value(text, "freehold_http_request_duration_seconds_count", endpoint="<no route>", method="GET",
                 status="4xx") >= 1
    assert 'le="+Inf"' in text
    client.open("/healthz", method="BREW")  # any word a client sends is one label value, not a new one each
    text = scrape(client)
    assert value(text, "freehold_http_request_duration_seconds_count", endpoint="<no route>", method="other",
                 status="4xx") >= 1
    assert 'method="BREW"' not in text
    assert "secret-reset-token-123" not in text and "page-with-secret-xyz" not in text


def test_database_figures_reflect_the_rows(client, make_user, fund):
    text = scrape(client)
    assert value(text, "freehold_webhook_inbox_backlog") == 0
    assert value(text, "freehold_webhook_inbox_oldest_age_seconds") == 0
    assert value(text, "freehold_kyc_pending_cases") == 0
    assert value(text, "freehold_payouts_pending", status="requested") == 0
    assert value(text, "freehold_failed_tasks_open") == 0

    investor = make_user()
    fund(investor, "500.00")
    method = usable_method(investor)
    forms = None
    with unit_of_work():
        forms = ensure_forms()
        db.session.add_all([
            WebhookInbox(provider="stripe", event_id="evt_old", type="checkout.session.completed", status="received",
                         received_at=utcnow() - timedelta(minutes=15)),
            WebhookInbox(provider="stripe", event_id="evt_done", type="checkout.session.completed",
                         status="processed", received_at=utcnow() - timedelta(days=2)),
            KycSubmission(user_id=investor.id, form_id=forms[0].id, status="pending"),
            KycSubmission(user_id=investor.id, form_id=forms[1].id, status="approved"),
            FailedTask(task_id="t-1", task_name="payments.reconcile", exception="boom", status="failed"),
            FailedTask(task_id="t-2", task_name="payments.reconcile", exception="boom", status="discarded"),
        ])
        hold = ledger.hold(investor.id, 10_100, key=f"metrics-hold-{investor.id}", memo="test")
        db.session.add(Payout(user_id=investor.id, payout_method_id=method.id, amount=10_000, fee=100,
                              currency="USD", hold_id=hold.id, risk_flags=[], needs_two_approvals=False))

    text = scrape(client)
    assert value(text, "freehold_webhook_inbox_backlog") == 1  # the processed one does not count
    assert 600 < value(text, "freehold_webhook_inbox_oldest_age_seconds") < 3600  # the old unprocessed one's age
    assert value(text, "freehold_kyc_pending_cases") == 1
    assert value(text, "freehold_payouts_pending", status="requested") == 1
    assert value(text, "freehold_payouts_pending", status="approved") == 0
    assert value(text, "freehold_failed_tasks_open") == 1


def test_beat_jobs_are_all_listed_with_their_last_run(client):
    finished = utcnow() - timedelta(minutes=5)
    ok_at = utcnow() - timedelta(hours=1)
    with unit_of_work():
        db.session.add(BeatJob(name="ledger-verify-nightly", task="ledger.verify", last_started_at=finished,
                               last_finished_at=finished, last_status="failed", last_duration_ms=2500,
                               last_ok_at=ok_at))
    text = scrape(client)
    for job in BEAT_SCHEDULE:  # every job of the schedule, run or not
        assert value(text, "freehold_beat_job_last_run_timestamp_seconds", job=job) is not None, job
    assert value(text, "freehold_beat_job_last_run_timestamp_seconds",
                 job="ledger-verify-nightly") == pytest.approx(finished.timestamp())
    assert value(text, "freehold_beat_job_last_success_timestamp_seconds",
                 job="ledger-verify-nightly") == pytest.approx(ok_at.timestamp())
    assert value(text, "freehold_beat_job_last_duration_seconds", job="ledger-verify-nightly") == 2.5
    for name in ("freehold_beat_job_last_run_timestamp_seconds", "freehold_beat_job_last_success_timestamp_seconds",
                 "freehold_beat_job_last_duration_seconds"):
        assert value(text, name, job="retention-nightly") == 0  # never ran


def test_a_failing_reading_leaves_the_rest_of_the_page(client, monkeypatch):
    def broken():
        raise RuntimeError("the table is locked")
        yield  # pragma: no cover - a generator like the others

    monkeypatch.setattr(ops_metrics, "READINGS", (broken, *ops_metrics.READINGS[1:]))
    text = scrape(client)
    assert "freehold_webhook_inbox_backlog" not in text
    assert value(text, "freehold_kyc_pending_cases") == 0
    assert value(text, "freehold_failed_tasks_open") == 0


def test_the_page_opens_no_session(client):
    response = client.get("/metrics")
    assert response.status_code == 200
    assert "Set-Cookie" not in response.headers


# who may read it ---------------------------------------------------------------------------------------------------
def test_a_token_is_required_when_one_is_set(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "METRICS_TOKEN", TOKEN)
    refused = client.get("/metrics")
    assert refused.status_code == 401 and "freehold_" not in refused.get_data(as_text=True)
    assert refused.headers["WWW-Authenticate"] == "Bearer"
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong-token"}).status_code == 401
    assert client.get("/metrics", headers={"Authorization": f"Basic {TOKEN}"}).status_code == 401
    assert client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}x"}).status_code == 401
    text = scrape(client, headers={"Authorization": f"Bearer {TOKEN}"})
    assert "freehold_http_request_duration_seconds" in text
    # from anywhere, once the token is right
    assert client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"},
                      environ_overrides={"REMOTE_ADDR": "203.0.113.9"}).status_code == 200


def test_without_a_token_only_loopback_may_read_it(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "METRICS_TOKEN", None)
    assert client.get("/metrics", environ_overrides={"REMOTE_ADDR": "127.0.0.1"}).status_code == 200
    assert client.get("/metrics", environ_overrides={"REMOTE_ADDR": "::1"}).status_code == 200
    outside = client.get("/metrics", environ_overrides={"REMOTE_ADDR": "203.0.113.9"})
    assert outside.status_code == 403 and "freehold_" not in outside.get_data(as_text=True)
    # a forwarded-for header naming loopback changes nothing: the connection's own address counts
    forwarded = client.get("/metrics", headers={"X-Forwarded-For": "127.0.0.1"},
                           environ_overrides={"REMOTE_ADDR": "203.0.113.9"})
    assert forwarded.status_code == 403


def test_behind_a_trusted_proxy_the_connection_address_still_counts(database_url, monkeypatch):
    from celery import _state

    from app.extensions import limiter
    from tests.support import build_app

    monkeypatch.setattr(_state._tls, "current_app", getattr(_state._tls, "current_app", None))
    monkeypatch.setattr(_state, "default_app", _state.default_app)
    for name, attribute in list(vars(limiter).items()):
        monkeypatch.setattr(limiter, name, attribute)
    proxied = build_app(database_url, TRUSTED_PROXIES=1, METRICS_TOKEN=None).test_client()
    # the proxy on another host forwards a client that claims loopback
    response = proxied.get("/metrics", headers={"X-Forwarded-For": "127.0.0.1"},
                           environ_overrides={"REMOTE_ADDR": "10.0.0.7"})
    assert response.status_code == 403


# tasks -------------------------------------------------------------------------------------------------------------
@shared_task(name="tests.metrics.succeeds")
def succeeds():
    return "done"


@shared_task(name="tests.metrics.fails")
def fails():
    raise RuntimeError("this task fails")


@shared_task(name="tests.metrics.retries", bind=True, max_retries=1)
def retries(self):
    if self.request.retries == 0:
        raise self.retry(countdown=0)
    return "done on the second attempt"


def test_task_runs_are_counted_and_timed():
    ok = counted("freehold_celery_tasks_total", task="tests.metrics.succeeds", outcome="succeeded")
    failed = counted("freehold_celery_tasks_total", task="tests.metrics.fails", outcome="failed")
    timed = counted("freehold_celery_task_duration_seconds_count", task="tests.metrics.succeeds")
    succeeds.delay()
    with pytest.raises(RuntimeError):
        fails.delay()
    assert counted("freehold_celery_tasks_total", task="tests.metrics.succeeds", outcome="succeeded") == ok + 1
    assert counted("freehold_celery_tasks_total", task="tests.metrics.fails", outcome="failed") == failed + 1
    assert counted("freehold_celery_tasks_total", task="tests.metrics.fails", outcome="succeeded") == 0
    assert counted("freehold_celery_task_duration_seconds_count", task="tests.metrics.succeeds") == timed + 1
    assert counted("freehold_celery_task_duration_seconds_count", task="tests.metrics.fails") >= 1


def test_a_retried_task_is_counted_as_retried_then_succeeded():
    retried = counted("freehold_celery_tasks_total", task="tests.metrics.retries", outcome="retried")
    ok = counted("freehold_celery_tasks_total", task="tests.metrics.retries", outcome="succeeded")
    # as a worker runs it: the first attempt's error does not propagate, the retry runs (eagerly, at once)
    assert retries.apply(throw=False).get() == "done on the second attempt"
    assert counted("freehold_celery_tasks_total", task="tests.metrics.retries", outcome="retried") == retried + 1
    assert counted("freehold_celery_tasks_total", task="tests.metrics.retries", outcome="succeeded") == ok + 1
    assert counted("freehold_celery_tasks_total", task="tests.metrics.retries", outcome="failed") == 0


def test_the_ledger_verify_task_sets_its_gauges(make_user, fund):
    from app.ledger.tasks import verify_ledger

    fund(make_user(), "20.00")
    before = utcnow().timestamp()
    verify_ledger.delay()
    assert counted("freehold_ledger_verify_violations") == 0
    assert counted("freehold_ledger_verify_last_run_timestamp_seconds") >= before - 1
    assert counted("freehold_celery_tasks_total", task="ledger.verify", outcome="succeeded") >= 1


@pytest.mark.ledger_tampered
def test_the_ledger_verify_task_counts_violations(make_user, fund):
    from sqlalchemy import text

    from app.ledger.tasks import verify_ledger

    fund(make_user(), "5.00")
    db.session.execute(text("UPDATE ledger_accounts SET balance = balance + 7 WHERE kind = 'user_wallet'"))
    db.session.commit()
    verify_ledger.delay()
    assert counted("freehold_ledger_verify_violations") >= 1


def test_audit_verify_sets_its_gauges(app):
    before = utcnow().timestamp()
    result = app.test_cli_runner().invoke(args=["audit", "verify"])
    assert result.exit_code == 0, result.output
    assert counted("freehold_audit_verify_ok") == 1
    assert counted("freehold_audit_verify_last_run_timestamp_seconds") >= before - 1
    core_metrics.record_audit_verify(False)
    assert counted("freehold_audit_verify_ok") == 0


def test_a_returns_run_is_timed():
    from app.investing import returns

    runs = counted("freehold_distribution_run_duration_seconds_count", status="succeeded")
    run = returns.distribute()
    assert run.status == "succeeded"
    assert counted("freehold_distribution_run_duration_seconds_count", status="succeeded") == runs + 1


def test_the_worker_serves_its_task_metrics_on_its_port(monkeypatch):
    port = free_port()
    monkeypatch.setitem(core_metrics._worker, "port", port)
    monkeypatch.setitem(core_metrics._worker, "addr", "127.0.0.1")
    monkeypatch.setitem(core_metrics._worker, "server", None)
    signals.worker_ready.send(sender=None)  # what the main worker process sends once its pool runs
    try:
        succeeds.delay()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
            text = response.read().decode()
    finally:
        core_metrics.stop_worker_server()
    assert value(text, "freehold_celery_tasks_total", task="tests.metrics.succeeds", outcome="succeeded") >= 1
    assert value(text, "freehold_celery_task_duration_seconds_count", task="tests.metrics.succeeds") >= 1


def test_the_worker_serves_nothing_without_a_port(monkeypatch):
    monkeypatch.setitem(core_metrics._worker, "port", None)
    monkeypatch.setitem(core_metrics._worker, "server", None)
    signals.worker_ready.send(sender=None)
    assert core_metrics._worker["server"] is None
