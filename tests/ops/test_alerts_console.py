"""Operations → Alerts in the console: open alerts first, read-only, for admins and finance."""
from datetime import timedelta

import pytest

from app.core.db import utcnow
from app.extensions import db
from app.ops import alerts
from app.ops.alerts import Alert


def _alerts():
    now = utcnow()
    old_open = Alert(key="failed_task:payments.process_webhook", kind=alerts.FAILED_TASK,
                     summary="The task payments.process_webhook failed for good", details="ValueError: bad",
                     raised_at=now - timedelta(days=2), last_seen_at=now)
    resolved = Alert(key="webhook_inbox_stale", kind=alerts.WEBHOOK_INBOX_STALE, summary="3 events wait",
                     details="", raised_at=now - timedelta(hours=1), last_seen_at=now, resolved_at=now)
    db.session.add_all([old_open, resolved])
    db.session.commit()
    return old_open, resolved


def test_finance_sees_open_alerts_first_with_what_to_do(client, make_user, login):
    old_open, _ = _alerts()
    login(make_user(role="finance"))
    page = client.get("/admin/alerts/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    # the newer alert is resolved: the older open one still comes first
    assert html.index("The task payments.process_webhook failed for good") < html.index("3 events wait")
    assert "A background task failed for good" in html and ">open<" in html and ">resolved<" in html
    details = client.get(f"/admin/alerts/details/?id={old_open.id}").get_data(as_text=True)
    assert "Operations → Jobs (its failed tasks)" in details and "Retry it once the cause is fixed" in details
    assert "ValueError: bad" in details


def test_the_list_is_read_only(client, make_user, login):
    old_open, _ = _alerts()
    login(make_user(role="admin"))
    assert client.get("/admin/alerts/edit/?id=%d" % old_open.id).status_code in (302, 403, 404)
    assert client.get("/admin/alerts/new/").status_code in (302, 403, 404)
    db.session.expire_all()
    assert db.session.get(Alert, old_open.id).resolved_at is None


@pytest.mark.parametrize("role", ["compliance", "support", "property_manager"])
def test_other_staff_may_not_see_alerts(client, make_user, login, role):
    _alerts()
    login(make_user(role=role))
    assert client.get("/admin/alerts/").status_code == 403
