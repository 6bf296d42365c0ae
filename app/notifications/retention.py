"""Retention of notifications: in-app notifications read long ago are deleted by the nightly job
(app/retention.py) with their delivery rows, set-based. Unread ones stay whatever their age. Services flush and never
commit."""
from __future__ import annotations

from datetime import datetime

from flask import current_app
from sqlalchemy import delete, exists, select
from sqlalchemy.orm import aliased

from app.core.db import utcnow
from app.extensions import db
from app.notifications.models import Delivery, Notification


def prune(now: datetime | None = None) -> dict[str, int]:
    """Delete the in-app notifications read more than READ_NOTIFICATIONS_KEPT ago, and their deliveries (deleted
    first, in their own statement, rather than left to the foreign key's cascade). One that staff sent again stays: the audit
    trail names its deliveries. Returns the notifications gone."""
    now = now or utcnow()
    copy = aliased(Delivery)
    resent = select(copy.id).where(copy.notification_id == Notification.id, copy.resent_from_id.is_not(None)) \
        .correlate(Notification)
    old = select(Notification.id).where(
        Notification.in_app.is_(True), Notification.read_at.is_not(None),
        Notification.read_at < now - current_app.config["READ_NOTIFICATIONS_KEPT"], ~exists(resent))
    db.session.execute(delete(Delivery).where(Delivery.notification_id.in_(old))
                       .execution_options(synchronize_session=False))
    result = db.session.execute(delete(Notification).where(Notification.id.in_(old))
                                .execution_options(synchronize_session=False))
    return {"read_notifications": int(getattr(result, "rowcount", 0) or 0)}
