"""Retention of operations records: failed tasks that staff retried or discarded long ago are deleted by the nightly
job (app/retention.py), set-based. Open ones (status `failed`) stay whatever their age; the audit trail keeps who
retried or discarded what. Services flush and never commit."""
from __future__ import annotations

from datetime import datetime

from flask import current_app
from sqlalchemy import delete

from app.core.db import utcnow
from app.extensions import db
from app.ops.models import DISCARDED, RETRIED, FailedTask


def prune(now: datetime | None = None) -> dict[str, int]:
    """Delete failed tasks resolved (retried or discarded) more than FAILED_TASKS_KEPT ago."""
    now = now or utcnow()
    result = db.session.execute(
        delete(FailedTask).where(FailedTask.status.in_((RETRIED, DISCARDED)), FailedTask.resolved_at.is_not(None),
                                 FailedTask.resolved_at < now - current_app.config["FAILED_TASKS_KEPT"])
        .execution_options(synchronize_session=False))
    return {"resolved_failed_tasks": int(getattr(result, "rowcount", 0) or 0)}
