"""Finance is reminded of payouts that have waited too long for a decision or for the bank."""
from __future__ import annotations

from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import func, select

from app.core.db import utcnow
from app.extensions import db
from app.notifications.services import notify
from app.payouts.models import PAYOUT_OPEN, Payout


def waiting_longer_than(hours: int, now: datetime | None = None) -> int:
    now = now or utcnow()
    return db.session.scalar(select(func.count(Payout.id)).where(
        Payout.status.in_(PAYOUT_OPEN), Payout.created_at < now - timedelta(hours=hours))) or 0


def remind_finance(now: datetime | None = None) -> int:
    """Tell finance how many payouts have waited longer than PAYOUT_STALE_HOURS (nothing when none)."""
    hours = int(current_app.config["PAYOUT_STALE_HOURS"])
    count = waiting_longer_than(hours, now)
    if count:
        notify(None, "payouts_waiting_staff", count=count, hours=hours)
    return count
