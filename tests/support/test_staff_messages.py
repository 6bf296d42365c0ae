"""Messages from staff to one investor or a segment: who a segment picks, the preview and the count to confirm, a
second person's approval above the threshold, the link rules, hostile text shown as text, sending once per
investor whatever the task does (retried, or two at once on PostgreSQL), the progress JSON."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from app.auth.models import Role, User, user_roles
from app.core.audit import AuditRecord
from app.core.db import unit_of_work, utcnow
from app.core.errors import Forbidden, ValidationError
from app.core.money import Money
from app.extensions import db
from app.investing import services as investing
from app.kyc.demo import ensure_forms
from app.kyc.models import KycSubmission
from app.notifications.models import Delivery, Notification
from app.support import message_tasks, messages, segments
from app.support.message_models import StaffMessage, StaffMessageRecipient
from tests.concurrency import run_threads
from tests.support import csrf_from


@pytest.fixture
def support(make_user):
    return make_user("support1@example.com", role="support")


@pytest.fixture
def support2(make_user):
    return make_user("support2@example.com", role="support")


def _ids(segment: segments.Segment) -> set[int]:
    return set(db.session.scalars(segments.user_ids(segment)))


def _set(user, **values) -> None:
    with unit_of_work():
        db.session.execute(update(User).where(User.id == user.id).values(**values))
    db.session.expire_all()


def _compose(actor, *, segment="inactive", days="1", investor=None, property_id=None, subject="Maintenance",
             body="The portal rests on Sunday.", send_email=False) -> StaffMessage:
    with unit_of_work():
        return messages.compose(segment=segment, investor=investor, property_id=property_id, days=days,
                                subject=subject, body=body, send_email=send_email, reason="Tell them",
                                actor=actor)


def _investors(make_user, count: int, *, days_away: int = 10) -> list:
    people = [make_user(f"inv{i}@example.com") for i in range(count)]
    for person in people:
        _set(person, last_login_at=utcnow() - timedelta(days=days_away))
    return people


def _confirm(m, actor):
    with unit_of_work():
        return messages.confirm(m, count_seen=messages.recipient_count(m), actor=actor)


def _notified() -> list[int]:
    """Who received a staff message (in-app, or in-app and e-mail)."""
    return list(db.session.scalars(select(Notification.user_id).where(
        Notification.event.in_((messages.EVENT, messages.EVENT_WITH_EMAIL))).order_by(Notification.user_id)))


# segments --------------------------------------------------------------------------------------------------------
def test_a_property_segment_picks_its_live_investors_and_never_closed_blocked_or_staff(
        make_investor, make_property, make_user):
    p, other = make_property(), make_property()
    holders = [make_investor("5000.00", email=f"holder{i}@example.com") for i in range(4)]
    elsewhere = make_investor("5000.00", email="elsewhere@example.com")
    staff_holder = make_investor("5000.00", email="staffholder@example.com")
    with unit_of_work():
        for person in [*holders, staff_holder]:
            investing.invest(person, p.id, Money.parse("100.00", "USD"), acknowledged=True)
        investing.invest(elsewhere, other.id, Money.parse("100.00", "USD"), acknowledged=True)
    _set(holders[1], status="blocked", block_category="compliance")
    _set(holders[2], status="closed", closed_at=utcnow())
    make_user(role="support")
    with unit_of_work():  # an investor who became staff
        db.session.execute(user_roles.insert().values(user_id=staff_holder.id, role_id=db.session.scalar(
            select(Role.id).where(Role.name == "support"))))
    segment = segments.build("property", property_id=str(p.id))
    assert _ids(segment) == {holders[0].id, holders[3].id}
    assert segments.count(segment) == 2


def test_kyc_and_inactivity_segments(make_investor, make_user):
    approved = make_investor(None, email="approved@example.com")
    never = make_user("never@example.com")
    waiting = make_user("waiting@example.com")
    identity, _ = ensure_forms()
    with unit_of_work():
        db.session.add(KycSubmission(user_id=waiting.id, form_id=identity.id, status="pending"))
    make_user(role="support")  # staff never started KYC either, and are never recipients
    assert _ids(segments.build("kyc_pending")) == {waiting.id}
    assert _ids(segments.build("kyc_not_started")) == {never.id}
    _set(never, last_login_at=utcnow() - timedelta(days=40))
    _set(waiting, last_login_at=utcnow() - timedelta(days=5))
    _set(approved, last_login_at=utcnow())
    assert _ids(segments.build("inactive", days="30")) == {never.id}
    assert _ids(segments.build("inactive", days="3")) == {never.id, waiting.id}
    for bad in ("0", "3651", "x", ""):
        with pytest.raises(ValidationError):
            segments.build("inactive", days=bad)


def test_one_investor_by_email_or_id_but_never_staff_or_blocked(make_user, support):
    person = make_user("one@example.com")
    assert segments.build("investor", investor="ONE@example.com ").user_id == person.id
    assert segments.build("investor", investor=f"#{person.id}").user_id == person.id
    with pytest.raises(ValidationError):
        segments.build("investor", investor=support.email)
    _set(person, status="blocked", block_category="request")
    with pytest.raises(ValidationError):
        segments.build("investor", investor=person.email)


# composing, the count, approval ----------------------------------------------------------------------------------
def test_foreign_links_are_refused_with_a_clear_message(client, login, support, make_user):
    make_user("one@example.com")
    login(support)
    page = client.get("/admin/staff_messages/compose").get_data(as_text=True)
    response = client.post("/admin/staff_messages/compose", data={
        "csrf_token": csrf_from(page), "segment": "investor", "investor": "one@example.com", "subject": "Hi",
        "body": "Claim your bonus at https://evil.example/claim now", "reason": "x"})
    assert response.status_code == 422
    assert "may only point at" in response.get_data(as_text=True) and "evil.example" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count(StaffMessage.id))) == 0
    own = _compose(support, segment="investor", investor="one@example.com", body="See http://localhost/wallet")
    assert own.status == "draft"


def test_a_changed_count_is_asked_again_then_a_small_segment_is_sent_at_once(make_user, support):
    people = _investors(make_user, 3)
    m = _compose(support, send_email=True)
    assert messages.recipient_count(m) == 3
    make_user("late@example.com")
    _set(db.session.scalar(select(User).where(User.email == "late@example.com")),
         last_login_at=utcnow() - timedelta(days=9))
    with pytest.raises(ValidationError, match="changed from 3 to 4"), unit_of_work():
        messages.confirm(m, count_seen="3", actor=support)
    assert db.session.get(StaffMessage, m.id).status == "draft"
    _confirm(m, support)
    db.session.expire_all()
    m = db.session.get(StaffMessage, m.id)
    assert (m.status, m.recipients_total, m.sent_count) == ("sent", 4, 4)
    assert len(_notified()) == 4 and support.id not in _notified()
    assert {p.id for p in people} <= set(_notified())
    assert db.session.scalar(select(func.count(Delivery.id)).where(Delivery.channel == "email")) == 4
    actions = list(db.session.scalars(select(AuditRecord.action).where(AuditRecord.target_type == "staff_messages")
                                   .order_by(AuditRecord.id)))
    assert actions == ["staff_messages.composed", "staff_messages.send"]


def test_above_the_threshold_a_second_person_approves_never_the_author(monkeypatch, make_user, support, support2,
                                                                       client, login):
    monkeypatch.setattr(messages, "APPROVAL_ABOVE", 2)
    _investors(make_user, 3)
    m = _compose(support)
    _confirm(m, support)
    assert m.status == "awaiting_approval" and m.confirmed_count == 3 and _notified() == []
    asked = db.session.scalars(select(Notification.user_id).where(Notification.event == messages.APPROVAL_EVENT))
    assert set(asked) == {support2.id}  # the other support staff, not its author
    with pytest.raises(Forbidden), unit_of_work():
        messages.approve(m, count_seen="3", actor=support)
    login(support)  # in the console the refusal is said and audited
    page = client.get(f"/admin/staff_messages/details/?id={m.id}").get_data(as_text=True)
    assert "You wrote it: a second person approves it." in page
    queue = client.get("/admin/staff_messages/?flt0_0=awaiting_approval").get_data(as_text=True)
    assert f"/admin/staff_messages/details/?id={m.id}" in queue and "Waiting for approval (1)" in queue
    response = client.post(f"/admin/staff_messages/{m.id}/approve", data={"csrf_token": csrf_from(page),
                                                                           "count": "3"}, follow_redirects=True)
    assert "by a second person: you wrote this one" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count(AuditRecord.id)).where(
        AuditRecord.action == "staff_messages.refused")) == 1
    with unit_of_work():
        messages.approve(db.session.get(StaffMessage, m.id), count_seen="3", actor=support2, comment="Fine")
    db.session.expire_all()
    m = db.session.get(StaffMessage, m.id)
    assert (m.status, m.approved_by_id, m.sent_count) == ("sent", support2.id, 3)
    assert len(_notified()) == 3


def test_the_database_refuses_an_approval_by_the_author(support):
    m = _compose(support)
    with pytest.raises(IntegrityError), unit_of_work():  # the CHECK constraint
        db.session.execute(update(StaffMessage).where(StaffMessage.id == m.id).values(approved_by_id=support.id))


def test_rejected_and_cancelled_messages_send_nothing(monkeypatch, make_user, support, support2):
    monkeypatch.setattr(messages, "APPROVAL_ABOVE", 1)
    _investors(make_user, 2)
    first, second = _compose(support), _compose(support)
    _confirm(first, support)
    with unit_of_work():
        messages.reject(first, actor=support2, reason="Wrong audience")
        messages.cancel(second, actor=support, reason="Typo")
    assert (first.status, second.status) == ("cancelled", "cancelled")
    assert _notified() == []
    with pytest.raises(Forbidden), unit_of_work():
        messages.cancel(_compose(support), actor=support2)


# sending once ----------------------------------------------------------------------------------------------------
def _ready(monkeypatch, support, make_user, count=5) -> StaffMessage:
    """A message whose sending started (its recipients written) with the task not run yet."""
    _investors(make_user, count)
    m = _compose(support)
    monkeypatch.setattr(messages, "enqueue_after_commit", lambda *a, **k: None)
    _confirm(m, support)
    monkeypatch.undo()
    assert m.status == "sending" and m.recipients_total == count
    return m


def test_a_retried_task_sends_to_each_investor_once(monkeypatch, make_user, support):
    m = _ready(monkeypatch, support, make_user)
    monkeypatch.setattr(messages, "BATCH", 2)
    with unit_of_work():  # a first run stopped after one batch (a worker killed)
        assert messages.send_batch(m.id, size=2) == 2
    assert message_tasks.send_staff_message(m.id) == "sent"
    assert message_tasks.send_staff_message(m.id) == "nothing to do"
    db.session.expire_all()
    assert len(_notified()) == 5 == len(set(_notified()))
    assert db.session.get(StaffMessage, m.id).sent_count == 5


def test_investors_closed_meanwhile_are_skipped(monkeypatch, make_user, support):
    m = _ready(monkeypatch, support, make_user, count=3)
    gone = db.session.scalar(select(User).where(User.email == "inv0@example.com"))
    _set(gone, status="closed", closed_at=utcnow())
    message_tasks.send_staff_message(m.id)
    db.session.expire_all()
    m = db.session.get(StaffMessage, m.id)
    assert (m.status, m.sent_count, m.skipped_count, m.percent) == ("sent", 2, 1, 100)
    assert gone.id not in _notified()


def test_two_tasks_at_once_send_to_each_investor_once(postgres, app, monkeypatch, make_user, support):
    m = _ready(monkeypatch, support, make_user, count=12)
    monkeypatch.setattr(messages, "BATCH", 3)
    results = run_threads(app, 2, lambda i: message_tasks.send_staff_message(m.id), commit=False)
    assert not [r for r in results if isinstance(r, Exception)], results
    db.session.expire_all()
    assert len(_notified()) == 12 == len(set(_notified()))
    assert db.session.scalar(select(func.count(StaffMessageRecipient.id)).where(
        StaffMessageRecipient.notification_id.is_not(None))) == 12
    m = db.session.get(StaffMessage, m.id)
    assert (m.status, m.sent_count) == ("sent", 12)


# the console: hostile text, progress, the investor's page --------------------------------------------------------
HOSTILE_SUBJECT = '<script>alert("s")</script>'
HOSTILE_BODY = '<img src=x onerror=alert(1)> "quoted" & more'


def test_hostile_text_is_shown_as_text_everywhere(client, login, support, make_user):
    investor = make_user("one@example.com")
    m = _compose(support, segment="investor", investor=investor.email, subject=HOSTILE_SUBJECT, body=HOSTILE_BODY,
                 send_email=True)
    login(support)
    for url in ("/admin/staff_messages/", f"/admin/staff_messages/details/?id={m.id}"):
        html = client.get(url).get_data(as_text=True)
        assert "<script>alert" not in html and "<img src=x" not in html, url
        assert "&lt;script&gt;alert" in html, url
    _confirm(m, support)
    email = db.session.scalar(select(Delivery).where(Delivery.channel == "email"))
    assert "<img src=x" not in email.html and "&lt;img src=x onerror=alert(1)&gt;" in email.html
    assert HOSTILE_BODY in email.body  # the plain-text part is plain text
    investor_client = type(client)(client.application)
    login(investor, http=investor_client)
    inbox = investor_client.get("/notifications").get_data(as_text=True)
    assert "&lt;script&gt;alert" in inbox and "&lt;img src=x" in inbox
    assert "<script>alert" not in inbox and "<img src=x" not in inbox


def test_progress_json_and_the_details_page(client, login, support, make_user):
    _investors(make_user, 2)
    m = _compose(support)
    login(support)
    page = client.get(f"/admin/staff_messages/details/?id={m.id}").get_data(as_text=True)
    assert 'data-testid="recipient-count">2<' in page and "Send to 2 recipients" in page
    response = client.post(f"/admin/staff_messages/{m.id}/confirm",
                           data={"csrf_token": csrf_from(page), "count": "2"}, follow_redirects=True)
    assert "Sending to 2 investors." in response.get_data(as_text=True)
    progress = client.get(f"/admin/staff_messages/{m.id}/progress").get_json()
    assert progress == {"percent": 100, "status": "sent", "done": 2, "total": 2, "label": "Sent"}
    assert client.get("/admin/staff_messages/999/progress").status_code == 404


def test_the_users_page_links_to_a_message_for_that_investor(client, login, support, make_user):
    investor = make_user("one@example.com")
    login(support)
    page = client.get(f"/admin/users/details/?id={investor.id}").get_data(as_text=True)
    assert f"/admin/staff_messages/compose?investor={investor.id}" in page
    form = client.get(f"/admin/staff_messages/compose?investor={investor.id}").get_data(as_text=True)
    assert f'value="{investor.id}"' in form


def test_only_messages_send_holders_reach_the_pages(client, login, make_user):
    login(make_user(role="compliance"))
    assert client.get("/admin/staff_messages/").status_code == 403
    assert client.get("/admin/staff_messages/compose").status_code == 403


def test_the_list_does_not_grow_queries_with_messages(client, login, support, make_user, count_queries):
    _investors(make_user, 1)
    login(support)
    _compose(support)
    with count_queries() as few:
        assert client.get("/admin/staff_messages/").status_code == 200
    for _ in range(8):
        _compose(support, segment="kyc_not_started")
    with count_queries() as many:
        assert client.get("/admin/staff_messages/").status_code == 200
    assert len(many) == len(few)


def test_a_task_that_stops_on_an_error_fails_and_resumes_without_sending_twice(monkeypatch, make_user, support):
    m = _ready(monkeypatch, support, make_user, count=4)
    real, calls = messages.notify, []

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("mail template broke")
        return real(*args, **kwargs)

    monkeypatch.setattr(messages, "BATCH", 2)
    monkeypatch.setattr(messages, "notify", flaky)
    assert message_tasks.send_staff_message(m.id) == "failed"
    db.session.expire_all()
    m = db.session.get(StaffMessage, m.id)
    assert (m.status, m.sent_count) == ("failed", 2) and "mail template broke" in m.last_error
    monkeypatch.setattr(messages, "notify", real)
    with unit_of_work():
        messages.resume(m, actor=support, reason="Template fixed")
    db.session.expire_all()
    m = db.session.get(StaffMessage, m.id)
    assert (m.status, m.sent_count) == ("sent", 4)
    assert len(_notified()) == 4 == len(set(_notified()))
