"""Deposits: money coming in through a gateway, credited to the wallet exactly once."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.db import IdMixin, TimestampMixin, UTCDateTime
from app.extensions import db

DEPOSIT_PENDING = "pending"
DEPOSIT_SUCCEEDED = "succeeded"
DEPOSIT_FAILED = "failed"
DEPOSIT_REFUNDED = "refunded"

# the one place deposit transitions are allowed
DEPOSIT_TRANSITIONS = {
    DEPOSIT_PENDING: {DEPOSIT_SUCCEEDED, DEPOSIT_FAILED},
    DEPOSIT_SUCCEEDED: {DEPOSIT_REFUNDED},
    DEPOSIT_FAILED: set(),
    DEPOSIT_REFUNDED: set(),
}


class Deposit(IdMixin, TimestampMixin, db.Model):
    __tablename__ = "deposits"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("fee >= 0", name="fee_not_negative"),
        CheckConstraint("status in ('pending', 'succeeded', 'failed', 'refunded')", name="status_valid"),
        UniqueConstraint("gateway", "gateway_reference", name="uq_deposits_gateway_reference"),
    )

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), nullable=False, index=True)
    gateway: Mapped[str] = mapped_column(String(30), nullable=False)
    amount: Mapped[int] = mapped_column(BigInteger, nullable=False)
    fee: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default=DEPOSIT_PENDING, index=True)
    gateway_reference: Mapped[str | None] = mapped_column(String(200))
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ledger_entry_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_entries.id"), unique=True)

    user = relationship("User", lazy="select")
