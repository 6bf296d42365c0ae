"""The mail outbox: every e-mail is a row first, sent by a Celery task after commit (or only kept and logged
when no SMTP server is configured)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import IdMixin, UTCDateTime, utcnow
from app.extensions import db

MAIL_PENDING = "pending"
MAIL_SENDING = "sending"  # claimed by one worker
MAIL_SENT = "sent"
MAIL_LOGGED = "logged"  # no SMTP configured: written to the log, kept here
MAIL_FAILED = "failed"


class MailMessage(IdMixin, db.Model):
    __tablename__ = "mail_outbox"
    __table_args__ = (CheckConstraint("status in ('pending', 'sending', 'sent', 'logged', 'failed')", name="status_valid"),)

    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    event: Mapped[str] = mapped_column(String(60), nullable=False, index=True)
    to_address: Mapped[str] = mapped_column(String(254), nullable=False)
    subject: Mapped[str] = mapped_column(String(300), nullable=False)
    body_text: Mapped[str] = mapped_column(Text, nullable=False)
    body_html: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(10), nullable=False, default=MAIL_PENDING, index=True)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
