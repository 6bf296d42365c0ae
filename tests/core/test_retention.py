"""The nightly retention job: rows past their age go, rows within it stay, what the ledger, the audit trail and
unfinished work need is never touched, and a second run deletes nothing."""
import logging
from datetime import timedelta

from sqlalchemy import func, insert, select

from app.api.idempotency import IdempotencyKey
from app.auth.models import ApiToken, LoginAttempt, UserSession
from app.core.audit import AuditRecord, verify_chain
from app.core.db import utcnow
from app.extensions import db
from app.ledger.checks import verify
from app.ledger.models import JournalEntry, Posting
from app.notifications.models import Delivery, Notification
from app.ops.models import FailedTask
from app.payments.models import Deposit, WebhookInbox
from app.payouts.models import Payout
from app.retention import retention
from app.tasks import BEAT_SCHEDULE

DAY = timedelta(days=1)
KEPT_FOR_EVER = (JournalEntry, Posting, AuditRecord, Deposit, Payout)


def counts() -> dict[str, int]:
    return {model.__name__: db.session.scalar(select(func.count()).select_from(model)) for model in KEPT_FOR_EVER}


def fill(app, user) -> None:
    """For each kind, one row just past its age and the rows that must stay."""
    now, config = utcnow(), app.config
    sessions, tokens = now - config["SESSIONS_KEPT"], now - config["API_TOKENS_KEPT"]
    db.session.execute(insert(UserSession), [
        dict(sid_hash="expired-long-ago", user_id=user.id, expires_at=sessions - DAY),
        dict(sid_hash="revoked-long-ago", user_id=user.id, expires_at=now + DAY, revoked_at=sessions - DAY),
        dict(sid_hash="expired-lately", user_id=user.id, expires_at=sessions + DAY),
        dict(sid_hash="revoked-lately", user_id=user.id, expires_at=sessions + DAY, revoked_at=now - DAY),
        dict(sid_hash="live", user_id=user.id, expires_at=now + DAY)])
    db.session.execute(insert(ApiToken), [
        dict(token_hash="expired-long-ago", user_id=user.id, expires_at=tokens - DAY),
        dict(token_hash="revoked-long-ago", user_id=user.id, expires_at=now + DAY, revoked_at=tokens - DAY),
        dict(token_hash="revoked-lately", user_id=user.id, expires_at=now + DAY, revoked_at=now - DAY),
        dict(token_hash="unexpired", user_id=user.id, expires_at=now + DAY * 20)])
    attempts = now - config["LOGIN_ATTEMPTS_KEPT"]
    db.session.execute(insert(LoginAttempt), [
        dict(email="old@example.com", success=False, reason="bad_password", created_at=attempts - DAY),
        dict(email="recent@example.com", success=True, reason="ok", created_at=attempts + DAY)])
    keys = now - config["IDEMPOTENCY_KEYS_KEPT"]
    db.session.execute(insert(IdempotencyKey), [
        dict(user_id=user.id, key="old", endpoint="/x", request_hash="h", status_code=201, created_at=keys - DAY),
        dict(user_id=user.id, key="recent", endpoint="/x", request_hash="h", status_code=201,
             created_at=keys + DAY)])
    read = now - config["READ_NOTIFICATIONS_KEPT"]
    for event, read_at, in_app in (("read-long-ago", read - DAY, True), ("read-lately", read + DAY, True),
                                   ("unread-old", None, True), ("email-only", read - DAY, False),
                                   ("resent-by-staff", read - DAY, True)):
        notification_id = db.session.execute(insert(Notification).values(
            user_id=user.id, event=event, in_app=in_app, read_at=read_at,
            created_at=read - DAY * 10).returning(Notification.id)).scalar_one()
        channel = "in_app" if in_app else "email"
        delivery_id = db.session.execute(insert(Delivery).values(
            notification_id=notification_id, channel=channel, to_address=user.email,
            status="sent").returning(Delivery.id)).scalar_one()
        if event == "resent-by-staff":  # its e-mail was sent again from the console: the audit trail names it
            db.session.execute(insert(Delivery).values(notification_id=notification_id, channel="email",
                                                       to_address=user.email, status="sent",
                                                       resent_from_id=delivery_id))
    bodies = now - config["WEBHOOK_BODIES_KEPT"]
    db.session.execute(insert(WebhookInbox), [
        dict(provider="stripe", event_id=name, type="payment_intent.succeeded", payload={"id": name},
             status=status, received_at=bodies - DAY * 2, processed_at=at)
        for name, status, at in (("processed-long-ago", "processed", bodies - DAY),
                                 ("processed-lately", "processed", bodies + DAY),
                                 ("failed-long-ago", "failed", bodies - DAY),
                                 ("ignored-long-ago", "ignored", bodies - DAY),
                                 ("received-long-ago", "received", None))])
    resolved = now - config["FAILED_TASKS_KEPT"]
    db.session.execute(insert(FailedTask), [
        dict(task_id=name, task_name="payments.reconcile", exception="boom", status=status,
             first_failed_at=resolved - DAY * 5, last_failed_at=resolved - DAY * 5, resolved_at=at)
        for name, status, at in (("retried-long-ago", "retried", resolved - DAY),
                                 ("discarded-long-ago", "discarded", resolved - DAY),
                                 ("discarded-lately", "discarded", resolved + DAY),
                                 ("open-long-ago", "failed", None))])
    db.session.commit()


def test_the_nightly_job_prunes_what_is_past_its_age_and_keeps_the_rest(app, investor, caplog):
    """An investor with money in the wallet and an audited identity: the ledger and audit trail are untouched,
    both still verify; a live session, an unexpired token, unread notifications and unprocessed webhook bodies
    stay; a second run deletes nothing."""
    assert BEAT_SCHEDULE["retention-nightly"]["task"] == retention.name == "ops.retention"
    fill(app, investor)
    before = counts()
    assert before["JournalEntry"] and before["AuditRecord"] and before["Deposit"]

    with caplog.at_level(logging.INFO, logger="app.retention"):
        pruned = retention.delay().get()

    assert pruned == {"sessions": 2, "api_tokens": 2, "login_attempts": 1, "idempotency_keys": 1,
                      "read_notifications": 1, "webhook_bodies": 1, "resolved_failed_tasks": 2,
                      "closed_account_kyc_documents": 0, "expired_data_exports": 0,
                      "expired_console_exports": 0}
    for kind, count in pruned.items():
        assert f"retention: {kind} pruned: {count}" in caplog.text
    db.session.expire_all()
    assert sorted(db.session.scalars(select(UserSession.sid_hash))) == ["expired-lately", "live", "revoked-lately"]
    assert sorted(db.session.scalars(select(ApiToken.token_hash))) == ["revoked-lately", "unexpired"]
    assert list(db.session.scalars(select(LoginAttempt.email))) == ["recent@example.com"]
    assert list(db.session.scalars(select(IdempotencyKey.key))) == ["recent"]
    events = set(db.session.scalars(select(Notification.event)))
    assert {"read-lately", "unread-old", "email-only", "resent-by-staff"} <= events and "read-long-ago" not in events
    assert db.session.scalar(select(func.count()).select_from(Delivery).where(
        Delivery.notification_id.not_in(select(Notification.id)))) == 0
    inbox = {row.event_id: row for row in db.session.scalars(select(WebhookInbox))}
    assert set(inbox) == {"processed-long-ago", "processed-lately", "failed-long-ago", "ignored-long-ago",
                          "received-long-ago"}  # every row stays
    emptied = inbox["processed-long-ago"]
    assert emptied.payload is None and emptied.status == "processed" and emptied.processed_at is not None
    assert all(inbox[name].payload == {"id": name} for name in inbox if name != "processed-long-ago")
    assert sorted(db.session.scalars(select(FailedTask.task_id))) == ["discarded-lately", "open-long-ago"]

    assert counts() == before
    assert verify().ok
    checked, broken, problem = verify_chain()
    assert checked == before["AuditRecord"] and broken is None, problem

    assert retention.delay().get() == dict.fromkeys(pruned, 0)
    assert counts() == before


def test_nothing_to_prune_on_an_empty_database(app):
    assert set(retention.delay().get().values()) == {0}


def test_an_emptied_webhook_event_still_shows_in_the_console(app, client, make_user, login):
    old = utcnow() - app.config["WEBHOOK_BODIES_KEPT"] - DAY
    event_id = db.session.execute(insert(WebhookInbox).values(
        provider="stripe", event_id="evt_old", type="checkout.session.completed", payload={"id": "evt_old"},
        status="processed", received_at=old, processed_at=old).returning(WebhookInbox.id)).scalar_one()
    db.session.commit()
    assert retention.delay().get()["webhook_bodies"] == 1
    login(make_user(role="finance"))
    page = client.get(f"/admin/webhooks_inbox/details/?id={event_id}")
    assert page.status_code == 200 and "evt_old" in page.get_data(as_text=True)
