"""Tasks that failed for good: the list the jobs page shows, and the two ways out of it — Retry (send the task
again with its original arguments, once) and Discard. Both need a reason and are audited. Services flush only;
the caller's unit of work commits."""
from __future__ import annotations

import json
import logging
from typing import Any

from flask import current_app
from kombu.utils.uuid import uuid
from sqlalchemy import func, select, update

from app.core import audit
from app.core.db import after_commit, utcnow
from app.core.errors import Conflict, ValidationError
from app.extensions import db
from app.ops.models import DISCARDED, OPEN, RETRIED, FailedTask

log = logging.getLogger(__name__)

MAX_REASON = 2000


def _celery():
    return current_app.extensions["celery"]


def open_count() -> int:
    return db.session.scalar(select(func.count(FailedTask.id)).where(FailedTask.status == OPEN)) or 0


def listing(limit: int = 100) -> list[FailedTask]:
    """Open ones first (latest failure first), then the retried and discarded ones."""
    return list(db.session.scalars(select(FailedTask).order_by(
        (FailedTask.status == OPEN).desc(), FailedTask.last_failed_at.desc(), FailedTask.id.desc()).limit(limit)))


def _reason(reason: str | None) -> str:
    why = (reason or "").strip()
    if not why:
        raise ValidationError("a reason is required", {"reason": ["Say why."]})
    if len(why) > MAX_REASON:
        raise ValidationError("the reason is too long", {"reason": [f"At most {MAX_REASON:,} characters."]})
    return why


def _resolve(row: FailedTask, status: str, actor, **values: Any) -> bool:
    """The conditional update failed -> status: True for the one caller that wins it (a double click or a second
    console loses, and nothing else happens for it)."""
    result = db.session.execute(
        update(FailedTask).where(FailedTask.id == row.id, FailedTask.status == OPEN)
        .values(status=status, resolved_by_id=actor.id, resolved_at=utcnow(), **values)
        .execution_options(synchronize_session=False))
    db.session.refresh(row)
    return result.rowcount == 1  # type: ignore[attr-defined]


def _snapshot(row: FailedTask) -> dict[str, Any]:
    return {"task_id": row.task_id, "task": row.task_name, "attempts": row.attempts, "status": row.status,
            "retried_task_id": row.retried_task_id}


def _send(name: str, task_id: str, args: list[Any], kwargs: dict[str, Any]) -> None:
    try:
        _celery().tasks[name].apply_async(args=args, kwargs=kwargs, task_id=task_id)
    except Exception:
        # the row says retried with this id: the run never came, and the log says why
        log.exception("the retry %s of %s could not be sent", task_id, name)


def retry(row: FailedTask, *, actor, reason: str | None) -> FailedTask:
    """Send the task again with its original arguments, once: only the caller that moves the row from failed to
    retried sends, after the commit."""
    why = _reason(reason)
    if row.status != OPEN:
        raise Conflict(f"this task was already {row.status}")
    if row.task_name not in _celery().tasks:
        raise Conflict(f"the task {row.task_name} no longer exists; discard it instead")
    if not row.payload:
        raise Conflict("the original arguments of this task were not kept; discard it instead")
    original = json.loads(row.payload)
    new_id = uuid()
    if not _resolve(row, RETRIED, actor, retried_task_id=new_id):
        raise Conflict(f"this task was already {row.status}")
    audit.record("ops.task_retried", actor=actor, target=row, reason=why, after=_snapshot(row))
    after_commit(_send, row.task_name, new_id, list(original.get("args") or []), dict(original.get("kwargs") or {}))
    return row


def discard(row: FailedTask, *, actor, reason: str | None) -> FailedTask:
    why = _reason(reason)
    if row.status != OPEN or not _resolve(row, DISCARDED, actor):
        raise Conflict(f"this task was already {row.status}")
    audit.record("ops.task_discarded", actor=actor, target=row, reason=why, after=_snapshot(row))
    return row
