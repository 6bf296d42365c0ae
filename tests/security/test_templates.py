"""Staff cannot reword security messages, and cannot make any other message point elsewhere than this site.

Attacks: support (who may edit templates) tries to override a verification, reset, security notice, lockout or
new-payout-account message, and to add a link, an image or a bare address on another host to an ordinary one.
Each attempt is refused with a clear message, nothing is saved and the attempt is audited; an override that got
into the table anyway is never used."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.core.audit import AuditRecord
from app.extensions import db
from app.notifications import rendering
from app.notifications import services as notifications
from app.notifications.models import NotificationTemplate
from app.notifications.template_rules import TemplateRefused
from tests.support import csrf_from, outbox

SECURITY_EVENTS = [("reset_password", "email"), ("verify_email", "email"), ("security_notice", "email"),
                   ("security_notice", "sms"), ("account_locked", "in_app"), ("staff_account_locked", "email"),
                   ("payout_method_added", "email")]

FOREIGN = [
    ("body", "Read more at https://evil.example/offer"),
    ("body", "Read more at //evil.example/offer"),
    ("body", "Read more at www.evil.example"),
    ("subject", "Act now https://evil.example"),
    ("html", '<p><a href="https://evil.example/">Claim</a></p>'),
    ("html", '<p><img src="https://tracker.example/pixel.gif"></p>'),
    ("html", '<p><a href="javascript:alert(1)">Claim</a></p>'),
    ("html", '<p style="background:url(https://evil.example/bg.png)">Hi</p>'),
    ("html", '<p><a href="{{ \'https://evil\' ~ \'.example/\' }}">Claim</a></p>'),
    ("html", '<p><a href="mailto:help@evil.example">Write to us</a></p>'),
    ("body", "Claim at {{ 'https:/' ~ '/evil.example/' }}"),  # only what it renders to shows the address
]


@pytest.fixture
def support(client, make_user, login):
    staff = make_user(role="support")
    assert login(staff).status_code == 302
    return staff


def save(client, *, event, channel, subject=None, body="Hello {{ user.first_name }}", html=None):
    page = client.get("/admin/notification_templates/new/")
    data = {"csrf_token": csrf_from(page.get_data(as_text=True)), "event": event, "channel": channel,
            "subject": subject or "", "body": body, "html": html or "", "active": "y"}
    return client.post("/admin/notification_templates/new/", data=data, follow_redirects=True)


def saved_count() -> int:
    db.session.expire_all()
    return db.session.execute(select(func.count(NotificationTemplate.id))).scalar_one()


def refusals() -> list[AuditRecord]:
    return list(db.session.scalars(select(AuditRecord).where(
        AuditRecord.action == "notifications.template_refused")))


@pytest.mark.parametrize(("event", "channel"), SECURITY_EVENTS)
def test_support_cannot_override_a_security_message(client, support, event, channel):
    response = save(client, event=event, channel=channel, subject="Urgent", body="Call us on +1 555 0100")
    assert "is a security message: its templates cannot be overridden" in response.get_data(as_text=True)
    assert saved_count() == 0
    [record] = refusals()
    assert record.actor_id == support.id and record.after["event"] == event
    assert record.after["body"] == "Call us on +1 555 0100"


@pytest.mark.parametrize(("part", "text"), FOREIGN)
def test_support_cannot_point_an_ordinary_message_elsewhere(client, support, part, text):
    fields = {"subject": "Welcome", "body": "Hello {{ user.first_name }}", "html": None, part: text}
    response = save(client, event="welcome", channel="email", **fields)
    assert "may only point at localhost" in response.get_data(as_text=True)
    assert saved_count() == 0
    assert len(refusals()) == 1


def test_links_and_images_on_this_site_are_accepted(client, support):
    response = save(client, event="welcome", channel="email", subject="Welcome, {{ user.first_name }}",
                    body="Start at {{ link }} or http://localhost/properties",
                    html='<p><a href="{{ link }}">Start</a> <img src="http://localhost/static/img/logo.png"> '
                         '<a href="/portfolio">Portfolio</a></p>')
    assert response.status_code == 200 and "Record was successfully created" in response.get_data(as_text=True)
    assert saved_count() == 1 and refusals() == []


def test_an_override_of_a_security_message_already_in_the_table_is_never_used(make_user):
    user = make_user("ana@example.com")
    db.session.add(NotificationTemplate(event="security_notice", channel="email", subject="Hi",
                                        body="Call +1 555 0100 now", active=True))
    db.session.commit()
    notifications.notify(user, "security_notice", what="Your password was changed.", when="now", ip=None)
    db.session.commit()
    [mail] = outbox(user.email, "security_notice")
    assert "Call +1 555 0100" not in mail.body and "Your password was changed." in mail.body


def test_an_override_that_renders_a_foreign_link_is_set_aside_at_send_time(make_user):
    user = make_user("bo@example.com", first_name="Bo")
    db.session.add(NotificationTemplate(event="welcome", channel="email", subject="Hi",
                                        body="{{ 'https://' ~ 'evil.example' }} Hello {{ user.first_name }}",
                                        active=True))
    db.session.commit()
    notifications.notify(user, "welcome", link="http://localhost/")
    db.session.commit()
    [mail] = outbox(user.email, "welcome")
    assert "evil.example" not in mail.body and "Hello Bo" in mail.body


def test_the_service_refuses_without_the_console():
    with pytest.raises(TemplateRefused, match="security message"):
        rendering.check_override("reset_password", "email", subject=None, body="x", html=None)
    with pytest.raises(TemplateRefused, match="may only point at"):
        rendering.check_override("welcome", "email", subject=None, body="see https://evil.example", html=None)
    rendering.check_override("welcome", "email", subject=None, body="see {{ link }}", html=None)


def test_the_preview_says_what_saving_would_refuse(client, support):
    token = csrf_from(client.get("/admin/notification_templates/new/").get_data(as_text=True))
    preview = client.post("/admin/notification_templates/preview", data={
        "csrf_token": token, "event": "welcome", "channel": "email", "body": "See https://evil.example"}).get_json()
    assert preview["ok"] is False and "may only point at localhost" in preview["error"]
    locked = client.post("/admin/notification_templates/preview", data={
        "csrf_token": token, "event": "reset_password", "channel": "email", "body": "Hello"}).get_json()
    assert locked["ok"] is False and "security message" in locked["error"]
    fine = client.post("/admin/notification_templates/preview", data={
        "csrf_token": token, "event": "welcome", "channel": "email", "body": "See {{ link }}"}).get_json()
    assert fine["ok"] is True and "See http://localhost/" in fine["body"]
