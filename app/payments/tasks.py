"""Webhook processing, abandoned deposits, daily reconciliation. Each task is one unit of work: all of it commits or
none of it does, so a redelivered task (a killed worker) credits exactly once."""
from __future__ import annotations

import logging

from celery import shared_task
from sqlalchemy import update

from app.extensions import db
from app.payments.models import WebhookInbox

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 8


@shared_task(name="payments.process_webhook", bind=True, max_retries=MAX_ATTEMPTS)
def process_webhook(self, inbox_id: int) -> str:
    from app.payments.gateways.base import GatewayError
    from app.payments.services import process_event

    row = db.session.get(WebhookInbox, inbox_id)
    if row is None or row.status in ("processed", "ignored"):
        return "skipped"
    try:
        result = process_event(row)
        row.attempts += 1
        db.session.commit()
        return result
    except Exception as exc:  # noqa: BLE001 - the unit rolls back whole; the event stays for a retry
        db.session.rollback()
        log.exception("webhook %s failed", inbox_id)
        db.session.execute(update(WebhookInbox).where(WebhookInbox.id == inbox_id)
                           .values(status="failed", error=f"{type(exc).__name__}: {exc}"[:500],
                                   attempts=WebhookInbox.attempts + 1).execution_options(synchronize_session=False))
        db.session.commit()
        retryable = not isinstance(exc, GatewayError) or exc.retryable
        from flask import current_app

        if retryable and not current_app.config.get("CELERY_TASK_ALWAYS_EAGER"):
            raise self.retry(exc=exc, countdown=min(30 * 2 ** self.request.retries, 3600)) from exc
        return "failed"


@shared_task(name="payments.notify_outcome")
def notify_outcome(user_id: int, event: str, context: dict) -> str:
    from app.auth.models import User
    from app.notifications.services import notify

    user = db.session.get(User, user_id)
    if user is None:
        return "missing"
    notify(user, event, **context)
    db.session.commit()
    return "sent"


@shared_task(name="payments.expire_abandoned")
def expire_abandoned_deposits() -> int:
    from app.payments.services import expire_abandoned

    count = expire_abandoned()
    db.session.commit()
    return count


@shared_task(name="payments.reconcile")
def reconcile_payments() -> int:
    from app.payments.services import reconcile

    count = reconcile()
    db.session.commit()
    return count


