"""The investor's own account: data exports ("Download my data") and staff requests to close an account."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.auth.models import User
from app.core.db import IdMixin, TimestampMixin, UTCDateTime, utcnow
from app.extensions import Model

EXPORT_QUEUED = "queued"
EXPORT_RUNNING = "running"
EXPORT_READY = "ready"
EXPORT_FAILED = "failed"
EXPORT_EXPIRED = "expired"
EXPORT_STATUSES = (EXPORT_QUEUED, EXPORT_RUNNING, EXPORT_READY, EXPORT_FAILED, EXPORT_EXPIRED)
EXPORT_IN_PROGRESS = (EXPORT_QUEUED, EXPORT_RUNNING)
EXPORT_TRANSITIONS = {
    EXPORT_QUEUED: (EXPORT_RUNNING, EXPORT_FAILED),
    EXPORT_RUNNING: (EXPORT_READY, EXPORT_FAILED),
    EXPORT_READY: (EXPORT_EXPIRED,),
}


class DataExport(IdMixin, Model):
    """One "Download my data" archive: prepared by a task, kept in private storage, downloadable by its owner
    (signed in) until `expires_at`. One export at a time per user is being prepared (a partial unique index)."""

    __tablename__ = "data_exports"
    __table_args__ = (
        CheckConstraint("status in ('queued', 'running', 'ready', 'failed', 'expired')", name="status_valid"),
        Index("ix_data_exports_one_in_progress", "user_id", unique=True,
              postgresql_where=text("status in ('queued', 'running')"),
              sqlite_where=text("status in ('queued', 'running')")),
        Index("ix_data_exports_status_expires_at", "status", "expires_at"),
    )

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    status: Mapped[str] = mapped_column(String(10), nullable=False, default=EXPORT_QUEUED)
    sections_done: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    sections_total: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    rows: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    storage_key: Mapped[str | None] = mapped_column(String(300))
    size: Mapped[int | None] = mapped_column(BigInteger)
    error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    user: Mapped[User] = relationship(lazy="select")

    def is_downloadable(self, now: datetime) -> bool:
        return self.status == EXPORT_READY and self.expires_at is not None and self.expires_at > now

    @property
    def percent(self) -> int:
        """How far the preparation is, from its own counters (parts of the archive written)."""
        if self.status == EXPORT_READY:
            return 100
        return 0 if not self.sections_total else min(100, 100 * self.sections_done // self.sections_total)


CLOSE_PENDING = "pending"
CLOSE_APPROVED = "approved"
CLOSE_REJECTED = "rejected"
CLOSE_CANCELLED = "cancelled"
CLOSE_TRANSITIONS = {CLOSE_PENDING: (CLOSE_APPROVED, CLOSE_REJECTED, CLOSE_CANCELLED)}


class ClosureRequest(IdMixin, TimestampMixin, Model):
    """Staff closing an investor's account on their request (maker-checker, as staff account changes have it):
    one staff member with `users.close` proposes with a reason, a different one approves (only then is the
    account closed), another rejects or the proposer cancels. Nobody acts on their own account. One pending
    request per account."""

    __tablename__ = "closure_requests"
    __table_args__ = (
        CheckConstraint("status in ('pending', 'approved', 'rejected', 'cancelled')", name="status_valid"),
        CheckConstraint("proposer_id <> target_id", name="not_about_the_proposer"),
        CheckConstraint("decided_by_id IS NULL OR decided_by_id <> target_id", name="not_decided_by_the_target"),
        CheckConstraint("status <> 'approved' OR decided_by_id <> proposer_id", name="two_different_people"),
        Index("ix_closure_requests_one_pending", "target_id", unique=True,
              postgresql_where=text("status = 'pending'"), sqlite_where=text("status = 'pending'")),
    )

    target_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    proposer_id: Mapped[int] = mapped_column(ForeignKey("users.id"), nullable=False)
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default=CLOSE_PENDING, index=True)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decision_reason: Mapped[str | None] = mapped_column(Text)

    target: Mapped[User] = relationship(foreign_keys=[target_id], lazy="joined")
    proposer: Mapped[User] = relationship(foreign_keys=[proposer_id], lazy="joined")
    decided_by: Mapped[User | None] = relationship(foreign_keys=[decided_by_id], lazy="joined")
