"""Payouts: where an investor's withdrawals go (payout methods, encrypted at rest), the withdrawals themselves
(held in the ledger, approved by finance, paid with a bank reference) and the bank-file batches they leave in."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.crypto import EncryptedString
from app.core.db import IdMixin, TimestampMixin, UTCDateTime, utcnow
from app.core.money import Money
from app.extensions import Model


def mask(value: str | None) -> str | None:
    if not value:
        return value
    tail = value[-4:]
    return "•" * max(len(value) - 4, 4) + tail


# payout states -------------------------------------------------------------------------------------------------
PAYOUT_REQUESTED = "requested"
PAYOUT_APPROVED = "approved"
PAYOUT_PAID = "paid"
PAYOUT_REJECTED = "rejected"
PAYOUT_CANCELLED = "cancelled"
PAYOUT_FAILED = "failed"

PAYOUT_STATUSES = (PAYOUT_REQUESTED, PAYOUT_APPROVED, PAYOUT_PAID, PAYOUT_REJECTED, PAYOUT_CANCELLED, PAYOUT_FAILED)
# the one place payout transitions are allowed
PAYOUT_TRANSITIONS: dict[str, frozenset[str]] = {
    PAYOUT_REQUESTED: frozenset({PAYOUT_APPROVED, PAYOUT_REJECTED, PAYOUT_CANCELLED}),
    PAYOUT_APPROVED: frozenset({PAYOUT_PAID, PAYOUT_FAILED}),
    PAYOUT_PAID: frozenset(),
    PAYOUT_REJECTED: frozenset(),
    PAYOUT_CANCELLED: frozenset(),
    PAYOUT_FAILED: frozenset(),
}
# states whose money is still (or was finally) leaving: they count against the daily and monthly limits
PAYOUT_OPEN = (PAYOUT_REQUESTED, PAYOUT_APPROVED)
PAYOUT_COUNTED = (PAYOUT_REQUESTED, PAYOUT_APPROVED, PAYOUT_PAID)

# risk flags computed when a payout is requested
FLAG_FIRST_PAYOUT = "first_payout"
FLAG_NEW_METHOD = "new_method"
FLAG_LARGE_AMOUNT = "large_amount"
FLAG_SECURITY_CHANGE = "recent_security_change"
FLAG_UNRECONCILED = "unreconciled_deposits"
FLAG_NAME_MISMATCH = "name_mismatch"
RISK_FLAGS = {
    FLAG_FIRST_PAYOUT: "First payout",
    FLAG_NEW_METHOD: "New payout method",
    FLAG_LARGE_AMOUNT: "Amount above threshold",
    FLAG_SECURITY_CHANGE: "Password or 2FA changed in the last 72 h",
    FLAG_UNRECONCILED: "Deposits not yet reconciled",
    FLAG_NAME_MISMATCH: "Holder name differs from the KYC name",
}

BATCH_EXPORTED = "exported"
BATCH_PAID = "paid"
# a batch is marked paid as a whole, once
BATCH_TRANSITIONS: dict[str, frozenset[str]] = {BATCH_EXPORTED: frozenset({BATCH_PAID}), BATCH_PAID: frozenset()}


class PayoutMethod(IdMixin, TimestampMixin, Model):
    __tablename__ = "payout_methods"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), nullable=False, index=True)
    kind: Mapped[str] = mapped_column(String(20), nullable=False, default="bank")
    holder_name: Mapped[str] = mapped_column(String(200), nullable=False)
    bank_name: Mapped[str] = mapped_column(String(200), nullable=False)
    account_number: Mapped[str] = mapped_column(EncryptedString(), nullable=False)
    routing_number: Mapped[str | None] = mapped_column(EncryptedString())
    iban: Mapped[str | None] = mapped_column(EncryptedString())
    bic: Mapped[str | None] = mapped_column(EncryptedString())
    country: Mapped[str] = mapped_column(String(2), nullable=False)
    # not usable for payouts before this moment (cooling-off after it was added or changed); NULL: usable
    usable_from: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # the holder name matched the approved KYC name when the method was last saved (None: no approved KYC name)
    name_matches_kyc: Mapped[bool | None] = mapped_column(Boolean)

    user = relationship("User", lazy="select")

    @property
    def account_number_masked(self) -> str | None:
        return mask(self.account_number)

    @property
    def iban_masked(self) -> str | None:
        return mask(self.iban)

    @property
    def routing_number_masked(self) -> str | None:
        return mask(self.routing_number)

    def usable_at(self, when: datetime) -> bool:
        return self.usable_from is None or self.usable_from <= when

    def __str__(self) -> str:
        return f"{self.bank_name} {mask(self.account_number)}"


class PayoutBatch(IdMixin, Model):
    """Approved payouts exported together in one bank file; marked paid as a whole with one bank reference."""

    __tablename__ = "payout_batches"
    __table_args__ = (
        CheckConstraint("status in ('exported', 'paid')", name="status_valid"),
        CheckConstraint("payout_count > 0", name="payout_count_positive"),
    )

    status: Mapped[str] = mapped_column(String(12), nullable=False, default=BATCH_EXPORTED, index=True)
    payout_count: Mapped[int] = mapped_column(Integer, nullable=False)
    total_amount: Mapped[int] = mapped_column(BigInteger, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    file_sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    bank_reference: Mapped[str | None] = mapped_column(String(200))
    paid_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    created_by = relationship("User", foreign_keys=[created_by_id], lazy="select")
    paid_by = relationship("User", foreign_keys=[paid_by_id], lazy="select")
    payouts: Mapped[list[Payout]] = relationship(back_populates="batch", lazy="select", order_by="Payout.id")

    def __str__(self) -> str:
        return f"Batch #{self.id}"


class Payout(IdMixin, TimestampMixin, Model):
    """A withdrawal: `amount` goes to the investor's bank, `fee` to the platform; both are held from request on."""

    __tablename__ = "payouts"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("fee >= 0", name="fee_not_negative"),
        CheckConstraint("status in ('requested', 'approved', 'paid', 'rejected', 'cancelled', 'failed')",
                        name="status_valid"),
        CheckConstraint("first_approver_id IS NULL OR approver_id IS NULL OR first_approver_id <> approver_id",
                        name="two_different_approvers"),
        UniqueConstraint("hold_id", name="uq_payouts_hold_id"),
        Index("ix_payouts_user_id_created_at", "user_id", "created_at"),
        Index("ix_payouts_status_created_at", "status", "created_at"),
    )

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), nullable=False, index=True)
    payout_method_id: Mapped[int] = mapped_column(ForeignKey("payout_methods.id"), nullable=False, index=True)
    amount: Mapped[int] = mapped_column(BigInteger, nullable=False)
    fee: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    status: Mapped[str] = mapped_column(String(12), nullable=False, default=PAYOUT_REQUESTED, index=True)
    hold_id: Mapped[int] = mapped_column(ForeignKey("ledger_holds.id"), nullable=False)
    risk_flags: Mapped[list] = mapped_column(JSON, nullable=False, default=list)
    needs_two_approvals: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    first_approver_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    first_approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    approver_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))  # rejected / paid / failed by
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reason: Mapped[str | None] = mapped_column(Text)  # rejection or failure reason
    bank_reference: Mapped[str | None] = mapped_column(String(200))
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("payout_batches.id"), index=True)
    settle_entry_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_entries.id"), unique=True)

    user = relationship("User", foreign_keys=[user_id], lazy="select")
    method: Mapped[PayoutMethod] = relationship(lazy="select")
    hold = relationship("Hold", lazy="select")
    batch: Mapped[PayoutBatch | None] = relationship(back_populates="payouts", lazy="select")
    first_approver = relationship("User", foreign_keys=[first_approver_id], lazy="select")
    approver = relationship("User", foreign_keys=[approver_id], lazy="select")
    decided_by = relationship("User", foreign_keys=[decided_by_id], lazy="select")
    events: Mapped[list[PayoutEvent]] = relationship(back_populates="payout", lazy="select",
                                                       order_by="PayoutEvent.id")

    @property
    def requested_at(self) -> datetime:
        return self.created_at

    @property
    def total(self) -> int:
        return self.amount + self.fee

    @property
    def amount_money(self) -> Money:
        return Money(self.amount, self.currency)

    @property
    def fee_money(self) -> Money:
        return Money(self.fee, self.currency)

    @property
    def total_money(self) -> Money:
        return Money(self.amount + self.fee, self.currency)

    def __str__(self) -> str:
        return f"Payout #{self.id}"


class PayoutEvent(IdMixin, Model):
    """The payout's trail: every state change and approval, who did it and when."""

    __tablename__ = "payout_events"

    payout_id: Mapped[int] = mapped_column(ForeignKey("payouts.id", ondelete="CASCADE"), nullable=False, index=True)
    kind: Mapped[str] = mapped_column(String(40), nullable=False)
    from_status: Mapped[str | None] = mapped_column(String(12))
    to_status: Mapped[str | None] = mapped_column(String(12))
    detail: Mapped[dict | None] = mapped_column(JSON)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)

    payout: Mapped[Payout] = relationship(back_populates="events")
    actor = relationship("User", lazy="select")
