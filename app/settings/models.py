"""The current value of each setting that guards money, and the proposed changes (four eyes)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import IdMixin, UTCDateTime, utcnow
from app.extensions import Model

PENDING = "pending"
APPLIED = "applied"
REJECTED = "rejected"
WITHDRAWN = "withdrawn"
STATUSES = (PENDING, APPLIED, REJECTED, WITHDRAWN)


class SettingChange(IdMixin, Model):
    """A proposed change of one setting: applied only when a different person approves it. One pending per key."""

    __tablename__ = "setting_changes"
    __table_args__ = (
        CheckConstraint("status in ('pending', 'applied', 'rejected', 'withdrawn')", name="status_valid"),
        CheckConstraint("status <> 'applied' OR decided_by_id <> proposed_by_id", name="two_different_people"),
        Index("ix_setting_changes_one_pending", "key", unique=True,
              postgresql_where=text("status = 'pending'"), sqlite_where=text("status = 'pending'")),
    )

    key: Mapped[str] = mapped_column(String(80), nullable=False, index=True)
    old_value: Mapped[int] = mapped_column(BigInteger, nullable=False)
    new_value: Mapped[int] = mapped_column(BigInteger, nullable=False)
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    proposed_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"), nullable=False)
    proposed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(10), nullable=False, default=PENDING, index=True)
    rejection_reason: Mapped[str | None] = mapped_column(Text)


class MoneySetting(IdMixin, Model):
    """The current value of one setting (a key missing here has its default from the registry)."""

    __tablename__ = "money_settings"

    key: Mapped[str] = mapped_column(String(80), unique=True, nullable=False)
    value: Mapped[int] = mapped_column(BigInteger, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    change_id: Mapped[int | None] = mapped_column(ForeignKey("setting_changes.id"))
