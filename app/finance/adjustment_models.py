"""Balance adjustments: a credit or debit of a user's wallet proposed by one finance user and approved by another
(app/finance/adjustments.py)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.db import IdMixin, UTCDateTime, utcnow
from app.extensions import Model

PROPOSED = "proposed"
APPROVED = "approved"
REJECTED = "rejected"
CANCELLED = "cancelled"
STATUSES = (PROPOSED, APPROVED, REJECTED, CANCELLED)
TRANSITIONS = {
    PROPOSED: {APPROVED, REJECTED, CANCELLED},
    APPROVED: set(),
    REJECTED: set(),
    CANCELLED: set(),
}

CREDIT = "credit"
DEBIT = "debit"
DIRECTIONS = (CREDIT, DEBIT)


class BalanceAdjustment(IdMixin, Model):
    """A correction of a user's wallet. `reason` is internal (staff and the audit trail only); `note` is the one
    sentence the investor reads. Nothing moves in the ledger until a second finance user approves it; then one
    entry (key `adjustment-<id>`) moves the amount between the wallet and the platform's adjustments account.

    The database holds the four-eyes rule too: nobody proposes an adjustment of their own wallet, and whoever
    approves or rejects it is neither its proposer nor its user."""

    __tablename__ = "balance_adjustments"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("status in ('proposed', 'approved', 'rejected', 'cancelled')", name="status_valid"),
        CheckConstraint("direction in ('credit', 'debit')", name="direction_valid"),
        CheckConstraint("proposed_by_id <> user_id", name="not_own_wallet"),
        CheckConstraint("decided_by_id IS NULL OR (decided_by_id <> proposed_by_id AND decided_by_id <> user_id)",
                        name="four_eyes"),
    )

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), nullable=False, index=True)
    direction: Mapped[str] = mapped_column(String(6), nullable=False)
    amount: Mapped[int] = mapped_column(BigInteger, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    note: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    attachment_key: Mapped[str | None] = mapped_column(String(512))
    attachment_type: Mapped[str | None] = mapped_column(String(100))
    attachment_size: Mapped[int | None] = mapped_column(Integer)
    attachment_sha256: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(12), nullable=False, default=PROPOSED, index=True)
    proposed_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"), nullable=False, index=True)
    proposed_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow, index=True)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decision_reason: Mapped[str | None] = mapped_column(Text)
    entry_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_entries.id"), unique=True)

    user = relationship("User", foreign_keys=[user_id], lazy="select")
    proposed_by = relationship("User", foreign_keys=[proposed_by_id], lazy="select")
    decided_by = relationship("User", foreign_keys=[decided_by_id], lazy="select")
