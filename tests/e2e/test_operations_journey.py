"""Operations at night, in Chromium: a gateway task failed for good and a gateway event waits unprocessed. Finance
opens Operations → Alerts and sees both problems, and Operations → Jobs without the actions; the admin retries
the task with a reason, it runs once, its alert closes and one "resolved" message goes out.
Screenshots go to test-artifacts/operations-*.png."""
from datetime import timedelta

import pytest
from celery import shared_task
from playwright.sync_api import expect
from sqlalchemy import select

from app.core.audit import AuditRecord
from app.core.db import unit_of_work, utcnow
from app.extensions import db
from app.notifications.models import Notification
from app.ops.alerts import Alert
from app.ops.checks import run_checks
from app.ops.models import RETRIED, FailedTask
from app.payments.models import WebhookInbox
from app.seed import seed_demo
from tests.e2e.staff import staff_page

pytestmark = pytest.mark.e2e

CALLS: list[dict] = []
BEHAVIOUR = {"fail": True}


@shared_task(name="tests.e2e.charge")
def charge(amount, *, card_number):
    """A test-only stand-in for a gateway call that fails while the gateway is down."""
    CALLS.append({"amount": amount, "card_number": card_number})
    if BEHAVIOUR["fail"]:
        raise RuntimeError("gateway down")
    return {"charged": amount}


def fail_once(app) -> FailedTask:
    task = app.extensions["celery"].tasks["tests.e2e.charge"]
    with pytest.raises(RuntimeError):
        task.apply(args=[1250], kwargs={"card_number": "4242424242424242"}, task_id="e2e-failed-charge")
    db.session.expire_all()
    return db.session.scalars(select(FailedTask).where(FailedTask.task_id == "e2e-failed-charge")).one()


@pytest.fixture(autouse=True)
def _gateway_down():
    BEHAVIOUR["fail"] = True
    yield
    BEHAVIOUR["fail"] = True


def _open_alerts() -> set[str]:
    db.session.expire_all()
    return set(db.session.scalars(select(Alert.key).where(Alert.resolved_at.is_(None))))


def test_finance_sees_the_alerts_and_the_admin_retries_the_failed_task(app, browser, live_server, artifacts_dir):
    shot = lambda p, name: p.screenshot(path=str(artifacts_dir / f"operations-{name}.png"), full_page=True)  # noqa: E731
    logins = {login.email: login for login in seed_demo()}
    row = fail_once(app)
    with unit_of_work():
        db.session.add(WebhookInbox(provider="stripe", event_id="evt_stuck", type="payment_intent.succeeded",
                                    payload={"id": "evt_stuck"}, status="received",
                                    received_at=utcnow() - timedelta(minutes=25)))
    run_checks()
    assert {"failed_task:tests.e2e.charge", "webhook_inbox_stale"} <= _open_alerts()

    finance = staff_page(browser, live_server, logins["finance@example.com"])
    finance.goto(f"{live_server}/admin/alerts/")
    expect(finance.get_by_text("webhook_inbox_stale").first).to_be_visible()
    expect(finance.get_by_text("failed_task:tests.e2e.charge").first).to_be_visible()
    shot(finance, "1-alerts")
    finance.goto(f"{live_server}/admin/ops/")
    expect(finance.get_by_test_id("open-failed")).to_have_text("1 open")
    expect(finance.get_by_role("button", name="Retry")).to_have_count(0)  # finance looks, the admin acts
    shot(finance, "2-jobs-as-finance")

    admin = staff_page(browser, live_server, logins["admin@example.com"])
    admin.goto(f"{live_server}/admin/ops/")
    card = admin.locator(f"#failed-{row.id}")
    expect(card.get_by_test_id("kwargs")).not_to_contain_text("4242424242424242")  # the card number is hidden
    shot(admin, "3-jobs-as-admin")
    BEHAVIOUR["fail"] = False  # the gateway is back
    calls = len(CALLS)
    card.get_by_label("Reason to retry").fill("Gateway outage over, charge again")
    card.get_by_role("button", name="Retry").click()
    expect(admin.get_by_text("Sent again").first).to_be_visible()
    shot(admin, "4-retried")
    assert len(CALLS) == calls + 1
    db.session.expire_all()
    assert db.session.get(FailedTask, row.id).status == RETRIED
    [record] = db.session.scalars(select(AuditRecord).where(AuditRecord.action == "ops.task_retried"))
    assert record.reason == "Gateway outage over, charge again"

    run_checks()
    assert "failed_task:tests.e2e.charge" not in _open_alerts() and "webhook_inbox_stale" in _open_alerts()
    finance.goto(f"{live_server}/admin/alerts/")
    shot(finance, "5-alerts-after")
    resolved = db.session.scalars(select(Notification).where(Notification.event == "ops.alert_resolved")).all()
    assert {n.user.email for n in resolved} >= {"finance@example.com", "admin@example.com"}
