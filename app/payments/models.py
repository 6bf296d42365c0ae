"""Deposits: money coming in through a gateway, credited to the wallet exactly once."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.db import IdMixin, TimestampMixin, UTCDateTime, utcnow
from app.extensions import Model

DEPOSIT_PENDING = "pending"
DEPOSIT_SUCCEEDED = "succeeded"
DEPOSIT_FAILED = "failed"
DEPOSIT_REFUNDED = "refunded"

# the one place deposit transitions are allowed (pending -> refunded: paid and refunded before it was credited)
DEPOSIT_TRANSITIONS = {
    DEPOSIT_PENDING: {DEPOSIT_SUCCEEDED, DEPOSIT_FAILED, DEPOSIT_REFUNDED},
    DEPOSIT_SUCCEEDED: {DEPOSIT_REFUNDED},
    DEPOSIT_FAILED: set(),
    DEPOSIT_REFUNDED: set(),
}


class Deposit(IdMixin, TimestampMixin, Model):
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
    charge_reference: Mapped[str | None] = mapped_column(String(200), index=True)  # payment intent / payment id
    checkout_url: Mapped[str | None] = mapped_column(String(1000))
    instructions: Mapped[str | None] = mapped_column(Text)
    checkout_data: Mapped[dict | None] = mapped_column(JSON)  # what a client-side checkout needs (Razorpay)
    refunded_amount: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    failure_reason: Mapped[str | None] = mapped_column(String(300))
    attention_reason: Mapped[str | None] = mapped_column(String(500))  # flagged for finance
    attention_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    proof_key: Mapped[str | None] = mapped_column(String(300))
    proof_content_type: Mapped[str | None] = mapped_column(String(60))
    first_approver_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    first_approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    user = relationship("User", foreign_keys=[user_id], lazy="select")
    events: Mapped[list[DepositEvent]] = relationship(back_populates="deposit", lazy="select",
                                                        order_by="DepositEvent.id")


class DepositEvent(IdMixin, Model):
    """The deposit's timeline: every state change, gateway event, ledger entry and staff decision."""

    __tablename__ = "deposit_events"

    deposit_id: Mapped[int] = mapped_column(ForeignKey("deposits.id", ondelete="CASCADE"), nullable=False, index=True)
    kind: Mapped[str] = mapped_column(String(40), nullable=False)
    detail: Mapped[dict | None] = mapped_column(JSON)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)

    deposit: Mapped[Deposit] = relationship(back_populates="events")


class GatewaySetting(IdMixin, Model):
    """What staff configure per gateway besides money (secrets stay in the environment; limits, fees and the
    two-person threshold are settings that guard money, app/settings)."""

    __tablename__ = "gateway_settings"

    gateway: Mapped[str] = mapped_column(String(30), unique=True, nullable=False)
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    instructions: Mapped[str] = mapped_column(Text, nullable=False, default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow, nullable=False)


class WebhookInbox(IdMixin, Model):
    """Every verified gateway event, stored before anything else; processed once by Celery."""

    __tablename__ = "webhook_inbox"
    __table_args__ = (
        UniqueConstraint("provider", "event_id", name="uq_webhook_inbox_provider_event_id"),
        CheckConstraint("status in ('received', 'processing', 'processed', 'ignored', 'failed')",
                        name="status_valid"),
    )

    provider: Mapped[str] = mapped_column(String(30), nullable=False)
    event_id: Mapped[str] = mapped_column(String(200), nullable=False)
    type: Mapped[str] = mapped_column(String(100), nullable=False, index=True)
    reference: Mapped[str | None] = mapped_column(String(200), index=True)
    payload: Mapped[dict | None] = mapped_column(JSON)  # emptied once processed long ago (app/payments/retention.py)
    status: Mapped[str] = mapped_column(String(12), nullable=False, default="received", index=True)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    error: Mapped[str | None] = mapped_column(String(500))
    deposit_id: Mapped[int | None] = mapped_column(ForeignKey("deposits.id"), index=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False, index=True)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ReconciliationItem(IdMixin, Model):
    """A difference between what a gateway says was paid and what the ledger credited, for finance to resolve."""

    __tablename__ = "reconciliation_items"
    __table_args__ = (
        UniqueConstraint("provider", "reference", "kind", name="uq_reconciliation_items_provider_reference_kind"),
        CheckConstraint("kind in ('paid_not_credited', 'credited_not_paid', 'amount_mismatch')", name="kind_valid"),
    )

    provider: Mapped[str] = mapped_column(String(30), nullable=False)
    reference: Mapped[str] = mapped_column(String(200), nullable=False)
    kind: Mapped[str] = mapped_column(String(24), nullable=False)
    deposit_id: Mapped[int | None] = mapped_column(ForeignKey("deposits.id"), index=True)
    gateway_amount: Mapped[int | None] = mapped_column(BigInteger)
    ledger_amount: Mapped[int | None] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    detected_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    resolved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    resolution: Mapped[str | None] = mapped_column(Text)


class Receivable(IdMixin, Model):
    """Money an investor owes after a refund of funds already spent; the ledger holds it, finance chases it."""

    __tablename__ = "receivables"
    __table_args__ = (CheckConstraint("amount > 0", name="amount_positive"),)

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), nullable=False, index=True)
    deposit_id: Mapped[int] = mapped_column(ForeignKey("deposits.id"), nullable=False, index=True)
    amount: Mapped[int] = mapped_column(BigInteger, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    ledger_entry_id: Mapped[int] = mapped_column(ForeignKey("ledger_entries.id"), unique=True, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    settled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


DISPUTE_OPEN = "open"
DISPUTE_WON = "won"
DISPUTE_LOST = "lost"
DISPUTE_STATUSES = (DISPUTE_OPEN, DISPUTE_WON, DISPUTE_LOST)
# the one place dispute transitions are allowed: a dispute is decided once
DISPUTE_TRANSITIONS = {DISPUTE_OPEN: {DISPUTE_WON, DISPUTE_LOST}, DISPUTE_WON: set(), DISPUTE_LOST: set()}


class Dispute(IdMixin, TimestampMixin, Model):
    """A card or PayPal dispute (chargeback) of a deposit's payment, once per (provider, external id).

    While open, `held` is in the investor's held account (hold `hold_id`, pending) and `receivable` (what the wallet
    could not cover) is owed on the receivables account (Receivable `receivable_id`). Won: the hold is released and
    the receivable reversed. Lost: the hold is settled to the gateway's clearing account, the receivable stays.
    `booked_at` is set once the money moved; a dispute whose deposit is unknown or not credited never books and
    waits for finance (`attention_reason`)."""

    __tablename__ = "disputes"
    __table_args__ = (
        UniqueConstraint("provider", "external_id", name="uq_disputes_provider_external_id"),
        CheckConstraint("amount >= 0", name="amount_not_negative"),
        CheckConstraint("held >= 0 AND receivable >= 0", name="parts_not_negative"),
        CheckConstraint("status in ('open', 'won', 'lost')", name="status_valid"),
    )

    provider: Mapped[str] = mapped_column(String(30), nullable=False)
    external_id: Mapped[str] = mapped_column(String(200), nullable=False)
    deposit_id: Mapped[int | None] = mapped_column(ForeignKey("deposits.id"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    amount: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    reason: Mapped[str] = mapped_column(String(100), nullable=False, default="")
    status: Mapped[str] = mapped_column(String(8), nullable=False, default=DISPUTE_OPEN, index=True)
    provider_status: Mapped[str | None] = mapped_column(String(40))
    evidence_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    held: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    receivable: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    hold_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_holds.id"), unique=True)
    receivable_id: Mapped[int | None] = mapped_column(ForeignKey("receivables.id"), unique=True)
    reversal_entry_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_entries.id"), unique=True)
    booked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False, index=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    attention_reason: Mapped[str | None] = mapped_column(String(500))
    attention_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    deposit = relationship(Deposit, lazy="select")
    user = relationship("User", foreign_keys=[user_id], lazy="select")
    notes: Mapped[list[DisputeNote]] = relationship(back_populates="dispute", lazy="select",
                                                    order_by="DisputeNote.id")


class DisputeNote(IdMixin, Model):
    """What finance wrote about a dispute (evidence sent, the investor contacted ...); audited."""

    __tablename__ = "dispute_notes"

    dispute_id: Mapped[int] = mapped_column(ForeignKey("disputes.id", ondelete="CASCADE"), nullable=False,
                                            index=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"), nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)

    dispute: Mapped[Dispute] = relationship(back_populates="notes")
    author = relationship("User", lazy="select")
