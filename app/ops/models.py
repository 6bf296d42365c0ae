"""What the workers record about their own running: each beat job's last run, and each task that failed for good."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.core.crypto import EncryptedString
from app.core.db import IdMixin, UTCDateTime, utcnow
from app.extensions import Model

# BeatJob.last_status
RUNNING = "running"
OK = "ok"
FAILED = "failed"

# FailedTask.status
OPEN = "failed"
RETRIED = "retried"
DISCARDED = "discarded"
FAILED_TASK_STATUSES = (OPEN, RETRIED, DISCARDED)


class BeatJob(IdMixin, Model):
    """One entry of the beat schedule (by its schedule name) and the outcome of its task's latest run."""

    __tablename__ = "beat_jobs"
    __table_args__ = (
        CheckConstraint("last_status IS NULL OR last_status in ('running', 'ok', 'failed')", name="status_valid"),
    )

    name: Mapped[str] = mapped_column(String(80), unique=True, nullable=False)  # the schedule entry's name
    task: Mapped[str] = mapped_column(String(120), nullable=False, index=True)
    last_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_status: Mapped[str | None] = mapped_column(String(10))
    last_duration_ms: Mapped[int | None] = mapped_column(Integer)
    last_result: Mapped[str | None] = mapped_column(Text)  # a short summary, secrets removed
    last_error: Mapped[str | None] = mapped_column(Text)
    last_ok_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class FailedTask(IdMixin, Model):
    """A Celery task that failed for good (retries exhausted, or not retried), kept for Retry or Discard."""

    __tablename__ = "failed_tasks"
    __table_args__ = (
        CheckConstraint("status in ('failed', 'retried', 'discarded')", name="status_valid"),
    )

    task_id: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)  # Celery's id of the failed run
    task_name: Mapped[str] = mapped_column(String(120), nullable=False, index=True)
    args: Mapped[str] = mapped_column(Text, nullable=False, default="[]")  # JSON, secrets removed
    kwargs: Mapped[str] = mapped_column(Text, nullable=False, default="{}")  # JSON, secrets removed
    exception: Mapped[str] = mapped_column(Text, nullable=False)
    traceback: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    first_failed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    last_failed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False, index=True)
    status: Mapped[str] = mapped_column(String(10), nullable=False, default=OPEN, index=True)
    resolved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    retried_task_id: Mapped[str | None] = mapped_column(String(64))  # the new run started by Retry
    # the original arguments, {"args": [...], "kwargs": {...}} as JSON, encrypted: what Retry sends again. Never shown.
    payload: Mapped[str | None] = mapped_column(EncryptedString())
