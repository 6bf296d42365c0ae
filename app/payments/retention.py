"""Retention of the webhook inbox: the body of an event processed long ago is emptied (set to NULL) by the nightly
job (app/retention.py), with one UPDATE ... WHERE; the row, its status, reference, deposit and outcome stay. An event
not processed (received, processing, failed, ignored) keeps its body whatever its age. Services flush and never
commit."""
from __future__ import annotations

from datetime import datetime

from flask import current_app
from sqlalchemy import null, update

from app.core.db import utcnow
from app.extensions import db
from app.payments.models import WebhookInbox


def prune(now: datetime | None = None) -> dict[str, int]:
    """Empty the bodies of the events processed more than WEBHOOK_BODIES_KEPT ago. Returns the bodies emptied."""
    now = now or utcnow()
    result = db.session.execute(
        update(WebhookInbox)
        .where(WebhookInbox.status == "processed", WebhookInbox.processed_at.is_not(None),
               WebhookInbox.processed_at < now - current_app.config["WEBHOOK_BODIES_KEPT"],
               WebhookInbox.payload.is_not(None))
        .values(payload=null())
        .execution_options(synchronize_session=False))
    return {"webhook_bodies": int(getattr(result, "rowcount", 0) or 0)}
