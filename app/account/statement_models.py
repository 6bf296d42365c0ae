"""An investor's statement: a year or a date range, prepared by a task as a PDF and a CSV kept in private storage."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import IdMixin, UTCDateTime, utcnow
from app.extensions import Model

KIND_YEAR = "year"
KIND_RANGE = "range"
KINDS = (KIND_YEAR, KIND_RANGE)

QUEUED = "queued"
RUNNING = "running"
READY = "ready"
FAILED = "failed"
STATUSES = (QUEUED, RUNNING, READY, FAILED)
ACTIVE = (QUEUED, RUNNING)


class Statement(IdMixin, Model):
    """`active_key` is "<user>:<from>:<to>" while the statement is queued or running and NULL afterwards: its UNIQUE
    index lets one statement per user and range be in preparation at a time (NULLs never collide)."""

    __tablename__ = "account_statements"
    __table_args__ = (
        CheckConstraint("first_day <= last_day", name="range_in_order"),
        CheckConstraint("progress_done >= 0 AND progress_done <= progress_total", name="progress_in_range"),
        Index("ix_account_statements_user_id_created_at", "user_id", "created_at"),
    )

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), nullable=False)
    kind: Mapped[str] = mapped_column(String(8), nullable=False, default=KIND_RANGE)
    first_day: Mapped[date] = mapped_column(Date, nullable=False)
    last_day: Mapped[date] = mapped_column(Date, nullable=False)
    status: Mapped[str] = mapped_column(String(8), nullable=False, default=QUEUED)
    active_key: Mapped[str | None] = mapped_column(String(60), unique=True)
    progress_done: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    progress_total: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    pdf_key: Mapped[str | None] = mapped_column(String(200))
    csv_key: Mapped[str | None] = mapped_column(String(200))
    error: Mapped[str | None] = mapped_column(Text)
    locale: Mapped[str] = mapped_column(String(8), nullable=False, default="en")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    @property
    def percent(self) -> int:
        if self.status == READY:
            return 100
        return 0 if not self.progress_total else min(100, 100 * self.progress_done // self.progress_total)

    @property
    def is_ready(self) -> bool:
        return self.status == READY and bool(self.pdf_key) and bool(self.csv_key)
