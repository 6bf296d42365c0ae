"""Staff template overrides (sandboxed, previewed, audited), SMS and push through notify(), the in-app inbox in
the portal and the API."""
import pytest
from sqlalchemy import select

from app.auth.services import notify_security_change
from app.core.audit import AuditRecord
from app.core.db import utcnow
from app.extensions import db
from app.notifications import rendering
from app.notifications import services as notifications
from app.notifications.models import Delivery, NotificationTemplate, PushDevice
from tests.support import csrf_from, outbox

ATTACKS = [
    "{{ config }}",
    "{{ config.SECRET_KEY }}",
    "{{ user.__class__.__mro__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ self.__init__.__globals__ }}",
    "{{ lipsum.__globals__['os'] }}",
    "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    "{{ request.environ }}",
    "{{ url_for.__globals__['current_app'].config }}",
    "{{ user.email.__class__.__base__.__subclasses__() }}",
    "{% for c in [].__class__.__base__.__subclasses__() %}{{ c }}{% endfor %}",
    "{{ namespace.__init__.__globals__ }}",
]


@pytest.mark.parametrize("attack", ATTACKS)
def test_a_hostile_staff_template_renders_without_leaking(app, make_user, attack):
    user = make_user(first_name="Ines")
    db.session.add(NotificationTemplate(event="welcome", channel="email", subject="Hi {{ user.first_name }}",
                                        body=f"Hello {{{{ user.first_name }}}} {attack}", active=True))
    db.session.commit()
    notifications.notify(user, "welcome", link="https://freehold.test/")
    db.session.commit()
    [email] = outbox(user.email, "welcome")
    leaked = f"{email.subject} {email.body} {email.html}"
    for secret in (app.config["SECRET_KEY"], app.config["FIELD_ENCRYPTION_KEYS"].split(",")[0], "subprocess",
                   "<class", "uid=", "SQLALCHEMY"):
        assert secret not in leaked, (attack, secret)
    assert "Hello Ines" in email.body  # the file template stood in for the broken override
    with pytest.raises(rendering.TemplateProblem):
        rendering.render_sandboxed(attack, {"user": {"first_name": "x", "email": "y"}})


def test_a_good_override_is_used_and_autoescapes_html(make_user):
    user = make_user(first_name="<b>Ines</b>")
    db.session.add(NotificationTemplate(event="welcome", channel="email", subject="Welcome aboard, {{ user.first_name }}",
                                        body="Text for {{ user.first_name }}", html="<p>Hi {{ user.first_name }}</p>"))
    db.session.commit()
    notifications.notify(user, "welcome", link="x")
    db.session.commit()
    [email] = outbox(user.email, "welcome")
    assert email.subject == "Welcome aboard, <b>Ines</b>"
    assert email.body == "Text for <b>Ines</b>"
    assert email.html == "<p>Hi &lt;b&gt;Ines&lt;/b&gt;</p>"


def test_staff_edit_a_template_with_a_live_preview(client, make_user, login):
    staff = make_user(role="support")
    login(staff)
    page = client.get("/admin/notification_templates/new/").get_data(as_text=True)
    token = csrf_from(page)
    assert "Live preview" in page
    preview = client.post("/admin/notification_templates/preview", data={
        "csrf_token": token, "event": "welcome", "channel": "email", "subject": "Hi {{ user.first_name }}",
        "body": "Body {{ link }}", "html": "<p>{{ user.full_name }}</p>"}).get_json()
    assert preview["ok"] and preview["subject"] == "Hi Iris" and "Iris Investor" in preview["html"]
    hostile = client.post("/admin/notification_templates/preview", data={
        "csrf_token": token, "event": "welcome", "channel": "email", "body": "{{ config }}"}).get_json()
    assert hostile["ok"] is False and "SECRET" not in str(hostile)
    source = client.get("/admin/notification_templates/source?event=welcome&channel=email").get_json()
    assert "Three steps" in source["body"] and source["subject"].startswith("Welcome to Freehold")
    refused = client.post("/admin/notification_templates/new/", data={
        "csrf_token": token, "event": "welcome", "channel": "email", "body": "{{ config.SECRET_KEY }}",
        "active": "y"}, follow_redirects=True)
    assert "does not render" in refused.get_data(as_text=True)
    assert db.session.scalar(select(NotificationTemplate)) is None
    saved = client.post("/admin/notification_templates/new/", data={
        "csrf_token": token, "event": "welcome", "channel": "email", "subject": "Hello {{ user.first_name }}",
        "body": "Welcome, {{ user.first_name }}.", "active": "y"})
    assert saved.status_code == 302
    template = db.session.scalar(select(NotificationTemplate))
    assert template.updated_by_id == staff.id
    record = db.session.scalar(select(AuditRecord).where(AuditRecord.action == "notifications.template_saved"))
    assert record.actor_id == staff.id and record.after["body"] == "Welcome, {{ user.first_name }}."
    wrong_channel = client.post("/admin/notification_templates/new/", data={
        "csrf_token": token, "event": "welcome", "channel": "sms", "body": "x", "active": "y"},
        follow_redirects=True)
    assert "is not sent on sms" in wrong_channel.get_data(as_text=True)


def test_finance_cannot_edit_templates(client, make_user, login):
    login(make_user(role="finance"))
    assert client.get("/admin/notification_templates/").status_code == 403


def test_security_notice_reaches_sms_and_push_when_configured(sms_config, push_config, make_user):
    user = make_user()
    notifications.set_phone_number(user, "+14155550123")
    user.phone_verified_at = utcnow()  # SMS goes only to a verified number (app/notifications/phone.py)
    notifications.register_device(user, "device-token-1", "android")
    db.session.commit()
    notify_security_change(user, "Your password was changed.")
    db.session.commit()
    by_channel = {d.channel: d for d in db.session.scalars(select(Delivery))}
    assert {c: d.status for c, d in by_channel.items()} == {"email": "sent", "in_app": "sent", "sms": "sent",
                                                            "push": "sent"}
    [sms] = sms_config.messages
    assert sms.form()["To"] == "+14155550123" and "Your password was changed." in sms.form()["Body"]
    [push] = push_config.send_requests
    body = push.json()["message"]
    assert body["token"] == "device-token-1" and body["notification"]["title"] == "Security notice"


def test_sms_and_push_are_off_by_default(make_user):
    user = make_user()
    notifications.set_phone_number(user, "+14155550123")
    notifications.register_device(user, "device-token-2", "ios")
    notify_security_change(user, "Your password was changed.")
    db.session.commit()
    assert {d.channel for d in db.session.scalars(select(Delivery))} == {"email", "in_app"}


def test_an_unregistered_device_is_forgotten(push_config, make_user):
    user = make_user()
    notifications.register_device(user, "dead-token", "android")
    db.session.commit()
    push_config.respond_send(404, push_config.fcm_error(404, "NOT_FOUND", "Requested entity was not found.",
                                                        "UNREGISTERED"))
    notify_security_change(user, "Your password was changed.")
    db.session.commit()
    push = db.session.scalar(select(Delivery).where(Delivery.channel == "push"))
    assert push.status == "failed" and push.attempts == 1
    assert db.session.scalar(select(PushDevice)) is None


def test_bad_phone_numbers_are_refused(make_user):
    from app.core.errors import ValidationError

    user = make_user()
    for bad in ("4155550123", "+1", "+1415555012345678", "+14155550abc"):
        with pytest.raises(ValidationError):
            notifications.set_phone_number(user, bad)


def test_bell_inbox_and_mark_read_in_the_portal(client, make_user, login):
    user, other = make_user(), make_user()
    notify_security_change(user, "Your password was changed.")
    notify_security_change(other, "Not yours.")
    db.session.commit()
    login(user)
    html = client.get("/").get_data(as_text=True)
    assert 'data-testid="unread">1<' in html
    inbox = client.get("/notifications").get_data(as_text=True)
    assert "Your password was changed." in inbox and "Not yours." not in inbox
    token = csrf_from(inbox)
    mine = notifications.inbox(user.id)[0][0]
    other_id = notifications.inbox(other.id)[0][0].id
    assert client.post(f"/notifications/{other_id}/read", data={"csrf_token": token}).status_code == 404
    assert client.post(f"/notifications/{mine.id}/read", data={"csrf_token": token}).status_code == 302
    assert 'data-testid="unread"' not in client.get("/").get_data(as_text=True)


def test_api_notifications_list_and_read(client, make_user, token_for):
    user, other = make_user(), make_user()
    for what in ("First.", "Second."):
        notify_security_change(user, what)
    notify_security_change(other, "Other.")
    db.session.commit()
    headers = token_for(user)
    body = client.get("/api/v1/notifications", headers=headers).get_json()
    assert body["meta"]["total"] == 2 and body["meta"]["unread"] == 2
    assert [n["body"].split(" (")[0] for n in body["data"]] == ["Second.", "First."]
    first_id = body["data"][1]["id"]
    read = client.post(f"/api/v1/notifications/{first_id}/read", headers=headers).get_json()
    assert read["data"]["read"] is True
    other_id = client.get("/api/v1/notifications", headers=token_for(other)).get_json()["data"][0]["id"]
    assert client.post(f"/api/v1/notifications/{other_id}/read", headers=headers).status_code == 404
    assert client.get("/api/v1/notifications", headers=headers).get_json()["meta"]["unread"] == 1
    assert client.get("/api/v1/notifications").status_code == 401


def test_api_push_devices(client, make_user, token_for):
    user, other = make_user(), make_user()
    headers = token_for(user)
    created = client.post("/api/v1/notifications/devices", json={"token": "tok-1", "platform": "ios"},
                          headers=headers)
    assert created.status_code == 201
    device_id = created.get_json()["data"]["id"]
    assert client.post("/api/v1/notifications/devices", json={"token": "", "platform": "ios"},
                       headers=headers).status_code == 422
    assert client.post("/api/v1/notifications/devices", json={"token": "t", "platform": "nokia"},
                       headers=headers).status_code == 422
    assert client.delete(f"/api/v1/notifications/devices/{device_id}", headers=token_for(other)).status_code == 404
    assert client.delete(f"/api/v1/notifications/devices/{device_id}", headers=headers).status_code == 200


def test_inbox_queries_do_not_grow(client, make_user, login, count_queries):
    user = make_user()
    login(user)
    notify_security_change(user, "One.")
    db.session.commit()
    with count_queries() as few:
        client.get("/notifications")
    for i in range(10):
        notify_security_change(user, f"More {i}.")
    db.session.commit()
    with count_queries() as many:
        client.get("/notifications")
    assert 0 < len(many) == len(few)


def test_staff_templates_may_extend_the_email_layout_and_nothing_else():
    context = {"user": {"first_name": "Ines"}}
    html = rendering.render_sandboxed('{% extends "email/_layout.html" %}{% block body %}Hi {{ user.first_name }}'
                                      '{% endblock %}', context, html=True)
    assert "Hi Ines" in html and "Freehold" in html
    for other in ("base.html", "portal/dashboard.html", "../app/config.py", "/etc/passwd"):
        with pytest.raises(rendering.TemplateProblem):
            rendering.render_sandboxed(f'{{% extends "{other}" %}}', context, html=True)
        with pytest.raises(rendering.TemplateProblem):
            rendering.render_sandboxed(f'{{% include "{other}" %}}', context)
