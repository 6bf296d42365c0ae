"""Delivery of one notification on one channel, with retries and exponential backoff; a sweeper re-queues work a
killed worker left behind. Each delivery is claimed by a conditional UPDATE, so it is sent by one worker once."""
from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any, cast

from celery import shared_task
from flask import current_app
from sqlalchemy import CursorResult, or_, select, update

from app.core import retry
from app.core.db import unit_of_work, utcnow
from app.extensions import db
from app.notifications.channels.base import ChannelError, DeviceGone, OutgoingMessage
from app.notifications.channels.registry import channel_for
from app.notifications.models import EMAIL, FAILED, LOGGED, QUEUED, SENDING, SENT, Delivery
from app.notifications.secrets import reveal
from app.notifications.services import forget_device

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 6
BACKOFF_BASE_SECONDS = 30
BACKOFF_CAP_SECONDS = 30 * 60
STUCK_AFTER = timedelta(minutes=10)


def backoff_seconds(attempt: int) -> int:
    """30 s, 60 s, 120 s ... capped at 30 min, with up to 10 % jitter so retries do not stampede."""
    return retry.backoff_seconds(attempt, base=BACKOFF_BASE_SECONDS, cap=BACKOFF_CAP_SECONDS, jitter=0.1)


def _set(delivery_id: int, **values) -> None:
    with unit_of_work():
        db.session.execute(update(Delivery).where(Delivery.id == delivery_id).values(**values)
                           .execution_options(synchronize_session=False))


@shared_task(name="notifications.deliver")
def deliver(delivery_id: int) -> str:
    with unit_of_work():  # the claim is committed before the send: another worker sees it taken
        claimed = cast("CursorResult[Any]", db.session.execute(
            update(Delivery).where(Delivery.id == delivery_id, Delivery.status == QUEUED)
            .values(status=SENDING, claimed_at=utcnow(), attempts=Delivery.attempts + 1)
            .execution_options(synchronize_session=False))).rowcount
    if claimed != 1:
        return "skipped"  # sent, failed, or another worker has it
    delivery = db.session.get_one(Delivery, delivery_id)  # claimed above: it is there
    channel = channel_for(delivery.channel)
    if not channel.enabled():
        _set(delivery_id, status=FAILED, last_error="the channel is switched off", secret=None)
        return FAILED
    secret = delivery.secret  # the link of a secret event goes into the message only here, as it is sent
    message = OutgoingMessage(to=delivery.to_address, body=reveal(delivery.body, secret) or "",
                              subject=reveal(delivery.subject, secret), html=reveal(delivery.html, secret, html=True),
                              data={"event": delivery.event})
    try:
        provider_id = channel.send(message)
    except ChannelError as exc:
        return _failed(delivery, exc, retryable=exc.retryable)
    except Exception as exc:
        log.exception("delivery %s raised", delivery_id)
        return _failed(delivery, exc, retryable=True)
    status = LOGGED if delivery.channel == EMAIL and not current_app.config.get("MAIL_SERVER") else SENT
    _set(delivery_id, status=status, sent_at=utcnow(), provider_id=(provider_id or "")[:200] or None,
         last_error=None, secret=None)
    return status


def _failed(delivery: Delivery, exc: Exception, *, retryable: bool) -> str:
    error = f"{type(exc).__name__}: {exc}"[:500]
    attempts = delivery.attempts
    if retryable and attempts < MAX_ATTEMPTS:
        delay = backoff_seconds(attempts)
        _set(delivery.id, status=QUEUED, last_error=error, next_attempt_at=utcnow() + timedelta(seconds=delay))
        deliver.apply_async((delivery.id,), countdown=delay)
        return "retrying"
    _set(delivery.id, status=FAILED, last_error=error, secret=None)  # a resend issues a new link
    if isinstance(exc, DeviceGone):
        with unit_of_work():
            forget_device(delivery.to_address)
    return FAILED


@shared_task(name="notifications.requeue_stuck")
def requeue_stuck() -> int:
    """Deliveries a killed worker left `sending`, or whose task message was lost, go back to the queue."""
    cutoff = utcnow() - STUCK_AFTER
    stuck = list(db.session.scalars(select(Delivery.id).where(
        or_((Delivery.status == SENDING) & (Delivery.claimed_at < cutoff),
            (Delivery.status == QUEUED) & (Delivery.next_attempt_at.is_(None)) & (Delivery.created_at < cutoff),
            (Delivery.status == QUEUED) & (Delivery.next_attempt_at < cutoff)))
        .order_by(Delivery.id).limit(1000)))
    if stuck:
        with unit_of_work():
            db.session.execute(update(Delivery).where(Delivery.id.in_(stuck), Delivery.status == SENDING)
                               .values(status=QUEUED).execution_options(synchronize_session=False))
    for delivery_id in stuck:
        deliver.delay(delivery_id)
    return len(stuck)
