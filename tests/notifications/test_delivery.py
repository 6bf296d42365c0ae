"""notify(): e-mail to a real SMTP server, rollbacks, retries with backoff, preferences, security notices, the
sweeper, staff resend."""
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.auth.services import notify_security_change
from app.core.audit import AuditRecord
from app.core.db import utcnow
from app.extensions import db
from app.notifications import services as notifications
from app.notifications import tasks
from app.notifications.models import Delivery, Notification
from tests.notifications.smtp_server import SmtpServer
from tests.support import csrf_from, free_port


@pytest.fixture
def smtp(app, monkeypatch):
    with SmtpServer() as server:
        monkeypatch.setitem(app.config, "MAIL_SERVER", "127.0.0.1")
        monkeypatch.setitem(app.config, "MAIL_PORT", server.port)
        monkeypatch.setitem(app.config, "MAIL_DEFAULT_SENDER", "Freehold <no-reply@freehold.test>")
        yield server


def deliveries(channel=None):
    db.session.expire_all()
    query = select(Delivery).order_by(Delivery.id)
    if channel:
        query = query.where(Delivery.channel == channel)
    return list(db.session.scalars(query))


def test_email_reaches_a_real_smtp_server_with_both_parts(smtp, make_user):
    user = make_user("ines@example.com", first_name="Ines")
    notifications.notify(user, "welcome", link="https://freehold.test/")
    db.session.commit()
    assert len(smtp.messages) == 1
    received = smtp.messages[0]
    assert received["to"] == ["ines@example.com"]
    message = received["message"]
    assert message["Subject"] == "Welcome to Freehold, Ines"
    assert message["From"] == "Freehold <no-reply@freehold.test>"
    text = message.get_body(preferencelist=("plain",)).get_content()
    html = message.get_body(preferencelist=("html",)).get_content()
    assert "Hello Ines" in text and "https://freehold.test/" in text
    assert "<ol>" in html and "https://freehold.test/" in html
    [email] = deliveries("email")
    assert email.status == "sent" and email.attempts == 1 and email.provider_id
    [in_app] = deliveries("in_app")
    assert in_app.status == "sent"


def test_nothing_is_sent_when_the_transaction_rolls_back(smtp, make_user):
    user = make_user()
    notifications.notify(user, "welcome", link="https://freehold.test/")
    db.session.rollback()
    db.session.commit()
    assert smtp.messages == []
    assert db.session.scalar(select(func.count(Notification.id))) == 0
    assert deliveries() == []


def test_a_refused_business_change_sends_nothing(client, smtp, make_user, login):
    """A password change refused halfway (wrong current password) leaves no notice behind."""
    user = make_user()
    login(user)
    token = csrf_from(client.get("/account/security").get_data(as_text=True))
    client.post("/account/password", data={"current_password": "wrong-password-x", "password": "A-new-one-123456",
                                           "confirm": "A-new-one-123456", "csrf_token": token})
    assert [m for m in smtp.messages if "Security notice" in m["message"]["Subject"]] == []


def test_temporary_smtp_failure_is_retried_then_succeeds(smtp, make_user, monkeypatch):
    delays = []
    original = tasks.backoff_seconds
    monkeypatch.setattr(tasks, "backoff_seconds", lambda attempt: delays.append(original(attempt)) or 0)
    smtp.recorder.refuse_next = ["451 4.3.0 Try again later", "421 4.7.0 Busy"]
    user = make_user()
    notifications.notify(user, "welcome", link="https://freehold.test/")
    db.session.commit()
    [email] = deliveries("email")
    assert email.status == "sent" and email.attempts == 3
    assert len(smtp.messages) == 1
    assert len(delays) == 2 and 30 <= delays[0] <= 33 and 60 <= delays[1] <= 66  # exponential, with jitter


def test_backoff_grows_and_is_capped():
    for attempt, base in ((1, 30), (2, 60), (3, 120), (4, 240)):
        assert base <= tasks.backoff_seconds(attempt) <= base * 1.1
    assert 1800 <= tasks.backoff_seconds(20) <= 1980


def test_permanent_failure_is_not_retried_and_never_blocks_other_channels(smtp, make_user):
    smtp.recorder.refuse_next = ["550 5.1.1 No such mailbox"]
    user = make_user()
    notifications.notify(user, "welcome", link="https://freehold.test/")
    db.session.commit()
    [email] = deliveries("email")
    assert email.status == "failed" and email.attempts == 1 and "550" in email.last_error
    [in_app] = deliveries("in_app")
    assert in_app.status == "sent"
    assert notifications.unread_count(user.id) == 1


def test_smtp_down_gives_up_after_the_last_attempt(app, make_user, monkeypatch):
    monkeypatch.setitem(app.config, "MAIL_SERVER", "127.0.0.1")
    monkeypatch.setitem(app.config, "MAIL_PORT", free_port())  # nobody listens
    monkeypatch.setattr(tasks, "backoff_seconds", lambda attempt: 0)
    notifications.notify(make_user(), "welcome", link="x")
    db.session.commit()
    [email] = deliveries("email")
    assert email.status == "failed" and email.attempts == tasks.MAX_ATTEMPTS


def test_preferences_are_respected(smtp, make_user):
    user = make_user()
    notifications.set_preferences(user, {("account", "in_app"): True})  # e-mail for "account" turned off
    db.session.commit()
    notifications.notify(user, "welcome", link="x")
    db.session.commit()
    assert smtp.messages == []
    assert [d.channel for d in deliveries()] == ["in_app"]


def test_security_notices_are_always_sent(smtp, make_user):
    user = make_user()
    notifications.set_preferences(user, {})  # everything the user may turn off is off
    db.session.commit()
    from app.notifications.models import NotificationPreference

    db.session.add(NotificationPreference(user_id=user.id, group="security", channel="email", enabled=False))
    db.session.commit()  # even a forged "off" row for a mandatory group is ignored
    notify_security_change(user, "Your password was changed.")
    db.session.commit()
    assert len(smtp.messages) == 1 and "Security notice" in smtp.messages[0]["message"]["Subject"]
    assert {d.channel for d in deliveries()} == {"email", "in_app"}


def test_mandatory_groups_cannot_be_turned_off_from_the_page(client, make_user, login):
    user = make_user()
    login(user)
    page = client.get("/account/notifications").get_data(as_text=True)
    assert "always on" in page
    client.post("/account/notifications", data={"csrf_token": csrf_from(page)})  # every box unticked
    matrix = {row["group"]: row for row in notifications.preference_matrix(user)}
    assert matrix["security"]["mandatory"] and all(matrix["security"]["channels"].values())
    # "account" holds a mandatory event (verification) and an optional one (welcome): it stays changeable
    assert not matrix["account"]["mandatory"] and not any(matrix["account"]["channels"].values())


def test_staff_events_reach_staff_of_the_roles_once_each(make_user):
    support = make_user(role="support")
    admin = make_user(role="admin")
    make_user(role="finance")
    from app.auth import services as auth

    boss = make_user(role="admin")  # nobody changes their own roles
    auth.set_roles(admin, {"admin", "support"}, actor=boss, reason="covers support too")
    db.session.commit()
    notifications.notify(None, "staff_account_locked", subject_email="x@example.com", failures=10, until="later")
    db.session.commit()
    got = sorted(n.user_id for n in db.session.scalars(select(Notification)))
    assert got == sorted([support.id, admin.id, boss.id])


def test_lockout_notifies_the_user_and_support(client, make_user, login):
    user = make_user()
    support = make_user(role="support")
    from app.auth import services as auth

    for _ in range(10):
        auth.register_failure(user, email=user.email, reason="bad_password", channel="portal")
    db.session.commit()
    events = {(n.user_id, n.event) for n in db.session.scalars(select(Notification))}
    assert (user.id, "account_locked") in events and (support.id, "staff_account_locked") in events


def test_sweeper_requeues_work_a_killed_worker_left(make_user, app, monkeypatch):
    user = make_user()
    monkeypatch.setitem(app.config, "CELERY_TASK_ALWAYS_EAGER", True)
    notification = Notification(user_id=user.id, event="welcome", context={})
    db.session.add(notification)
    db.session.flush()
    stuck = Delivery(notification_id=notification.id, channel="email", to_address=user.email, subject="s",
                     body="b", status="sending", attempts=1, claimed_at=utcnow() - timedelta(minutes=30))
    fresh = Delivery(notification_id=notification.id, channel="email", to_address=user.email, subject="s",
                     body="b", status="sending", attempts=1, claimed_at=utcnow())
    db.session.add_all([stuck, fresh])
    db.session.commit()
    assert tasks.requeue_stuck() == 1
    db.session.expire_all()
    assert stuck.status == "sent" and stuck.attempts == 2  # re-claimed and delivered
    assert fresh.status == "sending"  # a live worker may still be on it


def test_a_delivery_is_sent_once_even_if_its_task_runs_twice(smtp, make_user):
    user = make_user()
    notifications.notify(user, "welcome", link="x")
    db.session.commit()
    [email] = deliveries("email")
    assert tasks.deliver(email.id) == "skipped"
    assert len(smtp.messages) == 1


def test_staff_resend_from_the_delivery_log(client, smtp, make_user, login):
    smtp.recorder.refuse_next = ["550 5.1.1 No such mailbox"]
    user = make_user()
    notifications.notify(user, "welcome", link="x")
    db.session.commit()
    [failed] = deliveries("email")
    staff = make_user(role="support")
    login(staff)
    page = client.get(f"/admin/deliveries/details/?id={failed.id}").get_data(as_text=True)
    assert "Resend on email" in page
    response = client.post(f"/admin/deliveries/{failed.id}/resend", data={"csrf_token": csrf_from(page)})
    assert response.status_code == 302
    emails = deliveries("email")
    assert [d.status for d in emails] == ["failed", "sent"] and emails[1].resent_from_id == failed.id
    assert len(smtp.messages) == 1
    record = db.session.scalar(select(AuditRecord).where(AuditRecord.action == "notifications.resend"))
    assert record.actor_id == staff.id


def test_compliance_sees_the_log_but_cannot_resend(client, make_user, login):
    user = make_user()
    notifications.notify(user, "welcome", link="x")
    db.session.commit()
    [email] = deliveries("email")
    login(make_user(role="compliance"))
    page = client.get(f"/admin/deliveries/details/?id={email.id}")
    assert page.status_code == 200 and "Resend on" not in page.get_data(as_text=True)
    assert client.post(f"/admin/deliveries/{email.id}/resend",
                       data={"csrf_token": csrf_from(page.get_data(as_text=True))}).status_code == 403
