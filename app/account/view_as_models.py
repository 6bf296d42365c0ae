"""Support viewing an investor's portal read-only ("view as investor"): one row per viewing, bound to the staff
member's own signed-in session, and one lightweight row per page seen during it (app.account.view_as)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.auth.models import User
from app.core.db import IdMixin, UTCDateTime, utcnow
from app.extensions import Model


class ViewAsSession(IdMixin, Model):
    """A staff member viewing an investor's portal: started with a reason, over at `expires_at` or when stopped
    (`ended_at`). It only counts inside the staff session it was started in (`staff_session_id`)."""

    __tablename__ = "view_as_sessions"

    staff_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    staff_session_id: Mapped[int | None] = mapped_column(ForeignKey("user_sessions.id", ondelete="SET NULL"))
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False, index=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    end_reason: Mapped[str | None] = mapped_column(String(16))  # stopped | expired

    staff: Mapped[User] = relationship(foreign_keys=[staff_id], lazy="joined")
    user: Mapped[User] = relationship(foreign_keys=[user_id], lazy="joined")

    def is_open(self, now: datetime) -> bool:
        return self.ended_at is None and now < self.expires_at


class ViewAsPage(IdMixin, Model):
    """One portal page shown during a viewing (what support saw, and when)."""

    __tablename__ = "view_as_pages"

    view_as_id: Mapped[int] = mapped_column(ForeignKey("view_as_sessions.id", ondelete="CASCADE"), nullable=False,
                                            index=True)
    endpoint: Mapped[str] = mapped_column(String(80), nullable=False)
    path: Mapped[str] = mapped_column(String(300), nullable=False)
    viewed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
